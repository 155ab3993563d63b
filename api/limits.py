"""What one client may ask of the API: requests per minute (GCRA) and how much a body weighs.

Rate limits use GCRA (the generic cell rate algorithm, a token bucket stored as one timestamp):
a key may spend a minute's allowance at once, then one request per 60/N seconds. Several API
workers share one count through Redis (`RedisLimiter`, one atomic Lua script on Redis's clock);
one process alone can use `MemoryLimiter`. Requests are keyed by `KeyFunc`, replaceable so an
auth layer can key by principal; the default keys by the Authorization header's SHA-256 (never
the secret itself), else by the client's address.

Body limits are checked twice: against Content-Length before anything is read, and while the
body streams in, so a client that lies about its length or sends it chunked is still cut off.
Both answers are problem+json (api.problems), like every other error.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from redis import RedisError
from redis.asyncio import Redis
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem
from graph.settings import Settings

__all__ = [
    "EXEMPT_PATHS",
    "BodyLimit",
    "Decision",
    "KeyFunc",
    "Limiter",
    "MemoryLimiter",
    "RateLimit",
    "RedisLimiter",
    "client_key",
    "open_limiter",
]

log = logging.getLogger("spiral.api")

# Probes must answer even when a client is over its limit (or the limit store is down).
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/health"})
# Routes whose body is an upload: they get max_file_mb, plus room for the form around it.
UPLOAD_PATHS = frozenset({"/ingest"})
_FORM_SLACK = 64 * 1024

KeyFunc = Callable[[Request], str]


def client_key(request: Request) -> str:
    """Who is asking, as far as can be told before authentication: a hash of the credentials
    when there are any (two keys from one address are two clients), else the address."""
    auth = request.headers.get("authorization")
    if auth:
        return "auth:" + hashlib.sha256(auth.encode("utf-8", "surrogateescape")).hexdigest()
    return "ip:" + (request.client.host if request.client else "unknown")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0


@dataclass(frozen=True)
class Rate:
    """N per minute as GCRA's two numbers (milliseconds): the emission interval and how far
    ahead of now the bucket may run (a minute's allowance)."""

    per_minute: int

    @property
    def interval_ms(self) -> int:
        return max(1, round(60_000 / self.per_minute))

    @property
    def tolerance_ms(self) -> int:
        return self.interval_ms * self.per_minute


class Limiter(Protocol):
    rate: Rate

    async def hit(self, key: str) -> Decision: ...

    async def close(self) -> None: ...


def gcra(tat_ms: int, now_ms: int, rate: Rate) -> tuple[Decision, int]:
    """One GCRA step: the decision and the new theoretical arrival time (unchanged when
    refused). The Lua script in `RedisLimiter` is the same arithmetic."""
    new_tat = max(tat_ms, now_ms) + rate.interval_ms
    over = new_tat - now_ms - rate.tolerance_ms
    if over > 0:
        return Decision(False, over / 1000), tat_ms
    return Decision(True), new_tat


class MemoryLimiter:
    """One process's counts (tests, a single worker). Keys idle for a minute are forgotten."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.clock = Rate(per_minute), clock
        self._tat: dict[str, int] = {}

    async def hit(self, key: str) -> Decision:
        now = int(self.clock() * 1000)
        decision, self._tat[key] = gcra(self._tat.get(key, now), now, self.rate)
        if len(self._tat) > 100_000:  # a flood of distinct keys cannot grow this for ever
            self._tat = {k: t for k, t in self._tat.items() if t > now}
        return decision

    async def close(self) -> None:
        self._tat.clear()


_GCRA_LUA = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local over = new_tat - now - tolerance
if over > 0 then return over end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return 0
"""


class RedisLimiter:
    """Counts shared by every worker: one script, so check-and-spend is atomic, timed by
    Redis's clock, so workers' clocks need not agree. If Redis cannot be reached the request
    is let through (logged): a limit protects the service and must not take it down."""

    def __init__(self, url: str, per_minute: int, prefix: str = "spiral:rate:") -> None:
        self.rate, self.prefix = Rate(per_minute), prefix
        self.redis: Redis = Redis.from_url(url)
        self._script = self.redis.register_script(_GCRA_LUA)

    async def hit(self, key: str) -> Decision:
        args = [self.rate.interval_ms, self.rate.tolerance_ms]
        try:
            over = int(await self._script(keys=[self.prefix + key], args=args))
        except (RedisError, OSError) as exc:
            log.warning("rate limit not checked, Redis unavailable: %s", exc)
            return Decision(True)
        return Decision(over <= 0, max(over, 0) / 1000)

    async def close(self) -> None:
        await self.redis.aclose()


def open_limiter(settings: Settings) -> Limiter | None:
    """The limiter the settings ask for: none (0 per minute), shared (redis_url) or local."""
    if settings.rate_limit_per_minute <= 0:
        return None
    if settings.redis_url:
        return RedisLimiter(settings.redis_url, settings.rate_limit_per_minute)
    return MemoryLimiter(settings.rate_limit_per_minute)


class RateLimit:
    """ASGI middleware: 429 problem+json with Retry-After (whole seconds) over the limit.
    The limiter is the app's `state.limiter` (built in the lifespan; None: no limit)."""

    def __init__(self, app: ASGIApp, key: KeyFunc = client_key) -> None:
        self.app, self.key = app, key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = _state(scope, "limiter")
        if scope["type"] != "http" or limiter is None or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        decision = await limiter.hit(self.key(Request(scope)))
        if decision.allowed:
            await self.app(scope, receive, send)
            return
        wait = max(1, math.ceil(decision.retry_after_s))
        detail = f"over the limit of {limiter.rate.per_minute} requests a minute; retry in {wait} s"
        answer = problem(429, detail, scope["path"], headers={"Retry-After": str(wait)})
        await answer(scope, receive, send)


class BodyTooLarge(HTTPException):
    """Raised from `receive` when the body passes the limit: FastAPI hands HTTPExceptions on
    untouched while it reads a body, so the app answers it as a 413 problem."""


class BodyLimit:
    """ASGI middleware: 413 problem+json for a body over the limit of its route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings: Settings | None = getattr(_state(scope, "runtime"), "settings", None)
        if scope["type"] != "http" or settings is None:
            await self.app(scope, receive, send)
            return
        limit, what = body_limit(settings, scope["path"])
        detail = f"the body is over the {what} limit"
        declared = _content_length(scope["headers"])
        if declared is not None and declared > limit:
            await problem(413, detail, scope["path"])(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(413, detail)
            return message

        await self.app(scope, limited, send)


def body_limit(settings: Settings, path: str) -> tuple[int, str]:
    """Bytes a body to `path` may weigh, and the setting that says so (for the message)."""
    if path in UPLOAD_PATHS:
        mb = settings.max_file_mb
        return int(mb * 1024 * 1024) + _FORM_SLACK, f"{mb:g} MB upload (SPIRAL_MAX_FILE_MB)"
    mb = settings.max_request_mb
    return int(mb * 1024 * 1024), f"{mb:g} MB (SPIRAL_MAX_REQUEST_MB)"


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _state(scope: Scope, name: str) -> Any:
    app = scope.get("app")
    return getattr(app.state, name, None) if app is not None else None

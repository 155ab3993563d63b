"""Webhooks: events delivered by HTTP POST to the URLs a team registered.

Each request is signed so a receiver can tell it came from Spiral and is fresh: HMAC-SHA256 over
`f"{timestamp}.{body}"` with the webhook's secret, sent as `X-Spiral-Signature: sha256=<hex>`
beside `X-Spiral-Timestamp`, `X-Spiral-Event` and `X-Spiral-Delivery` (the same id on every
retry and replay, so a receiver can drop duplicates). Receivers check with `verify_signature`.

Network errors, 5xx and 429 are retried with exponential backoff and jitter, or after the
answer's Retry-After (capped at `RetryPolicy.max_delay_s`); other answers are final. A
delivery that fails for good goes to the dead-letter list, from which an admin replays it.
Registrations and dead letters live behind `WebhookStore`: `MemoryWebhookStore` for one
process, `RedisWebhookStore` when several API workers share them.

>>> header = sign("s3cret", 1700000000, '{"a":1}')
>>> verify_signature("s3cret", "1700000000", '{"a":1}', header, now=1700000010)
True
>>> verify_signature("wrong", "1700000000", '{"a":1}', header, now=1700000010)
False
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import hmac
import json
import random
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, Field, field_validator
from pydantic_core import to_jsonable_python

__all__ = [
    "DeadLetter",
    "DeliveryResult",
    "MemoryWebhookStore",
    "RedisWebhookStore",
    "RetryPolicy",
    "Webhook",
    "WebhookDispatcher",
    "WebhookStore",
    "new_secret",
    "sign",
    "verify_signature",
]


def new_secret() -> str:
    """A fresh signing secret (shown to the team once, at registration)."""
    return "whsec_" + secrets.token_urlsafe(32)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Webhook(BaseModel):
    """A team's registration: where to POST, which events (empty: all), and the secret."""

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    team_id: str
    url: str
    secret: str = Field(default_factory=new_secret, repr=False)
    events: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=_utcnow)

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        if httpx.URL(url).scheme not in ("http", "https"):
            raise ValueError("a webhook URL must be http or https")
        return url

    def wants(self, event: str) -> bool:
        return not self.events or event in self.events


class DeadLetter(BaseModel):
    """A delivery that failed for good. No secret in it: a replay signs with the webhook's
    current secret, and posts to its current URL (the team may have fixed it since)."""

    id: str  # the delivery id
    webhook_id: str
    team_id: str
    url: str
    event: str
    body: str
    attempts: int
    last_status: int | None = None
    last_error: str | None = None
    failed_at: datetime = Field(default_factory=_utcnow)


class DeliveryResult(BaseModel):
    delivery_id: str
    webhook_id: str
    ok: bool
    attempts: int
    status: int | None = None
    error: str | None = None


class RetryPolicy(BaseModel):
    """How hard to try. Attempt n waits base_s * 2**(n-1) (at most max_delay_s), times a random
    factor in [1 - jitter, 1], so many failing deliveries do not retry in lockstep."""

    attempts: int = Field(default=5, ge=1)
    base_s: float = Field(default=1.0, ge=0)
    max_delay_s: float = Field(default=60.0, ge=0)
    jitter: float = Field(default=0.5, ge=0, le=1)
    timeout_s: float = Field(default=10.0, gt=0)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay_s)
        delay = min(self.base_s * 2 ** (attempt - 1), self.max_delay_s)
        return delay * (1 - self.jitter * random.random())


# --- signing -----------------------------------------------------------------------------


def _as_bytes(body: str | bytes) -> bytes:
    return body.encode() if isinstance(body, str) else body


def sign(secret: str, timestamp: int | str, body: str | bytes) -> str:
    """The `X-Spiral-Signature` value: "sha256=" and the hex HMAC of "<timestamp>.<body>"."""
    message = f"{timestamp}.".encode() + _as_bytes(body)
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: str | bytes,
    header: str,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """For receivers: True when `header` signs `body` at `timestamp` with `secret` and the
    timestamp is within `tolerance_s` of now (an old request replayed by someone else fails).
    Pass the raw body as received: re-serialised JSON would not match."""
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - sent_at) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), header or "")


# --- storage -----------------------------------------------------------------------------


class WebhookStore(Protocol):
    async def add(self, hook: Webhook) -> None: ...
    async def remove(self, hook_id: str) -> bool: ...
    async def get(self, hook_id: str) -> Webhook | None: ...
    async def for_team(self, team_id: str) -> list[Webhook]: ...
    async def add_dead(self, letter: DeadLetter) -> None: ...
    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Newest first."""
        ...

    async def get_dead(self, delivery_id: str) -> DeadLetter | None: ...
    async def remove_dead(self, delivery_id: str) -> bool: ...
    async def close(self) -> None: ...


class MemoryWebhookStore:
    """One process's registrations and dead letters (the newest `max_dead` are kept)."""

    def __init__(self, max_dead: int = 10_000) -> None:
        self.max_dead = max_dead
        self._hooks: dict[str, Webhook] = {}
        self._dead: dict[str, DeadLetter] = {}  # insertion order: oldest first

    async def add(self, hook: Webhook) -> None:
        self._hooks[hook.id] = hook

    async def remove(self, hook_id: str) -> bool:
        return self._hooks.pop(hook_id, None) is not None

    async def get(self, hook_id: str) -> Webhook | None:
        return self._hooks.get(hook_id)

    async def for_team(self, team_id: str) -> list[Webhook]:
        return [h for h in self._hooks.values() if h.team_id == team_id]

    async def add_dead(self, letter: DeadLetter) -> None:
        self._dead.pop(letter.id, None)
        self._dead[letter.id] = letter
        while len(self._dead) > self.max_dead:
            del self._dead[next(iter(self._dead))]

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return list(reversed(self._dead.values()))[:limit]

    async def get_dead(self, delivery_id: str) -> DeadLetter | None:
        return self._dead.get(delivery_id)

    async def remove_dead(self, delivery_id: str) -> bool:
        return self._dead.pop(delivery_id, None) is not None

    async def close(self) -> None:
        pass


class RedisWebhookStore:
    """Registrations and dead letters in Redis, shared by every API worker: a hash of webhooks
    by id, a set of webhook ids per team, a hash of dead letters by delivery id and a list of
    their ids, newest first, cut to `max_dead`."""

    def __init__(self, url: str, prefix: str = "spiral:webhooks:", max_dead: int = 10_000) -> None:
        from redis.asyncio import Redis  # connects lazily: no I/O here

        self.redis = Redis.from_url(url, decode_responses=True, protocol=2)
        self.prefix = prefix
        self.max_dead = max_dead

    def _k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def add(self, hook: Webhook) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._k("hooks"), hook.id, hook.model_dump_json())
            pipe.sadd(self._k("team", hook.team_id), hook.id)
            await pipe.execute()

    async def remove(self, hook_id: str) -> bool:
        hook = await self.get(hook_id)
        if hook is None:
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._k("hooks"), hook_id)
            pipe.srem(self._k("team", hook.team_id), hook_id)
            removed, _ = await pipe.execute()
        return bool(removed)

    async def get(self, hook_id: str) -> Webhook | None:
        raw = await self.redis.hget(self._k("hooks"), hook_id)
        return Webhook.model_validate_json(raw) if raw else None

    async def for_team(self, team_id: str) -> list[Webhook]:
        ids = sorted(await self.redis.smembers(self._k("team", team_id)))
        raws = await self.redis.hmget(self._k("hooks"), ids) if ids else []
        return [Webhook.model_validate_json(raw) for raw in raws if raw]

    async def add_dead(self, letter: DeadLetter) -> None:
        order = self._k("dead-order")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._k("dead"), letter.id, letter.model_dump_json())
            pipe.lrem(order, 0, letter.id)
            pipe.lpush(order, letter.id)
            pipe.lrange(order, self.max_dead, -1)
            pipe.ltrim(order, 0, self.max_dead - 1)
            *_, evicted, _ = await pipe.execute()
        if evicted:
            await self.redis.hdel(self._k("dead"), *evicted)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        ids = await self.redis.lrange(self._k("dead-order"), 0, max(limit, 1) - 1)
        raws = await self.redis.hmget(self._k("dead"), ids) if ids else []
        return [DeadLetter.model_validate_json(raw) for raw in raws if raw][:limit]

    async def get_dead(self, delivery_id: str) -> DeadLetter | None:
        raw = await self.redis.hget(self._k("dead"), delivery_id)
        return DeadLetter.model_validate_json(raw) if raw else None

    async def remove_dead(self, delivery_id: str) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._k("dead"), delivery_id)
            pipe.lrem(self._k("dead-order"), 0, delivery_id)
            removed, _ = await pipe.execute()
        return bool(removed)

    async def close(self) -> None:
        await self.redis.aclose()


# --- delivery ----------------------------------------------------------------------------


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), None if absent/bad."""
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


class WebhookDispatcher:
    """Sends events to a team's webhooks. The httpx client is built once by the caller (app
    lifespan) and shared; deliveries to one team's hooks run concurrently."""

    def __init__(
        self, store: WebhookStore, client: httpx.AsyncClient, policy: RetryPolicy | None = None
    ) -> None:
        self.store = store
        self.client = client
        self.policy = policy or RetryPolicy()

    async def publish(self, team_id: str, event: str, data: Any) -> list[DeliveryResult]:
        """Deliver one event to every webhook of the team that wants it."""
        body = json.dumps(data, separators=(",", ":"), default=to_jsonable_python)
        hooks = [h for h in await self.store.for_team(team_id) if h.wants(event)]
        return list(await asyncio.gather(*(self.deliver(h, event, body) for h in hooks)))

    async def deliver(
        self, hook: Webhook, event: str, body: str, delivery_id: str | None = None
    ) -> DeliveryResult:
        """POST with retries; a delivery that fails for good is dead-lettered."""
        result = await self._attempts(hook, event, body, delivery_id or uuid.uuid4().hex)
        if not result.ok:
            letter = DeadLetter(
                id=result.delivery_id,
                webhook_id=hook.id,
                team_id=hook.team_id,
                url=hook.url,
                event=event,
                body=body,
                attempts=result.attempts,
                last_status=result.status,
                last_error=result.error,
            )
            await self.store.add_dead(letter)
        return result

    async def replay(self, delivery_id: str) -> DeliveryResult:
        """Send a dead letter again (same delivery id, fresh timestamp and signature, the
        webhook's current URL and secret). Success removes it; failure leaves it, updated.
        KeyError when the dead letter or its webhook no longer exists."""
        letter = await self.store.get_dead(delivery_id)
        if letter is None:
            raise KeyError(f"no dead letter {delivery_id}")
        hook = await self.store.get(letter.webhook_id)
        if hook is None:
            raise KeyError(f"webhook {letter.webhook_id} of dead letter {delivery_id} is gone")
        result = await self._attempts(hook, letter.event, letter.body, delivery_id)
        if result.ok:
            await self.store.remove_dead(delivery_id)
        else:
            update: dict[str, Any] = {"last_status": result.status, "last_error": result.error}
            update |= {"attempts": letter.attempts + result.attempts, "failed_at": _utcnow()}
            await self.store.add_dead(letter.model_copy(update=update))
        return result

    async def _attempts(
        self, hook: Webhook, event: str, body: str, delivery_id: str
    ) -> DeliveryResult:
        status: int | None = None
        error: str | None = None
        for attempt in range(1, self.policy.attempts + 1):
            wait: float | None = None
            try:
                response = await self._post(hook, event, body, delivery_id)
            except httpx.TransportError as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            else:
                status, error = response.status_code, None
                if response.is_success:
                    return DeliveryResult(
                        delivery_id=delivery_id,
                        webhook_id=hook.id,
                        ok=True,
                        attempts=attempt,
                        status=status,
                    )
                error = f"HTTP {status}"
                if not _retryable(status):
                    break
                wait = _retry_after(response)
            if attempt < self.policy.attempts:
                await asyncio.sleep(self.policy.delay(attempt, wait))
        return DeliveryResult(
            delivery_id=delivery_id,
            webhook_id=hook.id,
            ok=False,
            attempts=attempt,
            status=status,
            error=error,
        )

    async def _post(self, hook: Webhook, event: str, body: str, delivery_id: str) -> httpx.Response:
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Spiral-Webhooks/1",
            "X-Spiral-Event": event,
            "X-Spiral-Delivery": delivery_id,
            "X-Spiral-Timestamp": str(timestamp),
            "X-Spiral-Signature": sign(hook.secret, timestamp, body),
        }
        # Streamed and left unread: only the status and headers matter, and a receiver's body
        # (of any size) is not pulled into memory.
        request = self.client.build_request(
            "POST", hook.url, content=body.encode(), headers=headers, timeout=self.policy.timeout_s
        )
        response = await self.client.send(request, stream=True)
        await response.aclose()
        return response

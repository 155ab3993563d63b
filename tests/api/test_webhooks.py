"""Webhook delivery (api/webhooks.py) to a real HTTP receiver on 127.0.0.1; storage tests run on
the in-memory store and on the Redis one against a real Redis."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from api.webhooks import (
    DeadLetter,
    MemoryWebhookStore,
    RedisWebhookStore,
    RetryPolicy,
    Webhook,
    WebhookDispatcher,
    WebhookStore,
    verify_signature,
)

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(attempts=4, base_s=0.01, max_delay_s=0.05, timeout_s=5)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every POST and answers from a per-path script of (status, headers); an exhausted
    script answers `then` (default 200)."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    then: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, *statuses: int | tuple[int, dict[str, str]], then: int = 200):
        self.scripts[path] = [s if isinstance(s, tuple) else (s, {}) for s in statuses]
        self.then[path] = then

    def hits(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def next_answer(self, path: str) -> tuple[int, dict[str, str]]:
        script = self.scripts.get(path)
        return script.pop(0) if script else (self.then.get(path, 200), {})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                state.requests.append(Received(self.path, dict(self.headers.items()), body))
                status, headers = state.next_answer(self.path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def hooks(request: pytest.FixtureRequest) -> AsyncIterator[WebhookStore]:
    """A fresh webhook store of each kind, keeping the newest 3 dead letters."""
    if request.param == "memory":
        yield MemoryWebhookStore(max_dead=3)
        return
    prefix = f"spiral-test:{uuid.uuid4().hex[:10]}:"
    redis_store = RedisWebhookStore(request.getfixturevalue("redis_url"), prefix, max_dead=3)
    yield redis_store
    await redis_store.close()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


async def _hook(hooks: WebhookStore, url: str, team: str = "t1", **kw: object) -> Webhook:
    hook = Webhook(team_id=team, url=url, **kw)  # type: ignore[arg-type]
    await hooks.add(hook)
    return hook


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens there once this closes


async def test_signed_request_verifies_only_with_the_right_secret_and_a_fresh_timestamp(
    hooks: WebhookStore, receiver: Receiver, client: httpx.AsyncClient
) -> None:
    hook = await _hook(hooks, receiver.url("/ok"))
    [result] = await WebhookDispatcher(hooks, client, FAST).publish("t1", "item.approved", {"a": 1})
    assert result.ok and result.attempts == 1
    [req] = receiver.hits("/ok")
    ts, sig = req.headers["X-Spiral-Timestamp"], req.headers["X-Spiral-Signature"]
    assert req.headers["X-Spiral-Event"] == "item.approved"
    assert req.headers["X-Spiral-Delivery"] == result.delivery_id
    assert sig.startswith("sha256=") and req.body == b'{"a":1}'
    assert verify_signature(hook.secret, ts, req.body, sig)
    assert not verify_signature("wrong-secret", ts, req.body, sig)
    assert not verify_signature(hook.secret, ts, b'{"a":2}', sig)
    assert not verify_signature(hook.secret, ts, req.body, sig, now=int(ts) + 301)
    assert not verify_signature(hook.secret, "not-a-time", req.body, sig)


async def test_500_twice_then_200_is_three_attempts_and_no_dead_letter(
    hooks: WebhookStore, receiver: Receiver, client: httpx.AsyncClient
) -> None:
    hook = await _hook(hooks, receiver.url("/flaky"))
    receiver.answer("/flaky", 500, 500)
    result = await WebhookDispatcher(hooks, client, FAST).deliver(hook, "e", "{}")
    assert (result.ok, result.attempts, result.status) == (True, 3, 200)
    ids = {r.headers["X-Spiral-Delivery"] for r in receiver.hits("/flaky")}
    assert len(receiver.hits("/flaky")) == 3 and ids == {result.delivery_id}
    assert await hooks.dead_letters() == []


async def test_always_failing_ends_in_dead_letters_after_all_attempts(
    hooks: WebhookStore, receiver: Receiver, client: httpx.AsyncClient
) -> None:
    hook = await _hook(hooks, receiver.url("/down"))
    receiver.answer("/down", then=503)
    result = await WebhookDispatcher(hooks, client, FAST).deliver(hook, "e", '{"x":1}')
    assert (result.ok, result.attempts, result.status) == (False, FAST.attempts, 503)
    assert len(receiver.hits("/down")) == FAST.attempts
    [letter] = await hooks.dead_letters()
    assert letter.id == result.delivery_id and letter.url == hook.url and letter.body == '{"x":1}'
    assert (letter.attempts, letter.last_status, letter.last_error) == (4, 503, "HTTP 503")


async def test_a_4xx_is_not_retried(
    hooks: WebhookStore, receiver: Receiver, client: httpx.AsyncClient
) -> None:
    hook = await _hook(hooks, receiver.url("/bad"))
    receiver.answer("/bad", then=400)
    result = await WebhookDispatcher(hooks, client, FAST).deliver(hook, "e", "{}")
    assert (result.ok, result.attempts, result.status) == (False, 1, 400)
    assert len(receiver.hits("/bad")) == 1
    assert [d.attempts for d in await hooks.dead_letters()] == [1]


async def test_network_errors_are_retried_then_dead_lettered(
    hooks: WebhookStore, client: httpx.AsyncClient
) -> None:
    hook = await _hook(hooks, f"http://127.0.0.1:{_closed_port()}/gone")
    result = await WebhookDispatcher(hooks, client, FAST).deliver(hook, "e", "{}")
    assert (result.ok, result.attempts, result.status) == (False, FAST.attempts, None)
    [letter] = await hooks.dead_letters()
    assert letter.last_error and letter.last_error.startswith("ConnectError")


async def test_replay_delivers_and_removes_the_dead_letter(
    hooks: WebhookStore, receiver: Receiver, client: httpx.AsyncClient
) -> None:
    hook = await _hook(hooks, receiver.url("/later"))
    dispatcher = WebhookDispatcher(hooks, client, FAST)
    receiver.answer("/later", 500, 500, 500, 500)
    failed = await dispatcher.deliver(hook, "e", '{"n":1}')
    assert [d.id for d in await hooks.dead_letters()] == [failed.delivery_id]
    replayed = await dispatcher.replay(failed.delivery_id)
    assert replayed.ok and replayed.delivery_id == failed.delivery_id
    last = receiver.hits("/later")[-1]
    assert last.headers["X-Spiral-Delivery"] == failed.delivery_id  # receivers can dedupe
    sig, ts = last.headers["X-Spiral-Signature"], last.headers["X-Spiral-Timestamp"]
    assert verify_signature(hook.secret, ts, last.body, sig) and last.body == b'{"n":1}'
    assert await hooks.dead_letters() == [] and await hooks.get_dead(failed.delivery_id) is None
    with pytest.raises(KeyError):
        await dispatcher.replay(failed.delivery_id)


async def test_failed_replay_keeps_the_letter_with_attempts_added(
    hooks: WebhookStore, receiver: Receiver, client: httpx.AsyncClient
) -> None:
    hook = await _hook(hooks, receiver.url("/never"))
    receiver.answer("/never", then=500)
    dispatcher = WebhookDispatcher(hooks, client, FAST)
    failed = await dispatcher.deliver(hook, "e", "{}")
    again = await dispatcher.replay(failed.delivery_id)
    assert not again.ok
    [letter] = await hooks.dead_letters()
    assert letter.attempts == 2 * FAST.attempts and letter.last_status == 500


async def test_publish_reaches_only_the_teams_hooks_that_want_the_event(
    hooks: WebhookStore, receiver: Receiver, client: httpx.AsyncClient
) -> None:
    await _hook(hooks, receiver.url("/all"))
    await _hook(hooks, receiver.url("/approved"), events=["item.approved"])
    await _hook(hooks, receiver.url("/other-team"), team="t2")
    results = await WebhookDispatcher(hooks, client, FAST).publish("t1", "item.created", {})
    assert [r.ok for r in results] == [True]
    assert [r.path for r in receiver.requests] == ["/all"]


async def test_store_registrations_and_bounded_dead_letters(hooks: WebhookStore) -> None:
    a = await _hook(hooks, "https://example.test/a")
    b = await _hook(hooks, "https://example.test/b")
    await _hook(hooks, "https://example.test/c", team="t2")
    assert {h.id for h in await hooks.for_team("t1")} == {a.id, b.id}
    assert (await hooks.get(a.id)) == a
    assert await hooks.remove(a.id) and not await hooks.remove(a.id)
    assert [h.id for h in await hooks.for_team("t1")] == [b.id]
    for n in range(5):  # the store keeps the newest 3
        letter = DeadLetter(
            id=f"d{n}", webhook_id=b.id, team_id="t1", url=b.url, event="e", body="{}", attempts=1
        )
        await hooks.add_dead(letter)
    assert [d.id for d in await hooks.dead_letters()] == ["d4", "d3", "d2"]
    assert [d.id for d in await hooks.dead_letters(limit=1)] == ["d4"]
    assert await hooks.get_dead("d0") is None
    assert await hooks.remove_dead("d3") and not await hooks.remove_dead("d3")
    assert [d.id for d in await hooks.dead_letters()] == ["d4", "d2"]


@pytest.mark.redis
async def test_two_redis_workers_share_hooks_and_dead_letters(
    redis_url: str, receiver: Receiver, client: httpx.AsyncClient
) -> None:
    prefix = f"spiral-test:{uuid.uuid4().hex[:10]}:"
    worker_a, worker_b = RedisWebhookStore(redis_url, prefix), RedisWebhookStore(redis_url, prefix)
    try:
        hook = await _hook(worker_a, receiver.url("/shared"))
        assert [h.id for h in await worker_b.for_team("t1")] == [hook.id]
        receiver.answer("/shared", 400)
        failed = await WebhookDispatcher(worker_a, client, FAST).deliver(hook, "e", "{}")
        replayed = await WebhookDispatcher(worker_b, client, FAST).replay(failed.delivery_id)
        assert replayed.ok and await worker_a.dead_letters() == []
    finally:
        await worker_a.close()
        await worker_b.close()


async def test_retry_after_is_honoured(receiver: Receiver, client: httpx.AsyncClient) -> None:
    hooks = MemoryWebhookStore()
    hook = await _hook(hooks, receiver.url("/busy"))
    receiver.answer("/busy", (429, {"Retry-After": "1"}))
    policy = FAST.model_copy(update={"max_delay_s": 5.0})
    started = time.monotonic()
    result = await WebhookDispatcher(hooks, client, policy).deliver(hook, "e", "{}")
    assert result.ok and result.attempts == 2
    assert time.monotonic() - started >= 0.95  # base_s alone would have waited 0.01 s


def test_webhook_urls_must_be_http() -> None:
    with pytest.raises(ValueError):
        Webhook(team_id="t1", url="file:///etc/passwd")
    assert Webhook(team_id="t1", url="https://x.test/h").secret.startswith("whsec_")

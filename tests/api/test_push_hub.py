"""The push hubs (api/push.py): each test runs on MemoryHub and on RedisHub against a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from api.push import (
    KEEPALIVE,
    Hub,
    MemoryHub,
    PushEvent,
    RedisHub,
    Subscription,
    employee_channel,
    open_hub,
    sse_frame,
    sse_stream,
    team_channel,
)

pytestmark = pytest.mark.anyio

HubFactory = Callable[..., Hub]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_hub(request: pytest.FixtureRequest) -> AsyncIterator[HubFactory]:
    """Builds hubs of one kind. Redis hubs of one test share a fresh key prefix, so two of them
    act as two API workers on the same data while other tests' keys stay out of sight."""
    opened: list[Hub] = []
    prefix = f"spiral-test:{uuid.uuid4().hex[:10]}:"

    def _make(history: int = 1000, max_age_s: float = 3600.0) -> Hub:
        if request.param == "memory":
            hub: Hub = MemoryHub(history=history, max_age_s=max_age_s)
        else:
            url = request.getfixturevalue("redis_url")
            hub = RedisHub(url, history=history, max_age_s=max_age_s, prefix=prefix)
        opened.append(hub)
        return hub

    yield _make
    for hub in opened:
        await hub.close()


async def _take(sub: Subscription, n: int, timeout: float = 5.0) -> list[PushEvent]:
    out: list[PushEvent] = []
    while len(out) < n:
        event = await sub.get(timeout)
        assert event is not None, f"got {len(out)} of {n} events before timing out"
        out.append(event)
    return out


async def _publish_n(hub: Hub, channel: str, n: int, start: int = 1) -> list[str]:
    return [await hub.publish(channel, "tick", {"n": i}) for i in range(start, start + n)]


async def test_live_events_arrive_in_order(make_hub: HubFactory) -> None:
    hub = make_hub()
    channel = employee_channel("e1")
    sub = await hub.subscribe(channel)
    ids = await _publish_n(hub, channel, 3)
    got = await _take(sub, 3)
    assert [e.data["n"] for e in got] == [1, 2, 3]
    assert [e.id for e in got] == ids
    assert {e.channel for e in got} == {channel} and not sub.gap


async def test_reconnect_with_last_event_id_replays_the_missed_then_live(
    make_hub: HubFactory,
) -> None:
    hub = make_hub()
    channel = employee_channel("e1")
    ids = await _publish_n(hub, channel, 5)
    sub = await hub.subscribe(channel, last_event_id=ids[1])
    assert [e.data["n"] for e in await _take(sub, 3)] == [3, 4, 5]
    assert await sub.get(0.05) is None  # nothing more kept: the replay is exact
    live_id = await hub.publish(channel, "tick", {"n": 6})
    [live] = await _take(sub, 1)
    assert (live.id, live.data) == (live_id, {"n": 6}) and not sub.gap


async def test_without_last_event_id_only_live_events(make_hub: HubFactory) -> None:
    hub = make_hub()
    channel = team_channel("t1")
    await _publish_n(hub, channel, 2)
    sub = await hub.subscribe(channel)
    await hub.publish(channel, "tick", {"n": 3})
    assert [e.data["n"] for e in await _take(sub, 1)] == [3]


async def test_channels_are_isolated(make_hub: HubFactory) -> None:
    hub = make_hub()
    a, b = employee_channel("alice"), employee_channel("bob")
    sub_a = await hub.subscribe(a)
    await hub.publish(b, "tick", {"for": "bob"})
    await hub.publish(a, "tick", {"for": "alice"})
    assert [e.data for e in await _take(sub_a, 1)] == [{"for": "alice"}]
    assert await sub_a.get(0.05) is None
    replay = await hub.subscribe(a, last_event_id="0-0")
    assert [e.data for e in await _take(replay, 1)] == [{"for": "alice"}]


async def test_history_is_bounded_and_a_gap_is_reported(make_hub: HubFactory) -> None:
    hub = make_hub(history=5)
    channel = employee_channel("e1")
    ids = await _publish_n(hub, channel, 250)  # past Redis's 100-entry nodes: really trimmed
    sub = await hub.subscribe(channel, last_event_id=ids[0])
    assert [e.data["n"] for e in await _take(sub, 5)] == [246, 247, 248, 249, 250]
    assert sub.gap  # events 2..245 are not replayed: the client should refetch its state
    assert await sub.get(0.05) is None
    recent = await hub.subscribe(channel, last_event_id=ids[-3])
    assert [e.data["n"] for e in await _take(recent, 2)] == [249, 250] and not recent.gap


async def test_unknown_or_malformed_last_event_id_replays_what_is_kept(
    make_hub: HubFactory,
) -> None:
    hub = make_hub()
    channel = employee_channel("e1")
    await _publish_n(hub, channel, 2)
    for bad in ("garbage", "99999999999999-0", "-1", ""):
        sub = await hub.subscribe(channel, last_event_id=bad)
        assert [e.data["n"] for e in await _take(sub, 2)] == [1, 2], bad
        assert sub.gap, bad


async def test_old_events_are_not_replayed(make_hub: HubFactory) -> None:
    hub = make_hub(max_age_s=0.001)
    channel = employee_channel("e1")
    ids = await _publish_n(hub, channel, 2)
    await asyncio.sleep(0.02)  # both events are now older than max_age_s
    sub = await hub.subscribe(channel, last_event_id=ids[0])
    assert await sub.get(0.05) is None and sub.gap


@pytest.mark.redis
async def test_two_redis_workers_share_events(redis_url: str) -> None:
    prefix = f"spiral-test:{uuid.uuid4().hex[:10]}:"
    worker_a, worker_b = (RedisHub(redis_url, prefix=prefix) for _ in range(2))
    try:
        channel = employee_channel("e1")
        sub = await worker_b.subscribe(channel)
        event_id = await worker_a.publish(channel, "suggestion", {"text": "x"})
        [got] = await _take(sub, 1)
        assert (got.id, got.event, got.data) == (event_id, "suggestion", {"text": "x"})
        again = await worker_b.subscribe(channel, last_event_id="0-0")  # replay across workers
        assert [e.id for e in await _take(again, 1)] == [event_id]
    finally:
        await worker_a.close()
        await worker_b.close()


@pytest.mark.redis
async def test_a_redis_wait_longer_than_the_read_timeout_does_not_fail(redis_url: str) -> None:
    """XREAD BLOCK for the keep-alive interval (15 s by default) once outlived redis-py's
    5 s read timeout: an idle stream died with a TimeoutError. Here the read timeout is 1 s."""
    sep = "&" if "?" in redis_url else "?"
    hub = RedisHub(
        f"{redis_url}{sep}socket_timeout=1", prefix=f"spiral-test:{uuid.uuid4().hex[:10]}:"
    )
    try:
        channel = employee_channel("e1")
        sub = await hub.subscribe(channel)
        assert await sub.get(2.5) is None  # idle for longer than the read timeout
        later = asyncio.get_running_loop().call_later(
            1.2, lambda: asyncio.ensure_future(hub.publish(channel, "suggestion", {"n": 1}))
        )
        try:
            got = await sub.get(3.0)
        finally:
            later.cancel()
        assert got is not None and got.data == {"n": 1}
    finally:
        await hub.close()


@pytest.mark.redis
async def test_a_redis_hub_holds_more_than_a_hundred_waiting_subscribers(redis_url: str) -> None:
    """Each waiting subscriber holds a pooled connection; redis-py 8's default pool (100) made
    the 101st stream of a process fail with MaxConnectionsError."""
    hub = RedisHub(redis_url, prefix=f"spiral-test:{uuid.uuid4().hex[:10]}:")
    try:
        subs = [await hub.subscribe(employee_channel(f"e{i}")) for i in range(120)]
        assert await asyncio.gather(*(s.get(0.5) for s in subs)) == [None] * 120
    finally:
        await hub.close()


async def test_sse_stream_frames_events_and_keeps_alive(make_hub: HubFactory) -> None:
    hub = make_hub()
    channel = employee_channel("e1")
    event_id = await hub.publish(channel, "suggestion", {"text": "第一\nline"})
    stream = sse_stream(await hub.subscribe(channel, last_event_id="0-0"), keepalive_s=0.05)
    frame = await anext(stream)
    assert frame == f'id: {event_id}\nevent: suggestion\ndata: {{"text":"第一\\nline"}}\n\n'
    assert await anext(stream) == KEEPALIVE
    await hub.close()
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


def test_sse_frame_is_one_data_line() -> None:
    event = PushEvent(id="1-1", channel="team:t", event="x", data={"a": [1, 2], "b": "c\nd"})
    lines = sse_frame(event).split("\n")
    assert lines == ["id: 1-1", "event: x", 'data: {"a":[1,2],"b":"c\\nd"}', "", ""]


async def test_names_that_could_break_keys_or_frames_are_refused(make_hub: HubFactory) -> None:
    hub = make_hub()
    with pytest.raises(ValueError):
        employee_channel("a b")
    with pytest.raises(ValueError):
        await hub.publish("team:t", "evil\ndata: x", {})
    with pytest.raises(ValueError):
        await hub.subscribe("team:t\n")


def test_open_hub_picks_by_url() -> None:
    assert isinstance(open_hub(None), MemoryHub)
    assert isinstance(open_hub("redis://127.0.0.1:1/0"), RedisHub)  # lazy: connects on use

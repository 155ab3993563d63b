"""Live push: fan-out of events to subscribers of a channel (one per employee, one per team),
with Server-Sent-Events semantics.

Every event gets an id. A client that reconnects with `Last-Event-ID` gets every kept event after
that id, then live ones. History is bounded (the last `history` events per channel, none older
than `max_age_s`), so a client away for long may have missed some: its subscription then says so
(`Subscription.gap`), and the route should tell the client to refetch its state.

Two hubs behind one `Hub` Protocol: `MemoryHub` for one process, `RedisHub` (Redis Streams) when
several API workers must share events. `open_hub(redis_url)` picks one.

>>> import asyncio
>>> async def demo() -> list[str]:
...     hub = MemoryHub()
...     sub = await hub.subscribe(employee_channel("e1"))
...     await hub.publish(employee_channel("e1"), "suggestion", {"text": "hi"})
...     event = await anext(sub)
...     await hub.close()
...     return [event.event, event.data["text"]]
>>> asyncio.run(demo())
['suggestion', 'hi']
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

__all__ = [
    "KEEPALIVE",
    "Hub",
    "MemoryHub",
    "PushEvent",
    "RedisHub",
    "Subscription",
    "employee_channel",
    "open_hub",
    "sse_frame",
    "sse_stream",
    "team_channel",
]

KEEPALIVE = ": keep-alive\n\n"
"""An SSE comment: browsers ignore it, proxies see traffic and keep the connection open."""

# Channel and event names end up in Redis keys and SSE lines: no spaces, no newlines.
_NAME = re.compile(r"[A-Za-z0-9_.:@-]{1,200}")


class PushEvent(BaseModel):
    """One pushed event; `id` is what the client sends back as Last-Event-ID."""

    id: str
    channel: str
    event: str
    data: dict[str, Any]


def employee_channel(employee_id: str) -> str:
    return _checked(f"employee:{employee_id}")


def team_channel(team_id: str) -> str:
    return _checked(f"team:{team_id}")


def _checked(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid channel or event name: {name!r}")
    return name


def _dumps(data: dict[str, Any]) -> str:
    """Compact JSON on one line (an SSE `data:` line must not contain a newline)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=to_jsonable_python)


def _parse_id(raw: str | None) -> tuple[int, int] | None:
    """An id "<a>-<b>" as a pair of ints (both hubs use that shape), or None if malformed."""
    if not raw:
        return None
    head, sep, tail = raw.strip().partition("-")
    if not sep or not head.isdigit() or not tail.isdigit():
        return None
    return int(head), int(tail)


def _pair(event_id: str) -> tuple[int, int]:
    """A well-formed id (one Redis gave) as a pair of ints, for comparing."""
    head, _, tail = event_id.partition("-")
    return int(head), int(tail)


def sse_frame(event: PushEvent) -> str:
    """The SSE wire form of one event: id, event and data lines, then a blank line."""
    return f"id: {event.id}\nevent: {event.event}\ndata: {_dumps(event.data)}\n\n"


class Subscription(Protocol):
    """Events of one channel: the replay after Last-Event-ID first, then live ones."""

    channel: str
    gap: bool  # events after Last-Event-ID may be lost (trimmed, expired, or id unknown)

    async def get(self, timeout: float) -> PushEvent | None:
        """The next event, or None when none came within `timeout` seconds (send KEEPALIVE).
        Raises StopAsyncIteration once the hub is closed."""
        ...

    def __aiter__(self) -> AsyncIterator[PushEvent]: ...

    async def __anext__(self) -> PushEvent: ...


class Hub(Protocol):
    async def publish(self, channel: str, event: str, data: dict[str, Any]) -> str:
        """Append an event to the channel and wake its subscribers; returns the event id."""
        ...

    async def subscribe(self, channel: str, last_event_id: str | None = None) -> Subscription:
        """Start reading a channel. The position is fixed when this returns, so an event
        published after it is never missed. Without `last_event_id` only live events come;
        with a known one, the kept events after it come first. A malformed or unknown id (another
        hub's, or one from before a restart) replays everything kept and sets `gap`."""
        ...

    async def close(self) -> None: ...


async def sse_stream(sub: Subscription, keepalive_s: float = 15.0) -> AsyncIterator[str]:
    """SSE text for a StreamingResponse: a frame per event, KEEPALIVE when idle. Ends when the
    hub closes; the route ends it earlier by stopping iteration (client gone)."""
    while True:
        try:
            event = await sub.get(keepalive_s)
        except StopAsyncIteration:
            return
        yield KEEPALIVE if event is None else sse_frame(event)


class _SubscriptionBase:
    channel: str
    gap: bool

    async def get(self, timeout: float) -> PushEvent | None:
        raise NotImplementedError

    def __aiter__(self) -> AsyncIterator[PushEvent]:
        return self

    async def __anext__(self) -> PushEvent:
        while True:
            event = await self.get(30.0)
            if event is not None:
                return event


# --- one process -------------------------------------------------------------------------


@dataclass
class _Channel:
    events: deque[PushEvent] = field(default_factory=deque)
    times: deque[float] = field(default_factory=deque)  # monotonic publish times, for max age
    seq: int = 0  # seq of the newest event; seqs of a channel are contiguous
    dropped: int = 0  # seq of the newest event evicted from the history, 0 when none
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class MemoryHub:
    """Events of one process: a bounded deque per channel. Ids are "<epoch>-<seq>", the epoch
    being the hub's start time in ms and seq counting per channel, so an id from before a restart
    is recognised as unknown instead of being taken for a new event with the same number."""

    def __init__(self, history: int = 1000, max_age_s: float = 3600.0) -> None:
        self.history = history
        self.max_age_s = max_age_s
        self.closed = False
        self._epoch = time.time_ns() // 1_000_000
        self._channels: dict[str, _Channel] = {}

    def _channel(self, name: str) -> _Channel:
        return self._channels.setdefault(_checked(name), _Channel())

    async def publish(self, channel: str, event: str, data: dict[str, Any]) -> str:
        ch = self._channel(channel)
        body = json.loads(_dumps(data))  # the same data a Redis reader would get back
        pushed = PushEvent(
            id=f"{self._epoch}-{ch.seq + 1}", channel=channel, event=_checked(event), data=body
        )
        ch.seq += 1  # only now: the seqs of a channel's deque must stay contiguous
        ch.events.append(pushed)
        ch.times.append(time.monotonic())
        if len(ch.events) > self.history:
            self._drop_oldest(ch)
        ch.wake.set()
        ch.wake = asyncio.Event()
        return pushed.id

    async def subscribe(self, channel: str, last_event_id: str | None = None) -> Subscription:
        ch = self._channel(channel)
        cutoff = time.monotonic() - self.max_age_s
        while ch.times and ch.times[0] < cutoff:
            self._drop_oldest(ch)
        if last_event_id is None:
            return _MemorySubscription(self, channel, ch, after=ch.seq, gap=False)
        last = _parse_id(last_event_id)
        if last is None or last[0] != self._epoch or last[1] > ch.seq:
            return _MemorySubscription(self, channel, ch, after=ch.dropped, gap=True)
        return _MemorySubscription(self, channel, ch, after=last[1], gap=last[1] < ch.dropped)

    @staticmethod
    def _drop_oldest(ch: _Channel) -> None:
        ch.dropped = ch.seq - len(ch.events) + 1
        ch.events.popleft()
        ch.times.popleft()

    async def close(self) -> None:
        self.closed = True
        for ch in self._channels.values():
            ch.wake.set()


class _MemorySubscription(_SubscriptionBase):
    def __init__(self, hub: MemoryHub, channel: str, ch: _Channel, after: int, gap: bool) -> None:
        self.channel, self.gap = channel, gap
        self._hub, self._ch, self._after = hub, ch, after

    def _next(self) -> PushEvent | None:
        first = self._ch.seq - len(self._ch.events) + 1
        if self._after + 1 < first:
            self.gap = True  # this reader fell behind the history while others went on
        index = max(self._after + 1 - first, 0)
        return self._ch.events[index] if index < len(self._ch.events) else None

    async def get(self, timeout: float) -> PushEvent | None:
        if self._hub.closed:
            raise StopAsyncIteration
        event = self._next()
        if event is None:
            try:
                await asyncio.wait_for(self._ch.wake.wait(), timeout)
            except TimeoutError:
                return None
            if self._hub.closed:
                raise StopAsyncIteration
            event = self._next()
        if event is not None:
            self._after = int(event.id.rpartition("-")[2])
        return event


# --- several workers ---------------------------------------------------------------------


class RedisHub:
    """Events shared by every API worker through Redis Streams: one stream per channel, XADD
    with an approximate MAXLEN (cheap trimming, so a stream may hold a little more than
    `history`; replay is still cut to `history`) and an expiry, so idle channels vanish after
    `max_age_s`. The stream ids are the SSE ids. A subscriber holds one Redis connection while
    it waits (XREAD BLOCK)."""

    def __init__(
        self,
        url: str,
        history: int = 1000,
        max_age_s: float = 3600.0,
        prefix: str = "spiral:push:",
        max_connections: int = 10_000,
    ) -> None:
        from redis.asyncio import Redis  # connects lazily: no I/O here

        self.history = history
        self.max_age_s = max_age_s
        self.prefix = prefix
        self.closed = False
        # Every waiting subscriber holds a connection of the pool (redis-py 8 allows 100 by
        # default: the 101st stream of a process failed with "Too many connections").
        self.redis = Redis.from_url(
            url, decode_responses=True, protocol=2, max_connections=max_connections
        )
        # One XREAD BLOCK must end before the client's read timeout (redis-py 8 sets one by
        # default, 5 s), or a stream idle longer than that dies with a TimeoutError; a longer
        # wait is made of several shorter blocks.
        read_timeout = self.redis.connection_pool.connection_kwargs.get("socket_timeout", 5.0)
        t = None if read_timeout is None else float(read_timeout)
        self.max_block_s = 60.0 if t is None else (t - 1.0 if t > 2.0 else t / 2)

    def _key(self, channel: str) -> str:
        return self.prefix + _checked(channel)

    async def publish(self, channel: str, event: str, data: dict[str, Any]) -> str:
        key = self._key(channel)
        fields: dict[Any, Any] = {"event": _checked(event), "data": _dumps(data)}
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(key, fields, maxlen=self.history, approximate=True)
            pipe.expire(key, max(1, int(self.max_age_s)))
            event_id, _ = await pipe.execute()
        return str(event_id)

    async def subscribe(self, channel: str, last_event_id: str | None = None) -> Subscription:
        key = self._key(channel)
        newest = _entries(await self.redis.xrevrange(key, count=1))
        top = newest[0][0] if newest else "0-0"
        if last_event_id is None:
            return _RedisSubscription(self, channel, key, after=top, replay=[], gap=False)
        last = _parse_id(last_event_id)
        if last is None or not newest or last > _pair(top):
            last = None  # malformed, or not an id of this stream: replay all that is kept
        low = "-" if last is None else f"({last[0]}-{last[1]}"
        entries = _entries(await self.redis.xrevrange(key, min=low, count=self.history + 1))[::-1]
        after = entries[-1][0] if entries else top
        gap = last is None or len(entries) > self.history
        entries = entries[-self.history :] if self.history else []
        cutoff_ms = time.time_ns() // 1_000_000 - int(self.max_age_s * 1000)
        fresh = [(i, f) for i, f in entries if _pair(i)[0] >= cutoff_ms]
        gap = gap or len(fresh) < len(entries)
        if not gap and last is not None:
            gap = await self._trimmed_after(key, last)
        replay = [_event(channel, i, f) for i, f in fresh]
        return _RedisSubscription(self, channel, key, after=after, replay=replay, gap=gap)

    async def _trimmed_after(self, key: str, last: tuple[int, int]) -> bool:
        """Whether trimming may have removed an event newer than `last`. Trimming takes the oldest
        first, so while `last` is still kept nothing after it went; once the oldest kept event
        is newer, some may have. (Redis's max-deleted-entry-id counts XDEL only, not trimming.)"""
        oldest = _entries(await self.redis.xrange(key, count=1))
        return bool(oldest) and _pair(oldest[0][0]) > last

    async def close(self) -> None:
        self.closed = True
        await self.redis.aclose()


def _entries(raw: Any) -> list[tuple[str, dict[str, str]]]:
    """Stream entries as (id, fields). redis-py types replies for every decoding mode; this
    client decodes, so they are str."""
    return [(str(event_id), dict(fields or {})) for event_id, fields in raw or []]


def _event(channel: str, event_id: str, fields: dict[str, str]) -> PushEvent:
    data = json.loads(fields.get("data", "{}"))
    return PushEvent(id=event_id, channel=channel, event=fields.get("event", "message"), data=data)


class _RedisSubscription(_SubscriptionBase):
    def __init__(
        self, hub: RedisHub, channel: str, key: str, after: str, replay: list[PushEvent], gap: bool
    ) -> None:
        self.channel, self.gap = channel, gap
        self._hub, self._key, self._after = hub, key, after
        self._buffer: deque[PushEvent] = deque(replay)

    async def get(self, timeout: float) -> PushEvent | None:
        if self._buffer:
            return self._buffer.popleft()
        if self._hub.closed:
            raise StopAsyncIteration
        from redis.exceptions import ConnectionError as RedisConnectionError

        deadline = time.monotonic() + timeout
        while not self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if self._hub.closed:
                raise StopAsyncIteration
            block_ms = max(1, int(min(left, self._hub.max_block_s) * 1000))
            try:
                found = await self._hub.redis.xread(
                    {self._key: self._after}, count=100, block=block_ms
                )
            except RedisConnectionError:
                if self._hub.closed:
                    raise StopAsyncIteration from None
                raise
            for _key, entries in cast(list[tuple[str, Any]], found or []):
                self._buffer.extend(_event(self.channel, i, f) for i, f in _entries(entries))
        self._after = self._buffer[-1].id
        return self._buffer.popleft()


def open_hub(
    redis_url: str | None, *, history: int = 1000, max_age_s: float = 3600.0
) -> MemoryHub | RedisHub:
    """The hub for this deployment: Redis when a URL is given (several workers), else memory.
    Build it once (FastAPI lifespan) and close it on shutdown."""
    if redis_url:
        return RedisHub(redis_url, history=history, max_age_s=max_age_s)
    return MemoryHub(history=history, max_age_s=max_age_s)

"""Live conversations: messages that arrive one at a time (an integration, the WeCom archive
callback) are appended to their conversation through the ingest pipeline, so the conversation,
its messages, NEXT/REPLIES_TO links, de-identification and the event log are exactly what
ingesting the transcript would give.

How: each live conversation is one source, `live/<conversation id>`. An append reads the
conversation back from the store (its messages are de-identified there; de-identifying again
changes nothing), adds the new messages and ingests the whole conversation with
`Ingestor.ingest_loaded`: one transaction that replaces the source's old contribution. Nothing
raw is written to the graph.

What the graph cannot say is kept in a small live index (`LiveIndex`, in Redis when
`SPIRAL_REDIS_URL` is set, else in the process): the message ids already taken (a message
re-sent with the same id is not appended twice) and the conversation's people as the source
names them (the customer's raw id is what ingest hashes into the Customer node; the graph only
holds the hash). Appends to one conversation are serialised by a lock from the same index.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol

import httpx
from fastapi import Depends, Request
from pydantic import BaseModel, Field

from api.push import MemoryHub, RedisHub, open_hub
from api.webhooks import MemoryWebhookStore, RedisWebhookStore, WebhookDispatcher
from graph.ids import content_hash
from graph.model import Conversation, Employee, LinkType, Message
from graph.settings import Settings
from graph.store import GraphStore
from ingest.build import employee_id as employee_node_id
from ingest.build import source_id_for
from ingest.pipeline import Ingestor
from ingest.records import LoadedTranscript, LoadError, TranscriptConversation, TranscriptMessage
from ingest.untrusted import safe_uri
from seci.assist import Turn

__all__ = [
    "LIVE_PREFIX",
    "MAX_TEXT",
    "Appended",
    "LiveError",
    "LiveHeader",
    "LiveIndex",
    "LiveMessage",
    "MemoryLiveIndex",
    "PushDep",
    "PushState",
    "RedisLiveIndex",
    "append_messages",
    "conversation_node",
    "expected_handler",
    "get_push",
    "handler_of",
    "handlers",
    "open_live_index",
    "open_push",
    "stored_conversation",
    "turns_until",
]

LIVE_PREFIX = "live/"
CONTEXT_TURNS = 20  # the last turns an ask for a live message sees
MAX_TEXT = 4000  # what an ask takes of one turn or of the words (seci.assist's limit)


class LiveError(ValueError):
    """A live message that cannot be appended; the message says why (a 422)."""


class LiveMessage(BaseModel):
    """One message as a source system sends it (the canonical transcript's fields, and its id
    there: without one, its role, speaker, time and text identify it)."""

    id: str = ""
    role: Literal["customer", "employee", "system"]
    text: str
    speaker: str = ""
    speaker_id: str = ""
    time: str = ""

    def key(self) -> str:
        return self.id or "h" + content_hash(self.role, self.speaker, self.time, self.text)[:24]


class LiveHeader(BaseModel):
    """Who a conversation is between, as the source names them (raw: kept in the live index
    only, never in the graph)."""

    channel: str = ""
    employee: str = ""
    employee_id: str = ""
    customer: str = ""
    customer_id: str = ""

    def merged(self, newer: LiveHeader) -> LiveHeader:
        """This header with each field the newer one gives."""
        given = {k: v for k, v in newer.model_dump().items() if v}
        return self.model_copy(update=given)


class AppendedMessage(BaseModel):
    message_id: str  # as the source names it (or the content key)
    node_id: str
    position: int
    role: str
    text: str  # as sent (the graph holds it de-identified)


class Appended(BaseModel):
    conversation_id: str
    conversation: str  # the Conversation node id
    employee: str  # the handling Employee node id ('' when none is known)
    header: LiveHeader
    messages: list[AppendedMessage] = Field(default_factory=list)
    duplicates: list[str] = Field(default_factory=list)


# --- the live index ----------------------------------------------------------------------


class LiveIndex(Protocol):
    async def header(self, conversation_id: str) -> LiveHeader | None: ...
    async def set_header(self, conversation_id: str, header: LiveHeader) -> None: ...
    async def taken(self, conversation_id: str, ids: Sequence[str]) -> set[str]:
        """Which of these message ids the conversation already holds."""
        ...

    async def take(self, conversation_id: str, ids: Sequence[str]) -> None: ...
    def lock(self, conversation_id: str) -> AbstractAsyncContextManager[Any]: ...
    async def close(self) -> None: ...


class MemoryLiveIndex:
    """One process's index (lost on restart: a message re-sent after it is appended again)."""

    def __init__(self) -> None:
        self._headers: dict[str, LiveHeader] = {}
        self._ids: dict[str, set[str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def header(self, conversation_id: str) -> LiveHeader | None:
        return self._headers.get(conversation_id)

    async def set_header(self, conversation_id: str, header: LiveHeader) -> None:
        self._headers[conversation_id] = header

    async def taken(self, conversation_id: str, ids: Sequence[str]) -> set[str]:
        return set(ids) & self._ids.get(conversation_id, set())

    async def take(self, conversation_id: str, ids: Sequence[str]) -> None:
        self._ids.setdefault(conversation_id, set()).update(ids)

    def lock(self, conversation_id: str) -> AbstractAsyncContextManager[Any]:
        return self._locks.setdefault(conversation_id, asyncio.Lock())

    async def close(self) -> None:
        pass


class RedisLiveIndex:
    """The index in Redis, shared by every API worker: per conversation a header, a set of
    message ids and a lock (all expire `ttl_s` after the last message)."""

    def __init__(self, url: str, prefix: str = "spiral:live:", ttl_s: int = 30 * 86400) -> None:
        from redis.asyncio import Redis  # connects lazily: no I/O here

        self.redis = Redis.from_url(url, decode_responses=True, protocol=2)
        self.prefix, self.ttl_s = prefix, ttl_s

    def _k(self, conversation_id: str, part: str) -> str:
        return f"{self.prefix}{content_hash(conversation_id)[:32]}:{part}"

    async def header(self, conversation_id: str) -> LiveHeader | None:
        raw = await self.redis.get(self._k(conversation_id, "header"))
        return LiveHeader.model_validate_json(raw) if raw else None

    async def set_header(self, conversation_id: str, header: LiveHeader) -> None:
        key = self._k(conversation_id, "header")
        await self.redis.set(key, header.model_dump_json(), ex=self.ttl_s)

    async def taken(self, conversation_id: str, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        flags = await self.redis.smismember(self._k(conversation_id, "ids"), list(ids))
        return {i for i, flag in zip(ids, flags, strict=True) if flag}

    async def take(self, conversation_id: str, ids: Sequence[str]) -> None:
        if ids:
            key = self._k(conversation_id, "ids")
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.sadd(key, *ids)
                pipe.expire(key, self.ttl_s)
                await pipe.execute()

    def lock(self, conversation_id: str) -> AbstractAsyncContextManager[Any]:
        return self.redis.lock(self._k(conversation_id, "lock"), timeout=300, blocking_timeout=120)

    async def close(self) -> None:
        await self.redis.aclose()


def open_live_index(redis_url: str | None) -> MemoryLiveIndex | RedisLiveIndex:
    return RedisLiveIndex(redis_url) if redis_url else MemoryLiveIndex()


# --- appending (sync: reads and writes the store; run it in a worker thread) ---------------


def live_uri(conversation_id: str) -> str:
    """The uri a live conversation is ingested under (de-identified by the pipeline)."""
    return safe_uri(LIVE_PREFIX + conversation_id)


def stored_uri(ingestor: Ingestor, conversation_id: str) -> str:
    uri = live_uri(conversation_id)
    return ingestor.deid.redact_identifier(uri) if ingestor.deid else uri


def stored_conversation(
    store: GraphStore, ingestor: Ingestor, conversation_id: str
) -> tuple[Conversation | None, list[Message]]:
    """The conversation as the store holds it, and its messages in order."""
    conv = conversation_node(store, ingestor, conversation_id)
    return (conv, conversation_messages(store, conv.id)) if conv else (None, [])


def conversation_node(
    store: GraphStore, ingestor: Ingestor, conversation_id: str
) -> Conversation | None:
    """The live conversation's Conversation node, without its messages."""
    source = source_id_for(stored_uri(ingestor, conversation_id))
    found = store.neighbours(source, [LinkType.PART_OF], direction="in")
    return next((n.node for n in found if isinstance(n.node, Conversation)), None)


def conversation_messages(store: GraphStore, conversation: str) -> list[Message]:
    """A conversation's messages (by its node id), in the order they were written."""
    messages = [
        n.node
        for n in store.neighbours(conversation, [LinkType.PART_OF], direction="in")
        if isinstance(n.node, Message)
    ]
    return sorted(messages, key=lambda m: m.position)


def handlers(store: GraphStore, conversation: str) -> list[Employee]:
    return [
        n.node
        for n in store.neighbours(conversation, [LinkType.HANDLED_BY], direction="out")
        if isinstance(n.node, Employee)
    ]


def handler_of(store: GraphStore, conversation: str, header: LiveHeader) -> str:
    """The Employee node handling the conversation: the one its header names, else the first."""
    people = handlers(store, conversation)
    named = employee_node_id(header.employee, header.employee_id)
    for person in people:
        if person.id == named or (header.employee_id and person.external_id == header.employee_id):
            return person.id
    return people[0].id if people else ""


def _speaker_ids(store: GraphStore, messages: Sequence[Message]) -> dict[str, str]:
    """Each employee message's speaker as the source named them (their external id), read
    for all of them at once: on Neo4j one round trip, not one per message."""
    said = store.neighbours_of(
        [m.id for m in messages if m.role == "employee"], [LinkType.SAID_BY], direction="out"
    )
    return {
        message_id: next((n.node.external_id for n in found if isinstance(n.node, Employee)), "")
        for message_id, found in said.items()
    }


def append_messages(
    store: GraphStore,
    ingestor: Ingestor,
    conversation_id: str,
    header: LiveHeader,
    new: Sequence[LiveMessage],
    outcome: str | None = None,
    fmt: Literal["json", "wecom"] = "json",
    stored: tuple[Conversation | None, list[Message]] | None = None,
) -> Appended:
    """Append `new` (already checked against the index) to the conversation and ingest it as
    one transaction; with `outcome`, set how it ended. `stored`: the conversation as
    `stored_conversation` read it under the same lock (else read here). Raises LiveError when
    it cannot be."""
    conv, old = stored or stored_conversation(store, ingestor, conversation_id)
    if conv is None and not new:
        raise LiveError(f"conversation {conversation_id!r} has no messages yet")
    speakers = _speaker_ids(store, old)
    before = [
        TranscriptMessage(
            role=m.role,
            text=m.text,
            speaker=m.speaker,
            speaker_id=speakers.get(m.id, ""),
            time=m.time,
        )
        for m in old
    ]
    if conv is not None and not header.employee and not header.employee_id:
        people = handlers(store, conv.id)
        if people:
            header = header.model_copy(
                update={"employee": people[0].name, "employee_id": people[0].external_id}
            )
    added = [
        TranscriptMessage(
            role=m.role, text=m.text, speaker=m.speaker, speaker_id=m.speaker_id, time=m.time
        )
        for m in new
    ]
    transcript = TranscriptConversation(
        id=conversation_id,
        channel=header.channel or (conv.channel if conv else ""),
        employee=header.employee,
        employee_id=header.employee_id,
        customer=header.customer,
        customer_id=header.customer_id,
        outcome=outcome if outcome is not None else (conv.outcome if conv else ""),
        satisfaction=conv.satisfaction if conv else None,
        messages=before + added,
    )
    raw = json.dumps(transcript.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
    loaded = LoadedTranscript(
        uri=live_uri(conversation_id),
        format=fmt,
        conversations=[transcript],
        raw_hash=content_hash(raw),
    )
    report = ingestor.ingest_loaded(loaded)
    if report.status == "failed":
        raise LoadError(loaded.uri, report.reason)
    # Ingested again under the same uri, a conversation keeps its node id: it is read back
    # only when this append made it (on Neo4j the read was two round trips and every
    # message's vector, for the id alone).
    stored = conv or conversation_node(store, ingestor, conversation_id)
    if stored is None:  # pragma: no cover - the write above made it
        raise LiveError(f"conversation {conversation_id!r} was not stored")
    return Appended(
        conversation_id=conversation_id,
        conversation=stored.id,
        employee=handler_of(store, stored.id, header),
        header=header,
        messages=[
            AppendedMessage(
                message_id=m.key(),
                node_id=f"{stored.id}#m{len(before) + i}",
                position=len(before) + i,
                role=m.role,
                text=m.text,
            )
            for i, m in enumerate(new)
        ],
    )


def turns_until(old: Sequence[Message], new: Sequence[LiveMessage], index: int) -> list[Turn]:
    """The conversation's last turns up to and including `new[index]`, oldest first: the
    context an ask for that message sees (the stored turns are de-identified already)."""
    said: list[Message | LiveMessage] = [*old, *new[: index + 1]]
    return [
        Turn(role=m.role, text=m.text[:MAX_TEXT], speaker=m.speaker) for m in said[-CONTEXT_TURNS:]
    ]


def expected_handler(store: GraphStore, conv: Conversation | None, header: LiveHeader) -> str:
    """The Employee node that will handle the conversation once the append is written: as
    `handler_of` says for a stored one, else the one the header names."""
    if conv is not None:
        return handler_of(store, conv.id, header)
    if header.employee or header.employee_id:
        return employee_node_id(header.employee, header.employee_id)
    return ""


# --- what the app holds for push ----------------------------------------------------------


@dataclass
class PushState:
    """The hub, the webhook dispatcher (with its own httpx client) and the live index: built
    once in the app's lifespan (`open_push`), closed on shutdown."""

    hub: MemoryHub | RedisHub
    dispatcher: WebhookDispatcher
    live: MemoryLiveIndex | RedisLiveIndex
    keepalive_s: float = 15.0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` off the request path; kept referenced until done."""
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self, grace_s: float = 10.0) -> None:
        """Let pushes under way finish (for `grace_s`: an ask in a worker thread must not
        outlive the store it reads), then close everything."""
        if self.tasks:
            _, pending = await asyncio.wait(list(self.tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.hub.close()
        await self.dispatcher.store.close()
        await self.dispatcher.client.aclose()
        await self.live.close()


def open_push(settings: Settings) -> PushState:
    """Redis for all three when `SPIRAL_REDIS_URL` is set (several workers), else memory."""
    url = settings.redis_url
    store: MemoryWebhookStore | RedisWebhookStore
    store = RedisWebhookStore(url) if url else MemoryWebhookStore()
    dispatcher = WebhookDispatcher(store, httpx.AsyncClient())
    return PushState(
        hub=open_hub(url),
        dispatcher=dispatcher,
        live=open_live_index(url),
        keepalive_s=settings.push_keepalive_s,
    )


def get_push(request: Request) -> PushState:
    return request.app.state.push  # type: ignore[no-any-return]


PushDep = Annotated[PushState, Depends(get_push)]

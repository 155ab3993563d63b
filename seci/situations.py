"""Conversations as situations and responses, read from the store.

Why turns and not messages: employees answer in several short messages ("区别主要在三点" then
the three points), and customers ask in several. A response is the employee's whole turn, the
situation is the customer's turn it answers, so a mined talk track never stops mid-answer.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, Field

from graph.model import (
    Conversation,
    Document,
    Employee,
    Entity,
    EntityKind,
    Label,
    LinkType,
    Message,
    Note,
)
from graph.store import GraphStore, NodeQuery, iter_nodes
from graph.text import detect_language

__all__ = [
    "BAD_OUTCOMES",
    "GOOD_OUTCOMES",
    "SITUATION_KINDS",
    "Situation",
    "conversations_of",
    "is_success",
    "read_situations",
    "source_ids",
]

GOOD_OUTCOMES = frozenset({"resolved", "converted", "won", "success", "donated", "sold"})
BAD_OUTCOMES = frozenset({"lost", "escalated", "churned", "failed", "refused"})
# Entities that name a situation; keyword topics, amounts and dates are too many and too
# specific to tell situations apart.
SITUATION_KINDS = frozenset(
    {
        EntityKind.PRODUCT,
        EntityKind.OBJECTION,
        EntityKind.NEED,
        EntityKind.POLICY,
        EntityKind.COMPETITOR,
    }
)
# What the customer wants or objects to: two situations with different ones are different.
INTENT_KINDS = frozenset({EntityKind.OBJECTION, EntityKind.NEED})
OPENING = "(opening)"


def is_success(outcome: str) -> bool | None:
    """True for a good outcome, False for a bad one, None when unknown (not a trial)."""
    value = outcome.strip().lower()
    if value in GOOD_OUTCOMES:
        return True
    return False if value in BAD_OUTCOMES else None


class Situation(BaseModel):
    """One customer turn and the employee turn that answered it."""

    id: str  # first message of the customer turn (or of the response, for an opening)
    conversation_id: str
    source_id: str
    uri: str = ""
    outcome: str = ""
    text: str  # what the customer said; OPENING when the employee spoke first
    before: str = ""  # the employee's turn before it, for context
    entities: list[str] = Field(default_factory=list)  # ids, kinds in SITUATION_KINDS
    entity_names: dict[str, str] = Field(default_factory=dict)
    intents: list[str] = Field(default_factory=list)  # the objections and needs among them
    response: str
    response_ids: list[str] = Field(default_factory=list)
    speaker: str = ""  # Employee id of who answered
    speaker_name: str = ""
    language: str = "en"

    @property
    def success(self) -> bool | None:
        return is_success(self.outcome)


class _Turn(BaseModel):
    role: str
    messages: list[Message] = Field(default_factory=list)
    entities: dict[str, str] = Field(default_factory=dict)
    intents: set[str] = Field(default_factory=set)
    speaker: str = ""
    speaker_name: str = ""

    @property
    def text(self) -> str:
        return "\n".join(m.text for m in self.messages if m.text.strip())


def source_ids(store: GraphStore) -> list[str]:
    """Every transcript and note source in the store (a full run)."""
    return [
        node.id
        for label in (Label.DOCUMENT, Label.NOTE)
        for node in iter_nodes(store, NodeQuery(label=label, limit=1000))
        if isinstance(node, Note)
        or (isinstance(node, Document) and node.kind.startswith("transcript:"))
    ]


def conversations_of(store: GraphStore, source_id: str) -> list[Conversation]:
    convs = [
        n.node
        for n in store.neighbours(source_id, [LinkType.PART_OF], direction="in")
        if isinstance(n.node, Conversation)
    ]
    return sorted(convs, key=lambda c: (c.started_at, c.id))


def _turns(store: GraphStore, conversation_id: str) -> Iterator[_Turn]:
    messages = sorted(
        (
            n.node
            for n in store.neighbours(conversation_id, [LinkType.PART_OF], direction="in")
            if isinstance(n.node, Message)
        ),
        key=lambda m: m.position,
    )
    turn: _Turn | None = None
    for message in messages:
        if message.role == "system":
            continue
        if turn is None or turn.role != message.role:
            if turn is not None:
                yield turn
            turn = _Turn(role=message.role)
        turn.messages.append(message)
        for n in store.neighbours(message.id, [LinkType.SAID_BY, LinkType.MENTIONS], "out"):
            if isinstance(n.node, Employee) and not turn.speaker:
                turn.speaker, turn.speaker_name = n.node.id, n.node.name
            elif isinstance(n.node, Entity) and n.node.kind in SITUATION_KINDS:
                turn.entities[n.node.id] = n.node.name
                if n.node.kind in INTENT_KINDS:
                    turn.intents.add(n.node.id)
    if turn is not None:
        yield turn


def read_situations(store: GraphStore, conversation: Conversation) -> list[Situation]:
    """Every (customer turn → employee turn) of a conversation, in order. An employee turn
    that opens the conversation is the situation OPENING."""
    situations: list[Situation] = []
    previous: _Turn | None = None
    before: _Turn | None = None
    for turn in _turns(store, conversation.id):
        if turn.role == "employee" and turn.text:
            asked = previous if previous is not None and previous.role == "customer" else None
            if asked is not None or previous is None:
                situations.append(_situation(conversation, asked, before, turn))
            before = turn
        previous = turn
    return situations


def _situation(
    conversation: Conversation, asked: _Turn | None, before: _Turn | None, answer: _Turn
) -> Situation:
    text = asked.text if asked is not None else OPENING
    first = asked.messages[0] if asked is not None else answer.messages[0]
    return Situation(
        id=first.id,
        conversation_id=conversation.id,
        source_id=conversation.source_id,
        uri=conversation.uri,
        outcome=conversation.outcome,
        text=text,
        before=before.text if before is not None and asked is not None else "",
        entities=sorted(asked.entities) if asked is not None else [],
        entity_names=dict(asked.entities) if asked is not None else {},
        intents=sorted(asked.intents) if asked is not None else [],
        response=answer.text,
        response_ids=[m.id for m in answer.messages],
        speaker=answer.speaker,
        speaker_name=answer.speaker_name,
        language=detect_language(text + answer.text),
    )

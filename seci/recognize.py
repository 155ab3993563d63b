"""Which products, objections, needs, policies and competitors are in play: named in the
customer's words, in the conversation so far, or in what this customer asked about before.

Recognition reads the graph, not a model: the names and aliases of the entity nodes in play
(gazetteer and curated ones) that occur in the text. So what curators add to the graph is
recognised too (within NAMES_TTL_S).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Sequence

from pydantic import BaseModel

from graph.model import Conversation, Entity, EntityKind, Label, LinkType, Message
from graph.store import GraphStore, NodeQuery, iter_nodes
from graph.text import normalize

__all__ = ["IN_PLAY", "Recognized", "customer_entities", "expansion", "recognize"]

# Kinds that say what the conversation is about (not amounts, dates or keyword topics).
IN_PLAY = frozenset(
    {
        EntityKind.PRODUCT,
        EntityKind.OBJECTION,
        EntityKind.NEED,
        EntityKind.POLICY,
        EntityKind.COMPETITOR,
    }
)
NAMES_TTL_S = 30.0  # a curated entity is recognised within this long
_NAMES: weakref.WeakKeyDictionary[GraphStore, tuple[float, list[tuple[str, Recognized]]]] = (
    weakref.WeakKeyDictionary()
)
_NAMES_LOCK = threading.Lock()
HISTORY_CONVERSATIONS = 5  # the customer's latest conversations looked at
HISTORY_MESSAGES = 40


class Recognized(BaseModel):
    """An entity in play, where it was seen ("query", "context" or "customer")."""

    id: str
    name: str
    kind: EntityKind
    aliases: list[str] = []
    seen_in: str = "query"


def recognize(store: GraphStore, text: str, seen_in: str = "query") -> list[Recognized]:
    """Entities in play named in `text` (by name or alias), longest names first."""
    flat = normalize(text)
    if not flat:
        return []
    found = {
        entity.id: entity.model_copy(update={"seen_in": seen_in})
        for name, entity in _names(store)
        if name in flat
    }
    return sorted(found.values(), key=lambda r: (-len(r.name), r.id))


def _names(store: GraphStore) -> list[tuple[str, Recognized]]:
    """(normalised name or alias, entity) of every entity in play: a few hundred, read with
    the indexed kind filter and kept for NAMES_TTL_S, so recognising costs a substring scan
    (a full-text lookup per ask was a third of an ask's time at 100k nodes)."""
    now = time.monotonic()
    cached = _NAMES.get(store)
    if cached is not None and now - cached[0] < NAMES_TTL_S:
        return cached[1]
    names: list[tuple[str, Recognized]] = []
    for kind in sorted(IN_PLAY):
        for node in iter_nodes(store, NodeQuery(label=Label.ENTITY, kind=kind.value, limit=1000)):
            if not isinstance(node, Entity):
                continue
            entity = Recognized(id=node.id, name=node.name, kind=node.kind, aliases=node.aliases)
            for name in {normalize(n) for n in (node.name, *node.aliases)}:
                if len(name) >= 2:
                    names.append((name, entity))
    with _NAMES_LOCK:
        _NAMES[store] = (now, names)
    return names


def customer_entities(store: GraphStore, customer_id: str) -> list[Recognized]:
    """What this customer bought or asked about before: the entities in play named in their
    latest conversations (their own messages)."""
    conversations = sorted(
        (
            n.node
            for n in store.neighbours(customer_id, [LinkType.WITH_CUSTOMER], direction="in")
            if isinstance(n.node, Conversation)
        ),
        key=lambda c: c.started_at,
        reverse=True,
    )[:HISTORY_CONVERSATIONS]
    messages: list[Message] = []
    for conversation in conversations:
        messages.extend(
            n.node
            for n in store.neighbours(conversation.id, [LinkType.PART_OF], direction="in")
            if isinstance(n.node, Message) and n.node.role == "customer"
        )
    found: dict[str, Recognized] = {}
    for message in messages[:HISTORY_MESSAGES]:
        for n in store.neighbours(message.id, [LinkType.MENTIONS], direction="out"):
            entity = n.node
            if isinstance(entity, Entity) and entity.kind in IN_PLAY:
                found[entity.id] = Recognized(
                    id=entity.id,
                    name=entity.name,
                    kind=entity.kind,
                    aliases=entity.aliases,
                    seen_in="customer",
                )
    return sorted(found.values(), key=lambda r: r.id)


def expansion(entities: Sequence[Recognized]) -> str:
    """Names and aliases of the entities named in the query, for the lexical search: the
    gazetteer's aliases are the organisation's own synonyms (金盾 = 金盾百万医疗险)."""
    words: list[str] = []
    for e in entities:
        words.extend([e.name, *e.aliases])
    return " ".join(dict.fromkeys(words))

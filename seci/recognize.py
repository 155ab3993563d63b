"""Which products, objections, needs, policies and competitors are in play: named in the
customer's words, in the conversation so far, or in what this customer asked about before.

Recognition reads the graph, not a model: entity nodes (gazetteer and curated ones, with their
aliases) are looked up with the store's full-text search and kept when a name or an alias
really occurs in the text. So what curators add to the graph is recognised at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from graph.model import Conversation, Entity, EntityKind, Label, LinkType, Message
from graph.store import GraphStore
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
LOOKUP_DEPTH = 30
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
    found: dict[str, Recognized] = {}
    hits = store.lexical_search(text, LOOKUP_DEPTH, [Label.ENTITY])
    nodes = store.hit_contexts([h.id for h in hits])  # one round trip for all of them
    for context in nodes.values():
        node = context.node
        if not isinstance(node, Entity) or node.kind not in IN_PLAY:
            continue
        names = [n for n in (node.name, *node.aliases) if len(normalize(n)) >= 2]
        if any(normalize(n) in flat for n in names):
            found[node.id] = Recognized(
                id=node.id, name=node.name, kind=node.kind, aliases=node.aliases, seen_in=seen_in
            )
    return sorted(found.values(), key=lambda r: (-len(r.name), r.id))


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

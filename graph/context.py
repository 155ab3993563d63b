"""What a suggestion needs to know about a search hit, fetched for all hits at once.

A hit on something a customer said is only useful with the employee turn that answered it,
the conversation (how it ended) and the talk tracks mined from it; a chunk or an item with
the entities it names. `GraphStore.hit_contexts` returns all of that for a list of hits in
one call: Neo4j answers it with one query (a round trip per hit and neighbour was most of an
ask's time there); the embedded store walks its own tables, which costs no round trips.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from graph.model import Conversation, KnowledgeItem, LinkType, Message, Node

if TYPE_CHECKING:
    from graph.store import GraphStore

__all__ = ["TURN_MESSAGES", "HitContext", "Linked", "LinkedIds", "batch_contexts", "walk_contexts"]

TURN_MESSAGES = 8  # at most this many messages of one employee turn


class HitContext(BaseModel):
    """One hit with its surroundings in the graph."""

    node: Node
    # For a message: its conversation; and the employee's whole turn that answers it (a
    # customer message: the first reply and the employee messages right after it) or that
    # starts with it (an employee message).
    conversation: Conversation | None = None
    turn: list[Message] = Field(default_factory=list)
    # Knowledge items DERIVED_FROM the node or from the first message of its turn: the talk
    # tracks mined from this situation, and those that list this reply.
    items: list[KnowledgeItem] = Field(default_factory=list)
    # Entity ids the node names (MENTIONS; an item's own `entities`).
    entities: list[str] = Field(default_factory=list)


def walk_contexts(store: GraphStore, ids: Sequence[str]) -> dict[str, HitContext]:
    """`hit_contexts` by walking neighbours: right for a store without round trips, and the
    reference the one-query Neo4j version is tested against."""
    out: dict[str, HitContext] = {}
    for node_id in dict.fromkeys(ids):
        node = store.get_node(node_id)
        if node is None:
            continue
        # Without its vector: nothing downstream reads it, and on Neo4j reading the hits'
        # vectors was most of the one context query.
        node = node.model_copy(update={"embedding": None})
        context = HitContext(node=node)
        if isinstance(node, KnowledgeItem):
            context.entities = sorted(node.entities)
        else:
            context.entities = sorted(
                n.node.id for n in store.neighbours(node_id, [LinkType.MENTIONS], direction="out")
            )
        if isinstance(node, Message):
            context.conversation = next(
                (
                    n.node
                    for n in store.neighbours(node_id, [LinkType.PART_OF], direction="out")
                    if isinstance(n.node, Conversation)
                ),
                None,
            )
            context.turn = _turn(store, node)
        sources = [node_id] + ([context.turn[0].id] if context.turn else [])
        items: dict[str, KnowledgeItem] = {}
        for source in dict.fromkeys(sources):
            for n in store.neighbours(source, [LinkType.DERIVED_FROM], direction="in"):
                if isinstance(n.node, KnowledgeItem):
                    items[n.node.id] = n.node
        context.items = sorted(items.values(), key=lambda i: i.id)
        out[node_id] = context
    return out


def _turn(store: GraphStore, message: Message) -> list[Message]:
    if message.role == "employee":
        first: Message | None = message
    else:
        replies = [
            n.node
            for n in store.neighbours(message.id, [LinkType.REPLIES_TO], direction="in")
            if isinstance(n.node, Message)
        ]
        first = min(replies, key=lambda m: m.position) if replies else None
    turn: list[Message] = []
    current = first
    while current is not None and len(turn) < TURN_MESSAGES:
        turn.append(current)
        following = [
            n.node
            for n in store.neighbours(current.id, [LinkType.NEXT], direction="out")
            if isinstance(n.node, Message) and n.node.role == "employee"
        ]
        current = following[0] if following else None
    return turn


# (ids, link type, direction) -> for each id that has such links, the nodes at their other
# end in id order: one query for all ids.
Linked = Callable[[Sequence[str], LinkType, Literal["out", "in"]], dict[str, list[Node]]]
# The same, only the ids at the other end.
LinkedIds = Callable[[Sequence[str], LinkType, Literal["out", "in"]], dict[str, list[str]]]


def batch_contexts(
    nodes: Callable[[Sequence[str]], dict[str, Node]],
    linked: Linked,
    ids: Sequence[str],
    linked_ids: LinkedIds | None = None,
) -> dict[str, HitContext]:
    """What `walk_contexts` returns, a step for all hits at once: a store that reads many ids
    in one query (the embedded store's SQL) needs a handful of queries instead of a few per
    hit. `linked_ids`, when the store has it, reads only the ids of the entities mentioned
    (most of the nodes a walk would decode). Tested equal to `walk_contexts`."""
    found = nodes(list(dict.fromkeys(ids)))
    out = {i: HitContext(node=n.model_copy(update={"embedding": None})) for i, n in found.items()}
    plain = [i for i, c in out.items() if not isinstance(c.node, KnowledgeItem)]
    if linked_ids is not None:
        mentioned = linked_ids(plain, LinkType.MENTIONS, "out")
    else:
        mentioned = {
            i: [n.id for n in found] for i, found in linked(plain, LinkType.MENTIONS, "out").items()
        }
    for i, context in out.items():
        node = context.node
        if isinstance(node, KnowledgeItem):
            context.entities = sorted(node.entities)
        else:
            context.entities = sorted(mentioned.get(i, []))
    messages = {i: c.node for i, c in out.items() if isinstance(c.node, Message)}
    parts = linked(list(messages), LinkType.PART_OF, "out")
    asked = [i for i, m in messages.items() if m.role != "employee"]
    replies = linked(asked, LinkType.REPLIES_TO, "in")
    first: dict[str, Message] = {}
    for i, message in messages.items():
        out[i].conversation = next(
            (n for n in parts.get(i, []) if isinstance(n, Conversation)), None
        )
        if message.role == "employee":
            first[i] = message
        else:
            answers = [n for n in replies.get(i, []) if isinstance(n, Message)]
            if answers:
                first[i] = min(answers, key=lambda m: m.position)
    current = dict(first)
    for i, message in first.items():
        out[i].turn = [message]
    for _ in range(TURN_MESSAGES - 1):
        following = linked([m.id for m in current.values()], LinkType.NEXT, "out")
        step: dict[str, Message] = {}
        for i, message in current.items():
            nxt = next(
                (
                    n
                    for n in following.get(message.id, [])
                    if isinstance(n, Message) and n.role == "employee"
                ),
                None,
            )
            if nxt is not None:
                out[i].turn.append(nxt)
                step[i] = nxt
        if not step:
            break
        current = step
    sources = {i: [i, *[c.turn[0].id for c in (ctx,) if c.turn]] for i, ctx in out.items()}
    wanted = list(dict.fromkeys(s for group in sources.values() for s in group))
    derived = linked(wanted, LinkType.DERIVED_FROM, "in")
    for i, context in out.items():
        items = {
            n.id: n
            for s in dict.fromkeys(sources[i])
            for n in derived.get(s, [])
            if isinstance(n, KnowledgeItem)
        }
        context.items = sorted(items.values(), key=lambda item: item.id)
    return {i: out[i] for i in dict.fromkeys(ids) if i in out}

"""Handover: when someone leaves, their customers, open conversations and notes go to a
colleague in one unit of work, and nothing they did is rewritten.

What moves is ownership, a decided `owner` field: a customer whose owner is the person leaving
(decided, or, with none decided, because they handled the customer's latest conversation), a
conversation of theirs that has no outcome yet, a note they own or wrote. What stays is
attribution: who said each message (SAID_BY), who handled each conversation (HANDLED_BY), whose
feedback and decisions are in the event log. The handover is one event, so `spiral undo SEQ`
gives everything back at once. The new owner gets each customer's whole history: every
conversation with them, whoever handled it.
"""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel, Field

from graph.changes import NotFound, SetFields
from graph.model import Conversation, Customer, Employee, Label, LinkType, Note
from graph.store import GraphStore, NodeQuery, iter_nodes
from seci.socialize import conversation_handlers

__all__ = ["CustomerHistory", "HandoverResult", "find_employee", "handover"]

ACTION = "handover"


class CustomerHistory(BaseModel):
    customer: str  # node id
    name: str
    conversations: list[str] = Field(default_factory=list)  # titles, oldest first
    handled_by: list[str] = Field(default_factory=list)  # everyone who ever handled them


class HandoverResult(BaseModel):
    event: int  # the one event (undo it to give everything back)
    from_employee: str
    to_employee: str
    customers: list[CustomerHistory] = Field(default_factory=list)
    conversations: list[str] = Field(default_factory=list)  # open ones, now owned by the new owner
    notes: list[str] = Field(default_factory=list)


def find_employee(store: GraphStore, who: str) -> Employee:
    """An employee by node id, source-system id or display name; one clear error if there is
    none or the name is shared (then the ids to choose from)."""
    node = store.get_node(who)
    if isinstance(node, Employee):
        return node
    matches = [
        n
        for n in iter_nodes(store, NodeQuery(label=Label.EMPLOYEE, limit=1000))
        if isinstance(n, Employee) and who in (n.external_id, n.name, *n.aliases)
    ]
    if not matches:
        raise NotFound(f"no employee {who!r} (give a node id, source-system id or name)")
    if len(matches) > 1:
        ids = ", ".join(f"{m.id} ({m.external_id or m.name})" for m in matches)
        raise ValueError(f"{who!r} names {len(matches)} employees: {ids}")
    return matches[0]


def handover(
    store: GraphStore, from_who: str, to_who: str, actor: str, reason: str = ""
) -> HandoverResult:
    """Move `from_who`'s customers, open conversations and notes to `to_who` (one event)."""
    leaving, taking = find_employee(store, from_who), find_employee(store, to_who)
    if leaving.id == taking.id:
        raise ValueError("a handover needs two different people")
    handled = conversation_handlers(store)
    conversations = {
        n.id: n
        for n in iter_nodes(store, NodeQuery(label=Label.CONVERSATION, limit=1000))
        if isinstance(n, Conversation)
    }
    customer_of = _customer_of(store)
    by_customer: dict[str, list[Conversation]] = defaultdict(list)
    for conversation in conversations.values():
        if customer := customer_of.get(conversation.id):
            by_customer[customer].append(conversation)
    for talks in by_customer.values():
        talks.sort(key=lambda c: (c.started_at, c.title, c.id))

    customers = [
        n
        for n in iter_nodes(store, NodeQuery(label=Label.CUSTOMER, limit=1000))
        if isinstance(n, Customer)
        and _owner(n.owner, by_customer.get(n.id, []), handled) == leaving.id
    ]
    open_talks = sorted(
        (
            c
            for c in conversations.values()
            if not c.outcome.strip()
            and (c.owner or (leaving.id if leaving.id in handled.get(c.id, ()) else ""))
            == leaving.id
        ),
        key=lambda c: c.id,
    )
    names = {leaving.name, leaving.external_id, leaving.id} - {""}
    notes = [
        n
        for n in iter_nodes(store, NodeQuery(label=Label.NOTE, limit=1000))
        if isinstance(n, Note) and (n.owner == leaving.id or (not n.owner and n.author in names))
    ]
    ops = [
        SetFields(id=node.id, fields={"owner": taking.id}, expected_version=node.version)
        for node in [*customers, *open_talks, *notes]
    ]
    if not ops:
        raise ValueError(f"{leaving.name or leaving.id} owns nothing to hand over")
    why = reason or f"{leaving.name or leaving.id} hands over to {taking.name or taking.id}"
    event = store.apply(ops, actor, ACTION, why)
    return HandoverResult(
        event=event.seq,
        from_employee=leaving.id,
        to_employee=taking.id,
        customers=[_history(c, by_customer.get(c.id, []), handled) for c in customers],
        conversations=[c.title or c.id for c in open_talks],
        notes=[n.title or n.uri for n in notes],
    )


def _owner(decided: str, talks: list[Conversation], handled: dict[str, list[str]]) -> str:
    """Who owns a customer: the decided owner, else whoever handled the latest conversation
    (the first by id when several did)."""
    if decided:
        return decided
    latest = talks[-1] if talks else None
    people = handled.get(latest.id, []) if latest else []
    return people[0] if people else ""


def _history(
    customer: Customer, talks: list[Conversation], handled: dict[str, list[str]]
) -> CustomerHistory:
    people = sorted({p for c in talks for p in handled.get(c.id, [])})
    return CustomerHistory(
        customer=customer.id,
        name=customer.name,
        conversations=[c.title or c.id for c in talks],
        handled_by=people,
    )


def _customer_of(store: GraphStore) -> dict[str, str]:
    return {src: dst for src, dst in store.projection([LinkType.WITH_CUSTOMER]).edges()}

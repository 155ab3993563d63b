"""Reading conversations back: an employee's own (for the assist panel's "open a
conversation"), and one conversation with its messages. Who may see which is decided here,
once: an employee only the conversations they handle; knowledge managers and admins any."""

from __future__ import annotations

from fastapi import HTTPException

from api.accounts import Principal
from api.live import conversation_messages, handlers, stored_conversation
from api.runtime import Runtime
from api.schemas import ConversationPublic, ConversationSummary, MessagePublic
from graph.model import Conversation, LinkType, Message
from graph.store import NotFound
from seci.handover import find_employee

__all__ = ["conversation_of", "conversations_of"]


def conversations_of(
    rt: Runtime, user: Principal, employee: str | None, limit: int
) -> list[ConversationSummary]:
    """The conversations an employee handles, latest first. Employees see their own only."""
    if employee and user.role != "employee":
        person = find_employee(rt.store, employee).id
    else:
        if employee and find_employee(rt.store, employee).id != user.employee_id:
            raise HTTPException(403, "an employee sees only their own conversations")
        if not user.employee_id:
            raise HTTPException(422, "this account is not linked to an employee: name one")
        person = user.employee_id
    found = [
        n.node
        for n in rt.store.neighbours(person, [LinkType.HANDLED_BY], direction="in")
        if isinstance(n.node, Conversation)
    ]
    found.sort(key=lambda c: (c.started_at, c.id), reverse=True)
    return [_summary(c) for c in found[:limit]]


def conversation_of(rt: Runtime, user: Principal, ref: str) -> ConversationPublic:
    """One conversation (by node id or its id in the source) with its messages."""
    conv, messages = _find(rt, ref)
    if user.role == "employee" and user.employee_id not in {
        p.id for p in handlers(rt.store, conv.id)
    }:
        raise HTTPException(403, "an employee sees only the conversations they handle")
    return ConversationPublic(
        **_summary(conv).model_dump(),
        messages=[MessagePublic.model_validate(m, from_attributes=True) for m in messages],
    )


def _find(rt: Runtime, ref: str) -> tuple[Conversation, list[Message]]:
    node = rt.store.get_node(ref)
    if isinstance(node, Conversation):
        return node, conversation_messages(rt.store, node.id)
    conv, messages = stored_conversation(rt.store, rt.ingestor(), ref)
    if conv is None:
        raise NotFound(f"no conversation {ref!r}")
    return conv, messages


def _summary(conv: Conversation) -> ConversationSummary:
    return ConversationSummary.model_validate(conv, from_attributes=True)

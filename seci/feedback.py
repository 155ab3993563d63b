"""The feedback loop: what happened when an employee used a suggestion.

`used` counts a use; `worked` and `failed` are outcomes (each also a use). They are decisions
on the item (kept apart from what mining observes, so re-mining never resets them), one event
each in the log — with the employee and the conversation, the evidence that this person has
put the item to work — and they move the item's ranking at once.

A use whose outcome is not known yet waits for its conversation: when that conversation is
ingested (or re-ingested) with an outcome, `settle_outcomes` counts it as worked or failed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from graph.changes import AddLink, Event, SetFields
from graph.model import Conversation, KnowledgeItem, Label, Link, LinkType
from graph.store import (
    Conflict,
    GraphStore,
    NodeQuery,
    NotFound,
    iter_events,
    iter_nodes,
    last_cursor,
)
from seci.situations import conversations_of, is_success

__all__ = ["FeedbackKind", "SettleReport", "record_feedback", "settle_outcomes"]

SETTLE_ACTION = "seci.settle.run"
OUTCOME_ACTOR = "seci.outcomes"

FeedbackKind = Literal["used", "worked", "failed"]
RETRIES = 3  # concurrent feedback on one item: read again and retry


def record_feedback(
    store: GraphStore,
    suggestion_id: str,
    kind: FeedbackKind,
    actor: str,
    conversation_id: str | None = None,
    reason: str = "",
) -> Event:
    """Count one use (and its outcome) on the item a suggestion came from."""
    if kind not in ("used", "worked", "failed"):
        raise ValueError(f"feedback is used, worked or failed, not {kind!r}")
    for attempt in range(RETRIES):
        item = store.get_node(suggestion_id)
        if not isinstance(item, KnowledgeItem):
            raise NotFound(_not_an_item(suggestion_id, item is not None))
        fields: dict[str, Any] = _counts(item, kind)
        ops: list[SetFields | AddLink] = []
        conversation = _conversation(store, conversation_id) if conversation_id else None
        if conversation is not None:
            ops.append(AddLink(link=_used_in(item.id, conversation.id, kind, actor)))
        if conversation_id:
            ref = conversation.id if conversation else conversation_id
            awaiting = {k: v for k, v in item.awaiting.items() if k != ref}
            if kind == "used" and not _ended(conversation):
                awaiting[ref] = actor  # its outcome will be counted when it is known
            if awaiting != item.awaiting:
                fields["awaiting"] = awaiting
        ops.insert(0, SetFields(id=item.id, fields=fields, expected_version=item.version))
        try:
            return store.apply(ops, actor=actor, action=f"feedback.{kind}", reason=reason)
        except Conflict:
            if attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def _counts(item: KnowledgeItem, kind: FeedbackKind) -> dict[str, int]:
    fields = {"uses": item.uses + 1}
    if kind != "used":
        fields["feedback_trials"] = item.feedback_trials + 1
        fields["feedback_successes"] = item.feedback_successes + (kind == "worked")
    return fields


def _conversation(store: GraphStore, ref: str) -> Conversation | None:
    """The conversation named by its node id; None when it is not in the store (yet)."""
    node = store.get_node(ref)
    if node is not None and not isinstance(node, Conversation):
        raise NotFound(f"{ref!r} is not a conversation")
    return node


def _ended(conversation: Conversation | None) -> bool:
    return conversation is not None and is_success(conversation.outcome) is not None


def _used_in(item_id: str, conversation_id: str, kind: str, actor: str) -> Link:
    return Link(
        src=item_id,
        type=LinkType.USED_IN,
        dst=conversation_id,
        props={"by": actor, "feedback": kind},
    )


def _not_an_item(suggestion_id: str, exists: bool) -> str:
    if not exists:
        return f"no suggestion with id {suggestion_id!r} (use an id from `spiral ask --json`)"
    return (
        f"{suggestion_id!r} is a document or message, not a knowledge item: feedback is kept "
        "on items (run `spiral seci externalize` to mine them from conversations)"
    )


class SettleReport(BaseModel):
    conversations: int = 0  # written since the last run, with an outcome
    settled: int = 0  # uses counted as worked or failed
    cursor: int = 0


def settle_outcomes(store: GraphStore) -> SettleReport:
    """Count the outcome of every conversation ingested since the last run on the items
    used in it and still awaiting it: one event per item and conversation."""
    waiting = _awaiting(store)
    if not waiting:  # nothing to settle: the log stays as it is
        return SettleReport()
    since = last_cursor(store, SETTLE_ACTION)
    report = SettleReport(cursor=since)
    sources: dict[str, None] = {}
    for event in iter_events(store, since=since, actions=["source.write"]):
        report.cursor = event.seq
        sources.update(dict.fromkeys(event.ids))
    if not sources:
        return report
    ended = {c.id: c for s in sources for c in conversations_of(store, s) if _ended(c)}
    report.conversations = len(ended)
    refs = {ref: c for c in ended.values() for ref in (c.id, c.title) if ref}
    if refs:
        for item in waiting:
            for ref in [r for r in item.awaiting if r in refs]:
                _settle(store, item.id, ref, refs[ref])
                report.settled += 1
    store.log(OUTCOME_ACTOR, SETTLE_ACTION, report.model_dump())
    return report


def _awaiting(store: GraphStore) -> list[KnowledgeItem]:
    return [
        n
        for n in iter_nodes(store, NodeQuery(label=Label.KNOWLEDGE_ITEM, limit=1000))
        if isinstance(n, KnowledgeItem) and n.awaiting
    ]


def _settle(store: GraphStore, item_id: str, ref: str, conversation: Conversation) -> None:
    worked = bool(is_success(conversation.outcome))
    for attempt in range(RETRIES):
        item = store.get_node(item_id)
        if not isinstance(item, KnowledgeItem) or ref not in item.awaiting:
            return
        actor = item.awaiting[ref]
        fields: dict[str, Any] = {
            "feedback_trials": item.feedback_trials + 1,
            "feedback_successes": item.feedback_successes + worked,
            "awaiting": {k: v for k, v in item.awaiting.items() if k != ref},
        }
        kind = "worked" if worked else "failed"
        try:
            store.apply(
                [
                    SetFields(id=item.id, fields=fields, expected_version=item.version),
                    AddLink(link=_used_in(item.id, conversation.id, kind, actor)),
                ],
                actor=OUTCOME_ACTOR,
                action=f"feedback.{kind}",
                reason=f"{actor} used it; the conversation was {conversation.outcome}",
            )
            return
        except Conflict:
            if attempt == RETRIES - 1:
                raise

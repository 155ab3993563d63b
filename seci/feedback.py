"""The feedback loop: what happened when an employee used a suggestion.

`used` counts a use; `worked` and `failed` are outcomes (each also a use). They are decisions
on the item (kept apart from what mining observes, so re-mining never resets them), one event
each in the log — with the employee and the conversation, the evidence that this person has
put the item to work — and they move the item's ranking at once.
"""

from __future__ import annotations

from typing import Literal

from graph.changes import AddLink, Event, SetFields
from graph.model import Conversation, KnowledgeItem, Link, LinkType
from graph.store import Conflict, GraphStore, NotFound

__all__ = ["FeedbackKind", "record_feedback"]

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
        ops: list[SetFields | AddLink] = [
            SetFields(id=item.id, fields=_counts(item, kind), expected_version=item.version)
        ]
        if conversation_id:
            ops.append(AddLink(link=_used_in(store, item.id, conversation_id, kind, actor)))
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


def _used_in(store: GraphStore, item_id: str, conversation_id: str, kind: str, actor: str) -> Link:
    if not isinstance(store.get_node(conversation_id), Conversation):
        raise NotFound(f"no conversation with id {conversation_id!r}")
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

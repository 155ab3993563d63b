"""Items as the outside sees them: the `spiral items list --json` shape fixed in DESIGN.md,
and an item's full story for `spiral curate show` (evidence, responses, history)."""

from __future__ import annotations

from itertools import islice
from typing import Any

from graph.model import KnowledgeItem, Label, LinkType
from graph.store import GraphStore, NodeQuery, iter_events, iter_nodes
from seci.tracks import mined_members

__all__ = ["item_detail", "item_record", "items_page", "sources_of"]


def items_page(
    store: GraphStore, status: str | None = None, kind: str | None = None, limit: int = 1000
) -> list[KnowledgeItem]:
    query = NodeQuery(label=Label.KNOWLEDGE_ITEM, status=status, kind=kind, limit=1000)
    items = (n for n in iter_nodes(store, query) if isinstance(n, KnowledgeItem))
    return list(islice(items, limit))


def sources_of(store: GraphStore, item_id: str) -> list[dict[str, Any]]:
    """The files an item derives from (conversations, notes, documents), each once."""
    seen: dict[str, dict[str, Any]] = {}
    for n in store.neighbours(item_id, [LinkType.DERIVED_FROM], "out"):
        uri = getattr(n.node, "uri", "")
        role = n.link.props.get("role", "")
        if uri and role in ("source", "note", "") and uri not in seen:
            seen[uri] = {"uri": uri, "id": n.node.id, "label": n.node.label.value}
    return list(seen.values())


def item_record(store: GraphStore, item: KnowledgeItem) -> dict[str, Any]:
    """One line of `spiral items list --json`."""
    return {
        "id": item.id,
        "kind": item.kind.value,
        "status": item.status.value,
        "title": item.title,
        "text": item.text,
        "stats": {
            "uses": item.uses,
            "successes": item.total_successes,
            "trials": item.total_trials,
        },
        "sources": sources_of(store, item.id),
        "evidence": item.evidence,
        "confidence": item.confidence,
        "owner": item.owner,
        "expires_at": item.expires_at,
        "verified_at": item.verified_at,
    }


def item_detail(store: GraphStore, item_id: str) -> dict[str, Any] | None:
    """Everything a curator needs to decide: the item, its ranked responses and what not to
    say, its situations (ids a split takes), curators' links, and its history."""
    node = store.get_node(item_id)
    if not isinstance(node, KnowledgeItem):
        return None
    _, members = mined_members(store, item_id)
    links = [
        {
            "type": n.link.type.value,
            "direction": n.direction,
            "id": n.node.id,
            "title": getattr(n.node, "title", "") or getattr(n.node, "name", ""),
        }
        for n in store.neighbours(item_id)
        if not n.link.source_id and n.link.type is not LinkType.DERIVED_FROM
    ]
    history = iter_events(store, node_id=item_id)
    record = item_record(store, node)
    record.update(
        situation=node.situation,
        responses=[r.model_dump() for r in node.responses],
        avoid=[r.model_dump() for r in node.avoid],
        merged_from=node.merged_from,
        merged_into=node.merged_into,
        approved_by=node.approved_by,
        version=node.version,
        situations=[
            {
                "id": target,
                "text": m.situation,
                "response": m.response,
                "outcome": m.outcome,
                "speaker": m.speaker_name or m.speaker,
                "uri": m.uri,
            }
            for target, m in members
        ],
        links=links,
        history=[e.model_dump(include={"seq", "at", "actor", "action", "reason"}) for e in history],
    )
    return record

"""The item lifecycle in one place: every decision a knowledge manager makes about an item.

draft ──approve──▶ approved ──retire──▶ retired
  └────reject────▶ rejected          (merge: the other side is retired, merged_into = kept)

Each operation is one unit of work with an actor and a reason: atomic, in the event log, and
undoable with `undo(seq)`. Decisions are `SetFields` (kept over any later mining); what a
merge or a split recomputes is written as an observation (`Observe`), so mining can go on
updating the counts after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from graph.changes import AddLink, Event, Observe, Repoint, SetFields
from graph.embeddings import Embedder
from graph.model import ItemKind, ItemStatus, KnowledgeItem, Label, Link, LinkType, make_id
from graph.store import GraphStore, NotFound
from seci.tracks import Member, build_item, evidence_links, mined_members, relink

__all__ = [
    "CURATION_LINKS",
    "REVIEW_DAYS",
    "approve",
    "assign",
    "dismiss",
    "edit",
    "get_item",
    "link",
    "merge",
    "reject",
    "retire",
    "split",
    "verify",
]

REVIEW_DAYS = 180  # a verification holds this long by default
CURATION_LINKS = (
    LinkType.COMPLEMENTS,
    LinkType.CONTRADICTS,
    LinkType.PREREQUISITE_OF,
    LinkType.SIMILAR_TO,
)
EDITABLE = ("title", "text", "situation", "kind")


def get_item(store: GraphStore, item_id: str) -> KnowledgeItem:
    node = store.get_node(item_id)
    if not isinstance(node, KnowledgeItem):
        raise NotFound(f"no knowledge item with id {item_id!r} (see `spiral items list`)")
    return node


def _decide(
    store: GraphStore, item_id: str, fields: dict[str, Any], actor: str, action: str, reason: str
) -> Event:
    item = get_item(store, item_id)
    op = SetFields(id=item_id, fields=fields, expected_version=item.version)
    return store.apply([op], actor=actor, action=action, reason=reason)


def approve(store: GraphStore, item_id: str, actor: str, reason: str = "") -> Event:
    fields = {"status": ItemStatus.APPROVED.value, "approved_by": actor}
    return _decide(store, item_id, fields, actor, "item.approve", reason)


def reject(store: GraphStore, item_id: str, actor: str, reason: str = "") -> Event:
    fields = {"status": ItemStatus.REJECTED.value}
    return _decide(store, item_id, fields, actor, "item.reject", reason)


def retire(store: GraphStore, item_id: str, actor: str, reason: str = "") -> Event:
    fields = {"status": ItemStatus.RETIRED.value}
    return _decide(store, item_id, fields, actor, "item.retire", reason)


def edit(
    store: GraphStore, item_id: str, changes: dict[str, str], actor: str, reason: str = ""
) -> Event:
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown or not changes:
        raise ValueError(f"edit one or more of {', '.join(EDITABLE)} (not {', '.join(unknown)})")
    if "kind" in changes:
        ItemKind(changes["kind"])  # a clear error before anything is written
    return _decide(store, item_id, dict(changes), actor, "item.edit", reason)


def assign(
    store: GraphStore, item_id: str, owner: str, actor: str, reason: str = "", team: str = ""
) -> Event:
    fields = {"owner": owner, **({"team": team} if team else {})}
    return _decide(store, item_id, fields, actor, "item.assign", reason)


def verify(
    store: GraphStore,
    item_id: str,
    actor: str,
    reason: str = "",
    days: int = REVIEW_DAYS,
    now: datetime | None = None,
) -> Event:
    """Someone checked the item is still right: verified now, due for review in `days`."""
    if days < 1:
        raise ValueError("a verification must hold for at least one day")
    at = now or datetime.now(UTC)
    fields = {"verified_at": at.isoformat(), "expires_at": (at + timedelta(days=days)).isoformat()}
    return _decide(store, item_id, fields, actor, "item.verify", reason)


def link(
    store: GraphStore, src: str, dst: str, type_: LinkType, actor: str, reason: str = ""
) -> Event:
    """A curator's link between two items (or an item and a document chunk)."""
    if type_ not in CURATION_LINKS:
        raise ValueError(f"curators link with one of {', '.join(t.value for t in CURATION_LINKS)}")
    if src == dst:
        raise ValueError("an item cannot be linked to itself")
    new = Link(src=src, dst=dst, type=type_, props={"by": actor})
    return store.apply([AddLink(link=new)], actor=actor, action="item.link", reason=reason)


def dismiss(
    store: GraphStore, ids: Sequence[str], proposal: str, actor: str, reason: str = ""
) -> Event:
    """A proposal a curator turned down (not a duplicate, not a contradiction...): kept as a
    DISMISSED link between the pair, so the queue never proposes it again."""
    a, b = (ids[0], ids[-1])
    new = Link(src=a, dst=b, type=LinkType.DISMISSED, props={"proposal": proposal, "by": actor})
    return store.apply([AddLink(link=new)], actor=actor, action="proposal.dismiss", reason=reason)


def merge(store: GraphStore, keep_id: str, other_id: str, actor: str, reason: str = "") -> Event:
    """Fold `other` into `keep`: its links (evidence, speakers, entities, curators' links) move
    over, the counts and responses are recomputed from both sides' evidence, and `other` is
    retired with `merged_into`. One event; undo restores both exactly."""
    if keep_id == other_id:
        raise ValueError("merge needs two different items")
    keep, other = get_item(store, keep_id), get_item(store, other_id)
    if other.merged_into:
        raise ValueError(f"{other_id} was merged into {other.merged_into} already")
    _, keep_members = mined_members(store, keep_id)
    _, other_members = mined_members(store, other_id)
    merged = _merged_observation(store, keep, other, keep_members + other_members)
    ops: list[Any] = [
        SetFields(
            id=keep_id,
            fields={"merged_from": [*keep.merged_from, other_id]},
            expected_version=keep.version,
        ),
        SetFields(
            id=other_id,
            fields={"status": ItemStatus.RETIRED.value, "merged_into": keep_id},
            expected_version=other.version,
        ),
        Repoint(from_id=other_id, to_id=keep_id),
        Observe(node=merged),
    ]
    return store.apply(ops, actor=actor, action="item.merge", reason=reason)


def _merged_observation(
    store: GraphStore,
    keep: KnowledgeItem,
    other: KnowledgeItem,
    members: list[tuple[str, Member]],
) -> KnowledgeItem:
    observed = store.get_observed(keep.id)
    assert isinstance(observed, KnowledgeItem)
    centroid = _mean([keep, other])
    if members:
        rebuilt = build_item(keep.id, keep.kind, [m for _, m in members], centroid, 1.0)
        update = rebuilt.model_dump(
            include={"responses", "avoid", "evidence", "successes", "trials", "terms"}
        )
        update.update(entities=rebuilt.entities, intents=rebuilt.intents, text=rebuilt.text)
    else:
        update = {
            name: getattr(keep, name) + getattr(other, name)
            for name in ("evidence", "uses", "successes", "trials")
        }
        update["responses"] = keep.responses + other.responses
        update["avoid"] = keep.avoid + other.avoid
    update["embedding"] = centroid.astype(float).tolist() if centroid.any() else keep.embedding
    return KnowledgeItem.model_validate({**observed.model_dump(), **update})


def _mean(items: Sequence[KnowledgeItem]) -> np.ndarray:
    """The evidence-weighted centroid of the items' embeddings."""
    vectors = [
        np.asarray(i.embedding, np.float32) * max(i.evidence, 1) for i in items if i.embedding
    ]
    if not vectors:
        return np.zeros(1, np.float32)
    total = np.sum(vectors, axis=0)
    norm = float(np.linalg.norm(total))
    return total / norm if norm else total


def split(
    store: GraphStore,
    embedder: Embedder,
    item_id: str,
    targets: Sequence[str],
    actor: str,
    reason: str = "",
) -> Event:
    """Move some situations (by the ids `curate show` lists) out into a new draft item."""
    item = get_item(store, item_id)
    links, members = mined_members(store, item_id)
    moving = [(t, m) for t, m in members if t in set(targets)]
    staying = [(t, m) for t, m in members if t not in set(targets)]
    unknown = sorted(set(targets) - {t for t, _ in members})
    if unknown:
        raise ValueError(f"not situations of {item_id}: {', '.join(unknown)}")
    if not moving or not staying:
        raise ValueError("a split moves some of the item's situations, not none or all")
    new_id = make_id(Label.KNOWLEDGE_ITEM, item.kind.value, "split", moving[0][0])
    new = _rebuilt(embedder, new_id, item.kind, moving)
    rest = _rebuilt(embedder, item_id, item.kind, staying)
    wanted = evidence_links(rest, staying) + evidence_links(new, moving)
    ops: list[Any] = [Observe(node=new), Observe(node=_observed(store, item_id, rest))]
    ops += relink(links, wanted)
    return store.apply(ops, actor=actor, action="item.split", reason=reason)


def _rebuilt(
    embedder: Embedder, key: str, kind: ItemKind, members: list[tuple[str, Member]]
) -> KnowledgeItem:
    vectors = np.asarray(embedder.encode([m.situation for _, m in members]), np.float32)
    total = vectors.sum(axis=0)
    cohesion = float(np.linalg.norm(total)) / len(members)
    return build_item(key, kind, [m for _, m in members], total / np.linalg.norm(total), cohesion)


def _observed(store: GraphStore, item_id: str, rebuilt: KnowledgeItem) -> KnowledgeItem:
    """The rebuilt observation, keeping what mining observed about the item otherwise."""
    observed = store.get_observed(item_id)
    assert isinstance(observed, KnowledgeItem)
    keep = {"status", "owner", "team", "expires_at", "verified_at", "merged_from", "approved_by"}
    return rebuilt.model_copy(update={k: getattr(observed, k) for k in keep})

"""Combination (explicit → explicit): the curation queue.

Proposals are computed from the store each time the queue is read, so they always reflect
the latest decisions; a proposal's id is a hash of its kind and items, so it stays the same
between reads and can be accepted or dismissed by id. Nothing here changes the store: the
knowledge manager decides (seci/items.py), and a dismissed proposal never comes back.

Kinds, most urgent first:
- contradiction: two items, two document chunks, or an item and a chunk that state different
  figures, negations or policy terms about the same thing;
- merge: near-duplicate items;
- review: expired, or approved and not verified for too long;
- complements: related items (same objection, need or product, different situations);
- approve: mined drafts waiting for a decision, best evidence first.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from graph.changes import Event
from graph.ids import stable_id
from graph.model import Chunk, Entity, EntityKind, ItemStatus, KnowledgeItem, Label, LinkType, Node
from graph.store import GraphStore, NodeQuery, NotFound, iter_nodes
from graph.text import normalize
from seci import items as lifecycle
from seci.clusters import FLOORS, content_tokens
from seci.conflicts import Statement, find_contradictions
from seci.items import REVIEW_DAYS

__all__ = ["Proposal", "ProposalKind", "accept", "dismiss", "find_proposal", "proposals"]

ProposalKind = Literal["contradiction", "merge", "review", "complements", "approve"]
ORDER: dict[str, int] = {
    "contradiction": 0,
    "merge": 1,
    "review": 2,
    "complements": 3,
    "approve": 4,
}
DUPLICATE = 0.72  # item similarity above which two items say the same thing
RELATED = 0.45
MIN_CONFIDENCE = 0.6  # contradictions below it are mostly two products or two customers
NEIGHBOURS = 10
PRODUCT_KINDS = (EntityKind.PRODUCT, EntityKind.COMPETITOR)
DECIDED_LINKS = [
    LinkType.COMPLEMENTS,
    LinkType.CONTRADICTS,
    LinkType.SIMILAR_TO,
    LinkType.DISMISSED,
]


class Proposal(BaseModel):
    id: str
    kind: ProposalKind
    ids: list[str]
    titles: list[str] = Field(default_factory=list)
    reason: str
    score: float = 0.0
    details: dict[str, Any] = Field(default_factory=dict)


def _proposal(
    kind: ProposalKind, nodes: Sequence[Node], reason: str, score: float, **details: Any
) -> Proposal:
    ids = [n.id for n in nodes]
    return Proposal(
        id=stable_id("proposal", kind, *sorted(ids)),
        kind=kind,
        ids=ids,
        titles=[getattr(n, "title", "") or n.id for n in nodes],
        reason=reason,
        score=round(score, 3),
        details=details,
    )


def _all(store: GraphStore, label: Label) -> Iterator[Node]:
    return iter_nodes(store, NodeQuery(label=label, limit=1000))


def proposals(
    store: GraphStore,
    kinds: Sequence[str] | None = None,
    now: datetime | None = None,
    stale_days: int = REVIEW_DAYS,
) -> list[Proposal]:
    """The queue, most urgent first (then by score)."""
    now = now or datetime.now(UTC)
    items = [
        full
        for n in _all(store, Label.KNOWLEDGE_ITEM)
        if isinstance(n, KnowledgeItem)
        and n.status in (ItemStatus.DRAFT, ItemStatus.APPROVED)
        and isinstance(full := store.get_node(n.id), KnowledgeItem)
    ]
    decided = _decided_pairs(store, [i.id for i in items])
    wanted = set(kinds or ORDER)
    found: list[Proposal] = []
    if "contradiction" in wanted:
        found += _contradictions(store, items, decided)
    if wanted & {"merge", "complements"}:
        found += [p for p in _similar(items, decided) if p.kind in wanted]
    if "review" in wanted:
        found += _reviews(items, now, stale_days)
    if "approve" in wanted:
        found += _drafts(items)
    return sorted(found, key=lambda p: (ORDER[p.kind], -p.score, p.id))


def find_proposal(store: GraphStore, proposal_id: str) -> Proposal:
    found = next((p for p in proposals(store) if p.id == proposal_id), None)
    if found is None:
        raise NotFound(f"no proposal {proposal_id!r} in the queue (see `spiral curate queue`)")
    return found


def accept(store: GraphStore, p: Proposal, actor: str, reason: str = "") -> Event:
    """Do what a proposal proposes: merge, link, approve; a review is verified."""
    why = reason or p.reason
    if p.kind == "merge":
        return lifecycle.merge(store, p.ids[0], p.ids[1], actor, why)
    if p.kind in ("contradiction", "complements"):
        type_ = LinkType.CONTRADICTS if p.kind == "contradiction" else LinkType.COMPLEMENTS
        return lifecycle.link(store, p.ids[0], p.ids[1], type_, actor, why)
    if p.kind == "review":
        return lifecycle.verify(store, p.ids[0], actor, why)
    return lifecycle.approve(store, p.ids[0], actor, why)


def dismiss(store: GraphStore, p: Proposal, actor: str, reason: str = "") -> Event:
    """Turn a proposal down: a draft is rejected, an item due for review retired, and a pair
    gets a DISMISSED link so it is not proposed again (undo brings it back)."""
    if p.kind == "approve":
        return lifecycle.reject(store, p.ids[0], actor, reason)
    if p.kind == "review":
        return lifecycle.retire(store, p.ids[0], actor, reason)
    return lifecycle.dismiss(store, p.ids, p.kind, actor, reason)


def _decided_pairs(store: GraphStore, ids: Sequence[str]) -> set[frozenset[str]]:
    """Pairs a person already linked or dismissed: never proposed again."""
    pairs: set[frozenset[str]] = set()
    for item_id in ids:
        for n in store.neighbours(item_id, DECIDED_LINKS):
            if not n.link.source_id:
                pairs.add(frozenset((n.link.src, n.link.dst)))
    return pairs


# -- contradictions -----------------------------------------------------------------------


def _contradictions(
    store: GraphStore, items: list[KnowledgeItem], decided: set[frozenset[str]]
) -> list[Proposal]:
    nodes: dict[str, Node] = {i.id: i for i in items}
    statements = [Statement(id=i.id, text=f"{i.title}\n{i.text}") for i in items]
    notes = {n.id for n in _all(store, Label.NOTE)}  # notes speak through the items mined
    for chunk in _all(store, Label.CHUNK):
        if isinstance(chunk, Chunk) and chunk.source_id not in notes:
            nodes[chunk.id] = chunk
            statements.append(
                Statement(id=chunk.id, text=chunk.search_text(), group=chunk.source_id)
            )
    found: dict[str, Proposal] = {}
    products = _Products(store)
    for c in find_contradictions(statements, min_confidence=MIN_CONFIDENCE):
        if frozenset((c.a_id, c.b_id)) in decided or _linked(store, c.a_id, c.b_id):
            continue
        pa, pb = products.of(nodes[c.a_id]), products.of(nodes[c.b_id])
        if pa and pb and not pa & pb:
            continue  # the same figure for two different products is no contradiction
        reason = f"{c.subject}: {c.a_value} against {c.b_value}"
        proposal = _proposal(
            "contradiction",
            [nodes[c.a_id], nodes[c.b_id]],
            reason,
            c.confidence,
            conflict=c.kind,
            subject=c.subject,
            sentences=[c.a_sentence, c.b_sentence],
            values=[c.a_value, c.b_value],
        )
        found.setdefault(proposal.id, proposal)  # most confident first: keep that one
    return list(found.values())


class _Products:
    """The products (and competitors) a text is about. For a document chunk: the products its
    document's title names (a chunk under "三、等待期" is about the product its document
    describes, even where it mentions another), else its own mentions, else its document's."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self._entities: dict[str, Entity | None] = {}
        self._sources: dict[str, tuple[frozenset[str], frozenset[str]]] = {}

    def of(self, node: Node) -> frozenset[str]:
        if isinstance(node, KnowledgeItem):
            return frozenset(e for e in node.entities if self._product(e))
        own = self._mentioned(node.id)
        if not node.source_id:
            return own
        titled, mentioned = self._source(node.source_id)
        return titled or own or mentioned

    def _source(self, source_id: str) -> tuple[frozenset[str], frozenset[str]]:
        if source_id not in self._sources:
            parts = self.store.neighbours(source_id, [LinkType.PART_OF], "in")
            mentioned = frozenset().union(*(self._mentioned(p.node.id) for p in parts))
            source = self.store.get_node(source_id)
            title = normalize(f"{getattr(source, 'title', '')} {getattr(source, 'uri', '')}")
            titled = frozenset(
                e for e in mentioned if (entity := self._product(e)) and _named(entity, title)
            )
            self._sources[source_id] = (titled, mentioned)
        return self._sources[source_id]

    def _mentioned(self, node_id: str) -> frozenset[str]:
        found = self.store.neighbours(node_id, [LinkType.MENTIONS], "out")
        return frozenset(n.node.id for n in found if self._product(n.node.id))

    def _product(self, entity_id: str) -> Entity | None:
        if entity_id not in self._entities:
            node = self.store.get_node(entity_id)
            wanted = isinstance(node, Entity) and node.kind in PRODUCT_KINDS
            self._entities[entity_id] = node if wanted else None  # type: ignore[assignment]
        return self._entities[entity_id]


def _named(entity: Entity, title: str) -> bool:
    return any(normalize(name) in title for name in [entity.name, *entity.aliases] if name)


def _linked(store: GraphStore, a: str, b: str) -> bool:
    """Chunks are not in the decided set (it is built from items): ask the store."""
    return any(n.node.id == b and not n.link.source_id for n in store.neighbours(a, DECIDED_LINKS))


# -- duplicates and related items ---------------------------------------------------------


def _similar(items: list[KnowledgeItem], decided: set[frozenset[str]]) -> list[Proposal]:
    with_vectors = [i for i in items if i.embedding]
    if len(with_vectors) < 2:
        return []
    matrix = np.asarray([i.embedding for i in with_vectors], np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-9
    sims = matrix @ matrix.T
    tokens = [set(content_tokens(f"{i.title}\n{i.situation}\n{i.text}")) for i in with_vectors]
    found: dict[frozenset[str], Proposal] = {}
    for a in range(len(with_vectors)):
        for b in np.argsort(-sims[a])[: NEIGHBOURS + 1].tolist():
            pair = frozenset((with_vectors[a].id, with_vectors[b].id))
            if a == b or pair in decided or pair in found:
                continue
            proposal = _pair(
                with_vectors[a], with_vectors[b], float(sims[a, b]), tokens[a], tokens[b]
            )
            if proposal:
                found[pair] = proposal
    return list(found.values())


def _pair(
    a: KnowledgeItem, b: KnowledgeItem, cosine: float, ta: set[str], tb: set[str]
) -> Proposal | None:
    language = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in a.title + a.text) else "en"
    floor = FLOORS[language]
    vector = max(0.0, (cosine - floor) / (1 - floor))
    words = len(ta & tb) / len(ta | tb) if ta | tb else 0.0
    score = 0.6 * vector + 0.4 * words
    shared = sorted((set(a.intents) & set(b.intents)) | (set(a.entities) & set(b.entities)))
    if score >= DUPLICATE and a.kind == b.kind:
        why = f"near-duplicates (similarity {score:.2f}); merging keeps both sides' evidence"
        return _proposal("merge", [a, b], why, score)
    if score >= RELATED and shared:
        why = f"related: both about {len(shared)} shared entities (similarity {score:.2f})"
        return _proposal("complements", [a, b], why, score, entities=shared)
    return None


# -- review and drafts --------------------------------------------------------------------


def _reviews(items: list[KnowledgeItem], now: datetime, stale_days: int) -> list[Proposal]:
    found = []
    stale = now - timedelta(days=stale_days)
    for item in items:
        if item.expires_at and _time(item.expires_at) < now:
            found.append(_proposal("review", [item], f"expired on {item.expires_at[:10]}", 1.0))
        elif item.status is ItemStatus.APPROVED and (
            not item.verified_at or _time(item.verified_at) < stale
        ):
            when = item.verified_at[:10] if item.verified_at else "never"
            found.append(_proposal("review", [item], f"approved, last verified {when}", 0.5))
    return found


def _time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _drafts(items: list[KnowledgeItem]) -> list[Proposal]:
    found = []
    for item in items:
        if item.status is ItemStatus.DRAFT:
            outcome = f", {item.successes} of {item.trials} won" if item.trials else ""
            why = f"mined draft {item.kind.value}: {item.evidence} situations{outcome}"
            found.append(_proposal("approve", [item], why, item.confidence))
    return found

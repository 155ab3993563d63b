"""Externalization (tacit → explicit): mine draft talk tracks from conversations and draft
FAQ / fact items from employees' notes, incrementally.

A run reads the event log from where the last run stopped, so it touches only what changed:
- sources written or forgotten since then lose their old contributions to items;
- their conversations (or notes) are read again and each situation joins the most similar
  existing item, or a new cluster;
- only the items that lost or gained members are written, each in its own unit of work
  (one `item.mined` event). Mining writes what it observed (`Observe`), so an approval, an
  edit or a merge that a person decided stays laid on top and is never undone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel

from graph.changes import DeleteNode, Observe
from graph.embeddings import Embedder
from graph.model import (
    Chunk,
    Conversation,
    ItemKind,
    KnowledgeItem,
    Label,
    Link,
    LinkType,
    Message,
    Note,
    make_id,
)
from graph.store import GraphStore, NodeQuery, iter_events, iter_nodes, last_cursor
from seci.clusters import Cluster, Clusterer, Features, content_tokens, situation_terms
from seci.situations import (
    Situation,
    conversations_of,
    read_situations,
    source_ids,
)
from seci.tracks import (
    ACTOR,
    MINED,
    Member,
    build_item,
    evidence_links,
    member_of,
    mined_members,
    relink,
)

__all__ = ["ACTOR", "MINED", "RUN_ACTION", "ExternalizeReport", "externalize"]

RUN_ACTION = "seci.externalize.run"
MINED_ACTION = "item.mined"
SOURCE_ACTIONS = ["source.write", "source.forget"]
THRESHOLD = 0.45
NOTE_THRESHOLD = 0.8
RECALL = 3  # older messages looked up per lonely new situation
MIN_SUPPORT = 2  # situations a new cluster needs before it becomes a draft talk track

Progress = Callable[[str, int, int], None]


class ExternalizeReport(BaseModel):
    full: bool
    sources: int = 0
    situations: int = 0
    notes: int = 0
    clusters: int = 0  # touched clusters
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    cursor: int = 0
    seconds: float = 0.0


class _Text(BaseModel):
    """A situation or a note chunk, as the clusterer sees it."""

    member: Member
    kind: ItemKind
    target: str  # the message (situation) or chunk (note) the item derives from


def externalize(
    store: GraphStore,
    embedder: Embedder,
    *,
    full: bool = False,
    threshold: float = THRESHOLD,
    min_support: int = MIN_SUPPORT,
    progress: Progress | None = None,
) -> ExternalizeReport:
    """Mine what changed since the last run (everything when `full` or on the first run)."""
    started = time.perf_counter()
    since = 0 if full else last_cursor(store, RUN_ACTION)
    changed, cursor = _changed_sources(store, since)
    first = since == 0
    sources = source_ids(store) if first else changed
    report = ExternalizeReport(full=first, sources=len(sources), cursor=max(cursor, since))
    items = _existing_items(store)
    affected = set(items) if first else _items_of(store, changed, items)
    texts = _read(store, sources, progress)
    report.situations = sum(t.kind is ItemKind.TALK_TRACK for t in texts)
    report.notes = len(texts) - report.situations
    gone = set(sources) | set(changed)
    for talk in (True, False):  # talk tracks from conversations, then notes' FAQs and facts
        group = [t for t in texts if (t.kind is ItemKind.TALK_TRACK) is talk]
        mined = [i for i in items.values() if (i.kind is ItemKind.TALK_TRACK) is talk]
        # A note is its own item unless another says nearly the same.
        limits = (threshold, min_support) if talk else (NOTE_THRESHOLD, 1)
        _mine(store, embedder, group, mined, affected, gone, *limits, report, progress)
    store.log(ACTOR, RUN_ACTION, report.model_dump(exclude={"seconds"}))
    report.seconds = round(time.perf_counter() - started, 3)
    return report


# -- what changed -------------------------------------------------------------------------


def _changed_sources(store: GraphStore, since: int) -> tuple[list[str], int]:
    """Sources written or forgotten after event `since`, and the last such event's seq."""
    changed: dict[str, None] = {}
    last = since
    for event in iter_events(store, since=since, actions=SOURCE_ACTIONS):
        changed.update(dict.fromkeys(event.ids))
        last = event.seq
    return list(changed), last


def _existing_items(store: GraphStore) -> dict[str, KnowledgeItem]:
    """Every item mining made (with its embedding: the centroid of its situations)."""
    found: dict[str, KnowledgeItem] = {}
    for node in iter_nodes(store, NodeQuery(label=Label.KNOWLEDGE_ITEM, limit=1000)):
        if isinstance(node, KnowledgeItem) and node.externalized_by == ACTOR:
            full = store.get_node(node.id)  # the page leaves embeddings out
            if isinstance(full, KnowledgeItem):
                found[node.id] = full
    return found


def _items_of(store: GraphStore, sources: Sequence[str], items: dict[str, Any]) -> set[str]:
    """Items mined from these sources (found in the log, so forgotten sources count too)."""
    found: set[str] = set()
    for source in sources:
        if store.get_node(source) is not None:  # its items link to it
            ids = [n.node.id for n in store.neighbours(source, [LinkType.DERIVED_FROM], "in")]
        else:  # forgotten: the log still says which items it fed
            events = iter_events(store, actions=[MINED_ACTION], node_id=source)
            ids = [i for event in events for i in event.ids]
        found.update(_surviving(i, items) for i in ids if i in items)
    return found


def _surviving(item_id: str, items: dict[str, Any]) -> str:
    """The item that holds an item's evidence now: itself, or what it was merged into."""
    seen = {item_id}
    while (target := items[item_id].merged_into) and target in items and target not in seen:
        item_id = target
        seen.add(item_id)
    return item_id


# -- reading ------------------------------------------------------------------------------


def _read(store: GraphStore, sources: Sequence[str], progress: Progress | None) -> list[_Text]:
    """The situations and note sections of the sources still in the store."""
    texts: list[_Text] = []
    for done, source in enumerate(sources, 1):
        node = store.get_node(source)
        if isinstance(node, Note):
            texts.extend(_note_texts(store, node))
        elif node is not None:  # a forgotten source has nothing left to read
            for conversation in conversations_of(store, source):
                texts.extend(
                    _Text(member=member_of(s), kind=ItemKind.TALK_TRACK, target=s.id)
                    for s in read_situations(store, conversation)
                    if _meaningful(s)
                )
        if progress:
            progress("reading", done, len(sources))
    return texts


def _meaningful(s: Situation) -> bool:
    """Skip 'ok' / '在吗' / 'thanks' turns: no content words, nothing to learn."""
    return bool(content_tokens(s.text)) and bool(s.response.strip())


def _note_texts(store: GraphStore, note: Note) -> list[_Text]:
    chunks = sorted(
        (
            n.node
            for n in store.neighbours(note.id, [LinkType.PART_OF], "in")
            if isinstance(n.node, Chunk)
        ),
        key=lambda c: c.position,
    )
    author = next((n.node for n in store.neighbours(note.id, [LinkType.SAID_BY], "out")), None)
    texts = []
    for chunk in chunks:
        if not content_tokens(chunk.text):
            continue
        question = (
            "?" in chunk.title
            or "？" in chunk.title
            or "?" in chunk.text[:80]
            or "？" in chunk.text[:80]
        )
        member = Member(
            role="note",
            source=note.id,
            uri=note.uri,
            conversation=note.id,
            situation=chunk.title or note.title,
            response=chunk.text[:2000],
            response_id=chunk.id,
            speaker=author.id if author else "",
            speaker_name=note.author,
        )
        texts.append(
            _Text(member=member, kind=ItemKind.FAQ if question else ItemKind.FACT, target=chunk.id)
        )
    return texts


# -- clustering and writing ---------------------------------------------------------------


def _features(store: GraphStore, embedder: Embedder, texts: Sequence[_Text]) -> list[Features]:
    if not texts:
        return []
    said = [
        t.member.situation
        if t.kind is ItemKind.TALK_TRACK
        else f"{t.member.situation}\n{t.member.response}"
        for t in texts
    ]
    vectors = [_stored_vector(store, t) for t in texts]
    missing = [i for i, v in enumerate(vectors) if v is None]
    if missing:
        encoded = np.asarray(embedder.encode([said[i] for i in missing]), dtype=np.float32)
        for row, i in enumerate(missing):
            vectors[i] = encoded[row]
    return [
        Features(
            vector=vectors[i],  # type: ignore[arg-type]
            tokens=situation_terms(said[i]),
            entities=t.member.entity_ids,
            intents=t.member.intent_ids,
            language=t.member.language,
        )
        for i, t in enumerate(texts)
    ]


def _stored_vector(store: GraphStore, text: _Text) -> np.ndarray | None:
    """A one-message situation was embedded by ingest already, with the same model."""
    if text.kind is not ItemKind.TALK_TRACK:
        return None
    node = store.get_node(text.target)
    if not isinstance(node, Message) or not node.embedding or node.text != text.member.situation:
        return None
    vector = np.asarray(node.embedding, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else None


def _seed(item: KnowledgeItem, dim: int) -> Cluster:
    vector = np.asarray(item.embedding or np.zeros(dim), dtype=np.float32)
    return Cluster.from_profile(
        item.id, vector, item.evidence, item.terms, item.entities, item.intents
    )


def _mine(
    store: GraphStore,
    embedder: Embedder,
    texts: list[_Text],
    items: list[KnowledgeItem],
    affected: set[str],
    gone: set[str],
    threshold: float,
    min_support: int,
    report: ExternalizeReport,
    progress: Progress | None,
) -> None:
    features = _features(store, embedder, texts)
    if not features and not (affected & {i.id for i in items}):
        return
    dim = features[0].vector.shape[0] if features else len(items[0].embedding or [0])
    clusterer = Clusterer(threshold, dim)
    for item in items:
        if not item.merged_into:  # its evidence lives on in the item it was merged into
            clusterer.seed(_seed(item, dim))
    for index, (text, f) in enumerate(zip(texts, features, strict=True)):
        key = make_id(Label.KNOWLEDGE_ITEM, text.kind.value, text.target)
        clusterer.add(f, index, key)
    if not report.full and min_support > 1:
        _recall(store, embedder, clusterer, texts, features, gone, min_support)
    by_id = {i.id: i for i in items}
    touched = [c for c in clusterer.clusters if c.members or c.key in affected]
    report.clusters += len(touched)
    for done, cluster in enumerate(touched, 1):
        _write_cluster(store, cluster, by_id.get(cluster.key), texts, gone, min_support, report)
        if progress:
            progress("writing", done, len(touched))


def _recall(
    store: GraphStore,
    embedder: Embedder,
    clusterer: Clusterer,
    texts: list[_Text],
    features: list[Features],
    gone: set[str],
    min_support: int,
) -> None:
    """Incremental runs: a new situation alone in its cluster may have a partner among older
    situations that were alone when they were mined (so never written). Similar customer
    messages in the store bring them back to join it."""
    seen = {t.target for t in texts}
    lonely = [c for c in clusterer.clusters if not c.existing and 0 < c.n < min_support]
    wanted: list[tuple[Cluster, _Text]] = []
    for cluster in lonely:
        first = texts[cluster.members[0]]
        if first.kind is ItemKind.TALK_TRACK:
            found = _older_situations(store, first, features[cluster.members[0]], gone, seen)
            wanted += [(cluster, situation) for situation in found]
    found_features = _features(store, embedder, [situation for _, situation in wanted])
    for (cluster, situation), f in zip(wanted, found_features, strict=True):
        best, score = clusterer.best(f)
        if best is cluster and score >= clusterer.threshold:
            texts.append(situation)
            features.append(f)
            cluster.add(f, len(texts) - 1)


def _older_situations(
    store: GraphStore, text: _Text, f: Features, gone: set[str], seen: set[str]
) -> list[_Text]:
    hits = store.lexical_search(text.member.situation, k=RECALL, labels=[Label.MESSAGE])
    if text.member.language != "zh":  # the default model is English-only: words find Chinese
        hits += store.vector_search(f.vector.tolist(), k=RECALL, labels=[Label.MESSAGE])
    found: list[_Text] = []
    for hit in hits:
        if hit.source_id in gone or hit.id in seen:
            continue
        parts = store.neighbours(hit.id, [LinkType.PART_OF], "out")
        conversation = next((n.node for n in parts if isinstance(n.node, Conversation)), None)
        if conversation is None:
            continue
        for s in read_situations(store, conversation):
            if s.id in seen or hit.text not in s.text or not _meaningful(s):
                continue
            seen.add(s.id)
            evidence = store.neighbours(s.id, [LinkType.DERIVED_FROM], "in")
            if not any(n.link.source_id == MINED for n in evidence):  # not in an item yet
                found.append(_Text(member=member_of(s), kind=ItemKind.TALK_TRACK, target=s.id))
    return found


def _write_cluster(
    store: GraphStore,
    cluster: Cluster,
    item: KnowledgeItem | None,
    texts: list[_Text],
    gone: set[str],
    min_support: int,
    report: ExternalizeReport,
) -> None:
    old, had = mined_members(store, cluster.key) if item is not None else ([], [])
    kept = [(target, m) for target, m in had if m.source not in gone]
    new = [(texts[i].target, texts[i].member) for i in cluster.members]
    members = kept + new
    kind = (
        texts[cluster.members[0]].kind
        if cluster.members
        else (item.kind if item else ItemKind.TALK_TRACK)
    )
    if item is None and len(members) < min_support:
        return
    if not members:
        _drop(store, cluster.key, old, report)
        return
    node = build_item(
        cluster.key, kind, [m for _, m in members], cluster.centroid, cluster.cohesion
    )
    ops: list[Any] = [Observe(node=node), *relink(old, evidence_links(node, members))]
    event = store.apply(ops, actor=ACTOR, action=MINED_ACTION, reason=f"{len(members)} situations")
    if event.seq == 0:
        report.unchanged += 1
    elif item is None:
        report.created += 1
    else:
        report.updated += 1


def _drop(store: GraphStore, item_id: str, old: list[Link], report: ExternalizeReport) -> None:
    """An item whose every situation was forgotten: deleted unless a person decided on it
    (then only its evidence links go)."""
    current, observed = store.get_node(item_id), store.get_observed(item_id)
    if current is None:
        return
    if observed is not None and current.to_record() == observed.to_record():
        store.apply(
            [DeleteNode(id=item_id)],
            actor=ACTOR,
            action="item.unmined",
            reason="no situations left",
        )
        report.removed += 1
    elif old:
        ops = relink(old, [])
        store.apply(ops, actor=ACTOR, action=MINED_ACTION, reason="no situations left")
        report.updated += 1

"""The embedded store: one SQLite file, no server.

Why SQLite: WAL lets a running API and a CLI share the file; FTS5 gives BM25 over the
jieba-segmented text; embeddings live in the same rows and are searched with numpy (a
100k x 384 float32 matrix is 150 MB and one matrix-vector product is a few milliseconds).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import networkx as nx
import numpy as np

from graph.changes import (
    Event,
    EventDraft,
    LinkKey,
    NodeState,
    Op,
    StoredEvent,
    apply_ops,
    decode_cursor,
    encode_cursor,
    now_iso,
    overlay,
    summary_event,
    undo_event,
)
from graph.context import HitContext, batch_contexts
from graph.embedded_index import (
    DeltaIndex,
    DocFreqCache,
    StoredRow,
    VectorIndex,
    fts_match,
    query_terms,
)
from graph.model import (
    SOURCE_LABELS,
    Label,
    Link,
    LinkType,
    Node,
    node_from_record,
    record_digest,
)
from graph.recent import Recent
from graph.store import (
    FILTER_FIELDS,
    Hit,
    Neighbour,
    NodePage,
    NodeQuery,
    SearchFilter,
    StoreBusy,
    StoreStats,
    StoreUnavailable,
    WriteBatch,
    WriteResult,
    batch_event,
    filter_values,
    hit_from_record,
)
from graph.text import INDEX_TERMS_VERSION

__all__ = ["EmbeddedStore"]

_TABLES = """
CREATE TABLE IF NOT EXISTS nodes (
    id TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    source_id TEXT NOT NULL DEFAULT '',
    pinned INTEGER NOT NULL DEFAULT 0,
    record TEXT NOT NULL,
    digest TEXT NOT NULL,
    embedding BLOB
);
CREATE TABLE IF NOT EXISTS links (
    src TEXT NOT NULL,
    type TEXT NOT NULL,
    dst TEXT NOT NULL,
    source_id TEXT NOT NULL DEFAULT '',
    record TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (src, type, dst, source_id)
);
DROP INDEX IF EXISTS links_dst;
CREATE INDEX IF NOT EXISTS links_dst_type ON links(dst, type);
CREATE INDEX IF NOT EXISTS links_source ON links(source_id);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(body, tokenize = 'unicode61');
CREATE VIRTUAL TABLE IF NOT EXISTS fts_terms USING fts5vocab(fts, 'row');
-- Decisions live apart from the node: forgetting a source deletes the node, not what people
-- decided about it, and a re-ingest overlays them again.
CREATE TABLE IF NOT EXISTS decisions (
    id TEXT PRIMARY KEY,
    decided TEXT NOT NULL,
    observed TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    ids TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
    reason TEXT NOT NULL,
    states TEXT
);
CREATE INDEX IF NOT EXISTS events_action ON events(action, seq);
CREATE TABLE IF NOT EXISTS event_ids (
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (id, seq)
) WITHOUT ROWID;
-- Which nodes' vectors changed at each 'vectors' generation ('*': all of them), so a reader
-- brings its vector index up to date without reading every vector again.
CREATE TABLE IF NOT EXISTS vector_changes (vectors INTEGER NOT NULL, id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0);
-- 'vectors' moves only when the set of embeddings changes: a decision (a status, a team)
-- refreshes the search filters without reloading every vector.
INSERT OR IGNORE INTO meta (key, value) VALUES ('vectors', 0);
"""
# Columns added after the first release: store bookkeeping and the filterable fields.
_COLUMNS = {
    "version": "INTEGER NOT NULL DEFAULT 0",
    "updated_at": "TEXT NOT NULL DEFAULT ''",
    **{name: "TEXT NOT NULL DEFAULT ''" for name in FILTER_FIELDS},
}
_INDEXES = """
CREATE INDEX IF NOT EXISTS nodes_label_id ON nodes(label, id);
CREATE INDEX IF NOT EXISTS nodes_source ON nodes(source_id);
CREATE INDEX IF NOT EXISTS nodes_pinned ON nodes(label, pinned, id);
CREATE INDEX IF NOT EXISTS nodes_updated ON nodes(label, updated_at, id);
CREATE INDEX IF NOT EXISTS vector_changes_vectors ON vector_changes(vectors);
""" + "".join(
    f"CREATE INDEX IF NOT EXISTS nodes_{name} ON nodes(label, {name}, id);\n"
    for name in FILTER_FIELDS
)
_CHUNK = 500  # ids per IN (...) query, under SQLite's variable limit
# The vector change log keeps this many generations; a reader further behind reads all again.
VECTOR_LOG_GENERATIONS = 1_000
# More changed vectors than this (and than a quarter of the index): read them all again.
INCREMENTAL_MAX_ROWS = 5_000
_NODE_COLUMNS = "record, embedding, version, updated_at"


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _json(value: Any) -> str:
    return _RECORD_JSON.encode(value)


_RECORD_JSON = json.JSONEncoder(ensure_ascii=False)  # one encoder, not one per call


@dataclass
class _Prepared:
    """A node ready to write: everything slow (JSON, digest, jieba) done before the
    transaction opens, so the write lock is held only for SQL."""

    node: Node
    record: dict[str, Any]
    digest: str
    blob: bytes | None
    fts: str


def _prepare(nodes: Sequence[Node]) -> list[_Prepared]:
    by_id = {n.id: n for n in nodes}  # last write of an id in one batch wins
    out = []
    for node in by_id.values():
        record = node.to_record()
        digest = record_digest(record)
        embedding = record.pop("embedding", None)
        blob = np.asarray(embedding, dtype=np.float32).tobytes() if embedding else None
        out.append(_Prepared(node, record, digest, blob, node.index_text()))
    return out


class _Decoded:
    """Nodes decoded from their stored JSON, kept by that JSON, version and time: an ask
    reads the contexts of ~50 hits (~90 nodes: replies, conversations, talk tracks), and
    decoding them through pydantic each time was a fifth of it; the same conversations and
    tracks come back ask after ask. Keyed by the stored text itself, so a changed node can
    never be served stale. The nodes are shared: only for readers that do not change them."""

    def __init__(self, size: int = 10_000) -> None:
        self._nodes: Recent[tuple[str, int, str], Node] = Recent(size)

    def get(self, record: str, version: int, updated_at: str) -> Node:
        key = (record, version, updated_at)
        node = self._nodes.get(key)
        if node is None:
            node = EmbeddedStore._node(record, None, version, updated_at)
            self._nodes.put(key, node)
        return node


class _DecodedHits:
    """Search hits decoded from their stored JSON, kept by that JSON (as `_Decoded` keeps
    nodes): an ask reads ~300 hit records (two texts, lexical and dense, 50 each, two dense
    views), and decoding them (JSON, then pydantic) was ~55 us each, ~10% of a live ask;
    the same chunks and messages come back ask after ask. A changed record is another key,
    so a hit is never stale. Each caller gets its own copy, with its score."""

    def __init__(self, size: int = 10_000) -> None:
        self._hits: Recent[str, Hit] = Recent(size)

    def get(self, record: str, score: float) -> Hit:
        hit = self._hits.get(record)
        if hit is None:
            hit = hit_from_record(json.loads(record), 0.0)
            self._hits.put(record, hit)
        return hit.model_copy(update={"score": score})


class EmbeddedStore:
    """GraphStore on one SQLite file. One writer at a time (a lock in this process, SQLite's
    busy timeout across processes); readers use a connection per thread and never wait for
    the writer (WAL): they see the last committed state."""

    # SQLite's full-text search is the longer of the two searches here (9.8 against 7.6 ms
    # at 100k): it runs while the query is embedded (ask p50 22 against 26 ms after it).
    lexical_beside_model = True
    warm_up_asks = 0  # nothing here compiles as it runs

    def __init__(self, conn: sqlite3.Connection, path: Path, busy_timeout: float = 30.0) -> None:
        self._conn = conn
        self.path = path
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._vectors: VectorIndex | DeltaIndex = VectorIndex(None, [], [], [], [])
        self._vectors_generation: object = None
        self._vectors_seq = 0
        self._index_lock = threading.Lock()
        # Whose vectors the open write transaction changed (None: all of them, a clear).
        self._vector_ids: set[str] | None = set()
        self._doc_count: tuple[object, int] = (None, 0)
        self._doc_freq = DocFreqCache()
        self._decoded = _Decoded()
        self._hits = _DecodedHits()
        self._closed = False

    @staticmethod
    def _connect(path: Path, timeout: float) -> sqlite3.Connection:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=timeout, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @classmethod
    def open(cls, path: Path, busy_timeout: float = 30.0) -> EmbeddedStore:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = cls._connect(path, busy_timeout)
            conn.executescript(_TABLES)
            _migrate(conn)
            conn.executescript(_INDEXES)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(
                f"cannot open the embedded store at {path} (SPIRAL_DATA_DIR): {exc}"
            ) from exc
        return cls(conn, path, busy_timeout)

    # -- transactions -------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise StoreBusy(
                        f"the embedded store at {self.path} is busy: another writer held it "
                        f"for more than {self.busy_timeout:g}s (SPIRAL_BUSY_TIMEOUT_S); "
                        "nothing was written, try again"
                    ) from exc
                raise
            self._vector_ids = set()
            try:
                yield self._conn
                self._conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
                if self._vector_ids is None or self._vector_ids:
                    self._log_vector_changes(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _log_vector_changes(self, conn: sqlite3.Connection) -> None:
        """Move 'vectors' on and say which nodes' vectors changed (all, when not known)."""
        conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'vectors'")
        generation = conn.execute("SELECT value FROM meta WHERE key = 'vectors'").fetchone()[0]
        ids = sorted(self._vector_ids) if self._vector_ids is not None else ["*"]
        conn.executemany(
            "INSERT INTO vector_changes (vectors, id) VALUES (?, ?)",
            [(generation, node_id) for node_id in ids],
        )
        if generation % VECTOR_LOG_GENERATIONS == 0:  # a reader further behind reloads all
            conn.execute(
                "DELETE FROM vector_changes WHERE vectors <= ?",
                (generation - VECTOR_LOG_GENERATIONS,),
            )

    def write_many(self, batches: Sequence[WriteBatch], actor: str = "ingest") -> list[WriteResult]:
        """The batches in one transaction, each its own event. A commit copies every page it
        changed into the log, and each file of an import touches the same index pages: with
        a commit per file, writing 994 chat files took 13-15 s of the writer's CPU against
        12, and 23-27 s against 19-21 s of its time with the model's vectors at hand. A
        ValueError leaves none written (`GraphStore.write_many`)."""
        prepared = [_prepare(batch.nodes) for batch in batches]
        with self._tx() as conn:
            return [
                self._write(conn, batch, nodes, actor)
                for batch, nodes in zip(batches, prepared, strict=True)
            ]

    def write(self, batch: WriteBatch, actor: str = "ingest") -> WriteResult:
        """Replace sources by difference: only what the new batch no longer has is deleted,
        only what changed is written, so writing the same batch twice writes nothing."""
        prepared = _prepare(batch.nodes)
        with self._tx() as conn:
            return self._write(conn, batch, prepared, actor)

    def _write(
        self,
        conn: sqlite3.Connection,
        batch: WriteBatch,
        prepared: Sequence[_Prepared],
        actor: str,
    ) -> WriteResult:
        keep_nodes = {n.id for n in batch.nodes}
        keep_links = {link.key for link in batch.links}
        result = WriteResult()
        touched: set[str] = set()
        for source_id in batch.replace_sources:
            owned = self._owned(conn, source_id)
            stale = [n for n in owned if n not in keep_nodes]
            result.links_deleted += self._delete_links_of(conn, stale, touched)
            result.links_deleted += self._delete_source_links(
                conn, source_id, touched, keep=keep_links
            )
            result.nodes_deleted += self._delete_nodes(conn, stale)
        result.nodes_written = self._upsert_nodes(conn, prepared)
        result.links_written = self._upsert_links(conn, batch.links)
        result.nodes_deleted += self._delete_nodes(conn, self._orphans(conn, touched))
        if result != WriteResult():
            _Tx(self, conn).append_event(batch_event(batch, result, actor))
        return result

    def upsert_nodes(self, nodes: Sequence[Node]) -> int:
        return self.write(WriteBatch(nodes=list(nodes))).nodes_written

    def upsert_links(self, links: Sequence[Link]) -> int:
        return self.write(WriteBatch(links=list(links))).links_written

    def delete_source(self, source_id: str, actor: str = "ingest") -> WriteResult:
        with self._tx() as conn:
            result = self._delete_source(conn, source_id)
            if result != WriteResult():
                event = summary_event(actor, "source.forget", [source_id], result.model_dump())
                _Tx(self, conn).append_event(event)
            return result

    def apply(self, ops: Sequence[Op], actor: str, action: str, reason: str = "") -> Event:
        with self._tx() as conn:
            return apply_ops(_Tx(self, conn), ops, actor, action, reason)

    def log(self, actor: str, action: str, after: dict[str, Any], reason: str = "") -> Event:
        with self._tx() as conn:
            draft = summary_event(actor, action, [], after)
            draft.reason = reason
            return _Tx(self, conn).append_event(draft)

    def undo(self, seq: int, actor: str, reason: str = "") -> Event:
        with self._tx() as conn:
            return undo_event(_Tx(self, conn), seq, actor, reason)

    # -- writes (inside a transaction) --------------------------------------------------

    def _upsert_nodes(self, conn: sqlite3.Connection, prepared: Sequence[_Prepared]) -> int:
        written = 0
        now = now_iso()
        for part in _chunks(list(prepared)):
            ids = [p.node.id for p in part]
            existing = {
                row[0]: (row[1], row[2], row[3])
                for row in conn.execute(
                    "SELECT id, digest, version, embedding IS NOT NULL FROM nodes "
                    f"WHERE id IN ({_marks(len(ids))})",
                    ids,
                )
            }
            decisions = _decisions(conn, ids)
            for item in part:
                digest, version, embedded = existing.get(item.node.id, (None, 0, False))
                if digest == item.digest:
                    continue
                if item.blob or embedded:
                    self._vector_changed(item.node.id)
                self._put_observed(conn, item, decisions.get(item.node.id), version + 1, now)
                written += 1
        return written

    def _put_observed(
        self,
        conn: sqlite3.Connection,
        item: _Prepared,
        decided: tuple[dict[str, Any], dict[str, Any]] | None,
        version: int,
        now: str,
    ) -> None:
        """Write what ingest observed, with any decisions about this node laid on top."""
        record, fts = item.record, item.fts
        if decided:
            record, observed = overlay(record, decided[0])
            conn.execute(
                "UPDATE decisions SET observed = ? WHERE id = ?", (_json(observed), item.node.id)
            )
            fts = node_from_record(record).index_text()
        _put_row(conn, item.node.label, item.node.id, record, item.digest, item.blob, version, now)
        _put_fts(conn, item.node.id, fts)

    def _upsert_links(self, conn: sqlite3.Connection, links: Sequence[Link]) -> int:
        if not links:
            return 0
        self._check_endpoints(conn, {end for link in links for end in (link.src, link.dst)})
        rows = []
        for link in {link.key: link for link in links}.values():
            record = link.to_record()
            rows.append((*link.key, _json(record), record_digest(record)))
        # One statement for all (a live append writes its conversation's ~1,000 links again,
        # nearly all unchanged); rowcount sums what was inserted or changed.
        return conn.executemany(_PUT_LINK, rows).rowcount

    def _check_endpoints(self, conn: sqlite3.Connection, ids: set[str]) -> None:
        wanted = sorted(ids)
        found: set[str] = set()
        for part in _chunks(wanted):
            found.update(
                r[0]
                for r in conn.execute(
                    f"SELECT id FROM nodes WHERE id IN ({_marks(len(part))})", part
                )
            )
        missing = [i for i in wanted if i not in found]
        if missing:
            raise ValueError(f"links point at nodes that do not exist: {', '.join(missing[:10])}")

    def _delete_source(self, conn: sqlite3.Connection, source_id: str) -> WriteResult:
        owned = self._owned(conn, source_id)
        touched: set[str] = set()
        links_deleted = self._delete_links_of(conn, owned, touched)
        links_deleted += self._delete_source_links(conn, source_id, touched)
        deleted = self._delete_nodes(conn, owned)
        deleted += self._delete_nodes(conn, self._orphans(conn, touched - set(owned)))
        return WriteResult(nodes_deleted=deleted, links_deleted=links_deleted)

    def _owned(self, conn: sqlite3.Connection, source_id: str) -> list[str]:
        """The source node and every node it owns."""
        owned = [source_id] if self._exists(conn, source_id) else []
        rows = conn.execute("SELECT id FROM nodes WHERE source_id = ?", (source_id,))
        return owned + [r[0] for r in rows]

    def _delete_links_of(
        self, conn: sqlite3.Connection, ids: Sequence[str], touched: set[str]
    ) -> int:
        """Delete every link at these nodes; remember the far ends for orphan clean-up."""
        deleted = 0
        for part in _chunks(list(ids)):
            marks = _marks(len(part))
            where = f"src IN ({marks}) OR dst IN ({marks})"
            rows = conn.execute(f"SELECT src, dst FROM links WHERE {where}", (*part, *part))
            touched.update(end for row in rows for end in row)
            deleted += conn.execute(f"DELETE FROM links WHERE {where}", (*part, *part)).rowcount
        return deleted

    def _delete_source_links(
        self,
        conn: sqlite3.Connection,
        source_id: str,
        touched: set[str],
        keep: set[tuple[str, str, str, str]] = frozenset(),  # type: ignore[assignment]
    ) -> int:
        """Delete the links this source contributed (except those in `keep`)."""
        rows = conn.execute(
            "SELECT src, type, dst, source_id FROM links WHERE source_id = ?", (source_id,)
        ).fetchall()
        stale = [row for row in rows if tuple(row) not in keep]
        for src, type_, dst, sid in stale:
            touched.update((src, dst))
            conn.execute(
                "DELETE FROM links WHERE src = ? AND type = ? AND dst = ? AND source_id = ?",
                (src, type_, dst, sid),
            )
        return len(stale)

    def _orphans(self, conn: sqlite3.Connection, candidates: Iterable[str]) -> list[str]:
        """Unpinned, undecided, non-source nodes left without any link."""
        sources = tuple(label.value for label in SOURCE_LABELS)
        orphans = []
        for node_id in candidates:
            row = conn.execute(
                f"SELECT 1 FROM nodes WHERE id = ? AND pinned = 0 AND label NOT IN ({_marks(3)}) "
                "AND NOT EXISTS (SELECT 1 FROM links WHERE src = ? OR dst = ?) "
                "AND NOT EXISTS (SELECT 1 FROM decisions WHERE id = ?)",
                (node_id, *sources, node_id, node_id, node_id),
            ).fetchone()
            if row:
                orphans.append(node_id)
        return orphans

    def _delete_nodes(self, conn: sqlite3.Connection, ids: Sequence[str]) -> int:
        deleted = 0
        for part in _chunks(list(ids)):
            marks = _marks(len(part))
            conn.execute(
                f"DELETE FROM fts WHERE rowid IN (SELECT rowid FROM nodes WHERE id IN ({marks}))",
                part,
            )
            gone = conn.execute(f"DELETE FROM nodes WHERE id IN ({marks})", part).rowcount
            if gone:
                for node_id in part:
                    self._vector_changed(node_id)
            deleted += gone
        return deleted

    def _vector_changed(self, node_id: str) -> None:
        if self._vector_ids is not None:
            self._vector_ids.add(node_id)

    @staticmethod
    def _exists(conn: sqlite3.Connection, node_id: str) -> bool:
        return conn.execute("SELECT 1 FROM nodes WHERE id = ?", (node_id,)).fetchone() is not None

    # -- reads --------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise StoreUnavailable(f"the embedded store at {self.path} is closed")
            conn = self._local.conn = self._connect(self.path, self.busy_timeout)
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._reader().execute(sql, params).fetchall()

    def _generations(self) -> tuple[int, int, int]:
        """(any write, embeddings changed, last event), read in one statement (one snapshot),
        without the writer's lock: WAL readers never wait."""
        row = self._query(
            "SELECT (SELECT value FROM meta WHERE key = 'generation'), "
            "(SELECT value FROM meta WHERE key = 'vectors'), "
            "(SELECT coalesce(max(seq), 0) FROM events)"
        )[0]
        return int(row[0]), int(row[1]), int(row[2])

    @staticmethod
    def _node(
        record_json: str, blob: bytes | None = None, version: int = 0, updated_at: str = ""
    ) -> Node:
        record = json.loads(record_json)
        if blob:
            record["embedding"] = np.frombuffer(blob, dtype=np.float32).tolist()
        record["version"], record["updated_at"] = version, updated_at
        return node_from_record(record)

    def get_node(self, node_id: str) -> Node | None:
        rows = self._query(f"SELECT {_NODE_COLUMNS} FROM nodes WHERE id = ?", (node_id,))
        return self._node(*rows[0]) if rows else None

    def hit_contexts(self, ids: Sequence[str]) -> dict[str, HitContext]:
        """The nodes in the contexts are shared with later calls (see `_Decoded`): read them,
        never change them."""
        return batch_contexts(self._nodes_by_id, self._linked, ids, self._linked_ids)

    def _nodes_by_id(self, ids: Sequence[str]) -> dict[str, Node]:
        """Nodes without their vectors, by id, in one query per thousand ids."""
        out: dict[str, Node] = {}
        for part in _chunks(list(ids)):
            rows = self._query(
                f"SELECT id, record, version, updated_at FROM nodes "
                f"WHERE id IN ({_marks(len(part))})",
                part,
            )
            out.update((row[0], self._decoded.get(*row[1:])) for row in rows)
        return out

    def _linked(
        self, ids: Sequence[str], link_type: LinkType, direction: Literal["out", "in"]
    ) -> dict[str, list[Node]]:
        """For each of `ids`, the nodes linked by `link_type` that way, in id order."""
        here, there = ("src", "dst") if direction == "out" else ("dst", "src")
        out: dict[str, list[Node]] = {}
        for part in _chunks(list(dict.fromkeys(ids))):
            rows = self._query(
                f"SELECT l.{here}, n.record, n.version, n.updated_at FROM links l "
                f"JOIN nodes n ON n.id = l.{there} "
                f"WHERE l.{here} IN ({_marks(len(part))}) AND l.type = ? ORDER BY l.{here}, n.id",
                (*part, link_type.value),
            )
            for key, record, version, updated_at in rows:
                out.setdefault(key, []).append(self._decoded.get(record, version, updated_at))
        return out

    def _linked_ids(
        self, ids: Sequence[str], link_type: LinkType, direction: Literal["out", "in"]
    ) -> dict[str, list[str]]:
        """`_linked` without reading the nodes: only their ids."""
        here, there = ("src", "dst") if direction == "out" else ("dst", "src")
        out: dict[str, list[str]] = {}
        for part in _chunks(list(dict.fromkeys(ids))):
            rows = self._query(
                f"SELECT {here}, {there} FROM links "
                f"WHERE {here} IN ({_marks(len(part))}) AND type = ? ORDER BY {here}, {there}",
                (*part, link_type.value),
            )
            for key, other in rows:
                out.setdefault(key, []).append(other)
        return out

    def get_observed(self, node_id: str) -> Node | None:
        state = _Tx(self, self._reader()).node_state(node_id)
        return state.observed_node() if state else None

    def get_observed_many(self, node_ids: Sequence[str]) -> dict[str, Node]:
        found = {i: self.get_observed(i) for i in dict.fromkeys(node_ids)}
        return {i: node for i, node in found.items() if node is not None}

    def get_nodes(self, label: Label, limit: int = 1000) -> list[Node]:
        rows = self._query(
            f"SELECT {_NODE_COLUMNS} FROM nodes WHERE label = ? ORDER BY id LIMIT ?",
            (label.value, limit),
        )
        return [self._node(*r) for r in rows]

    def query_nodes(self, query: NodeQuery) -> NodePage:
        where = ["label = ?"]
        params: list[Any] = [query.label.value]
        for name, value in query.equalities().items():
            where.append(f"{name} = ?")
            params.append(value)
        if query.pinned is not None:
            where.append("pinned = ?")
            params.append(int(query.pinned))
        if query.expires_before is not None:
            where.append("expires_at > '' AND expires_at < ?")
            params.append(query.expires_before.isoformat())
        if query.updated_since is not None:
            where.append("updated_at >= ?")
            params.append(query.updated_since.isoformat())
        sort = query.order_by
        if query.cursor:
            value, last_id = decode_cursor(query.cursor)
            op = "<" if query.descending else ">"
            if sort == "id":
                where.append(f"id {op} ?")
                params.append(last_id)
            else:
                where.append(f"({sort}, id) {op} (?, ?)")
                params += [value, last_id]
        order = " DESC" if query.descending else ""
        keys = "id" if sort == "id" else f"{sort}{order}, id"
        rows = self._query(
            f"SELECT record, NULL, version, updated_at, {sort} FROM nodes "
            f"WHERE {' AND '.join(where)} ORDER BY {keys}{order} LIMIT ?",
            (*params, query.limit + 1),
        )
        nodes = [self._node(*row[:4]) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        cursor = encode_cursor(rows[query.limit - 1][4], nodes[-1].id) if more else None
        return NodePage(nodes=nodes, next_cursor=cursor)

    def neighbours(
        self,
        node_id: str,
        link_types: Sequence[LinkType] | None = None,
        direction: Literal["out", "in", "both"] = "both",
        limit: int | None = None,
        labels: Sequence[Label] | None = None,
    ) -> list[Neighbour]:
        result: list[Neighbour] = []
        # The types are filtered in SQL (index links(dst, type) / the key's src, type): a
        # node with thousands of links of other types costs nothing extra.
        types = [LinkType(t).value for t in link_types] if link_types else []
        typed = f" AND l.type IN ({_marks(len(types))})" if types else ""
        kinds = [Label(label).value for label in labels] if labels is not None else []
        kept = f" AND n.label IN ({_marks(len(kinds))})" if labels is not None else ""
        for side, here, there in (("out", "src", "dst"), ("in", "dst", "src")):
            if direction not in (side, "both"):
                continue
            rows = self._query(
                f"SELECT l.src, l.type, l.dst, l.record, n.record, n.version, n.updated_at "
                f"FROM links l JOIN nodes n ON n.id = l.{there} WHERE l.{here} = ?{typed}"
                f"{kept} ORDER BY l.type, n.id LIMIT ?",
                (node_id, *types, *kinds, -1 if limit is None else limit),
            )
            for src, type_, dst, link_json, node_json, version, updated_at in rows:
                link = Link.from_record(src, type_, dst, json.loads(link_json))
                node = self._node(node_json, None, version, updated_at)
                result.append(Neighbour(link=link, node=node, direction=side))
        return result

    def neighbours_of(
        self,
        node_ids: Sequence[str],
        link_types: Sequence[LinkType] | None = None,
        direction: Literal["out", "in", "both"] = "both",
    ) -> dict[str, list[Neighbour]]:
        # A local query per node costs what a join would: no round trips to save.
        return {i: self.neighbours(i, link_types, direction) for i in dict.fromkeys(node_ids)}

    def source_hash(self, source_id: str) -> str | None:
        rows = self._query(
            f"SELECT record FROM nodes WHERE id = ? AND label IN ({_marks(3)})",
            (source_id, *(label.value for label in SOURCE_LABELS)),
        )
        return json.loads(rows[0][0]).get("content_hash") if rows else None

    def source_hashes(self, source_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        labels = tuple(label.value for label in SOURCE_LABELS)
        for part in _chunks(list(dict.fromkeys(source_ids))):
            rows = self._query(
                f"SELECT id, record FROM nodes WHERE id IN ({_marks(len(part))}) "
                f"AND label IN ({_marks(len(labels))})",
                (*part, *labels),
            )
            for node_id, record in rows:
                digest = json.loads(record).get("content_hash")
                if digest:
                    found[node_id] = digest
        return found

    def lexical_search(
        self,
        query: str,
        k: int = 10,
        labels: Sequence[Label] | None = None,
        filters: SearchFilter | None = None,
    ) -> list[Hit]:
        terms = query_terms(query)
        if not terms or k <= 0:
            return []
        doc_freq = self._doc_freq.get(terms, self._generations()[0], self._read_doc_freq)
        match = fts_match(terms, doc_freq, self._documents())
        if not match:
            return []
        # Rank inside FTS5 first, then join only the best rows (over-fetch when filtering).
        where, params = _search_where(labels, filters)
        depth = k * 4 if where else k
        sql = (
            "SELECT n.record, f.score FROM (SELECT rowid, bm25(fts) AS score FROM fts "
            "WHERE fts MATCH ? ORDER BY score LIMIT ?) f JOIN nodes n ON n.rowid = f.rowid"
            f"{' WHERE ' + where if where else ''} ORDER BY f.score LIMIT ?"
        )
        rows = self._query(sql, (match, depth, *params, k))
        if where and len(rows) < k and depth < self._documents():
            rows = self._query(sql, (match, self._documents(), *params, k))
        return [self._hits.get(record, -score) for record, score in rows]

    def _read_doc_freq(self, terms: list[str]) -> dict[str, int]:
        rows = self._query(
            f"SELECT term, doc FROM fts_terms WHERE term IN ({_marks(len(terms))})", terms
        )
        return {term: int(doc) for term, doc in rows}

    def _documents(self) -> int:
        """Rows in the full-text index (cached per store version)."""
        version = self._generations()[0]
        if self._doc_count[0] != version:
            count = self._query("SELECT COUNT(*) FROM fts")[0][0]
            self._doc_count = (version, int(count))
        return self._doc_count[1]

    def vector_search(
        self,
        vector: Sequence[float],
        k: int = 10,
        labels: Sequence[Label] | None = None,
        filters: SearchFilter | None = None,
    ) -> list[Hit]:
        best = self._vector_index().top(vector, k, labels, filters, now_iso())
        records = self._records([node_id for node_id, _ in best])
        return [self._hits.get(records[node_id], score) for node_id, score in best]

    def vector_search_views(
        self,
        vector: Sequence[float],
        k: int,
        views: Sequence[Sequence[Label] | None],
        filters: SearchFilter | None = None,
    ) -> list[list[Hit]]:
        found = self._vector_index().top_views(vector, k, views, filters, now_iso())
        records = self._records(list(dict.fromkeys(i for best in found for i, _ in best)))
        return [[self._hits.get(records[i], score) for i, score in best] for best in found]

    def _records(self, ids: Sequence[str]) -> dict[str, str]:
        """The stored JSON records of `ids`, undecoded (`_DecodedHits` decodes them)."""
        out: dict[str, str] = {}
        for part in _chunks(list(ids)):
            rows = self._query(
                f"SELECT id, record FROM nodes WHERE id IN ({_marks(len(part))})", part
            )
            out.update(rows)
        return out

    def _updated_vectors(
        self, current: VectorIndex | DeltaIndex, generation: int, vectors: int, last_seq: int
    ) -> VectorIndex | DeltaIndex | None:
        """`current` brought up to `vectors` from the rows whose vectors changed since it was
        read (and those whose filterable fields did): None when that is not known (a clear,
        the log pruned) or too many changed, and everything must be read again."""
        known = self._vectors_generation
        if not isinstance(known, int) or vectors <= known or self._vectors_seq > last_seq:
            return None
        logged = self._query(
            "SELECT vectors, id FROM vector_changes WHERE vectors > ? AND vectors <= ?",
            (known, vectors),
        )
        ids = {node_id for _, node_id in logged}
        if len({g for g, _ in logged}) != vectors - known or "*" in ids:
            return None
        if len(ids) > max(INCREMENTAL_MAX_ROWS, len(self._row_ids(current)) // 4):
            return None
        ids.update(self._touched(self._vectors_seq, last_seq))
        columns = ", ".join(FILTER_FIELDS)
        rows: dict[str, StoredRow] = {}
        for part in _chunks(sorted(ids)):
            for r in self._query(
                f"SELECT id, label, embedding, {columns} FROM nodes "
                f"WHERE id IN ({_marks(len(part))}) AND embedding IS NOT NULL",
                part,
            ):
                rows[r[0]] = (r[1], r[2], list(r[3:]))
        return current.with_vectors(generation, rows, ids - rows.keys())

    def _touched(self, after: int, until: int) -> list[str]:
        """The ids the events after seq `after` up to `until` touched."""
        rows = self._query(
            "SELECT DISTINCT id FROM event_ids WHERE seq > ? AND seq <= ?", (after, until)
        )
        return [r[0] for r in rows]

    @staticmethod
    def _row_ids(index: VectorIndex | DeltaIndex) -> list[str]:
        return index.base.ids if isinstance(index, DeltaIndex) else index.ids

    def _vector_index(self) -> VectorIndex | DeltaIndex:
        """The vectors at the current generation. A change of embeddings reads the rows whose
        vectors changed (the vector_changes log) and keeps them beside the matrix, or reloads
        the matrix when that is not known; any other change (a decision) re-reads only the
        filterable fields of the nodes that the events since the last look touched. One
        thread builds; the others wait for it."""
        generation, vectors, last_seq = self._generations()
        if self._vectors.version == generation:
            return self._vectors
        with self._index_lock:
            current = self._vectors
            if current.version == generation:
                return current
            columns = ", ".join(FILTER_FIELDS)
            updated = self._updated_vectors(current, generation, vectors, last_seq)
            if updated is not None:
                self._vectors = updated
                self._vectors_generation, self._vectors_seq = vectors, last_seq
                return updated
            if self._vectors_generation == vectors and self._vectors_seq <= last_seq:
                touched = self._touched(self._vectors_seq, last_seq)
                changed: dict[str, list[str]] = {}
                for part in _chunks(touched):
                    rows = self._query(
                        f"SELECT id, {columns} FROM nodes WHERE id IN ({_marks(len(part))}) "
                        "AND embedding IS NOT NULL",
                        part,
                    )
                    changed.update((r[0], list(r[1:])) for r in rows)
                self._vectors = current.with_changes(generation, changed)
                self._vectors_seq = last_seq
                return self._vectors
            rows = self._query(
                f"SELECT id, label, embedding, {columns} FROM nodes "
                "WHERE embedding IS NOT NULL ORDER BY rowid"
            )
            meta = {name: [r[3 + i] for r in rows] for i, name in enumerate(FILTER_FIELDS)}
            self._vectors = VectorIndex(
                generation, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], meta
            )
            self._vectors_generation, self._vectors_seq = vectors, last_seq
            return self._vectors

    def events(
        self,
        since: int = 0,
        limit: int = 1000,
        actions: Sequence[str] | None = None,
        node_id: str | None = None,
    ) -> list[Event]:
        where, params = ["e.seq > ?"], [since]
        source = "events e"
        if node_id is not None:
            source = "event_ids i JOIN events e ON e.seq = i.seq"
            where = ["i.id = ?", "i.seq > ?"]
            params = [node_id, since]
        if actions:
            where.append(f"e.action IN ({_marks(len(actions))})")
            params += list(actions)
        rows = self._query(
            f"SELECT {_EVENT_COLUMNS} FROM {source} WHERE {' AND '.join(where)} "
            "ORDER BY e.seq LIMIT ?",
            (*params, limit),
        )
        return [_event(row).public() for row in rows]

    def stats(self) -> StoreStats:
        nodes = dict(self._query("SELECT label, COUNT(*) FROM nodes GROUP BY label ORDER BY label"))
        links = dict(self._query("SELECT type, COUNT(*) FROM links GROUP BY type ORDER BY type"))
        return StoreStats(nodes=nodes, links=links)

    def projection(self, link_types: Sequence[LinkType] | None = None) -> nx.MultiDiGraph:
        graph = nx.MultiDiGraph()
        for node_id, label in self._query("SELECT id, label FROM nodes"):
            graph.add_node(node_id, label=label)
        wanted = {t.value for t in link_types} if link_types else None
        for src, type_, dst, record in self._query("SELECT src, type, dst, record FROM links"):
            if wanted is None or type_ in wanted:
                weight = json.loads(record).get("weight", 1.0)
                graph.add_edge(src, dst, key=type_, type=type_, weight=weight)
        return graph

    def clear(self) -> None:
        with self._tx() as conn:
            self._vector_ids = None  # every vector: readers reload
            for table in ("links", "nodes", "fts", "decisions", "events", "event_ids"):
                conn.execute(f"DELETE FROM {table}")
            conn.execute("DELETE FROM sqlite_sequence WHERE name = 'events'")

    def tidy(self) -> None:
        """FTS5's 'optimize': every write adds index segments that each search then reads
        (a freshly built 100k store: 16,625 index rows, 4,766 after; a lexical search
        24.6 -> 21.2 ms p50). ~2 s at 100k, under the writer's lock; readers go on (WAL)."""
        with self._lock:
            self._conn.execute("INSERT INTO fts(fts) VALUES('optimize')")

    def close(self) -> None:
        """Close the writer and every thread's reader connection."""
        with self._lock:
            self._closed = True
            with self._readers_lock:
                readers, self._readers = self._readers, []
            for conn in [self._conn, *readers]:
                with suppress(sqlite3.Error):
                    conn.close()


# -- rows ---------------------------------------------------------------------------------

_EVENT_COLUMNS = "e.seq, e.at, e.actor, e.action, e.ids, e.before, e.after, e.reason, e.states"


def _event(row: Sequence[Any]) -> StoredEvent:
    seq, at, actor, action, ids, *rest = row
    return StoredEvent.from_stored(seq, at, actor, action, json.loads(ids), *rest)


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the columns a store made by an older Spiral lacks, filled from the records, and
    re-index the full text when the index terms changed (once)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(nodes)")}
    for name, decl in _COLUMNS.items():
        if name not in have:
            conn.execute(f"ALTER TABLE nodes ADD COLUMN {name} {decl}")
            if name in FILTER_FIELDS:
                conn.execute(
                    f"UPDATE nodes SET {name} = coalesce(json_extract(record, '$.{name}'), '')"
                )
    row = conn.execute("SELECT value FROM meta WHERE key = 'fts_terms'").fetchone()
    if row is None or row[0] < INDEX_TERMS_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        for rowid, record in conn.execute("SELECT rowid, record FROM nodes").fetchall():
            terms = node_from_record(json.loads(record)).index_text()
            conn.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
            if terms:
                conn.execute("INSERT INTO fts (rowid, body) VALUES (?, ?)", (rowid, terms))
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('fts_terms', ?)",
            (INDEX_TERMS_VERSION,),
        )
        conn.execute("COMMIT")


def _decisions(
    conn: sqlite3.Connection, ids: Sequence[str]
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    rows = conn.execute(
        f"SELECT id, decided, observed FROM decisions WHERE id IN ({_marks(len(ids))})", ids
    )
    return {row[0]: (json.loads(row[1]), json.loads(row[2])) for row in rows}


def _put_row(
    conn: sqlite3.Connection,
    label: Label,
    node_id: str,
    record: dict[str, Any],
    digest: str,
    blob: bytes | None,
    version: int,
    updated_at: str,
) -> None:
    values = filter_values(record)
    columns = ", ".join(FILTER_FIELDS)
    updates = ", ".join(f"{name}=excluded.{name}" for name in FILTER_FIELDS)
    conn.execute(
        f"INSERT INTO nodes (id, label, source_id, pinned, record, digest, embedding, version, "
        f"updated_at, {columns}) VALUES ({_marks(9 + len(FILTER_FIELDS))}) "
        "ON CONFLICT(id) DO UPDATE SET label=excluded.label, source_id=excluded.source_id, "
        "pinned=excluded.pinned, record=excluded.record, digest=excluded.digest, "
        "embedding=excluded.embedding, version=excluded.version, "
        f"updated_at=excluded.updated_at, {updates}",
        (
            node_id,
            label.value,
            record.get("source_id") or "",
            int(bool(record.get("pinned"))),
            _json(record),
            digest,
            blob,
            version,
            updated_at,
            *values.values(),
        ),
    )


def _put_fts(conn: sqlite3.Connection, node_id: str, text: str) -> None:
    (rowid,) = conn.execute("SELECT rowid FROM nodes WHERE id = ?", (node_id,)).fetchone()
    conn.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
    if text:
        conn.execute("INSERT INTO fts (rowid, body) VALUES (?, ?)", (rowid, text))


_PUT_LINK = (
    "INSERT INTO links (src, type, dst, source_id, record, digest) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(src, type, dst, source_id) DO UPDATE SET "
    "record=excluded.record, digest=excluded.digest WHERE digest != excluded.digest"
)


def _put_link(conn: sqlite3.Connection, key: LinkKey, record: dict[str, Any]) -> int:
    return conn.execute(_PUT_LINK, (*key, _json(record), record_digest(record))).rowcount


def _search_where(
    labels: Sequence[Label] | None, filters: SearchFilter | None
) -> tuple[str, list[Any]]:
    """SQL conditions on the joined node row `n` for a label list and a search filter."""
    where: list[str] = []
    params: list[Any] = []
    if labels:
        where.append(f"n.label IN ({_marks(len(labels))})")
        params += [Label(label).value for label in labels]
    if filters is not None:
        for name in ("status", "kind", "team"):
            allowed = getattr(filters, name)
            if allowed is not None:
                where.append(f"(n.{name} = '' OR n.{name} IN ({_marks(len(allowed))}))")
                params += list(allowed)
        if filters.not_expired:
            where.append("(n.expires_at = '' OR n.expires_at > ?)")
            params.append(now_iso())
    return " AND ".join(where), params


class _Tx:
    """The unit-of-work primitives (graph.changes.TxPort) on an open SQLite transaction."""

    def __init__(self, store: EmbeddedStore, conn: sqlite3.Connection) -> None:
        self.store, self.conn = store, conn

    def node_state(self, node_id: str) -> NodeState | None:
        row = self.conn.execute(
            "SELECT label, record, embedding, version, updated_at, digest FROM nodes WHERE id = ?",
            (node_id,),
        ).fetchone()
        if row is None:
            return None
        label, record, blob, version, updated_at, digest = row
        decided, observed = _decisions(self.conn, [node_id]).get(node_id, ({}, {}))
        return NodeState(
            label=Label(label),
            record=json.loads(record),
            decided=decided,
            observed=observed,
            embedding=np.frombuffer(blob, dtype=np.float32).tolist() if blob else None,
            version=version,
            updated_at=updated_at,
            digest=digest,
        )

    def put_node_state(self, node_id: str, state: NodeState | None) -> None:
        conn = self.conn
        if state is None:
            conn.execute("DELETE FROM links WHERE src = ? OR dst = ?", (node_id, node_id))
            self.store._delete_nodes(conn, [node_id])
            conn.execute("DELETE FROM decisions WHERE id = ?", (node_id,))
            return
        blob = np.asarray(state.embedding, np.float32).tobytes() if state.embedding else None
        old = conn.execute("SELECT embedding FROM nodes WHERE id = ?", (node_id,)).fetchone()
        if (old[0] if old else None) != blob:
            self.store._vector_changed(node_id)
        record = {**state.record, "label": state.label.value}
        _put_row(
            conn, state.label, node_id, record, state.digest, blob, state.version, state.updated_at
        )
        _put_fts(conn, node_id, state.node().index_text())
        if state.decided:
            conn.execute(
                "INSERT INTO decisions (id, decided, observed) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET decided=excluded.decided, "
                "observed=excluded.observed",
                (node_id, _json(state.decided), _json(state.observed)),
            )
        else:
            conn.execute("DELETE FROM decisions WHERE id = ?", (node_id,))

    def links_at(self, node_id: str) -> list[tuple[LinkKey, dict[str, Any]]]:
        rows = self.conn.execute(
            "SELECT src, type, dst, source_id, record FROM links WHERE src = ? "
            "UNION ALL SELECT src, type, dst, source_id, record FROM links "
            "WHERE dst = ? AND src != ? ORDER BY 1, 2, 3, 4",
            (node_id, node_id, node_id),
        )
        return [((r[0], r[1], r[2], r[3]), json.loads(r[4])) for r in rows]

    def link_state(self, key: LinkKey) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT record FROM links WHERE src = ? AND type = ? AND dst = ? AND source_id = ?",
            key,
        ).fetchone()
        return json.loads(row[0]) if row else None

    def put_link_state(self, key: LinkKey, record: dict[str, Any] | None) -> None:
        if record is None:
            self.conn.execute(
                "DELETE FROM links WHERE src = ? AND type = ? AND dst = ? AND source_id = ?",
                key,
            )
        else:
            _put_link(self.conn, key, record)

    def append_event(self, draft: EventDraft) -> Event:
        cur = self.conn.execute(
            "INSERT INTO events (at, actor, action, ids, before, after, reason, states) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                draft.at,
                draft.actor,
                draft.action,
                _json(draft.ids),
                _json(draft.before),
                _json(draft.after),
                draft.reason,
                _json(draft.states) if draft.states is not None else None,
            ),
        )
        seq = int(cur.lastrowid or 0)
        self.conn.executemany(
            "INSERT OR IGNORE INTO event_ids (id, seq) VALUES (?, ?)",
            [(node_id, seq) for node_id in draft.ids],
        )
        return Event(seq=seq, **draft.model_dump(exclude={"states"}))

    def stored_event(self, seq: int) -> StoredEvent | None:
        row = self.conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.seq = ?", (seq,)
        ).fetchone()
        return _event(row) if row else None

    def first_event_touching(self, node_id: str, after_seq: int) -> Event | None:
        row = self.conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM event_ids i JOIN events e ON e.seq = i.seq "
            "WHERE i.id = ? AND i.seq > ? ORDER BY i.seq LIMIT 1",
            (node_id, after_seq),
        ).fetchone()
        return _event(row) if row else None

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
from pathlib import Path
from typing import Any, Literal

import networkx as nx
import numpy as np

from graph.embedded_index import VectorIndex, fts_match, query_terms
from graph.model import (
    SOURCE_LABELS,
    Label,
    Link,
    LinkType,
    Node,
    node_from_record,
    record_digest,
)
from graph.store import (
    Hit,
    Neighbour,
    StoreStats,
    StoreUnavailable,
    WriteBatch,
    WriteResult,
    hit_from_record,
)
from graph.text import segment_for_index

__all__ = ["EmbeddedStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    id TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    source_id TEXT NOT NULL DEFAULT '',
    pinned INTEGER NOT NULL DEFAULT 0,
    record TEXT NOT NULL,
    digest TEXT NOT NULL,
    embedding BLOB
);
CREATE INDEX IF NOT EXISTS nodes_label ON nodes(label);
CREATE INDEX IF NOT EXISTS nodes_source ON nodes(source_id);
CREATE TABLE IF NOT EXISTS links (
    src TEXT NOT NULL,
    type TEXT NOT NULL,
    dst TEXT NOT NULL,
    source_id TEXT NOT NULL DEFAULT '',
    record TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (src, type, dst, source_id)
);
CREATE INDEX IF NOT EXISTS links_dst ON links(dst);
CREATE INDEX IF NOT EXISTS links_source ON links(source_id);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(body, tokenize = 'unicode61');
CREATE VIRTUAL TABLE IF NOT EXISTS fts_terms USING fts5vocab(fts, 'row');
"""
_CHUNK = 500  # ids per IN (...) query, under SQLite's variable limit


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _marks(n: int) -> str:
    return ",".join("?" * n)


class EmbeddedStore:
    """GraphStore on one SQLite file. Thread-safe: writes go through one connection behind a
    lock; reads use a connection per thread, so searches run beside each other and beside
    a write (WAL)."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._vectors = VectorIndex(None, [], [], [])
        self._doc_count: tuple[object, int] = (None, 0)
        self._local_writes = 0

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @classmethod
    def open(cls, path: Path) -> EmbeddedStore:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = cls._connect(path)
            conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(
                f"cannot open the embedded store at {path} (SPIRAL_DATA_DIR): {exc}"
            ) from exc
        return cls(conn, path)

    # -- transactions -------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            self._local_writes += 1

    def write(self, batch: WriteBatch) -> WriteResult:
        """Replace sources by difference: only what the new batch no longer has is deleted,
        only what changed is written, so writing the same batch twice writes nothing."""
        keep_nodes = {n.id for n in batch.nodes}
        keep_links = {link.key for link in batch.links}
        with self._tx() as conn:
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
            result.nodes_written = self._upsert_nodes(conn, batch.nodes)
            result.links_written = self._upsert_links(conn, batch.links)
            result.nodes_deleted += self._delete_nodes(conn, self._orphans(conn, touched))
            return result

    def upsert_nodes(self, nodes: Sequence[Node]) -> int:
        with self._tx() as conn:
            return self._upsert_nodes(conn, nodes)

    def upsert_links(self, links: Sequence[Link]) -> int:
        with self._tx() as conn:
            return self._upsert_links(conn, links)

    def delete_source(self, source_id: str) -> WriteResult:
        with self._tx() as conn:
            return self._delete_source(conn, source_id)

    # -- writes (inside a transaction) --------------------------------------------------

    def _upsert_nodes(self, conn: sqlite3.Connection, nodes: Sequence[Node]) -> int:
        written = 0
        by_id = {n.id: n for n in nodes}  # last write of an id in one batch wins
        for part in _chunks(list(by_id)):
            existing = dict(
                conn.execute(
                    f"SELECT id, digest FROM nodes WHERE id IN ({_marks(len(part))})", part
                )
            )
            for node_id in part:
                node = by_id[node_id]
                record = node.to_record()
                digest = record_digest(record)
                if existing.get(node_id) == digest:
                    continue
                self._put_node(conn, node, record, digest)
                written += 1
        return written

    def _put_node(
        self, conn: sqlite3.Connection, node: Node, record: dict[str, Any], digest: str
    ) -> None:
        embedding = record.pop("embedding", None)
        blob = np.asarray(embedding, dtype=np.float32).tobytes() if embedding else None
        row = conn.execute(
            "INSERT INTO nodes (id, label, source_id, pinned, record, digest, embedding) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET label=excluded.label, "
            "source_id=excluded.source_id, pinned=excluded.pinned, record=excluded.record, "
            "digest=excluded.digest, embedding=excluded.embedding RETURNING rowid",
            (
                node.id,
                node.label.value,
                node.source_id,
                int(node.pinned),
                json.dumps(record, ensure_ascii=False),
                digest,
                blob,
            ),
        ).fetchone()
        conn.execute("DELETE FROM fts WHERE rowid = ?", (row[0],))
        text = node.search_text()
        if text:
            conn.execute(
                "INSERT INTO fts (rowid, body) VALUES (?, ?)", (row[0], segment_for_index(text))
            )

    def _upsert_links(self, conn: sqlite3.Connection, links: Sequence[Link]) -> int:
        if not links:
            return 0
        self._check_endpoints(conn, {end for link in links for end in (link.src, link.dst)})
        written = 0
        for link in {link.key: link for link in links}.values():
            record = link.to_record()
            digest = record_digest(record)
            cur = conn.execute(
                "INSERT INTO links (src, type, dst, source_id, record, digest) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(src, type, dst, source_id) DO UPDATE SET "
                "record=excluded.record, digest=excluded.digest WHERE digest != excluded.digest",
                (*link.key, json.dumps(record, ensure_ascii=False), digest),
            )
            written += cur.rowcount
        return written

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
        """Unpinned, non-source nodes left without any link."""
        sources = tuple(label.value for label in SOURCE_LABELS)
        orphans = []
        for node_id in candidates:
            row = conn.execute(
                f"SELECT 1 FROM nodes WHERE id = ? AND pinned = 0 AND label NOT IN ({_marks(3)}) "
                "AND NOT EXISTS (SELECT 1 FROM links WHERE src = ? OR dst = ?)",
                (node_id, *sources, node_id, node_id),
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
            deleted += conn.execute(f"DELETE FROM nodes WHERE id IN ({marks})", part).rowcount
        return deleted

    @staticmethod
    def _exists(conn: sqlite3.Connection, node_id: str) -> bool:
        return conn.execute("SELECT 1 FROM nodes WHERE id = ?", (node_id,)).fetchone() is not None

    # -- reads --------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect(self.path)
            with self._lock:
                self._readers.append(conn)
        return conn

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._reader().execute(sql, params).fetchall()

    def _version(self) -> tuple[int, int]:
        """Changes whenever this or any other connection committed a write."""
        with self._lock:
            return self._conn.execute("PRAGMA data_version").fetchone()[0], self._local_writes

    @staticmethod
    def _node(record_json: str, blob: bytes | None = None) -> Node:
        record = json.loads(record_json)
        if blob:
            record["embedding"] = np.frombuffer(blob, dtype=np.float32).tolist()
        return node_from_record(record)

    def get_node(self, node_id: str) -> Node | None:
        rows = self._query("SELECT record, embedding FROM nodes WHERE id = ?", (node_id,))
        return self._node(*rows[0]) if rows else None

    def get_nodes(self, label: Label, limit: int = 1000) -> list[Node]:
        rows = self._query(
            "SELECT record, embedding FROM nodes WHERE label = ? ORDER BY id LIMIT ?",
            (label.value, limit),
        )
        return [self._node(*r) for r in rows]

    def neighbours(
        self,
        node_id: str,
        link_types: Sequence[LinkType] | None = None,
        direction: Literal["out", "in", "both"] = "both",
    ) -> list[Neighbour]:
        result: list[Neighbour] = []
        for side, here, there in (("out", "src", "dst"), ("in", "dst", "src")):
            if direction not in (side, "both"):
                continue
            rows = self._query(
                f"SELECT l.src, l.type, l.dst, l.record, n.record FROM links l "
                f"JOIN nodes n ON n.id = l.{there} WHERE l.{here} = ? ORDER BY l.type, n.id",
                (node_id,),
            )
            for src, type_, dst, link_json, node_json in rows:
                if link_types and LinkType(type_) not in link_types:
                    continue
                link = Link.from_record(src, type_, dst, json.loads(link_json))
                result.append(Neighbour(link=link, node=self._node(node_json), direction=side))
        return result

    def source_hash(self, source_id: str) -> str | None:
        rows = self._query(
            f"SELECT record FROM nodes WHERE id = ? AND label IN ({_marks(3)})",
            (source_id, *(label.value for label in SOURCE_LABELS)),
        )
        return json.loads(rows[0][0]).get("content_hash") if rows else None

    def lexical_search(
        self, query: str, k: int = 10, labels: Sequence[Label] | None = None
    ) -> list[Hit]:
        terms = query_terms(query)
        if not terms:
            return []
        doc_freq = dict(
            self._query(
                f"SELECT term, doc FROM fts_terms WHERE term IN ({_marks(len(terms))})", terms
            )
        )
        match = fts_match(terms, doc_freq, self._documents())
        if not match:
            return []
        # Rank inside FTS5 first, then join only the best rows (over-fetch when filtering).
        depth = k * 4 if labels else k
        where, params = "", [match, depth]
        if labels:
            where = f" WHERE n.label IN ({_marks(len(labels))})"
            params += [label.value for label in labels]
        sql = (
            "SELECT n.record, f.score FROM (SELECT rowid, bm25(fts) AS score FROM fts "
            "WHERE fts MATCH ? ORDER BY score LIMIT ?) f JOIN nodes n ON n.rowid = f.rowid"
            f"{where} ORDER BY f.score LIMIT ?"
        )
        rows = self._query(sql, (*params, k))
        if labels and len(rows) < k and depth < self._documents():
            rows = self._query(sql, (match, self._documents(), *params[2:], k))
        return [hit_from_record(json.loads(record), -score) for record, score in rows]

    def _documents(self) -> int:
        """Rows in the full-text index (cached per store version)."""
        version = self._version()
        if self._doc_count[0] != version:
            count = self._query("SELECT COUNT(*) FROM fts")[0][0]
            self._doc_count = (version, int(count))
        return self._doc_count[1]

    def vector_search(
        self, vector: Sequence[float], k: int = 10, labels: Sequence[Label] | None = None
    ) -> list[Hit]:
        best = self._vector_index().top(vector, k, labels)
        records = self._records([node_id for node_id, _ in best])
        return [hit_from_record(records[node_id], score) for node_id, score in best]

    def _records(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for part in _chunks(list(ids)):
            rows = self._query(
                f"SELECT id, record FROM nodes WHERE id IN ({_marks(len(part))})", part
            )
            out.update((i, json.loads(r)) for i, r in rows)
        return out

    def _vector_index(self) -> VectorIndex:
        version = self._version()
        if self._vectors.version != version:
            rows = self._query(
                "SELECT id, label, embedding FROM nodes WHERE embedding IS NOT NULL ORDER BY rowid"
            )
            self._vectors = VectorIndex(
                version, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
            )
        return self._vectors

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
            conn.execute("DELETE FROM links")
            conn.execute("DELETE FROM nodes")
            conn.execute("DELETE FROM fts")

    def close(self) -> None:
        with self._lock, suppress(sqlite3.Error):
            self._conn.close()

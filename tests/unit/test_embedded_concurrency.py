"""Embedded store specifics: one writer at a time with a clear busy error, readers that never
wait for a writer (another process's included), connections closed on close()."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from graph.changes import SetFields
from graph.embedded import EmbeddedStore
from graph.embedded_index import DeltaIndex, VectorIndex
from graph.model import Chunk, Employee
from graph.store import StoreBusy, StoreUnavailable, WriteBatch


def test_second_writer_gets_a_clear_busy_error_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = EmbeddedStore.open(path, busy_timeout=0.2)
    store.upsert_nodes([Employee(id="e1", name="王丽")])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(StoreBusy, match="SPIRAL_BUSY_TIMEOUT_S"):
            store.apply([SetFields(id="e1", fields={"team": "a"})], actor="a", action="assign")
        # Readers are not blocked by that writer.
        assert store.get_node("e1").team == ""  # type: ignore[union-attr]
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.apply([SetFields(id="e1", fields={"team": "a"})], actor="a", action="assign")
    assert store.get_node("e1").team == "a"  # type: ignore[union-attr]
    assert [e.action for e in store.events()] == ["upsert", "assign"]
    store.close()


def test_close_closes_every_reader_connection(tmp_path: Path) -> None:
    store = EmbeddedStore.open(tmp_path / "s.sqlite")
    store.upsert_nodes([Employee(id="e1", name="A")])
    threads = [threading.Thread(target=store.get_node, args=("e1",)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    readers = list(store._readers)
    assert len(readers) == 3
    store.close()
    for conn in readers:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            conn.execute("SELECT 1")
    with pytest.raises(StoreUnavailable, match="closed"):
        store.get_node("e1")  # this thread never read before: no connection is reopened


def test_older_store_file_is_migrated(tmp_path: Path) -> None:
    """A store written before filter columns existed opens, and its items are filterable."""
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE nodes (id TEXT PRIMARY KEY, label TEXT NOT NULL, source_id TEXT NOT NULL "
        "DEFAULT '', pinned INTEGER NOT NULL DEFAULT 0, record TEXT NOT NULL, digest TEXT NOT "
        "NULL, embedding BLOB);"
        "INSERT INTO nodes VALUES ('k1', 'KnowledgeItem', '', 0, "
        '\'{"label": "KnowledgeItem", "id": "k1", "text": "t", "status": '
        "\"approved\"}', 'd', NULL);"
    )
    conn.close()
    from graph.model import Label
    from graph.store import NodeQuery

    store = EmbeddedStore.open(path)
    page = store.query_nodes(NodeQuery(label=Label.KNOWLEDGE_ITEM, status="approved"))
    assert [n.id for n in page.nodes] == ["k1"]
    store.close()


def test_filtered_queries_and_change_feed_use_indexes(tmp_path: Path) -> None:
    """No full scans on the embedded store either: the statements the store really runs
    (traced) search an index in SQLite's plan."""
    from datetime import UTC, datetime

    from graph.model import Label
    from graph.store import NodeQuery

    store = EmbeddedStore.open(tmp_path / "s.sqlite")
    conn = store._reader()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    item = Label.KNOWLEDGE_ITEM
    store.query_nodes(NodeQuery(label=item, status="approved", team="a"))
    store.query_nodes(NodeQuery(label=item, expires_before=datetime(2027, 1, 1, tzinfo=UTC)))
    store.query_nodes(
        NodeQuery(label=item, updated_since=datetime(2026, 1, 1), order_by="updated_at")
    )
    store.query_nodes(NodeQuery(label=Label.ENTITY, pinned=True))
    store.events(since=3)
    store.events(since=3, node_id="x")
    conn.set_trace_callback(None)
    assert len(statements) == 6
    for sql in statements:
        detail = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert "USING" in detail, (sql, detail)
        assert "SCAN nodes" not in detail and "SCAN i " not in detail, (sql, detail)
    store.close()


def _chunks(source: str, count: int, rng: np.random.Generator, start: int = 0) -> list[Chunk]:
    vectors = rng.normal(size=(count, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        Chunk(id=f"{source}-{i}", text=f"chunk {i}", source_id=source, embedding=v.tolist())
        for i, v in enumerate(vectors, start)
    ]


def test_vector_changes_reach_a_running_reader_without_a_reload(tmp_path: Path) -> None:
    """A live message adds a vector every few seconds: the reader reads the changed rows (the
    vector_changes log), not every vector again; its searches equal a fresh reader's, another
    process's writes included, and a clear() still reloads everything."""
    rng = np.random.default_rng(11)
    path = tmp_path / "s.sqlite"
    store = EmbeddedStore.open(path)
    store.write(WriteBatch(replace_sources=["a"], nodes=_chunks("a", 60, rng)))
    store.write(WriteBatch(replace_sources=["b"], nodes=_chunks("b", 40, rng)))
    queries = [v.tolist() for v in rng.normal(size=(5, 16)).astype(np.float32)]
    assert store.vector_search(queries[0], 5)  # the full load
    full = store._vectors
    # Source a loses 30 chunks and changes 10 vectors; a new source arrives; the same
    # writes from another process (a second store object on the file) count too.
    changed = _chunks("a", 10, rng)
    store.write(WriteBatch(replace_sources=["a"], nodes=changed[:10] + _chunks("a", 30, rng)[10:]))
    other = EmbeddedStore.open(path)
    other.write(WriteBatch(replace_sources=["c"], nodes=_chunks("c", 7, rng)))
    other.close()
    fresh = EmbeddedStore.open(path)
    try:
        for query in queries:
            got = store.vector_search(query, 12)
            assert [(h.id, round(h.score, 5)) for h in got] == [
                (h.id, round(h.score, 5)) for h in fresh.vector_search(query, 12)
            ]
        assert isinstance(store._vectors, DeltaIndex) and store._vectors.base is full
        found = {h.id for h in store.vector_search(queries[1], 200)}
        assert len(found) == 30 + 40 + 7 and not found & {f"a-{i}" for i in range(30, 60)}
        store.clear()
        assert store.vector_search(queries[0], 5) == []
        assert isinstance(store._vectors, VectorIndex)  # cleared: read again from scratch
    finally:
        fresh.close()
        store.close()


def test_contexts_reuse_decoded_nodes_but_never_serve_a_changed_one(tmp_path: Path) -> None:
    """hit_contexts keeps the nodes it decoded (an ask reads the same conversations and
    tracks again and again), keyed by what is stored: a changed node is read anew, also when
    another process changed it."""
    path = tmp_path / "s.sqlite"
    store = EmbeddedStore.open(path)
    store.upsert_nodes([Chunk(id="c1", text="退款三天到账", uri="a.md")])
    first = store.hit_contexts(["c1"])["c1"].node
    assert store.hit_contexts(["c1"])["c1"].node.text == "退款三天到账"
    assert len(store._decoded._nodes) == 1  # read once, kept
    other = EmbeddedStore.open(path)
    other.upsert_nodes([Chunk(id="c1", text="退款五天到账", uri="a.md")])
    other.close()
    again = store.hit_contexts(["c1"])["c1"].node
    assert again.text == "退款五天到账" and first.text == "退款三天到账"
    store.apply([SetFields(id="c1", fields={"title": "退款"})], actor="km", action="edit")
    assert store.hit_contexts(["c1"])["c1"].node.title == "退款"  # type: ignore[union-attr]
    store.close()

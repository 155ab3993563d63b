"""Embedded store specifics: one writer at a time with a clear busy error, readers that never
wait for a writer (another process's included), connections closed on close()."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from graph.changes import SetFields
from graph.embedded import EmbeddedStore
from graph.model import Employee
from graph.store import StoreBusy, StoreUnavailable


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

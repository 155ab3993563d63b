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

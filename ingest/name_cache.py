"""Entity-name vectors kept across runs: a corpus names the same products, objections and
topics in file after file and run after run, and encoding a name costs the model a batch slot
each time. Kept in a small SQLite file beside the data (`data_dir/cache/names.sqlite`), keyed
by the embedder's `vector_key` (model, weights, float or int8), so a changed model never reads
another's vectors. An embedder without a key (a test double) gets no cache.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["NameVectorCache"]

_CHUNK = 500  # names per SELECT (SQLite's parameter limit is far above)


class NameVectorCache:
    """Opened on first use: an ingest that encodes no new name creates no file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS names (key TEXT, name TEXT, vector BLOB, "
                "PRIMARY KEY (key, name)) WITHOUT ROWID"
            )
            self._conn = conn
        return self._conn

    def get(self, key: str, names: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(names), _CHUNK):
                part = list(names[start : start + _CHUNK])
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT name, vector FROM names WHERE key = ? AND name IN ({marks})",
                    (key, *part),
                )
                for name, blob in rows:
                    found[name] = np.frombuffer(blob, dtype=np.float32).copy()
        return found

    def put(self, key: str, vectors: dict[str, np.ndarray]) -> None:
        rows = [(key, name, np.asarray(v, np.float32).tobytes()) for name, v in vectors.items()]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO names VALUES (?, ?, ?)", rows)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

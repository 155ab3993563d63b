"""Fewer garbage collections while an import runs.

An import allocates millions of small objects that live a while and form no cycles (records,
graphs, vectors, segmented words), and CPython's cyclic collector, at its default thresholds,
walks all of them again and again: in the 994-file JDDC import with the vectors at hand, 9 full
collections took 1.0-1.2 s and the young ones 0.4 s, of ~16 s of CPU. With the thresholds
raised (a young collection every 10,000 allocations, not 700), no full collection ran and the
young ones took ~0.45 s in all. The Python work shares the model's two cores, so each
CPU-second saved is worth about half a second of the import.

Nothing stops being collected: cycles are still found, later. The thresholds are the
process's own, so they are raised while any import runs and put back when the last one ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["IMPORT_THRESHOLDS", "fewer_collections"]

# gc.set_threshold's three numbers during an import, each at least the process's own.
IMPORT_THRESHOLDS = (10_000, 10, 10)

_lock = threading.Lock()
_running = 0
_saved: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the collector's thresholds for the duration (imports may overlap: the first
    one in raises them, the last one out puts back what was set before)."""
    global _running, _saved
    with _lock:
        if _running == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(*(max(a, b) for a, b in zip(_saved, IMPORT_THRESHOLDS, strict=True)))
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0:
                gc.set_threshold(*_saved)

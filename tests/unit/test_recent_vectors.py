"""graph.embeddings.RecentVectors: a live message is embedded by its append and by the ask
that answers it at the same moment; the model must run once for it, and never hand back a
vector that a caller could change for the next one."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from graph.embeddings import RecentVectors


def test_two_threads_wanting_one_text_run_the_model_once() -> None:
    recent = RecentVectors(size=2)
    calls: list[str] = []
    started = threading.Event()

    def slow(text: str) -> np.ndarray:
        calls.append(text)
        started.set()
        time.sleep(0.2)  # the other thread asks meanwhile
        return np.full(3, float(len(text)), dtype=np.float32)

    got: list[np.ndarray] = []
    first = threading.Thread(target=lambda: got.append(recent.get("退款多久", slow)))
    first.start()
    started.wait(5)
    got.append(recent.get("退款多久", slow))  # waits for the first thread's run
    first.join()
    assert calls == ["退款多久"] and all(np.array_equal(g, np.full(3, 4.0)) for g in got)
    with pytest.raises(ValueError):
        got[0][0] = 1.0  # shared: read-only
    # the oldest text is forgotten past `size`
    for text in ("a", "bb"):
        recent.get(text, slow)
    recent.get("退款多久", slow)
    assert calls == ["退款多久", "a", "bb", "退款多久"]


def test_a_failed_run_is_not_kept_and_the_next_caller_runs_again() -> None:
    recent = RecentVectors()

    def broken(text: str) -> np.ndarray:
        raise RuntimeError("model gone")

    with pytest.raises(RuntimeError, match="model gone"):
        recent.get("x", broken)
    assert recent.get("x", lambda t: np.ones(2)).tolist() == [1.0, 1.0]

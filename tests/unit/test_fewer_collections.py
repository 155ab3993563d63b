"""An import raises the garbage collector's thresholds while it runs, and puts back the
process's own when it ends, however it ends."""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from graph.embedded import EmbeddedStore
from graph.embeddings import ModelError
from graph.settings import Settings
from ingest.fewer_collections import IMPORT_THRESHOLDS, fewer_collections
from ingest.pipeline import Ingestor
from tests.conftest import HashEmbedder

OWN = (700, 10, 10)


@pytest.fixture(autouse=True)
def own_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(*OWN)
    yield
    gc.set_threshold(*before)


class _Watching(HashEmbedder):
    """Notes the collector's thresholds whenever the import embeds; fails when told to."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.seen: list[tuple[int, int, int]] = []
        self.fail = fail

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.append(gc.get_threshold())
        if self.fail:
            raise ModelError("the model cannot be loaded")  # fails every file: raised
        return super().encode(texts)


def _import(tmp_path: Path, embedder: _Watching) -> None:
    chats = tmp_path / "chats"
    chats.mkdir()
    for n in range(3):
        messages = [{"role": "customer", "text": f"第{n}单的退款什么时候到账？"}]
        (chats / f"c{n}.json").write_text(json.dumps({"messages": messages}), "utf-8")
    store = EmbeddedStore.open(tmp_path / "s.sqlite")
    try:
        Ingestor(store, embedder, Settings(deid_key="t", data_dir=tmp_path)).ingest([chats])
    finally:
        store.close()


def test_an_import_runs_with_fewer_collections_and_puts_the_thresholds_back(
    tmp_path: Path,
) -> None:
    embedder = _Watching()
    _import(tmp_path, embedder)
    assert embedder.seen and set(embedder.seen) == {IMPORT_THRESHOLDS}
    assert gc.get_threshold() == OWN


def test_a_failed_import_puts_the_thresholds_back(tmp_path: Path) -> None:
    embedder = _Watching(fail=True)
    with pytest.raises(ModelError):
        _import(tmp_path, embedder)
    assert embedder.seen == [IMPORT_THRESHOLDS]
    assert gc.get_threshold() == OWN


def test_overlapping_imports_put_back_the_processs_own_when_the_last_ends() -> None:
    first_in, second_out = threading.Event(), threading.Event()
    seen: list[tuple[int, int, int]] = []

    def first() -> None:
        with fewer_collections():
            first_in.set()
            second_out.wait(10)
            seen.append(gc.get_threshold())  # the second has ended: still raised

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(10)
    with fewer_collections():
        assert gc.get_threshold() == IMPORT_THRESHOLDS
    second_out.set()
    thread.join(10)
    assert seen == [IMPORT_THRESHOLDS]
    assert gc.get_threshold() == OWN


def test_higher_thresholds_of_the_process_are_kept() -> None:
    gc.set_threshold(50_000, 5, 100)
    with fewer_collections():
        assert gc.get_threshold() == (50_000, 10, 100)
    assert gc.get_threshold() == (50_000, 5, 100)

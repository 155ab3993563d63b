"""The bars `spiral ingest` shows: files as they are settled, and the texts being embedded
while a long file (or the last group of chats) is still in the model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from rich.progress import Progress

from graph.embedded import EmbeddedStore
from graph.settings import Settings
from ingest import pipeline
from ingest.pipeline import Ingestor
from tests.conftest import HashEmbedder


class _Recording(Progress):
    made: ClassVar[list[_Recording]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _Recording.made.append(self)


class _Watching(HashEmbedder):
    """Notes, at each model call, whether the ingest still reports embedding progress."""

    def __init__(self) -> None:
        self.ingestor: Ingestor | None = None
        self.reported: list[bool] = []

    def encode(self, texts):  # type: ignore[no-untyped-def]
        assert self.ingestor is not None
        self.reported.append(self.ingestor.on_embedded is not None)
        return super().encode(texts)


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> list[_Recording]:
    _Recording.made = []
    monkeypatch.setattr(pipeline, "Progress", _Recording)
    return _Recording.made


def _chat(folder: Path, name: str, messages: int) -> None:
    folder.mkdir(exist_ok=True)
    said = [{"role": "customer", "text": f"订单{n}的快递到哪里了"} for n in range(messages)]
    chat = {"id": name, "employee": "王丽", "messages": said}
    (folder / f"{name}.json").write_text(json.dumps(chat, ensure_ascii=False), "utf-8")


def test_a_long_file_shows_its_embedding_to_the_end(bars: list[Any], tmp_path: Path) -> None:
    _chat(tmp_path / "in", "long", pipeline.EMBED_SLICE * 2 + 10)
    embedder = _Watching()
    store = EmbeddedStore.open(tmp_path / "spiral.sqlite")
    ingest = Ingestor(store, embedder, Settings(deid_key="t", data_dir=tmp_path))
    embedder.ingestor = ingest

    report = ingest.ingest([tmp_path / "in"], progress=True)

    assert report.files[0].status == "ingested"
    assert embedder.reported and all(embedder.reported), embedder.reported
    assert ingest.on_embedded is None  # the bar is gone with the run
    (files, _texts) = bars[0].tasks
    assert files.completed == files.total == 1


def test_the_files_bar_counts_settled_files(bars: list[Any], tmp_path: Path) -> None:
    for n in range(5):
        _chat(tmp_path / "in", f"c{n}", 3)
    (tmp_path / "in" / "broken.json").write_text("{not json", "utf-8")
    store = EmbeddedStore.open(tmp_path / "spiral.sqlite")
    settings = Settings(deid_key="t", data_dir=tmp_path, ingest_group_texts=4)
    Ingestor(store, HashEmbedder(), settings).ingest([tmp_path / "in"], progress=True)
    _chat(tmp_path / "in", "c5", 3)

    report = Ingestor(store, HashEmbedder(), settings).ingest([tmp_path / "in"], progress=True)

    statuses = sorted(f.status for f in report.files)
    assert statuses == ["failed", "ingested"] + ["unchanged"] * 5
    first, second = bars
    assert first.tasks[0].completed == 6
    assert second.tasks[0].completed == second.tasks[0].total == 7

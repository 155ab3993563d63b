"""A store with the sample corpus ingested through the real packaged model, built once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.runtime import Runtime
from graph.settings import Settings, get_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CORPUS = [EXAMPLES / "docs", EXAMPLES / "notes", EXAMPLES / "transcripts"]


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("corpus-store")
    rt = Runtime(Settings(data_dir=data_dir, store="embedded"))
    try:
        report = rt.ingestor().ingest(CORPUS)
        assert report.failed == 0
    finally:
        rt.close()
    return data_dir


@pytest.fixture
def use_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Point the settings (as the CLI and app read them) at a data dir."""

    def _use(data_dir: Path, **env: str) -> None:
        monkeypatch.setenv("SPIRAL_DATA_DIR", str(data_dir))
        monkeypatch.setenv("SPIRAL_STORE", "embedded")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield _use
    get_settings.cache_clear()

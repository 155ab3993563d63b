"""A store with the sample corpus ingested through the real packaged model, built once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.runtime import Runtime
from graph.settings import Settings, get_settings
from tests.conftest import HashEmbedder

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


def hashed_client(data_dir: Path, **settings: object) -> TestClient:
    """A client of the app on an embedded store in `data_dir`, with the hashed embedder in place
    of the model (for tests where what is found does not matter, only what is answered). Use it
    as a context manager: the app starts on entering. An unhandled error is raised in the test,
    with its traceback. No rate limit unless asked for: one test client stands for many
    clients (tests/api/test_limits.py tests the limit)."""

    class Client(TestClient):
        def __enter__(self) -> TestClient:
            super().__enter__()
            self.app.state.runtime.embedder = HashEmbedder()  # type: ignore[attr-defined]
            return self

    settings.setdefault("rate_limit_per_minute", 0)
    app = create_app(Settings(data_dir=data_dir, store="embedded", **settings))  # type: ignore[arg-type]
    return Client(app)

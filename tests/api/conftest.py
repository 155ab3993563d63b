"""A store with the sample corpus ingested through the real packaged model, built once; clients
of the app that send a test admin key by default (api/auth.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.runtime import Runtime
from graph.model import Role
from graph.settings import Settings, get_settings
from tests.conftest import HashEmbedder

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CORPUS = [EXAMPLES / "docs", EXAMPLES / "notes", EXAMPLES / "transcripts"]
# The settings' admin key every test app gets, and the header test clients send by default.
ADMIN_KEY = "spiral-test-admin-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def api_settings(data_dir: Path, **settings: object) -> Settings:
    """Settings of a test app on an embedded store in `data_dir`, with the test admin key."""
    settings.setdefault("admin_key", ADMIN_KEY)
    return Settings(data_dir=data_dir, store="embedded", **settings)  # type: ignore[arg-type]


def api_client(app: object, **kwargs: object) -> TestClient:
    """A client that sends the test admin key unless a request says otherwise."""
    return TestClient(app, headers=AUTH, **kwargs)  # type: ignore[arg-type]


def issue_key(
    client: TestClient, role: Role = "admin", employee_id: str = "", team: str = ""
) -> tuple[str, str]:
    """An account with this role and a key for it, made through the running app's runtime
    (no request spent): (key, account id)."""
    accounts = client.app.state.runtime.accounts  # type: ignore[attr-defined]
    account = accounts.create("test", f"test {role}", role, team, employee_id)
    key, _ = accounts.issue_key("test", account.id)
    return key, account.id


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
    clients (tests/api/test_limits.py tests the limit). It sends the test admin key."""

    class Client(TestClient):
        def __enter__(self) -> TestClient:
            super().__enter__()
            self.app.state.runtime.embedder = HashEmbedder()  # type: ignore[attr-defined]
            return self

    settings.setdefault("rate_limit_per_minute", 0)
    return Client(create_app(api_settings(data_dir, **settings)), headers=AUTH)

"""Settings come from the environment names DESIGN.md fixes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from graph.settings import Settings


def test_environment_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPIRAL_STORE", "neo4j")
    monkeypatch.setenv("SPIRAL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEO4J_URI", "bolt://db.example:7687")
    monkeypatch.setenv("NEO4J_USER", "spiral")
    monkeypatch.setenv("NEO4J_PASSWORD", "secret-pw")
    monkeypatch.setenv("SPIRAL_EMBEDDING_MODEL", "/models/bge-m3")
    s = Settings()
    assert s.store == "neo4j" and s.data_dir == tmp_path
    assert s.sqlite_path == tmp_path / "spiral.sqlite"
    assert (s.neo4j_uri, s.neo4j_user) == ("bolt://db.example:7687", "spiral")
    assert s.neo4j_password.get_secret_value() == "secret-pw"
    assert "secret-pw" not in repr(s)
    assert s.embedding_model == "/models/bge-m3"


def test_defaults_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SPIRAL_STORE", "NEO4J_URI", "SPIRAL_FUSION"):
        monkeypatch.delenv(name, raising=False)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.store == "embedded" and s.neo4j_uri == "bolt://127.0.0.1:7687"
    monkeypatch.setenv("SPIRAL_STORE", "mysql")
    with pytest.raises(ValidationError, match="store"):
        Settings()

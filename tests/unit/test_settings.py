"""Settings come from the environment names DESIGN.md fixes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

import ingest
from graph.settings import Settings
from ingest.gazetteer import GazetteerError, bundled_gazetteer, gazetteer_file, load_gazetteer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


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
    for name in ("SPIRAL_STORE", "NEO4J_URI", "SPIRAL_FUSION", "SPIRAL_QUERY_ENCODER"):
        monkeypatch.delenv(name, raising=False)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.store == "embedded" and s.neo4j_uri == "bolt://127.0.0.1:7687"
    assert s.query_encoder == "onnx"
    monkeypatch.setenv("SPIRAL_QUERY_ENCODER", "torch")
    assert Settings().query_encoder == "torch"
    monkeypatch.setenv("SPIRAL_QUERY_ENCODER", "tensorrt")
    with pytest.raises(ValidationError, match="query_encoder"):
        Settings()
    monkeypatch.delenv("SPIRAL_QUERY_ENCODER")
    monkeypatch.setenv("SPIRAL_STORE", "mysql")
    with pytest.raises(ValidationError, match="store"):
        Settings()


def test_default_gazetteer_is_the_packaged_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPIRAL_GAZETTEER_PATH", raising=False)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.gazetteer_path is None
    path = gazetteer_file(s.gazetteer_path)
    assert path.is_file() and path == bundled_gazetteer()
    assert path.parent.parent == Path(ingest.__file__).parent  # inside the package
    assert len(load_gazetteer(path)) >= 10
    # examples/gazetteer.json is the same file, for readers and the docs
    assert path.read_bytes() == (EXAMPLES / "gazetteer.json").read_bytes()


def test_empty_gazetteer_setting_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPIRAL_GAZETTEER_PATH", "")
    assert Settings(_env_file=None).gazetteer_path is None  # type: ignore[call-arg]


def test_missing_configured_gazetteer_is_an_error_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.json"
    monkeypatch.setenv("SPIRAL_GAZETTEER_PATH", str(missing))
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.gazetteer_path == missing
    with pytest.raises(GazetteerError) as info:
        gazetteer_file(s.gazetteer_path)
    assert str(info.value) == f"SPIRAL_GAZETTEER_PATH={missing}: no such file"
    with pytest.raises(GazetteerError, match=r"SPIRAL_GAZETTEER_PATH=.*: not a file"):
        gazetteer_file(tmp_path)
    present = tmp_path / "g.json"
    present.write_text('{"entities": []}', encoding="utf-8")
    assert gazetteer_file(present) == present


def test_job_timings_are_settings_and_a_heartbeat_must_beat_staleness(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from api.jobs import MemoryJobBoard, open_jobs

    monkeypatch.setenv("SPIRAL_JOB_TTL_S", "3600")
    monkeypatch.setenv("SPIRAL_JOB_STALE_S", "20")
    monkeypatch.setenv("SPIRAL_JOB_HEARTBEAT_S", "2")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    runner = open_jobs(s)
    assert isinstance(runner.board, MemoryJobBoard)
    assert (runner.board.ttl_s, runner.board.stale_s, runner.heartbeat_s) == (3600, 20, 2)
    monkeypatch.setenv("SPIRAL_JOB_HEARTBEAT_S", "20")
    with pytest.raises(ValueError, match=r"SPIRAL_JOB_HEARTBEAT_S .* must be less than"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_the_ingest_group_follows_the_store_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neo4j's client holds a group's rows twice over: half the group keeps a big ingest
    under 1 GB there; the embedded store keeps the larger group (faster)."""
    monkeypatch.delenv("SPIRAL_INGEST_GROUP_TEXTS", raising=False)
    assert Settings(store="embedded").group_texts == 2048
    assert Settings(store="neo4j").group_texts == 512
    monkeypatch.setenv("SPIRAL_INGEST_GROUP_TEXTS", "300")
    assert Settings(store="neo4j").group_texts == Settings(store="embedded").group_texts == 300
    monkeypatch.setenv("SPIRAL_INGEST_GROUP_TEXTS", "0")
    with pytest.raises(ValidationError, match="ingest_group_texts"):
        Settings()

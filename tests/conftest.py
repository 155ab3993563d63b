"""Shared fixtures. The `store` fixture runs each contract test on both backends; the Neo4j
leg talks to a real server (started here unless NEO4J_URI points at one) and is never skipped."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from graph.embedded import EmbeddedStore
from graph.store import GraphStore
from tests.neo4j_server import LocalNeo4j
from tests.redis_server import INSTALL_HINT, LocalRedis

DIM = 64


class HashEmbedder:
    """Bag-of-words hashed into a small vector: cheap, deterministic, and similar texts get
    similar vectors. For tests where the real model's quality does not matter."""

    dim = DIM

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in re.findall(r"\w", text.lower()) + text.lower().split():
                h = int(hashlib.md5(token.encode()).hexdigest(), 16)
                out[row, h % DIM] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out


@pytest.fixture(scope="session")
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(scope="session")
def neo4j_uri() -> Iterator[str]:
    if os.environ.get("NEO4J_URI"):
        yield os.environ["NEO4J_URI"]
        return
    server = LocalNeo4j()
    uri = server.start()
    yield uri
    server.stop()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis: SPIRAL_TEST_REDIS_URL, or a throw-away redis-server. Fails, never skips,
    when redis-server is missing (`make setup` installs it)."""
    if os.environ.get("SPIRAL_TEST_REDIS_URL"):
        yield os.environ["SPIRAL_TEST_REDIS_URL"]
        return
    if shutil.which("redis-server") is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    server = LocalRedis()
    yield server.start()
    server.stop()


def _neo4j_auth() -> tuple[str, str] | None:
    password = os.environ.get("NEO4J_PASSWORD")
    return (os.environ.get("NEO4J_USER", "neo4j"), password) if password else None


@pytest.fixture(params=["embedded", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """A fresh, empty store of each kind."""
    opened: list[GraphStore] = []
    if request.param == "embedded":
        s: GraphStore = EmbeddedStore.open(tmp_path / "spiral.sqlite")
    else:
        from graph.neo4j_store import Neo4jStore

        s = Neo4jStore.connect(request.getfixturevalue("neo4j_uri"), auth=_neo4j_auth())
        s.clear()
    opened.append(s)
    request.node.opened_stores = opened
    yield s
    for each in opened:
        each.close()


@pytest.fixture
def reopen(request: pytest.FixtureRequest):
    """Close a store and open a new one on the same data (same file / same server)."""

    def _reopen(store: GraphStore) -> GraphStore:
        store.close()
        if isinstance(store, EmbeddedStore):
            fresh: GraphStore = EmbeddedStore.open(store.path)
        else:
            from graph.neo4j_store import Neo4jStore

            fresh = Neo4jStore.connect(request.getfixturevalue("neo4j_uri"), auth=_neo4j_auth())
        request.node.opened_stores.append(fresh)
        return fresh

    return _reopen


_neo4j_outcomes: dict[str, int] = {"passed": 0, "failed": 0, "skipped": 0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and "neo4j" in report.keywords:
        _neo4j_outcomes[report.outcome] = _neo4j_outcomes.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    terminalreporter.write_line(
        "neo4j leg (real server): {passed} passed, {failed} failed, {skipped} skipped".format(
            **_neo4j_outcomes
        )
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI the Neo4j leg must really run: a run where it did not counts as failed."""
    if os.environ.get("CI") and session.testscollected and not _neo4j_outcomes["passed"]:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

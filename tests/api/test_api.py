"""The HTTP API through FastAPI's TestClient, on a real embedded store and the real model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import api_client, api_settings

pytestmark = pytest.mark.model
WAIT = {"wait": 60}


@pytest.fixture
def client(corpus_dir: Path) -> Iterator[TestClient]:
    with api_client(create_app(api_settings(corpus_dir))) as c:
        yield c


def test_health_and_stats(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "store": "embedded"}
    assert client.get("/admin/stats").json()["nodes"]["Message"] > 300


def test_ask(client: TestClient) -> None:
    response = client.post("/assist/ask", json={"query": "退款多久到账", "top_k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "退款多久到账" and len(body["suggestions"]) == 3
    assert all(s["sources"][0]["uri"] for s in body["suggestions"])


@pytest.mark.parametrize("payload", [{"query": ""}, {"query": "x", "top_k": 0}, {}])
def test_ask_rejects_bad_input(client: TestClient, payload: dict[str, object]) -> None:
    assert client.post("/assist/ask", json=payload).status_code == 422


def test_upload_ingest(tmp_path: Path) -> None:
    with api_client(create_app(api_settings(tmp_path))) as c:
        files = {"file": ("policy.md", "# 换货\n签收15天内可以换货。".encode(), "text/markdown")}
        first = c.post("/ingest", files=files, params=WAIT)
        assert first.status_code == 200 and first.json()["status"] == "done"
        assert first.json()["report"]["status"] == "ingested"
        assert c.post("/ingest", files=files, params=WAIT).json()["report"]["status"] == "unchanged"
        empty = c.post("/ingest", files={"file": ("e.txt", b"", "text/plain")}, params=WAIT)
        assert empty.status_code == 200 and empty.json()["status"] == "failed"
        assert "e.txt" in empty.json()["error"]
        hits = c.post("/assist/ask", json={"query": "换货"}).json()["suggestions"]
        assert hits[0]["sources"][0]["uri"] == "upload/_/settings:admin-key/policy.md"


def test_upload_over_the_size_limit_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    settings = api_settings(tmp_path, max_file_mb=0.001)
    with api_client(create_app(settings)) as c:
        big = ("七天无理由退货。" * 200).encode()
        response = c.post("/ingest", files={"file": ("big.md", big, "text/markdown")})
        assert response.status_code == 413 and "big.md" in response.json()["detail"]
        assert c.get("/admin/stats").json() == {"nodes": {}, "links": {}}


def test_misconfigured_gazetteer_is_a_clear_503(tmp_path: Path) -> None:
    settings = api_settings(tmp_path, gazetteer_path=tmp_path / "no.json")
    with api_client(create_app(settings), raise_server_exceptions=False) as c:
        files = {"file": ("policy.md", "# 换货\n签收15天内可以换货。".encode(), "text/markdown")}
        response = c.post("/ingest", files=files)
        assert response.status_code == 503
        assert "SPIRAL_GAZETTEER_PATH" in response.json()["detail"]


def test_ask_with_context_and_feedback(client: TestClient) -> None:
    context = [
        {"role": "customer", "text": "我住院的理赔资料上周都交齐了"},
        {"role": "employee", "text": "好的，我帮您查一下进度"},
        {"role": "customer", "text": "那大概要多久？"},
    ]
    response = client.post("/assist/ask", json={"context": context, "employee": "王丽"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query"] == "那大概要多久？"
    assert len([s for s in body["suggestions"] if not s["opening"]]) >= 3
    # feedback on something that is not an item is refused clearly; unknown ids are 404
    message = body["suggestions"][0]["id"]
    refused = client.post("/assist/feedback", json={"suggestion_id": "nope", "outcome": "worked"})
    assert refused.status_code == 404
    wrong = client.post("/assist/feedback", json={"suggestion_id": message, "outcome": "maybe"})
    assert wrong.status_code == 422


def test_ask_needs_words_or_a_conversation(client: TestClient) -> None:
    response = client.post("/assist/ask", json={"context": [{"role": "employee", "text": "hi"}]})
    assert response.status_code == 422 and "nothing to answer" in response.text

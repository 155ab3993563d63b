"""Every error is RFC 9457 problem+json: type, title, status, detail (one line), instance; a
request that does not fit the schema lists its problems under `errors`; a 500 names no cause."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.problems import BASE, PROBLEM_JSON
from graph.settings import Settings
from tests.api.conftest import hashed_client


def assert_problem(response, status: int, kind: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["type"] == kind and body["status"] == status
    assert body["title"] and isinstance(body["detail"], str) and "\n" not in body["detail"]
    return body


def test_unknown_route_and_id_are_404_problems(tmp_path: Path) -> None:
    with hashed_client(tmp_path) as client:
        route = assert_problem(client.get("/no/such/route"), 404, BASE + "not-found")
        assert route["instance"] == "/no/such/route"
        item = client.post("/assist/feedback", json={"suggestion_id": "nope", "outcome": "used"})
        body = assert_problem(item, 404, BASE + "not-found")
        assert "nope" in body["detail"] and body["instance"] == "/assist/feedback"


def test_validation_errors_are_listed(tmp_path: Path) -> None:
    with hashed_client(tmp_path) as client:
        response = client.post("/assist/ask", json={"query": "x", "top_k": 0, "channel": 5})
        body = assert_problem(response, 422, BASE + "validation")
        assert {tuple(e["loc"]) for e in body["errors"]} == {
            ("body", "top_k"),
            ("body", "channel"),
        }
        assert all(set(e) == {"loc", "msg", "type"} for e in body["errors"])
        assert body["detail"].startswith("body.") and "(and 1 more)" in body["detail"]


def test_domain_errors_keep_their_one_line_detail(tmp_path: Path) -> None:
    with hashed_client(tmp_path) as client:
        unsafe = client.post("/ingest", files={"file": ("..", b"# x", "text/plain")})
        body = assert_problem(unsafe, 422, BASE + "unusable-input")
        assert "'..'" in body["detail"] and "names no file" in body["detail"]
        # a file that cannot be read is found out by its job, which says why in one line
        empty = client.post(
            "/ingest", files={"file": ("e.txt", b"", "text/plain")}, params={"wait": 60}
        )
        job = empty.json()
        assert empty.status_code == 200 and job["status"] == "failed", empty.text
        assert "e.txt" in job["error"] and "\n" not in job["error"]
        bad_json = client.post(
            "/assist/ask", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert_problem(bad_json, 422, BASE + "validation")


def test_an_unexpected_error_is_a_500_that_names_no_cause(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, store="embedded"))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret connection string bolt://admin:hunter2@db")

    with TestClient(app, raise_server_exceptions=False) as client:
        body = assert_problem(client.get("/boom"), 500, BASE + "internal")
        assert "hunter2" not in str(body) and "Traceback" not in str(body)


def test_openapi_documents_errors_as_problem_json(tmp_path: Path) -> None:
    with hashed_client(tmp_path) as client:
        schema = client.get("/openapi.json").json()
    responses = schema["paths"]["/assist/ask"]["post"]["responses"]
    for code in ("413", "422", "429", "503"):
        assert list(responses[code]["content"]) == [PROBLEM_JSON], code
    assert "Retry-After" in responses["429"]["headers"]
    problem = schema["components"]["schemas"]["Problem"]
    assert {"title", "status", "detail"} <= set(problem["required"])
    assert {"type", "instance", "errors"} <= set(problem["properties"])

"""The authorization matrix: every route the app serves × every role, generated from the app's
own routes, so a new route without a row here fails the first test and cannot be forgotten.

A role a route allows gets anything but 401/403 for a request with placeholder ids and an empty
body (404, 422 or 200: it got past access control); a role it does not allow gets a 403
problem; no key gets a 401. What each role may see once in is tested in test_seci_routes.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from graph.model import ROLES
from tests.api.conftest import hashed_client, issue_key

ALL = frozenset(ROLES)
OPEN: frozenset[str] = frozenset()  # no key needed
ADMIN = frozenset({"admin"})
CURATORS = frozenset({"knowledge_manager", "admin"})
TRAINERS = frozenset({"trainer", "admin"})
HANDLERS = frozenset({"employee", "knowledge_manager", "admin"})
READERS = frozenset({"knowledge_manager", "trainer", "admin"})

EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/healthz"): OPEN,
    ("GET", "/readyz"): OPEN,
    ("GET", "/health"): OPEN,
    ("GET", "/"): OPEN,  # the console's page: no data, it asks for the key
    ("GET", "/me"): ALL,
    ("POST", "/assist/ask"): ALL,
    ("POST", "/assist/feedback"): ALL,
    ("POST", "/conversations/wecom"): ADMIN,
    ("GET", "/conversations"): HANDLERS,
    ("GET", "/conversations/{conversation_id}"): HANDLERS,
    ("POST", "/conversations/{conversation_id}/messages"): HANDLERS,
    ("POST", "/conversations/{conversation_id}/outcome"): HANDLERS,
    ("GET", "/push/stream"): ALL,
    ("GET", "/items"): ALL,
    ("GET", "/items/{item_id}"): ALL,
    ("GET", "/curation/queue"): CURATORS,
    ("POST", "/curation/proposals/{proposal_id}/{decision}"): CURATORS,
    ("POST", "/curation/items/{item_id}/verify"): CURATORS,
    ("PATCH", "/curation/items/{item_id}"): CURATORS,
    ("PUT", "/curation/items/{item_id}/owner"): CURATORS,
    ("POST", "/curation/merge"): CURATORS,
    ("POST", "/curation/items/{item_id}/split"): CURATORS,
    ("POST", "/curation/items/{item_id}/{decision}"): CURATORS,
    ("POST", "/curation/links"): CURATORS,
    ("POST", "/curation/events/{seq}/undo"): CURATORS,
    ("POST", "/curation/externalize"): CURATORS,
    ("GET", "/learning/paths"): TRAINERS,
    ("POST", "/learning/paths"): TRAINERS,
    ("GET", "/learning/suggest"): TRAINERS,
    ("GET", "/learning/people"): TRAINERS,
    ("POST", "/learning/paths/{path_id}/assignees"): TRAINERS,
    ("GET", "/learning/progress/{employee}"): ALL,
    ("GET", "/learning/due/{employee}"): ALL,
    ("GET", "/learning/gaps/{employee}"): TRAINERS,
    ("POST", "/learning/reviews"): ALL,
    ("POST", "/learning/mentoring"): TRAINERS,
    ("GET", "/experts"): ALL,
    ("GET", "/experts/exemplars"): ALL,
    ("GET", "/metrics"): READERS,
    ("POST", "/ingest"): CURATORS,
    ("GET", "/ingest/jobs"): CURATORS,
    ("GET", "/ingest/jobs/{job_id}"): CURATORS,
    ("GET", "/graph/neighbourhood/{node_id}"): ALL,
    ("GET", "/admin/stats"): ADMIN,
    ("POST", "/admin/users"): ADMIN,
    ("GET", "/admin/users"): ADMIN,
    ("GET", "/admin/users/{account_id}"): ADMIN,
    ("PATCH", "/admin/users/{account_id}"): ADMIN,
    ("POST", "/admin/users/{account_id}/keys"): ADMIN,
    ("GET", "/admin/users/{account_id}/keys"): ADMIN,
    ("DELETE", "/admin/keys/{key_id}"): ADMIN,
    ("GET", "/admin/teams"): ADMIN,
    ("POST", "/admin/handover"): ADMIN,
    ("GET", "/admin/events"): ADMIN,
    ("POST", "/admin/events/{seq}/undo"): ADMIN,
    ("POST", "/webhooks"): CURATORS,
    ("GET", "/webhooks"): CURATORS,
    ("DELETE", "/webhooks/{hook_id}"): CURATORS,
    ("GET", "/webhooks/dead-letters"): CURATORS,
    ("POST", "/webhooks/dead-letters/{delivery_id}/replay"): CURATORS,
}
# Streams stay open while allowed: only refusals are checked on them.
STREAMS = {("GET", "/push/stream")}
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def served_routes(app: object) -> set[tuple[str, str]]:
    """(method, path) of every route, walking included routers (FastAPI resolves them lazily,
    so `app.routes` lists them as wrappers), with the routes left out of the schema."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[object]) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            elif isinstance(route, APIRoute) and route.path not in DOCS:
                found.update((m, route.path) for m in route.methods - {"HEAD"})

    walk(app.routes)  # type: ignore[attr-defined]
    return found


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with hashed_client(tmp_path_factory.mktemp("matrix")) as c:
        yield c


@pytest.fixture(scope="module")
def keys(client: TestClient) -> dict[str, str]:
    return {role: issue_key(client, role, team="north")[0] for role in ROLES}


def test_every_route_has_a_row_and_every_row_a_route(client: TestClient) -> None:
    served = served_routes(client.app)
    assert served - EXPECTED.keys() == set(), "new routes: say who may use them in EXPECTED"
    assert EXPECTED.keys() - served == set(), "rows for routes that are gone"


def _placeholder(path: str) -> str:
    path = re.sub(r"\{seq\}", "999999", path)
    path = path.replace("{decision}", "approve")
    return re.sub(r"\{[^}]+\}", "nothing-here", path)


@pytest.mark.parametrize("method,path", sorted(EXPECTED))
def test_each_role_is_let_in_or_refused(
    client: TestClient, keys: dict[str, str], method: str, path: str
) -> None:
    allowed = EXPECTED[(method, path)]
    url = _placeholder(path)
    body = {"json": {}} if method in ("POST", "PATCH", "PUT") else {}
    anonymous = client.request(method, url, headers={"Authorization": ""}, **body)
    if not allowed:
        assert anonymous.status_code == 200, anonymous.text
        return
    assert anonymous.status_code == 401, (method, path, anonymous.text)
    for role, key in keys.items():
        if (method, path) in STREAMS and role in allowed:
            continue
        response = client.request(method, url, headers={"Authorization": f"Bearer {key}"}, **body)
        if role in allowed:
            assert response.status_code not in (401, 403), (role, method, path, response.text)
        else:
            assert response.status_code == 403, (role, method, path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert role in response.json()["detail"]


def test_no_route_is_open_but_the_probes_and_the_console_page() -> None:
    assert {p for (_, p), roles in EXPECTED.items() if not roles} == {
        "/healthz",
        "/readyz",
        "/health",
        "/",
    }


def test_the_console_serves_code_not_data(client: TestClient) -> None:
    """The page and its assets need no key; everything they show comes from the API, which
    needs one. The page allows only its own scripts (CSP)."""
    page = client.get("/", headers={"Authorization": ""})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = client.get("/console/app.js", headers={"Authorization": ""})
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert client.get("/me", headers={"Authorization": ""}).status_code == 401
    missing = client.get("/console/nope.js", headers={"Authorization": ""})
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")

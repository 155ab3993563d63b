"""Access control (api/auth.py, api/accounts.py, api/routes/admin.py): every route but the
probes needs a key; each router lets in only its roles; an employee asks only as themselves;
admin actions are in the event log with who did them."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.auth import ADMIN_KEY_ACCOUNT
from api.problems import BASE, PROBLEM_JSON
from graph.changes import CreateNode
from graph.model import ItemStatus, KnowledgeItem
from graph.settings import get_settings
from tests.api.conftest import ADMIN_KEY, hashed_client, issue_key

OPEN = {"/healthz", "/readyz", "/health", "/docs", "/docs/oauth2-redirect", "/redoc"}
CHATS = [
    {
        "id": "c1",
        "employee": "王丽",
        "employee_id": "wang.li",
        "customer": "李先生",
        "customer_id": "wm-li",
        "outcome": "converted",
        "messages": [
            {"role": "customer", "text": "太贵了，别家便宜"},
            {"role": "employee", "text": "我们的价格包含两年保修和上门安装"},
        ],
    },
    {
        "id": "c2",
        "employee": "张强",
        "employee_id": "zhang.qiang",
        "customer": "赵女士",
        "customer_id": "wm-zhao",
        "outcome": "lost",
        "messages": [
            {"role": "customer", "text": "退款多久到账"},
            {"role": "employee", "text": "三到五个工作日"},
        ],
    },
]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with hashed_client(tmp_path_factory.mktemp("auth")) as c:
        files = {"file": ("chats.json", json.dumps(CHATS).encode(), "application/json")}
        job = c.post("/ingest", files=files, params={"wait": 60}).json()
        assert job["status"] == "done" and job["report"]["status"] == "ingested"
        yield c


def assert_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    return response.json()  # type: ignore[no-any-return]


def test_no_key_is_a_401_on_every_route_but_the_probes(client: TestClient) -> None:
    # Every route the app serves, as its schema lists them (included routers are resolved
    # lazily, so app.routes does not show theirs).
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    guarded = {p: list(methods) for p, methods in paths.items() if p not in OPEN}
    assert {p.split("/")[1] for p in guarded} >= {"assist", "ingest", "graph", "admin"}
    for route, methods in guarded.items():
        path = re.sub(r"\{[^}]+\}", "x", route)
        for method in methods:
            for headers in ({"Authorization": ""}, bearer("spk_0123456789ab_nope"), bearer("x")):
                response = client.request(method, path, headers=headers)
                body = assert_problem(response, 401)
                assert response.headers["www-authenticate"] == "Bearer", (method, path)
                assert body["type"] == BASE + "unauthorized"
    for path in ("/healthz", "/readyz", "/health"):
        assert client.get(path, headers={"Authorization": ""}).status_code == 200, path


def test_the_admin_key_from_settings_works(client: TestClient) -> None:
    assert client.get("/admin/users", headers=bearer(ADMIN_KEY)).status_code == 200
    assert_problem(client.get("/admin/users", headers=bearer(ADMIN_KEY + "x")), 401)


def test_roles_are_enforced_per_router(client: TestClient) -> None:
    keys = {role: issue_key(client, role)[0] for role in ("employee", "knowledge_manager")}
    keys["trainer"] = issue_key(client, "trainer")[0]
    files = {"file": ("n.md", "# 换货\n签收15天内可以换货。".encode(), "text/markdown")}
    for role in ("employee", "trainer"):
        refused = client.post(
            "/ingest", files=files, params={"wait": 60}, headers=bearer(keys[role])
        )
        body = assert_problem(refused, 403)
        assert body["type"] == BASE + "forbidden" and role in body["detail"]
    ok = client.post(
        "/ingest", files=files, params={"wait": 60}, headers=bearer(keys["knowledge_manager"])
    )
    assert ok.status_code == 200 and ok.json()["status"] == "done", ok.text
    for role, key in keys.items():
        for path in ("/admin/users", "/admin/stats", "/admin/teams"):
            assert_problem(client.get(path, headers=bearer(key)), 403)
        assert client.get("/graph/neighbourhood/nope", headers=bearer(key)).status_code == 404
        asked = client.post("/assist/ask", json={"query": "退款"}, headers=bearer(key))
        assert asked.status_code == 200, (role, asked.text)


def test_an_employee_asks_only_as_themselves(client: TestClient) -> None:
    me, _ = issue_key(client, "employee", employee_id="wang.li")
    nobody, _ = issue_key(client, "employee")  # an employee account not linked to a person

    def ask(key: str, **fields: str) -> int:
        body = {"query": "太贵了", **fields}
        return client.post("/assist/ask", json=body, headers=bearer(key)).status_code

    assert ask(me) == 200
    assert ask(me, employee="王丽") == 200 and ask(me, employee="wang.li") == 200
    assert ask(me, employee="张强") == 403 and ask(me, employee="zhang.qiang") == 403
    assert ask(me, customer="wm-li") == 200  # their customer
    assert ask(me, customer="wm-zhao") == 403  # a colleague's
    assert ask(me, customer="wm-new") == 200  # nobody's yet: nothing to see
    assert ask(nobody, employee="王丽") == 403 and ask(nobody, customer="wm-li") == 403
    assert ask(ADMIN_KEY, employee="张强", customer="wm-zhao") == 200  # other roles: anyone
    feedback = {"suggestion_id": "nope", "outcome": "used", "employee": "张强"}
    refused = client.post("/assist/feedback", json=feedback, headers=bearer(me))
    assert_problem(refused, 403)


def test_employee_feedback_is_logged_as_that_employee(client: TestClient) -> None:
    me, _ = issue_key(client, "employee", employee_id="wang.li")
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    item = KnowledgeItem(id="item-auth", text="价格包含两年保修", status=ItemStatus.APPROVED)
    store.apply([CreateNode(node=item)], "test", "item.create")
    body = {"suggestion_id": item.id, "outcome": "used"}
    response = client.post("/assist/feedback", json=body, headers=bearer(me))
    assert response.status_code == 200, response.text
    event = store.events(since=response.json()["seq"] - 1)[0]
    wang = client.app.state.runtime.accounts.resolve(me).employee_id  # type: ignore[attr-defined]
    assert event.actor == f"employee:{wang}" and wang.startswith("employee:")


def test_admin_routes_and_their_audit_trail(client: TestClient) -> None:
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    since = store.events()[-1].seq if store.events() else 0
    created = client.post(
        "/admin/users", json={"name": "陈静", "role": "employee", "team": "north"}
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["role"] == "employee" and user["created_by"] == ADMIN_KEY_ACCOUNT
    assert user["id"] in [u["id"] for u in client.get("/admin/users").json()]
    assert client.get(f"/admin/users/{user['id']}").json() == user
    issued = client.post(f"/admin/users/{user['id']}/keys")
    assert issued.status_code == 201
    key = issued.json()["key"]
    assert key.startswith(f"spk_{issued.json()['prefix']}_")
    assert client.post("/assist/ask", json={"query": "hi"}, headers=bearer(key)).status_code == 200
    listed = client.get(f"/admin/users/{user['id']}/keys")
    assert [k["id"] for k in listed.json()] == [issued.json()["id"]]
    assert key.split("_", 2)[2] not in listed.text and "key" not in listed.json()[0]
    assert "secret_hash" not in listed.json()[0]
    patched = client.patch(f"/admin/users/{user['id']}", json={"role": "trainer", "team": "south"})
    assert (patched.json()["role"], patched.json()["team"]) == ("trainer", "south")
    assert_problem(client.get("/admin/users", headers=bearer(key)), 403)  # seen at once
    teams = {t["team"]: [m["id"] for m in t["members"]] for t in client.get("/admin/teams").json()}
    assert user["id"] in teams["south"]
    revoked = client.delete(f"/admin/keys/{issued.json()['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert_problem(client.post("/assist/ask", json={"query": "hi"}, headers=bearer(key)), 401)
    assert client.delete(f"/admin/keys/{issued.json()['id']}").json()["revoked"] is True
    assert_problem(client.delete("/admin/keys/apikey:none"), 404)
    assert_problem(client.patch("/admin/users/account:none", json={"team": "x"}), 404)
    bad = client.post("/admin/users", json={"name": "x", "employee_id": "no-such-person"})
    assert_problem(bad, 422)
    log = [(e.actor, e.action) for e in store.events(since=since)]
    assert log == [
        (ADMIN_KEY_ACCOUNT, "account.create"),
        (ADMIN_KEY_ACCOUNT, "key.issue"),
        (ADMIN_KEY_ACCOUNT, "account.update"),
        (ADMIN_KEY_ACCOUNT, "key.revoke"),
    ]
    for event in store.events(since=since):
        assert key not in json.dumps(event.model_dump(mode="json"), ensure_ascii=False)


def test_a_disabled_account_is_refused(client: TestClient) -> None:
    key, account = issue_key(client, "knowledge_manager")
    assert client.post("/assist/ask", json={"query": "hi"}, headers=bearer(key)).status_code == 200
    assert client.patch(f"/admin/users/{account}", json={"disabled": True}).status_code == 200
    assert_problem(client.post("/assist/ask", json={"query": "hi"}, headers=bearer(key)), 401)
    assert_problem(client.post(f"/admin/users/{account}/keys"), 422)


def test_accounts_are_not_part_of_the_graph_shown(client: TestClient) -> None:
    _, account = issue_key(client, "admin")
    assert_problem(client.get(f"/graph/neighbourhood/{account}"), 404)


def test_dev_mode_needs_no_key(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dev = hashed_client(tmp_path, dev_mode=True, admin_key="")
    with caplog.at_level(logging.WARNING, "spiral.api"), dev as client:
        del client.headers["Authorization"]
        assert client.get("/admin/users").status_code == 200
        assert client.post("/assist/ask", json={"query": "hi"}).status_code == 200
        # a key sent is still checked, so roles can be tried out
        employee, _ = issue_key(client, "employee")
        assert_problem(client.get("/admin/users", headers=bearer(employee)), 403)
        assert_problem(client.get("/admin/users", headers=bearer("spk_wrong")), 401)
    assert "DEV MODE" in caplog.text


# --- spiral serve --------------------------------------------------------------------------


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[dict[str, object]]]:
    """`spiral serve` with uvicorn.run recorded instead of run, in a clean environment."""
    import uvicorn

    runs: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: runs.append(kwargs))
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.delenv("SPIRAL_ADMIN_KEY", raising=False)
    monkeypatch.setenv("SPIRAL_DEV_MODE", "false")  # restored after: serve --dev sets it
    get_settings.cache_clear()
    yield runs
    get_settings.cache_clear()


def test_serve_refuses_to_start_without_an_admin_key(serve: list[dict[str, object]]) -> None:
    from api.cli import app

    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2 and not serve
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SPIRAL_ADMIN_KEY" in lines[0] and "--dev" in lines[0]


def test_serve_starts_with_an_admin_key(
    serve: list[dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.cli import app

    monkeypatch.setenv("SPIRAL_ADMIN_KEY", "a-long-random-secret")
    result = CliRunner().invoke(app, ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert serve == [{"factory": True, "host": "127.0.0.1", "port": 8123}]


def test_serve_dev_warns_loudly(serve: list[dict[str, object]]) -> None:
    from api.cli import app

    result = CliRunner().invoke(app, ["serve", "--dev"])
    assert result.exit_code == 0, result.output
    assert "WARNING" in result.stderr and "ADMIN" in result.stderr
    assert len(serve) == 1 and get_settings().dev_mode  # the app it starts reads it

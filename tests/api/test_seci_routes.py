"""The SECI routers (items, curation, learning, experts, metrics, admin handover and events):
each does its operation as the account (the event log names it), and a team scopes items and
people, so nothing leaks across teams or employees."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from graph.changes import CreateNode
from graph.model import ItemStatus, KnowledgeItem, LinkType
from tests.api.conftest import ADMIN_KEY, hashed_client, issue_key
from tests.api.test_auth import CHATS, bearer

ITEMS = {
    "item-shared": ("", ItemStatus.APPROVED, "退款三到五个工作日到账"),
    "item-north": ("north", ItemStatus.APPROVED, "价格包含两年保修和上门安装"),
    "item-north-draft": ("north", ItemStatus.DRAFT, "价格包含两年保修"),
    "item-south": ("south", ItemStatus.APPROVED, "南区门店周末营业到九点"),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with hashed_client(tmp_path_factory.mktemp("seci-routes")) as c:
        files = {"file": ("chats.json", json.dumps(CHATS).encode(), "application/json")}
        done = c.post("/ingest", files=files, params={"wait": 60})
        assert done.status_code in (200, 201), done.text
        store = c.app.state.runtime.store  # type: ignore[attr-defined]
        for item_id, (team, status, text) in ITEMS.items():
            item = KnowledgeItem(id=item_id, title=text[:8], text=text, status=status, team=team)
            store.apply([CreateNode(node=item)], "test", "item.create")
        yield c


@pytest.fixture(scope="module")
def keys(client: TestClient) -> dict[str, str]:
    """north: 王丽 (wang.li) and her curator and trainer; south: 张强 and theirs."""
    made = {
        "wang": issue_key(client, "employee", employee_id="wang.li", team="north"),
        "zhang": issue_key(client, "employee", employee_id="zhang.qiang", team="south"),
        "km_north": issue_key(client, "knowledge_manager", team="north"),
        "km_south": issue_key(client, "knowledge_manager", team="south"),
        "trainer_north": issue_key(client, "trainer", team="north"),
        "trainer_south": issue_key(client, "trainer", team="south"),
    }
    return {name: key for name, (key, _) in made.items()}


def get(client: TestClient, key: str, path: str, **params: object):  # type: ignore[no-untyped-def]
    return client.get(path, headers=bearer(key), params=params)


def post(client: TestClient, key: str, path: str, body: object):  # type: ignore[no-untyped-def]
    return client.post(path, headers=bearer(key), json=body)


def item_ids(client: TestClient, key: str, **params: object) -> set[str]:
    response = get(client, key, "/items", **params)
    assert response.status_code == 200, response.text
    return {i["id"] for i in response.json()["items"]}


def actor_of(client: TestClient, seq: int) -> str:
    found = get(client, ADMIN_KEY, "/admin/events", since=seq - 1, limit=1).json()
    return found[0]["actor"]  # type: ignore[no-any-return]


def account_of(client: TestClient, key: str) -> str:
    return client.app.state.runtime.accounts.resolve(key).account_id  # type: ignore[attr-defined,no-any-return]


def test_a_team_sees_its_items_and_everyones_and_employees_only_approved(
    client: TestClient, keys: dict[str, str]
) -> None:
    ours = {"item-shared", "item-north", "item-north-draft"}
    assert item_ids(client, keys["km_north"]) == ours
    assert item_ids(client, keys["km_south"]) == {"item-shared", "item-south"}
    assert item_ids(client, keys["wang"]) == {"item-shared", "item-north"}
    assert item_ids(client, keys["wang"], status="draft") == {"item-shared", "item-north"}
    assert item_ids(client, ADMIN_KEY) >= set(ITEMS)
    assert get(client, keys["km_north"], "/items/item-north").json()["team"] == "north"
    for who, hidden in (("km_north", "item-south"), ("wang", "item-north-draft")):
        refused = get(client, keys[who], f"/items/{hidden}")
        assert refused.status_code == 404, refused.text  # as if it did not exist: no leak
    page = get(client, ADMIN_KEY, "/items", limit=1).json()
    assert len(page["items"]) == 1 and page["next_cursor"]


def test_items_are_found_by_their_words_within_what_each_account_may_see(
    client: TestClient, keys: dict[str, str]
) -> None:
    def found(key: str, **params: object) -> list[str]:
        response = get(client, key, "/items", **params)
        assert response.status_code == 200, response.text
        assert response.json()["next_cursor"] is None  # a search is one page
        return [i["id"] for i in response.json()["items"]]

    north = found(keys["km_north"], q="价格包含两年保修")
    assert set(north) <= {"item-shared", "item-north", "item-north-draft"}
    assert {"item-north", "item-north-draft"} <= set(north)
    assert north[0] in ("item-north", "item-north-draft")  # before the unrelated shared one
    assert "item-south" not in found(keys["km_north"], q="南区门店周末营业")
    assert found(keys["km_south"], q="南区门店周末营业")[0] == "item-south"
    assert "item-north-draft" not in found(keys["wang"], q="价格包含两年保修")  # approved only
    assert found(keys["km_north"], q="价格包含两年保修", status="draft") == ["item-north-draft"]
    assert found(keys["km_north"], q="价格包含两年保修", limit=1) == north[:1]
    assert "item-south" in found(ADMIN_KEY, q="南区门店周末营业")
    for bad in ({"q": ""}, {"q": "价格", "cursor": "abc"}, {"q": "x" * 501}):
        refused = get(client, keys["km_north"], "/items", **bad)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")


def test_curators_decide_on_their_teams_items_as_themselves_and_undo(
    client: TestClient, keys: dict[str, str]
) -> None:
    km = keys["km_north"]
    refused = post(client, km, "/curation/items/item-south/retire", {"reason": "not ours"})
    assert refused.status_code == 404
    queue = get(client, km, "/curation/queue").json()
    assert {i for p in queue for i in p["ids"]} <= {"item-shared", "item-north", "item-north-draft"}
    draft = next(p for p in queue if p["ids"] == ["item-north-draft"])
    assert draft["kind"] == "approve"
    theirs = get(client, keys["km_south"], "/curation/queue").json()
    assert all("item-north-draft" not in p["ids"] for p in theirs)

    accepted = post(client, km, f"/curation/proposals/{draft['id']}/accept", {"reason": "ok"})
    assert accepted.status_code == 200, accepted.text
    event = accepted.json()
    assert event["action"] == "item.approve" and event["reason"] == "ok"
    wang_sees = item_ids(client, keys["wang"])
    assert "item-north-draft" in wang_sees  # approved now: employees see it

    undone = post(client, km, f"/curation/events/{event['seq']}/undo", {"reason": "too soon"})
    assert undone.status_code == 200, undone.text
    assert "item-north-draft" not in item_ids(client, keys["wang"])
    assert actor_of(client, undone.json()["seq"]) == actor_of(client, event["seq"])

    edited = client.patch(
        "/curation/items/item-north",
        headers=bearer(km),
        json={"text": "价格包含三年保修和上门安装", "reason": "policy changed"},
    )
    assert edited.status_code == 200, edited.text
    detail = get(client, km, "/items/item-north").json()
    assert detail["text"] == "价格包含三年保修和上门安装"
    assert detail["history"][-1]["action"] == "item.edit"
    assert detail["history"][-1]["reason"] == "policy changed"
    empty = client.patch("/curation/items/item-north", headers=bearer(km), json={"reason": "x"})
    assert empty.status_code == 422

    linked = post(
        client,
        km,
        "/curation/links",
        {"src": "item-north", "dst": "item-shared", "type": "complements"},
    )
    assert linked.status_code == 200, linked.text
    links = get(client, km, "/items/item-north").json()["links"]
    assert {(x["type"], x["id"]) for x in links} >= {(LinkType.COMPLEMENTS.value, "item-shared")}
    cross = post(client, km, "/curation/links", {"src": "item-north", "dst": "item-south"})
    assert cross.status_code == 404

    verified = post(client, km, "/curation/items/item-north/verify", {"days": 30})
    assert verified.status_code == 200 and verified.json()["action"] == "item.verify"
    moved = client.put(
        "/curation/items/item-north/owner",
        headers=bearer(km),
        json={"owner": "wang.li", "team": "south"},
    )
    assert moved.status_code == 403  # a team's curator keeps items in their team


def test_merge_and_its_undo_through_the_api(client: TestClient, keys: dict[str, str]) -> None:
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    for item_id in ("merge-a", "merge-b"):
        node = KnowledgeItem(id=item_id, text="换货需在签收15天内", status=ItemStatus.DRAFT)
        store.apply([CreateNode(node=node)], "test", "item.create")
    km = keys["km_north"]
    merged = post(client, km, "/curation/merge", {"keep": "merge-a", "other": "merge-b"})
    assert merged.status_code == 200, merged.text
    assert get(client, km, "/items/merge-b").json()["status"] == "retired"
    seq = merged.json()["seq"]
    assert post(client, km, f"/curation/events/{seq}/undo", {}).status_code == 200
    assert get(client, km, "/items/merge-b").json()["status"] == "draft"
    again = post(client, km, "/curation/merge", {"keep": "merge-a", "other": "merge-a"})
    assert again.status_code == 422


def test_access_changes_are_not_undone_and_curators_undo_only_curation(
    client: TestClient, keys: dict[str, str]
) -> None:
    _, account = issue_key(client, "employee")
    created = get(client, ADMIN_KEY, "/admin/events", action="account.create").json()
    seq = next(e["seq"] for e in created if account in e["ids"])
    refused = post(client, keys["km_north"], f"/curation/events/{seq}/undo", {})
    assert refused.status_code == 403 and "not a curation decision" in refused.json()["detail"]
    assert f"POST /admin/events/{seq}/undo" in refused.json()["detail"]
    key = client.post(f"/admin/users/{account}/keys").json()
    revoked = client.delete(f"/admin/keys/{key['id']}")
    assert revoked.status_code == 200
    revoke = get(client, ADMIN_KEY, "/admin/events", action="key.revoke").json()[-1]
    back = post(client, ADMIN_KEY, f"/admin/events/{revoke['seq']}/undo", {})
    assert back.status_code == 409 and "forward only" in back.json()["detail"]
    assert client.get("/items", headers=bearer(key["key"])).status_code == 401


def test_learning_is_scoped_to_the_person_and_the_team(
    client: TestClient, keys: dict[str, str]
) -> None:
    trainer = keys["trainer_north"]
    assert get(client, trainer, "/learning/progress/wang.li").status_code == 200
    assert get(client, trainer, "/learning/progress/zhang.qiang").status_code == 404
    assert get(client, keys["wang"], "/learning/progress/zhang.qiang").status_code == 403
    assert get(client, keys["wang"], "/learning/due/王丽").status_code == 200

    south_item = post(client, trainer, "/learning/paths", {"title": "x", "items": ["item-south"]})
    assert south_item.status_code == 404
    built = post(client, trainer, "/learning/paths", {"title": "价格异议", "items": ["item-north"]})
    assert built.status_code == 201, built.text
    path = built.json()
    assert path["items"] == ["item-north"] and path["titles"]
    to_south = post(
        client, trainer, f"/learning/paths/{path['id']}/assignees", {"employees": ["zhang.qiang"]}
    )
    assert to_south.status_code == 404
    team_south = post(
        client, trainer, f"/learning/paths/{path['id']}/assignees", {"employees": ["team:south"]}
    )
    assert team_south.status_code == 403
    assigned = post(
        client, trainer, f"/learning/paths/{path['id']}/assignees", {"employees": ["wang.li"]}
    )
    assert assigned.status_code == 200, assigned.text
    assert len(assigned.json()["assignees"]) == 1

    due = get(client, keys["wang"], "/learning/due/wang.li").json()
    assert [c["item"] for c in due] == ["item-north"]
    reviewed = post(
        client, keys["wang"], "/learning/reviews", {"item": "item-north", "rating": "good"}
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["reviews"] == 1 and reviewed.json()["due"]
    for_other = post(
        client,
        keys["wang"],
        "/learning/reviews",
        {"employee": "zhang.qiang", "item": "item-north", "rating": "good"},
    )
    assert for_other.status_code == 403
    reviews = get(client, ADMIN_KEY, "/admin/events", action="learn.review").json()
    assert reviews[-1]["actor"] == account_of(client, keys["wang"])

    progress = get(client, trainer, "/learning/progress/wang.li").json()
    assert progress["paths"][0]["items"][0]["reviews"] == 1
    mentor = post(
        client,
        trainer,
        "/learning/mentoring",
        {"mentor": "wang.li", "learner": "zhang.qiang", "topic": "价格"},
    )
    assert mentor.status_code == 404  # the learner is another team's
    assert get(client, keys["trainer_south"], "/learning/gaps/wang.li").status_code == 404
    assert get(client, trainer, "/learning/gaps/wang.li").status_code == 200


def test_experts_metrics_and_handover(client: TestClient, keys: dict[str, str]) -> None:
    everyone = get(client, ADMIN_KEY, "/experts").json()
    assert {e["name"] for e in everyone["experts"]} == {"王丽", "张强"}
    north = get(client, keys["km_north"], "/experts").json()
    assert north["experts"] and all(e["name"] != "张强" for e in north["experts"])
    assert any(e["name"] == "王丽" for e in north["experts"])

    assert get(client, keys["wang"], "/metrics").status_code == 403
    found = get(client, keys["trainer_north"], "/metrics")
    assert found.status_code == 200 and "talk_track" in found.json()["items"]

    done = post(
        client, ADMIN_KEY, "/admin/handover", {"from_employee": "张强", "to_employee": "王丽"}
    )
    assert done.status_code == 200, done.text
    assert done.json()["customers"]
    back = post(client, ADMIN_KEY, f"/admin/events/{done.json()['event']}/undo", {"reason": "x"})
    assert back.status_code == 200, back.text


def test_metrics_count_a_teams_items_and_everyones_shared_ones(
    client: TestClient, keys: dict[str, str]
) -> None:
    """A team's curator or trainer sees the spiral of their team's items and the shared ones:
    another team's items, their events and contradictions are not counted."""
    from seci.items_view import items_page

    def total(found: dict) -> int:  # type: ignore[type-arg]
        return sum(sum(statuses.values()) for statuses in found["items"].values())

    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    items = items_page(store, limit=100_000)
    everyone = get(client, ADMIN_KEY, "/metrics").json()
    north = get(client, keys["km_north"], "/metrics").json()
    south = get(client, keys["trainer_south"], "/metrics").json()
    assert total(everyone) == len(items)
    assert total(north) == sum(i.team in ("", "north") for i in items) < len(items)
    assert total(south) == sum(i.team in ("", "south") for i in items) < len(items)
    # item-south's creation (a combination event) is south's and everyone's, not north's
    assert north["stages"]["combination"] < everyone["stages"]["combination"]
    assert south["stages"]["combination"] < everyone["stages"]["combination"]


def test_webhook_changes_are_in_the_log_without_the_secret(
    client: TestClient, keys: dict[str, str]
) -> None:
    made = post(
        client, keys["km_north"], "/webhooks", {"team": "north", "url": "http://127.0.0.1:9/x"}
    )
    assert made.status_code == 201, made.text
    hook = made.json()
    logged = get(client, ADMIN_KEY, "/admin/events", action="webhook.register").json()[-1]
    assert logged["actor"] == account_of(client, keys["km_north"])
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    stored = store.events(since=logged["seq"] - 1, limit=1)[0]
    assert stored.after["url"] == "http://127.0.0.1:9/x"
    assert hook["secret"] not in json.dumps(stored.model_dump())
    gone = client.delete(f"/webhooks/{hook['id']}", headers=bearer(keys["km_north"]))
    assert gone.status_code == 200
    assert get(client, ADMIN_KEY, "/admin/events", action="webhook.delete").json()


def test_trainers_list_their_teams_people_and_assign_a_team_by_its_accounts(
    client: TestClient, keys: dict[str, str]
) -> None:
    """The team of a person with no team on their Employee node is their account's: the list
    of people and `team:NAME` agree with what the trainer may see elsewhere."""
    north = get(client, keys["trainer_north"], "/learning/people")
    assert north.status_code == 200, north.text
    names = {p["name"]: p["team"] for p in north.json()}
    assert names.get("王丽") == "north" and "张强" not in names
    south = {p["name"] for p in get(client, keys["trainer_south"], "/learning/people").json()}
    assert "张强" in south and "王丽" not in south
    everyone = {p["name"] for p in get(client, ADMIN_KEY, "/learning/people").json()}
    assert {"王丽", "张强"} <= everyone
    assert get(client, keys["wang"], "/learning/people").status_code == 403

    path = {"title": "团队", "items": ["item-north"]}
    built = post(client, keys["trainer_north"], "/learning/paths", path)
    assert built.status_code == 201, built.text
    to_team = post(
        client,
        keys["trainer_north"],
        f"/learning/paths/{built.json()['id']}/assignees",
        {"employees": ["team:north"]},
    )
    assert to_team.status_code == 200, to_team.text
    wang = next(p["id"] for p in north.json() if p["name"] == "王丽")
    assert wang in to_team.json()["assignees"]

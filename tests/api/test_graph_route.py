"""GET /graph/neighbourhood/{id} on an embedded store with one ingested conversation: the right
neighbours at each depth, only the link types asked for, bounded by `limit` (and says so), no
embeddings or personal fields, and a 404 problem for an unknown id."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.problems import BASE, PROBLEM_JSON
from graph.model import (
    Entity,
    EntityKind,
    ItemStatus,
    KnowledgeItem,
    Label,
    Link,
    LinkType,
    Message,
)
from tests.api.conftest import hashed_client

CHAT = {
    "id": "c1",
    "channel": "wecom",
    "employee": "王丽",
    "customer": "李先生",
    "outcome": "converted",
    "messages": [
        {"role": "customer", "speaker": "李先生", "text": "太贵了，别家便宜"},
        {"role": "employee", "speaker": "王丽", "text": "我们的价格包含两年保修和上门安装"},
        {"role": "customer", "speaker": "李先生", "text": "那好吧，我下单"},
    ],
}
TEXTS = [m["text"] for m in CHAT["messages"]]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with hashed_client(tmp_path_factory.mktemp("graph-route")) as c:
        files = {"file": ("chat.json", json.dumps(CHAT).encode(), "application/json")}
        job = c.post("/ingest", files=files, params={"wait": 60}).json()
        assert job["status"] == "done" and job["report"]["status"] == "ingested"
        yield c


@pytest.fixture(scope="module")
def conversation(client: TestClient) -> str:
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    (conv,) = store.get_nodes(Label.CONVERSATION)
    return str(conv.id)


def get(client: TestClient, node_id: str, **params: object) -> dict:  # type: ignore[type-arg]
    response = client.get(f"/graph/neighbourhood/{node_id}", params=params)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_depth_one_is_the_conversation_its_messages_and_people(
    client: TestClient, conversation: str
) -> None:
    body = get(client, conversation)
    nodes = {n["id"]: n for n in body["nodes"]}
    assert body["center"] == conversation and body["nodes"][0]["id"] == conversation
    assert nodes[conversation]["name"] == "c1"
    messages = sorted(n["name"] for n in nodes.values() if n["label"] == "Message")
    assert messages == sorted(TEXTS)
    assert [n["name"] for n in nodes.values() if n["label"] == "Employee"] == ["王丽"]
    assert sum(n["label"] == "Customer" for n in nodes.values()) == 1
    assert not any(n["label"] == "Entity" for n in nodes.values())  # entities are 2 hops away
    assert body["truncated"] is False
    # every link touches the centre, and each neighbour has one
    assert all(conversation in (link["source"], link["target"]) for link in body["links"])
    assert {link["source"] for link in body["links"] if link["type"] == "PART_OF"} >= {
        n for n, v in nodes.items() if v["label"] == "Message"
    }


def test_depth_two_reaches_what_the_messages_mention(client: TestClient, conversation: str) -> None:
    body = get(client, conversation, depth=2)
    names = {n["name"]: n for n in body["nodes"] if n["label"] == "Entity"}
    assert {"价格太贵", "2年保修"} <= set(names), names
    assert names["价格太贵"]["properties"]["kind"] == "objection"
    shown = {n["id"] for n in body["nodes"]}
    assert all(link["source"] in shown and link["target"] in shown for link in body["links"])
    assert any(link["type"] == "MENTIONS" for link in body["links"])


def test_limit_bounds_the_answer_and_says_so(client: TestClient, conversation: str) -> None:
    full = get(client, conversation)
    body = get(client, conversation, limit=2)
    assert len(body["nodes"]) == 3 and body["truncated"] is True  # the centre and two
    assert [n["id"] for n in body["nodes"]] == [n["id"] for n in full["nodes"]][:3]
    shown = {n["id"] for n in body["nodes"]}
    assert all(link["source"] in shown and link["target"] in shown for link in body["links"])
    exact = get(client, conversation, limit=len(full["nodes"]) - 1)
    assert exact["truncated"] is False and len(exact["nodes"]) == len(full["nodes"])


def test_types_filter_the_links_followed(client: TestClient, conversation: str) -> None:
    body = get(client, conversation, types="HANDLED_BY")
    assert [n["label"] for n in body["nodes"]] == ["Conversation", "Employee"]
    assert [link["type"] for link in body["links"]] == ["HANDLED_BY"]
    both = get(client, conversation, types=["HANDLED_BY", "WITH_CUSTOMER"])
    assert sorted(n["label"] for n in both["nodes"][1:]) == ["Customer", "Employee"]


def test_nothing_private_is_shown(client: TestClient, conversation: str) -> None:
    text = json.dumps(get(client, conversation, depth=2, limit=200))
    for field in ("embedding", "key_hash", "fields", "field_sources", "content_hash", "李先生"):
        assert f'"{field}"' not in text and field not in text, field


def test_unknown_ids_and_bad_parameters(client: TestClient) -> None:
    missing = client.get("/graph/neighbourhood/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith(PROBLEM_JSON)
    assert missing.json()["type"] == BASE + "not-found" and "nope" in missing.json()["detail"]
    for params in ({"depth": 3}, {"limit": 0}, {"limit": 201}, {"types": "NOT_A_TYPE"}):
        assert client.get("/graph/neighbourhood/x", params=params).status_code == 422, params


def test_each_role_sees_only_what_the_rest_of_the_api_shows_it(
    client: TestClient, conversation: str
) -> None:
    from graph.model import ItemStatus, KnowledgeItem, Link, LinkType
    from tests.api.conftest import issue_key

    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    items = {
        "item:graph-approved": (ItemStatus.APPROVED, ""),
        "item:graph-draft": (ItemStatus.DRAFT, ""),
        "item:graph-south": (ItemStatus.APPROVED, "south"),
    }
    store.upsert_nodes(
        [
            KnowledgeItem(id=i, title=i, text=i, status=status, team=team)
            for i, (status, team) in items.items()
        ]
    )
    store.upsert_links([Link(src=i, dst=conversation, type=LinkType.DERIVED_FROM) for i in items])

    def seen(key: str, node_id: str) -> set[str] | int:
        answer = client.get(
            f"/graph/neighbourhood/{node_id}", headers={"Authorization": f"Bearer {key}"}
        )
        if answer.status_code != 200:
            return answer.status_code
        return {n["id"] for n in answer.json()["nodes"]}

    wang, _ = issue_key(client, "employee", employee_id="王丽", team="north")
    other, _ = issue_key(client, "employee", employee_id="", team="north")
    north, _ = issue_key(client, "knowledge_manager", team="north")
    mine = seen(wang, conversation)
    assert isinstance(mine, set)
    labels = {n["id"]: n["label"] for n in get(client, conversation)["nodes"]}
    assert "item:graph-approved" in mine
    assert not mine & {"item:graph-draft", "item:graph-south"}
    assert not [i for i in mine if labels[i] in ("Message", "Customer")]
    assert seen(other, conversation) == 404  # not theirs: as if it did not exist
    assert seen(wang, "item:graph-draft") == 404
    curator = seen(north, conversation)
    assert isinstance(curator, set)
    assert "item:graph-draft" in curator and "item:graph-south" not in curator
    assert any(labels[i] == "Message" for i in curator)
    assert seen(north, "item:graph-south") == 404
    everything = {n["id"] for n in get(client, conversation)["nodes"]}  # the admin
    assert set(items) <= everything


def test_a_busy_entity_shows_its_items_before_its_thousand_mentions(client: TestClient) -> None:
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    messages = [Message(id=f"conversation:busy#m{i:02d}", text=f"问{i}") for i in range(8)]
    item = KnowledgeItem(
        id="knowledgeitem:busy", title="保修说明", text="两年保修", status=ItemStatus.APPROVED
    )
    hub = Entity(id="entity:busy", name="保修", kind=EntityKind.POLICY)
    store.upsert_nodes([hub, *messages, item])
    store.upsert_links(
        [Link(src=n.id, dst=hub.id, type=LinkType.MENTIONS) for n in [*messages, item]]
    )
    body = get(client, hub.id, limit=3)
    assert [n["id"] for n in body["nodes"]] == [hub.id, item.id, messages[0].id, messages[1].id]
    assert body["truncated"] is True
    assert get(client, hub.id, limit=20)["truncated"] is False

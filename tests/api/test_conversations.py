"""Live conversations through the API (api/routes/conversations.py): messages appended one at a
time through the ingest pipeline, idempotent by message id, de-identified, linked in order;
the outcome settles uses waiting for it; who may write to which conversation; the webhook admin
routes. A real embedded store; the hashed embedder (what suggestions say, and the stream, are
tested in test_push_routes.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.live import stored_conversation
from api.webhooks import RetryPolicy
from graph.model import Conversation, KnowledgeItem, LinkType, Message
from tests.api.conftest import hashed_client, issue_key

CONV = "live-conv-1"


def _message(role: str, text: str, msg_id: str, time: str, **extra: str) -> dict[str, str]:
    body = {"id": msg_id, "role": role, "text": text, "time": time, **extra}
    if role == "customer":
        body.setdefault("speaker", "Zhao Lei")
    return body


def _people() -> dict[str, str]:
    return {"employee": "Alice Wang", "customer": "Zhao Lei", "customer_id": "crm-zhao-1"}


def _stored(client: TestClient, conversation_id: str) -> tuple[Conversation, list[Message]]:
    rt = client.app.state.runtime  # type: ignore[attr-defined]
    conv, messages = stored_conversation(rt.store, rt.ingestor(), conversation_id)
    assert conv is not None
    return conv, messages


def _links(client: TestClient, node_id: str, link_type: LinkType) -> list[str]:
    store = client.app.state.runtime.store  # type: ignore[attr-defined]
    return [n.node.id for n in store.neighbours(node_id, [link_type], direction="out")]


def test_messages_are_appended_in_order_with_links_and_deidentified(tmp_path: Path) -> None:
    with hashed_client(tmp_path) as client:
        first = client.post(
            f"/conversations/{CONV}/messages",
            json=_message(
                "customer",
                "How long does my refund take? Call me at 13912345678",
                "m1",
                "2026-03-09T10:00:00+08:00",
                channel="wecom",
                **_people(),
            ),
        )
        assert first.status_code == 200, first.text
        assert first.json()["appended"] == ["m1"] and first.json()["duplicates"] == []
        second = client.post(
            f"/conversations/{CONV}/messages",
            json=_message(
                "employee",
                "Card refunds take 5 to 10 business days after we issue them.",
                "m2",
                "2026-03-09T10:01:00+08:00",
                speaker="Alice Wang",
            ),
        )
        third = client.post(
            f"/conversations/{CONV}/messages",
            json=_message("customer", "OK, thanks!", "m3", "2026-03-09T10:02:00+08:00"),
        )
        assert second.status_code == third.status_code == 200
        conv, messages = _stored(client, CONV)
        assert [m.role for m in messages] == ["customer", "employee", "customer"]
        assert [m.position for m in messages] == [0, 1, 2]
        assert "13912345678" not in messages[0].text and "[PHONE]" in messages[0].text
        assert messages[1].text.startswith("Card refunds take 5 to 10")
        assert third.json()["nodes"] == [messages[2].id]
        # Every append names the stored conversation (the later ones without reading it back).
        assert {r.json()["conversation"] for r in (first, second, third)} == {conv.id}
        assert _links(client, messages[0].id, LinkType.NEXT) == [messages[1].id]
        assert _links(client, messages[1].id, LinkType.NEXT) == [messages[2].id]
        assert _links(client, messages[1].id, LinkType.REPLIES_TO) == [messages[0].id]
        assert _links(client, messages[0].id, LinkType.PART_OF) == [conv.id]
        assert conv.channel == "wecom" and conv.employee == "Alice Wang"
        # The customer is one node, known by the keyed hash of the CRM id (no raw id stored).
        customers = _links(client, conv.id, LinkType.WITH_CUSTOMER)
        rt = client.app.state.runtime  # type: ignore[attr-defined]
        assert customers == [rt.customer_id("crm-zhao-1")]
        # Each append is one write of the conversation's source in the event log.
        writes = [e for e in rt.store.events(actions=["source.write"])]
        assert len(writes) == 3 and writes[-1].after["uri"] == f"live/{CONV}"


def test_each_employee_keeps_their_node_as_the_conversation_grows(tmp_path: Path) -> None:
    """An append ingests the whole conversation again, each employee message with its
    speaker's id read back from the graph: two colleagues of one name stay two people."""
    said = [
        ("customer", "Where is my parcel?", ""),
        ("employee", "Let me check the tracking for you.", "emp-7"),
        ("employee", "I'm taking over from my colleague: it left the depot today.", "emp-9"),
        ("customer", "Thanks", ""),
    ]
    with hashed_client(tmp_path) as client:
        speakers: dict[str, list[str]] = {}
        for i, (role, text, speaker_id) in enumerate(said):
            extra = {"speaker": "Alice Wang", "speaker_id": speaker_id} if speaker_id else {}
            sent = client.post(
                f"/conversations/{CONV}/messages",
                json=_message(role, text, f"m{i}", f"2026-03-09T10:0{i}:00+08:00", **extra)
                | (_people() if i == 0 else {}),
            )
            assert sent.status_code == 200, sent.text
            _, messages = _stored(client, CONV)
            for m in messages:
                if m.role == "employee":
                    speakers.setdefault(m.id, []).append(
                        *_links(client, m.id, LinkType.SAID_BY) or [""]
                    )
        first, second = (ids for ids in speakers.values())
        assert len(set(first)) == len(set(second)) == 1  # unchanged by every later append
        assert first[0] != second[0] and "" not in (first[0], second[0])
        store = client.app.state.runtime.store  # type: ignore[attr-defined]
        people = [store.get_node(first[0]), store.get_node(second[0])]
        assert [p.external_id for p in people] == ["emp-7", "emp-9"]  # type: ignore[union-attr]


def test_the_same_message_id_again_is_not_appended_twice(tmp_path: Path) -> None:
    with hashed_client(tmp_path) as client:
        body = _message("customer", "Is the jacket in stock?", "dup-1", "", **_people())
        assert client.post(f"/conversations/{CONV}/messages", json=body).json()["appended"] == [
            "dup-1"
        ]
        again = client.post(f"/conversations/{CONV}/messages", json=body)
        assert again.status_code == 200
        assert again.json()["appended"] == [] and again.json()["duplicates"] == ["dup-1"]
        rt = client.app.state.runtime  # type: ignore[attr-defined]
        writes = rt.store.events(actions=["source.write"])
        _, messages = _stored(client, CONV)
        assert [m.text for m in messages] == ["Is the jacket in stock?"]
        assert len(writes) == 1  # nothing written the second time
        # Without an id, the same role, speaker, time and text are the same message.
        plain = {"role": "customer", "text": "Hello?", "time": "2026-03-09T10:00:00Z"}
        client.post(f"/conversations/{CONV}/messages", json=plain)
        client.post(f"/conversations/{CONV}/messages", json=plain)
        _, messages = _stored(client, CONV)
        assert [m.text for m in messages] == ["Is the jacket in stock?", "Hello?"]


def test_outcome_settles_uses_waiting_for_it(tmp_path: Path) -> None:
    with hashed_client(tmp_path) as client:
        rt = client.app.state.runtime  # type: ignore[attr-defined]
        rt.store.upsert_nodes([KnowledgeItem(id="item:refund-days", text="5 to 10 days")])
        used = client.post(
            "/assist/feedback",
            json={"suggestion_id": "item:refund-days", "outcome": "used", "conversation": CONV},
        )
        assert used.status_code == 200, used.text
        body = _message("customer", "When will my refund arrive?", "o1", "", **_people())
        client.post(f"/conversations/{CONV}/messages", json=body)
        ended = client.post(f"/conversations/{CONV}/outcome", json={"outcome": "resolved"})
        assert ended.status_code == 200, ended.text
        assert ended.json()["outcome"] == "resolved" and ended.json()["settled"] == 1
        conv, messages = _stored(client, CONV)
        assert conv.outcome == "resolved" and len(messages) == 1
        item = rt.store.get_node("item:refund-days")
        assert isinstance(item, KnowledgeItem)
        assert (item.feedback_successes, item.feedback_trials, item.awaiting) == (1, 1, {})
        missing = client.post("/conversations/nope/outcome", json={"outcome": "lost"})
        assert missing.status_code == 404


def test_employees_write_only_to_their_own_conversations(tmp_path: Path) -> None:
    with hashed_client(tmp_path) as client:
        for name, conv in (("Alice Wang", "conv-a"), ("Bob Li", "conv-b")):
            body = _message("customer", "Hi", f"{conv}-1", "", employee=name, customer="Zhao")
            assert client.post(f"/conversations/{conv}/messages", json=body).status_code == 200
        alice, _ = issue_key(client, "employee", employee_id="Alice Wang")
        trainer, _ = issue_key(client, "trainer")
        as_alice = {"Authorization": f"Bearer {alice}"}
        reply = {"role": "employee", "text": "Hello!", "speaker": "Alice Wang"}
        own = client.post("/conversations/conv-a/messages", json=reply, headers=as_alice)
        assert own.status_code == 200, own.text
        other = client.post("/conversations/conv-b/messages", json=reply, headers=as_alice)
        assert other.status_code == 403
        _, messages = _stored(client, "conv-b")
        assert [m.text for m in messages] == ["Hi"]  # nothing written by the refused request
        # A new conversation naming no employee is hers; one naming someone else is refused.
        mine = client.post("/conversations/conv-new/messages", json=reply, headers=as_alice)
        assert mine.status_code == 200 and mine.json()["employee"]
        theirs = {**reply, "employee": "Bob Li"}
        refused = client.post("/conversations/conv-bob2/messages", json=theirs, headers=as_alice)
        assert refused.status_code == 403
        ending = client.post(
            "/conversations/conv-b/outcome", json={"outcome": "lost"}, headers=as_alice
        )
        assert ending.status_code == 403
        as_trainer = {"Authorization": f"Bearer {trainer}"}
        denied = client.post("/conversations/conv-a/messages", json=reply, headers=as_trainer)
        assert denied.status_code == 403
        wecom = client.post("/conversations/wecom", json=[], headers=as_alice)
        assert wecom.status_code == 403


def test_wecom_callback_appends_records_to_their_conversations(tmp_path: Path) -> None:
    records = [
        {
            "msgid": "w1",
            "action": "send",
            "from": "wmCustomer1",
            "tolist": ["zhangsan"],
            "roomid": "",
            "msgtime": 1773027000000,
            "msgtype": "text",
            "text": {"content": "退款多久到账？"},
        },
        {
            "msgid": "w2",
            "action": "send",
            "from": "zhangsan",
            "tolist": ["wmCustomer1"],
            "roomid": "",
            "msgtime": 1773027060000,
            "msgtype": "text",
            "text": {"content": "银行卡退款一般5到10个工作日到账。"},
        },
        {
            "msgid": "w3",
            "action": "send",
            "from": "wmCustomer1",
            "tolist": ["zhangsan"],
            "roomid": "",
            "msgtime": 1773027100000,
            "msgtype": "text",
            "text": {"content": "发错了"},
        },
        {"msgid": "w4", "action": "recall", "pre_msgid": "w3", "from": "wmCustomer1"},
        {
            "msgid": "w5",
            "action": "send",
            "from": "wmCustomer1",
            "tolist": ["zhangsan"],
            "msgtime": 1773027200000,
            "msgtype": "image",
            "image": {"md5sum": "x"},
        },
    ]
    with hashed_client(tmp_path) as client:
        answer = client.post("/conversations/wecom", json=records)
        assert answer.status_code == 200, answer.text
        [conv_answer] = answer.json()
        assert conv_answer["conversation_id"] == "wmCustomer1~zhangsan"
        assert conv_answer["appended"] == ["w1", "w2"]
        again = client.post("/conversations/wecom", json=records[:2])
        assert again.json()[0]["duplicates"] == ["w1", "w2"]
        conv, messages = _stored(client, "wmCustomer1~zhangsan")
        assert [m.text for m in messages] == ["退款多久到账？", "银行卡退款一般5到10个工作日到账。"]
        assert [m.role for m in messages] == ["customer", "employee"]
        assert _links(client, messages[1].id, LinkType.REPLIES_TO) == [messages[0].id]
        assert conv.channel == "wecom"
        bad = client.post("/conversations/wecom", json=[{"msgid": "x", "msgtype": "text"}])
        assert bad.status_code == 422 and "records[0]" in bad.json()["detail"]
        late = {**records[0], "msgid": "w9", "msgtime": 10**20}
        assert client.post("/conversations/wecom", json=[late]).status_code == 422
        odd = {**records[0], "msgid": ["not", "an", "id"]}
        assert client.post("/conversations/wecom", json=[odd]).status_code == 422
        control = client.post("/conversations/%01/messages", json={"role": "customer", "text": "x"})
        assert control.status_code == 422


def test_webhook_admin_routes_scope_knowledge_managers_to_their_team(tmp_path: Path) -> None:
    with hashed_client(tmp_path) as client:
        manager, _ = issue_key(client, "knowledge_manager", team="north")
        employee, _ = issue_key(client, "employee")
        as_km = {"Authorization": f"Bearer {manager}"}
        dead_url = "http://127.0.0.1:9/hook"  # the discard port: nothing listens
        made = client.post("/webhooks", json={"team": "north", "url": dead_url}, headers=as_km)
        assert made.status_code == 201, made.text
        hook = made.json()
        assert hook["secret"].startswith("whsec_") and hook["team"] == "north"
        other = client.post("/webhooks", json={"team": "south", "url": dead_url}, headers=as_km)
        assert other.status_code == 403
        bad = client.post("/webhooks", json={"team": "north", "url": "ftp://x/y"}, headers=as_km)
        assert bad.status_code == 422
        denied = client.post(
            "/webhooks",
            json={"team": "north", "url": dead_url},
            headers={"Authorization": f"Bearer {employee}"},
        )
        assert denied.status_code == 403
        listed = client.get("/webhooks", headers=as_km).json()
        assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
        assert client.get("/webhooks").status_code == 422  # an admin names the team
        assert [h["id"] for h in client.get("/webhooks?team=north").json()] == [hook["id"]]
        # A delivery that fails for good is a dead letter, replayed on demand.
        push = client.app.state.push  # type: ignore[attr-defined]
        push.dispatcher.policy = RetryPolicy(attempts=1, base_s=0, timeout_s=2)
        [result] = client.portal.call(push.dispatcher.publish, "north", "suggestions", {"a": 1})  # type: ignore[union-attr]
        assert not result.ok
        letters = client.get("/webhooks/dead-letters", headers=as_km).json()
        assert [d["id"] for d in letters] == [result.delivery_id]
        assert letters[0]["body"] == '{"a":1}' and letters[0]["event"] == "suggestions"
        again = client.post(f"/webhooks/dead-letters/{result.delivery_id}/replay", headers=as_km)
        assert again.status_code == 200 and again.json()["ok"] is False
        assert client.delete(f"/webhooks/{hook['id']}", headers=as_km).status_code == 200
        assert client.get("/webhooks", headers=as_km).json() == []
        gone = client.post(f"/webhooks/dead-letters/{result.delivery_id}/replay", headers=as_km)
        assert gone.status_code == 404
        assert client.delete(f"/webhooks/{hook['id']}", headers=as_km).status_code == 404


def test_employees_read_back_only_their_own_conversations(tmp_path: Path) -> None:
    with hashed_client(tmp_path) as client:
        for name, conv in (("Alice Wang", "conv-a"), ("Bob Li", "conv-b")):
            first = _message("customer", f"Hi from {conv}", f"{conv}-1", "2026-03-09T10:00:00")
            body = {**first, "employee": name, "customer": "Zhao"}
            assert client.post(f"/conversations/{conv}/messages", json=body).status_code == 200
            reply = _message("employee", "Hello!", f"{conv}-2", "2026-03-09T10:01:00")
            assert client.post(f"/conversations/{conv}/messages", json=reply).status_code == 200
        alice, _ = issue_key(client, "employee", employee_id="Alice Wang")
        manager, _ = issue_key(client, "knowledge_manager")
        as_alice = {"Authorization": f"Bearer {alice}"}
        as_manager = {"Authorization": f"Bearer {manager}"}

        listed = client.get("/conversations", headers=as_alice)
        assert listed.status_code == 200, listed.text
        assert [c["employee"] for c in listed.json()] == ["Alice Wang"]
        opened = client.get(f"/conversations/{listed.json()[0]['id']}", headers=as_alice)
        assert opened.status_code == 200
        assert [(m["role"], m["text"]) for m in opened.json()["messages"]] == [
            ("customer", "Hi from conv-a"),
            ("employee", "Hello!"),
        ]
        # by its id in the source too; and nobody else's
        assert client.get("/conversations/conv-a", headers=as_alice).json() == opened.json()
        assert client.get("/conversations/conv-b", headers=as_alice).status_code == 403
        peek = client.get("/conversations", params={"employee": "Bob Li"}, headers=as_alice)
        assert peek.status_code == 403
        # a knowledge manager names whose; an unknown conversation or person is a 404
        bobs = client.get("/conversations", params={"employee": "Bob Li"}, headers=as_manager)
        assert [c["employee"] for c in bobs.json()] == ["Bob Li"]
        assert client.get("/conversations/conv-b", headers=as_manager).status_code == 200
        assert client.get("/conversations/nope", headers=as_manager).status_code == 404
        missing = client.get("/conversations", params={"employee": "Nobody"}, headers=as_manager)
        assert missing.status_code == 404
        unlinked = client.get("/conversations", headers=as_manager)
        assert unlinked.status_code == 422

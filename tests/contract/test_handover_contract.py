"""Handover on both stores: exactly the leaver's customers, open conversations and notes move,
in one event that undo takes back; who handled and said what stays as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.changes import SetFields
from graph.model import Conversation, Customer, Employee, Label, LinkType, Note
from graph.store import GraphStore
from seci.handover import find_employee, handover
from tests.contract.test_people_contract import ingest, write

PLAN = [  # (conversation, employee name, employee id, customer, time, outcome)
    ("a-1", "王芳", "e-wang", "客户甲", "2026-03-01T10:00:00", "converted"),
    ("a-2", "王芳", "e-wang", "客户甲", "2026-03-05T10:00:00", ""),  # open: moves
    ("b-1", "王芳", "e-wang", "客户乙", "2026-03-02T10:00:00", "lost"),
    ("c-1", "王芳", "e-wang", "客户丙", "2026-03-01T09:00:00", "resolved"),
    ("c-2", "赵强", "e-zhao", "客户丙", "2026-03-09T09:00:00", ""),  # 丙 is 赵强's now
    ("d-1", "王芳", "e-wang", "客户丁", "2026-03-03T10:00:00", "converted"),  # decided: 赵强
    ("e-1", "李雷", "e-li", "客户戊", "2026-03-04T10:00:00", ""),
]


@pytest.fixture
def team(store: GraphStore, tmp_path: Path) -> GraphStore:
    paths = []
    for conv_id, name, person, customer, time, outcome in PLAN:
        record = {
            "id": conv_id,
            "employee": name,
            "employee_id": person,
            "customer": customer,
            "customer_id": customer,
            "outcome": outcome,
            "messages": [
                {"role": "customer", "speaker": customer, "time": time, "text": "理赔款什么时候到"},
                {"role": "employee", "speaker": name, "time": time, "text": "三到五个工作日"},
            ],
        }
        paths.append(write(tmp_path, f"{conv_id}.json", record))
    ingest(store, *paths)
    store.upsert_nodes(
        [
            Note(id="note:wang", uri="notes/wang.md", author="王芳", title="王芳的客户备忘"),
            Note(id="note:li", uri="notes/li.md", author="李雷", title="李雷的备忘"),
        ]
    )
    zhao = find_employee(store, "e-zhao")
    ding = _customer(store, "客户丁")
    store.apply([SetFields(id=ding.id, fields={"owner": zhao.id})], "admin", "assign")
    return store


def _customer(store: GraphStore, name: str) -> Customer:
    """The customer of PLAN called `name` (stored de-identified: found by their conversation)."""
    by_conversation = {
        c.title: c.customer
        for c in store.get_nodes(Label.CONVERSATION, limit=100)
        if isinstance(c, Conversation)
    }
    wanted = {by_conversation[conv] for conv, _, _, customer, _, _ in PLAN if customer == name}
    assert len(wanted) == 1, name
    node = store.get_node(wanted.pop())
    assert isinstance(node, Customer)
    return node


def _owners(store: GraphStore) -> dict[str, str]:
    """Conversation title / customer (by first conversation) / note id → owner."""
    out = {}
    for c in store.get_nodes(Label.CONVERSATION, limit=100):
        assert isinstance(c, Conversation)
        out[c.title] = c.owner
    for _, _, _, customer, _, _ in PLAN:
        out.setdefault(customer, _customer(store, customer).owner)
    for n in store.get_nodes(Label.NOTE, limit=100):
        assert isinstance(n, Note)
        out[n.id] = n.owner
    return out


def test_handover_moves_exactly_what_it_should_in_one_event(team: GraphStore) -> None:
    li = find_employee(team, "李雷")
    before = _owners(team)
    handled = sorted(
        (c.title, n.node.id)
        for c in team.get_nodes(Label.CONVERSATION, limit=100)
        for n in team.neighbours(c.id, [LinkType.HANDLED_BY], "out")
    )
    result = handover(team, "王芳", "e-li", actor="admin:hr", reason="王芳离职")
    after = _owners(team)
    moved = {key for key in after if after[key] != before[key]}
    assert moved == {"客户甲", "客户乙", "a-2", "note:wang"}
    assert all(after[key] == li.id for key in moved)
    assert after["客户丙"] == "" and after["c-2"] == ""  # 赵强 handled 丙 last
    assert after["客户丁"] != li.id  # decided owner 赵强 stays
    assert after["a-1"] == "" and after["b-1"] == ""  # closed conversations do not move
    # attribution stays: handlers, speakers and authors are unchanged
    assert handled == sorted(
        (c.title, n.node.id)
        for c in team.get_nodes(Label.CONVERSATION, limit=100)
        for n in team.neighbours(c.id, [LinkType.HANDLED_BY], "out")
    )
    note = team.get_node("note:wang")
    assert isinstance(note, Note) and note.author == "王芳"
    # one event; the new owner sees each customer's whole history
    events = team.events(since=result.event - 1, limit=10)
    assert [e.action for e in events] == ["handover"] and events[0].actor == "admin:hr"
    assert events[0].reason == "王芳离职" and len(events[0].ids) == 4
    jia = next(h for h in result.customers if h.customer == _customer(team, "客户甲").id)
    assert jia.conversations == ["a-1", "a-2"]
    assert result.conversations == ["a-2"] and result.notes == ["王芳的客户备忘"]
    # undo gives everything back at once
    team.undo(result.event, actor="admin:hr")
    assert _owners(team) == before


def test_handover_refuses_unclear_requests(team: GraphStore) -> None:
    with pytest.raises(KeyError, match="no employee"):
        handover(team, "nobody", "e-li", actor="admin")
    with pytest.raises(ValueError, match="two different people"):
        handover(team, "e-wang", "王芳", actor="admin")
    handover(team, "e-wang", "e-li", actor="admin")
    with pytest.raises(ValueError, match="owns nothing"):
        handover(team, "e-wang", "e-li", actor="admin")  # nothing left to move
    assert isinstance(find_employee(team, "e-zhao"), Employee)

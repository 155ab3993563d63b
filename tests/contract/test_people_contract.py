"""People across sources, on both stores: employees keyed by their source-system ids (two people
who share a name stay two), and a customer's observed fields merged per field, newest first,
across conversations and files, each field naming where it was seen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.model import Conversation, Customer, Employee, Label, LinkType
from graph.settings import Settings
from graph.store import GraphStore
from ingest.pipeline import Ingestor
from tests.conftest import HashEmbedder
from tests.contract.test_ingest_contract import dump


def ingestor(store: GraphStore) -> Ingestor:
    return Ingestor(store, HashEmbedder(), Settings(deid_key="test-key"))  # type: ignore[arg-type]


def write(tmp_path: Path, name: str, conversation: dict) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(conversation, ensure_ascii=False), encoding="utf-8")
    return path


def ingest(store: GraphStore, *paths: Path) -> None:
    report = ingestor(store).ingest(list(paths))
    assert report.failed == 0, [f.reason for f in report.files]


def employees(store: GraphStore) -> list[Employee]:
    return [n for n in store.get_nodes(Label.EMPLOYEE, limit=10_000) if isinstance(n, Employee)]


def handled_by(store: GraphStore) -> dict[str, set[str]]:
    """Conversation title → external ids (or names) of the employees who handled it."""
    out: dict[str, set[str]] = {}
    for conv in store.get_nodes(Label.CONVERSATION, limit=10_000):
        assert isinstance(conv, Conversation)
        people = store.neighbours(conv.id, [LinkType.HANDLED_BY], "out")
        out[conv.title] = {p.node.external_id or p.node.name for p in people}  # type: ignore[attr-defined]
    return out


# -- employees -------------------------------------------------------------------------------


def chat(conv_id: str, employee: str, employee_id: str, time: str = "2026-03-01T10:00:00") -> dict:
    return {
        "id": conv_id,
        "employee": employee,
        "employee_id": employee_id,
        "customer": "陈先生",
        "messages": [
            {"role": "customer", "speaker": "陈先生", "time": time, "text": "金盾太贵了"},
            {"role": "employee", "speaker": employee, "time": time, "text": "我帮您算笔账"},
        ],
    }


def test_same_named_employees_with_different_ids_stay_two(
    store: GraphStore, tmp_path: Path
) -> None:
    ingest(
        store,
        write(tmp_path, "a.json", chat("conv-a", "王丽", "E1")),
        write(tmp_path, "b.json", chat("conv-b", "王丽", "E2")),
    )
    people = employees(store)
    assert sorted((p.name, p.external_id) for p in people) == [("王丽", "E1"), ("王丽", "E2")]
    assert handled_by(store) == {"conv-a": {"E1"}, "conv-b": {"E2"}}
    for person in people:  # each one's messages are theirs
        said = store.neighbours(person.id, [LinkType.SAID_BY], "in")
        assert [s.node.uri for s in said] == [  # type: ignore[attr-defined]
            str(tmp_path / ("a.json" if person.external_id == "E1" else "b.json"))
        ]


def test_one_id_seen_under_two_names_is_one_employee(store: GraphStore, tmp_path: Path) -> None:
    ingest(store, write(tmp_path, "a.json", chat("conv-a", "王丽", "E1")))
    ingest(store, write(tmp_path, "b.json", chat("conv-b", "Wang Li", "E1")))
    [person] = employees(store)
    assert (person.name, person.aliases, person.external_id) == ("王丽", ["Wang Li"], "E1")
    assert handled_by(store) == {"conv-a": {"E1"}, "conv-b": {"E1"}}


def test_an_email_id_is_stored_as_its_keyed_hash(store: GraphStore, tmp_path: Path) -> None:
    ingest(
        store,
        write(tmp_path, "a.json", chat("conv-a", "王丽", "wangli@ankang.example")),
        write(tmp_path, "b.json", chat("conv-b", "王丽", "WangLi@Ankang.example")),
        # known only by the address: the same person (the name gives way to a hash)
        write(tmp_path, "c.json", chat("conv-c", "wangli@ankang.example", "")),
    )
    [person] = employees(store)  # the same address (case aside): one person
    assert person.name == "王丽" and person.external_id.startswith("email:")
    assert person.aliases and all(a.startswith("employee-") for a in person.aliases)
    assert handled_by(store) == {c: {person.external_id} for c in ("conv-a", "conv-b", "conv-c")}
    assert "ankang.example" not in dump(store).lower()


# -- customers -------------------------------------------------------------------------------

SIGNATURE_A = (
    "Please send the quote.\nBest regards\nZhang Wei\nPurchasing Manager, Acme Trading Co., Ltd.\n"
    "Tel: +86 138 1726 5509\nEmail: zhang.wei@acme.example"
)
SIGNATURE_C = (
    "One more thing.\nBest regards\nZhang Wei\nHead of Procurement, Beta Logistics Ltd.\n"
    "Email: zhang.wei@acme.example"
)


def visit(conv_id: str, time: str, customer: str, text: str) -> dict:
    return {
        "id": conv_id,
        "employee": "Emma Chen",
        "customer": customer,
        "customer_id": "CRM-9",  # the same customer whatever name the chat shows
        "messages": [
            {"role": "customer", "time": time, "text": text},
            {"role": "employee", "speaker": "Emma Chen", "time": time, "text": "Sure, will do."},
        ],
    }


def the_customer(store: GraphStore) -> Customer:
    [customer] = store.get_nodes(Label.CUSTOMER, limit=10)
    assert isinstance(customer, Customer)
    return customer


@pytest.mark.parametrize("order", ["card first", "card last"])
def test_customer_fields_merge_per_field_newest_first(
    store: GraphStore, tmp_path: Path, order: str
) -> None:
    a = write(tmp_path, "a.json", visit("a", "2026-03-01T10:00:00", "Zhang Wei", SIGNATURE_A))
    b = write(tmp_path, "b.json", visit("b", "2026-03-05T10:00:00", "张先生", "Any news?"))
    for path in [a, b] if order == "card first" else [b, a]:
        ingest(store, path)
    card = the_customer(store)
    assert set(card.fields) == {"company", "title", "name_hash", "phone_hash", "email_hash"}
    assert "Acme" in card.fields["company"]
    assert card.field_sources == dict.fromkeys(card.fields, f"{a}@2026-03-01T10:00:00")

    # a later conversation with a new company replaces just that field (and what it repeats)
    c = write(tmp_path, "c.json", visit("c", "2026-03-09T10:00:00", "Zhang Wei", SIGNATURE_C))
    ingest(store, c)
    later = the_customer(store)
    assert "Beta Logistics" in later.fields["company"]
    assert later.fields["title"] == "Head of Procurement"
    assert later.fields["phone_hash"] == card.fields["phone_hash"]
    assert later.fields["email_hash"] == card.fields["email_hash"]
    at_c, at_a = f"{c}@2026-03-09T10:00:00", f"{a}@2026-03-01T10:00:00"
    assert later.field_sources["company"] == later.field_sources["email_hash"] == at_c
    assert later.field_sources["phone_hash"] == at_a

    # an older conversation ingested last does not win over the newer value
    d = write(tmp_path, "d.json", visit("d", "2026-02-01T10:00:00", "Zhang Wei", SIGNATURE_A))
    ingest(store, d)
    assert the_customer(store).fields == later.fields

    # a changed file no longer says what it said: its old values go, the others stay
    write(tmp_path, "c.json", visit("c", "2026-03-09T10:00:00", "Zhang Wei", "No card now."))
    ingest(store, c)
    after = the_customer(store)
    assert str(c) not in " ".join(after.field_sources.values())
    assert "Beta Logistics" not in after.fields.get("company", "")
    assert after.field_sources["phone_hash"] == at_a


def test_two_conversations_of_one_customer_in_one_file(store: GraphStore, tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    batch = [
        visit("new", "2026-03-09T10:00:00", "Zhang Wei", SIGNATURE_C),
        visit("old", "2026-03-01T10:00:00", "Zhang Wei", SIGNATURE_A),
        visit("none", "2026-03-10T10:00:00", "张先生", "Thanks"),
    ]
    path.write_text(json.dumps(batch), encoding="utf-8")
    ingest(store, path)
    customer = the_customer(store)
    assert "Beta Logistics" in customer.fields["company"]  # newest, though not last in the file
    assert customer.field_sources["company"] == f"{path}@2026-03-09T10:00:00"
    assert customer.field_sources["phone_hash"] == f"{path}@2026-03-01T10:00:00"


# -- decisions about people -----------------------------------------------------------------


def test_decided_fields_of_people_survive_reingest_and_are_not_observed(
    store: GraphStore, tmp_path: Path
) -> None:
    """An admin's team and display name stay through re-ingest and forget-then-re-ingest, and
    ingest never writes them back as if it had observed them (clearing restores ingest's)."""
    from graph.changes import ClearFields, SetFields

    path = write(tmp_path, "a.json", chat("c1", "王丽", "wangli"))
    ingest(store, path)
    (person,) = employees(store)
    store.apply(
        [SetFields(id=person.id, fields={"team": "理赔组", "name": "王丽 (理赔)"})],
        actor="admin:li",
        action="assign_team",
    )
    changed = chat("c1", "王丽", "wangli")
    changed["messages"].append({"role": "employee", "speaker": "王丽", "text": "还有问题吗"})
    write(tmp_path, "a.json", changed)
    ingest(store, path)
    ingestor(store).forget(path)
    ingest(store, path)
    (again,) = employees(store)
    assert (again.team, again.name) == ("理赔组", "王丽 (理赔)")
    store.apply([ClearFields(id=person.id, fields=["name", "team"])], actor="a", action="x")
    (cleared,) = employees(store)
    assert (cleared.team, cleared.name) == ("", "王丽")
    assert "王丽 (理赔)" not in cleared.aliases


def test_curated_entities_extend_the_gazetteer(store: GraphStore) -> None:
    from graph.changes import SetFields
    from graph.model import Entity, EntityKind

    store.upsert_nodes(
        [
            Entity(id="ent:x", name="星河保", kind=EntityKind.PRODUCT, pinned=True),
            Entity(id="ent:y", name="月光卡", kind=EntityKind.PRODUCT),
        ]
    )
    store.apply([SetFields(id="ent:y", fields={"pinned": True})], actor="km", action="pin")
    names = {m.name for m in ingestor(store).extractor.extract("星河保和月光卡怎么买")}
    assert {"星河保", "月光卡"} <= names


def test_one_person_under_two_names_can_be_linked(store: GraphStore, tmp_path: Path) -> None:
    """Two sources know one person by different names and no shared id: an admin links the
    two Employee nodes (SAME_AS); the link is a decision and survives re-ingesting both."""
    from graph.changes import AddLink
    from graph.model import Link

    zh = write(tmp_path, "zh.json", chat("c1", "王丽", "wangli"))
    en = write(tmp_path, "en.json", chat("c2", "Wang Li", ""))
    ingest(store, zh, en)
    by_name = {e.name: e for e in employees(store)}
    assert set(by_name) == {"王丽", "Wang Li"}
    link = Link(src=by_name["Wang Li"].id, dst=by_name["王丽"].id, type=LinkType.SAME_AS)
    event = store.apply([AddLink(link=link)], actor="admin:li", action="link_people")
    for path in (zh, en):
        ingestor(store).forget(path)
    ingest(store, zh, en)
    same = store.neighbours(by_name["Wang Li"].id, [LinkType.SAME_AS], "out")
    assert [n.node.name for n in same] == ["王丽"]  # type: ignore[attr-defined]
    store.undo(event.seq, actor="admin:li", reason="not the same person")
    assert store.neighbours(by_name["Wang Li"].id, [LinkType.SAME_AS]) == []

"""People's ids: loaders carry the source system's employee and customer ids, and the build step
keys Employee nodes by them (two people who share a name stay two), by name only without one."""

from __future__ import annotations

import json

from graph.model import Employee, LinkType
from ingest.build import build_transcript, employee_id
from ingest.loaders.transcripts import load_json_transcript, load_wecom
from ingest.records import LoadedTranscript
from tests.unit.test_loaders import CUST, EMP, wecom_records


def canonical(*conversations: dict) -> bytes:
    return json.dumps(list(conversations), ensure_ascii=False).encode()


def conversation(conv_id: str, employee: str, employee_id: str = "", **extra: object) -> dict:
    item: dict[str, object] = {
        "id": conv_id,
        "employee": employee,
        "customer": "陈先生",
        "messages": [
            {"role": "customer", "speaker": "陈先生", "text": "太贵了"},
            {"role": "employee", "speaker": employee, "text": "我帮您算笔账"},
        ],
        **extra,
    }
    if employee_id:
        item["employee_id"] = employee_id
    return item


# -- loaders ---------------------------------------------------------------------------------


def test_canonical_json_reads_employee_customer_and_speaker_ids() -> None:
    data = canonical(
        {
            "employee": "王丽",
            "employee_id": "E1001",
            "customer": "陈先生",
            "customer_id": " CRM-77 ",
            "messages": [
                {"role": "customer", "speaker": "陈先生", "speaker_id": "CRM-77", "text": "贵"},
                {"role": "employee", "speaker": "王丽", "speaker_id": "E1001", "text": "好的"},
                {"role": "employee", "speaker": "小周", "employee_id": 2002, "text": "补充"},
                {"role": "employee", "speaker": "王丽", "text": "还有"},
            ],
        }
    )
    [conv] = load_json_transcript(data, "a.json").conversations
    assert (conv.employee, conv.employee_id) == ("王丽", "E1001")
    assert (conv.customer, conv.customer_id) == ("陈先生", "CRM-77")
    # a customer's id is not an employee's: only employee messages keep a speaker id
    assert [m.speaker_id for m in conv.messages] == ["", "E1001", "2002", ""]


def test_canonical_json_without_ids_leaves_them_empty() -> None:
    [conv] = load_json_transcript(canonical(conversation("c1", "王丽")), "a.json").conversations
    assert (conv.employee_id, conv.customer_id) == ("", "")
    assert {m.speaker_id for m in conv.messages} == {""}


def test_wecom_user_ids_are_the_people_ids() -> None:
    data = json.dumps(wecom_records(), ensure_ascii=False).encode()
    pair, room = load_wecom(data, "archive.json").conversations
    assert (pair.employee_id, pair.customer_id) == (EMP, CUST)
    assert [(m.role, m.speaker_id) for m in pair.messages] == [
        ("employee", EMP),
        ("customer", ""),
        ("system", ""),
    ]
    assert room.employee_id == EMP and room.customer_id == CUST


# -- build -----------------------------------------------------------------------------------


def build(*conversations: dict) -> tuple[list[Employee], dict[str, set[str]], dict[str, str]]:
    """Employees, HANDLED_BY (conversation title → employee ids) and SAID_BY of employee
    messages (message id → employee id) of one built transcript."""
    loaded = load_json_transcript(canonical(*conversations), "t.json")
    assert isinstance(loaded, LoadedTranscript)
    graph = build_transcript(loaded, "h", [f"customer:{i}" for i in range(len(conversations))])
    employees = [n for n in graph.nodes if isinstance(n, Employee)]
    titles = {n.id: getattr(n, "title", "") for n in graph.nodes}
    handled: dict[str, set[str]] = {}
    for link in graph.links:
        if link.type is LinkType.HANDLED_BY:
            handled.setdefault(titles[link.src], set()).add(link.dst)
    ids = {e.id for e in employees}
    said = {k.src: k.dst for k in graph.links if k.type is LinkType.SAID_BY and k.dst in ids}
    return employees, handled, said


def test_same_name_different_ids_are_two_employees() -> None:
    employees, handled, said = build(
        conversation("c1", "王丽", "E1"), conversation("c2", "王丽", "E2")
    )
    assert sorted((e.name, e.external_id) for e in employees) == [("王丽", "E1"), ("王丽", "E2")]
    by_ext = {e.external_id: e.id for e in employees}
    assert by_ext["E1"] != by_ext["E2"]
    assert handled == {"c1": {by_ext["E1"]}, "c2": {by_ext["E2"]}}
    # the employee's message in each conversation is said by that conversation's person
    assert sorted(said.values()) == sorted([by_ext["E1"], by_ext["E2"]])
    assert by_ext["E1"] == employee_id("王丽", "E1") != employee_id("王丽")


def test_without_ids_a_person_is_known_by_name() -> None:
    employees, handled, _ = build(conversation("c1", "王丽"), conversation("c2", "王丽"))
    [person] = employees
    assert (person.id, person.name, person.external_id) == (employee_id("王丽"), "王丽", "")
    assert handled == {"c1": {person.id}, "c2": {person.id}}


def test_one_id_under_two_names_is_one_employee_with_an_alias() -> None:
    employees, handled, _ = build(
        conversation("c1", "王丽", "E1"), conversation("c2", "Wang Li", "E1")
    )
    [person] = employees
    assert (person.name, person.aliases, person.external_id) == ("王丽", ["Wang Li"], "E1")
    assert handled == {"c1": {person.id}, "c2": {person.id}}


def test_wecom_employees_are_keyed_by_their_user_id() -> None:
    loaded = load_wecom(json.dumps(wecom_records()[:2]).encode(), "archive.json")
    graph = build_transcript(loaded, "h", ["customer:0"])
    [person] = [n for n in graph.nodes if isinstance(n, Employee)]
    assert (person.id, person.name, person.external_id) == (employee_id(EMP, EMP), EMP, EMP)

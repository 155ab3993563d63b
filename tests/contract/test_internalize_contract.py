"""Internalization on both stores: a path in prerequisite order (a cycle refused, named), its
assignment, spaced-review cards that FSRS schedules and that survive a restart, progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from graph.changes import AddLink
from graph.model import Employee, ItemStatus, KnowledgeItem, LearningPath, Link, LinkType
from graph.store import GraphStore
from seci.internalize import (
    PathCycle,
    assign_path,
    create_path,
    due_cards,
    path_order,
    progress,
    review,
    suggest_path,
)
from tests.conftest import HashEmbedder

EMB = HashEmbedder()
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TITLES = {
    "item:basics": "金盾保障范围",
    "item:claims": "理赔流程",
    "item:refunds": "理赔款到账时间",
    "item:price": "价格异议怎么回",
}


@pytest.fixture
def course(store: GraphStore) -> GraphStore:
    store.upsert_nodes(
        [
            *(
                KnowledgeItem(id=i, title=t, text=f"{t}：要点", status=ItemStatus.APPROVED)
                for i, t in TITLES.items()
            ),
            Employee(id="emp:chen", name="陈新", external_id="e-chen"),
        ]
    )
    # basics before claims before refunds; price stands alone
    for src, dst in (("item:basics", "item:claims"), ("item:claims", "item:refunds")):
        store.apply(
            [AddLink(link=Link(src=src, dst=dst, type=LinkType.PREREQUISITE_OF))],
            "trainer",
            "link",
        )
    return store


def test_a_path_follows_prerequisites_and_pulls_them_in(course: GraphStore) -> None:
    assert path_order(course, ["item:refunds", "item:price"]) == [
        "item:basics",
        "item:claims",
        "item:refunds",
        "item:price",
    ]
    assert path_order(course, ["item:price", "item:claims"]) == [
        "item:price",  # given first, needs nothing: stays first
        "item:basics",
        "item:claims",
    ]
    path = create_path(course, EMB, "新人理赔", "trainer", ["item:refunds"])  # type: ignore[arg-type]
    stored = course.get_node(path.id)
    assert isinstance(stored, LearningPath)
    assert stored.items == ["item:basics", "item:claims", "item:refunds"]
    assert [e.action for e in course.events(limit=100)][-1] == "learn.path"


def test_a_cycle_is_refused_with_its_members(course: GraphStore) -> None:
    course.apply(
        [AddLink(link=Link(src="item:refunds", dst="item:basics", type=LinkType.PREREQUISITE_OF))],
        "trainer",
        "link",
    )
    with pytest.raises(PathCycle) as refused:
        create_path(course, EMB, "绕圈", "trainer", ["item:price", "item:claims"])  # type: ignore[arg-type]
    assert set(refused.value.members) == {"item:basics", "item:claims", "item:refunds"}
    assert "理赔流程" in str(refused.value) and "remove one" in str(refused.value)
    assert path_order(course, ["item:price"]) == ["item:price"]  # outside the cycle: fine


def test_a_suggested_path_for_a_topic_says_why_each_step_is_there(course: GraphStore) -> None:
    steps = suggest_path(course, EMB, "到账时间")  # type: ignore[arg-type]
    assert [s.item for s in steps] == ["item:basics", "item:claims", "item:refunds"]
    assert steps[-1].why == "matches “到账时间”"
    assert steps[0].why == "needed first by “理赔款到账时间”"
    assert course.get_node("item:refunds") is not None
    assert not any(e.action == "learn.path" for e in course.events(limit=100))  # not saved
    assert suggest_path(course, EMB, "航班改签") == []  # type: ignore[arg-type]


def test_review_schedules_cards_that_survive_a_restart(course: GraphStore, reopen) -> None:
    path = create_path(course, EMB, "新人理赔", "trainer", ["item:refunds"])  # type: ignore[arg-type]
    assign_path(course, path.id, ["陈新"], "trainer")
    due = due_cards(course, "e-chen", now=T0)
    assert [c.item for c in due] == ["item:basics", "item:claims", "item:refunds"]
    assert all(c.new for c in due)
    card = review(course, "e-chen", "item:basics", "good", now=T0)
    assert card.reviews == 1 and card.due > T0.isoformat()
    store = reopen(course)
    soon = due_cards(store, "e-chen", now=T0 + timedelta(minutes=1))
    assert "item:basics" not in [c.item for c in soon]  # just learnt: not due yet
    later = due_cards(store, "e-chen", now=datetime.fromisoformat(card.due) + timedelta(seconds=1))
    assert later[0].item == "item:basics" and not later[0].new  # due again, before new ones
    again = review(store, "e-chen", "item:basics", "easy", now=datetime.fromisoformat(card.due))
    assert again.reviews == 2 and again.due > card.due  # an easy recall waits longer
    (mine,) = progress(store, "陈新").paths
    assert mine.title == "新人理赔" and mine.done == 1 and len(mine.items) == 3
    assert [e.action for e in store.events(limit=100)][-2:] == ["learn.review", "learn.review"]
    with pytest.raises(ValueError, match="rating must be one of"):
        review(store, "e-chen", "item:basics", "perfect")


def test_gaps_find_the_planted_weak_employee(store: GraphStore, tmp_path) -> None:
    from seci.externalize import externalize
    from seci.internalize import gaps
    from tests.contract.test_people_contract import ingest, write

    plan = [  # (employee, id, reply, converted, conversations)
        ("王芳", "e-wang", "我帮您算笔账，每天不到一杯奶茶钱", 7, 8),
        ("李雷", "e-li", "这个价格包含了意外和住院两项保障", 3, 4),
        ("张强", "e-zhang", "那您再考虑一下吧", 0, 5),
    ]
    paths = []
    for name, person, reply, good, total in plan:
        for n in range(total):
            record = {
                "id": f"{person}-{n}",
                "employee": name,
                "employee_id": person,
                "customer": f"客户{person}{n}",
                "outcome": "converted" if n < good else "lost",
                "messages": [
                    {"role": "customer", "text": "这个保险太贵了"},
                    {"role": "employee", "speaker": name, "text": reply},
                ],
            }
            paths.append(write(tmp_path, f"{person}-{n}.json", record))
    ingest(store, *paths)
    externalize(store, EMB, full=True)  # type: ignore[arg-type]
    (gap,) = gaps(store, "e-zhang")
    assert (gap.successes, gap.trials) == (0, 5) and gap.team_rate == pytest.approx(
        11 / 14, abs=1e-3
    )
    assert gap.high < gap.team_rate and "0 of 5" in gap.why and "太贵" in gap.situation
    assert gaps(store, "e-wang") == [] and gaps(store, "李雷") == []  # 3 of 4: no evidence


def test_use_with_customers_and_mentoring_show_in_progress(course: GraphStore) -> None:
    from seci.feedback import record_feedback
    from seci.internalize import record_mentoring

    course.upsert_nodes([Employee(id="emp:wang", name="王芳", external_id="e-wang")])
    path = create_path(course, EMB, "新人理赔", "trainer", ["item:claims"])  # type: ignore[arg-type]
    assign_path(course, path.id, ["e-chen"], "trainer")
    record_feedback(course, "item:claims", "used", actor="e-chen")
    record_feedback(course, "item:claims", "worked", actor="e-chen")
    record_feedback(course, "item:claims", "worked", actor="e-wang")  # someone else's use
    record_mentoring(course, "王芳", "陈新", "理赔流程", "coached", "trainer", at=T0)
    report = progress(course, "陈新")
    (mine,) = report.paths
    claims = next(i for i in mine.items if i.item == "item:claims")
    assert (claims.used, claims.worked, claims.reviews) == (2, 1, 0)
    assert mine.done == 1  # it worked with a customer: learnt, without a review
    (session,) = report.mentoring
    assert (session.mentor, session.learner, session.kind) == ("王芳", "陈新", "coached")
    assert [e.action for e in course.events(limit=100)][-1] == "learn.mentoring"
    assert progress(course, "王芳").mentoring == []  # a mentor's own progress is theirs
    with pytest.raises(ValueError, match="two different people"):
        record_mentoring(course, "陈新", "e-chen", "理赔", "coached", "trainer")


def test_a_path_goes_to_a_whole_team(course: GraphStore) -> None:
    course.upsert_nodes(
        [
            Employee(id="emp:a", name="甲", team="claims"),
            Employee(id="emp:b", name="乙", team="claims"),
            Employee(id="emp:c", name="丙", team="sales"),
        ]
    )
    path = create_path(course, EMB, "理赔组必修", "trainer", ["item:claims"])  # type: ignore[arg-type]
    assigned = assign_path(course, path.id, ["team:claims"], "trainer")
    assert sorted(assigned.assignees) == ["emp:a", "emp:b"]
    assert [c.item for c in due_cards(course, "甲", now=T0)] == ["item:basics", "item:claims"]
    assert due_cards(course, "丙", now=T0) == []
    with pytest.raises(KeyError, match="no employee in team"):
        assign_path(course, path.id, ["team:nobody"], "trainer")

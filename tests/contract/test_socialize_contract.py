"""Socialization on both stores: experts ranked by outcomes with their uncertainty, not by volume
or raw rate, per topic; exemplar conversations of the best people, with why."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.store import GraphStore
from seci.socialize import exemplars, experts, prior_strength
from tests.conftest import HashEmbedder
from tests.contract.test_people_contract import ingest, write

EMB = HashEmbedder()
REFUND = ("理赔款什么时候到账", "理赔款三到五个工作日到账，到账会短信通知您")
PRICE = ("这个保险太贵了", "我帮您算笔账，每天不到一杯奶茶钱")


def chats(tmp_path: Path) -> list[Path]:
    """Claims (refund) questions: 王芳 40 of 50 worked, 李雷 1 of 1, 赵强 10 of 30. Price
    objections: 赵强 8 of 10, 王芳 2 of 10. Plus two conversations without an outcome."""
    plan = [
        ("王芳", "e-wang", REFUND, 40, 50),
        ("李雷", "e-li", REFUND, 1, 1),
        ("赵强", "e-zhao", REFUND, 10, 30),
        ("赵强", "e-zhao", PRICE, 8, 10),
        ("王芳", "e-wang", PRICE, 2, 10),
    ]
    records = []
    for name, person, (asked, answer), good, total in plan:
        for n in range(total):
            outcome = "converted" if n < good else "lost"
            records.append((f"{person}-{asked[:2]}-{n:02d}", name, person, asked, answer, outcome))
    records.append(("open-1", "李雷", "e-li", *REFUND, ""))
    records.append(("open-2", "李雷", "e-li", *REFUND, ""))
    paths = []
    for conv_id, name, person, asked, answer, outcome in records:
        conversation = {
            "id": conv_id,
            "employee": name,
            "employee_id": person,
            "customer": f"客户{conv_id}",
            "outcome": outcome,
            "messages": [
                {"role": "customer", "text": asked},
                {"role": "employee", "speaker": name, "text": answer},
            ],
        }
        paths.append(write(tmp_path, f"{conv_id}.json", conversation))
    return paths


@pytest.fixture
def team(store: GraphStore, tmp_path: Path) -> GraphStore:
    ingest(store, *chats(tmp_path))
    return store


def test_experts_rank_by_shrunk_outcomes_with_evidence(team: GraphStore) -> None:
    found = experts(team, EMB, "理赔款多久能到账")  # type: ignore[arg-type]
    names = [e.name for e in found.experts]
    assert names == ["王芳", "李雷", "赵强"]  # 40 of 50 beats 1 of 1, which beats 10 of 30
    top, single, weak = found.experts
    assert (top.successes, top.trials, top.conversations) == (40, 50, 50)
    assert (single.successes, single.trials, single.conversations) == (1, 1, 3)
    assert single.rate == 1.0 and single.estimate < top.estimate  # the raw rate would lead
    assert found.team_rate == pytest.approx(51 / 81, abs=1e-3)
    assert single.low < found.team_rate < single.high  # one conversation says little
    assert top.low > found.team_rate > weak.high  # fifty and thirty say a lot
    assert "40 of 50" in top.why and "2 more without a recorded outcome" in single.why
    assert top.evidence and all("e-wang" in title for title in top.evidence)
    # another topic, another expert; volume does not decide (王芳 has as many price chats)
    price = experts(team, EMB, "太贵了")  # type: ignore[arg-type]
    assert [e.name for e in price.experts][:2] == ["赵强", "王芳"]
    assert (price.experts[0].successes, price.experts[0].trials) == (8, 10)


def test_experts_on_nothing_known_say_so(team: GraphStore) -> None:
    found = experts(team, EMB, "zyxquartz 碳纤维")  # type: ignore[arg-type]
    assert found.experts == [] and found.hint and "zyxquartz" in found.hint


def test_exemplars_are_good_conversations_of_the_best_people(team: GraphStore) -> None:
    found = exemplars(team, EMB, "理赔款多久能到账", limit=3)  # type: ignore[arg-type]
    assert len(found) == 3
    assert all(x.employee == "王芳" and x.outcome == "converted" for x in found)
    assert all("王芳 handled it and it was converted" in x.why for x in found)


def test_prior_strength_follows_how_much_people_really_differ() -> None:
    alike = [(5, 10), (5, 10), (6, 10), (4, 10)]
    apart = [(10, 10), (0, 10), (9, 10), (1, 10)]
    assert prior_strength(alike, 0.5) > 50 > prior_strength(apart, 0.5)
    assert prior_strength([(1, 1)], 0.5) == 10.0  # too little to tell: the default

"""SECI metrics on both stores: items by kind and status, flow by stage from the event log,
coverage of frequent situations by approved talk tracks, suggestion outcomes."""

from __future__ import annotations

from graph.changes import CreateNode
from graph.model import ItemKind, KnowledgeItem
from graph.store import GraphStore
from seci import items as lifecycle
from seci.feedback import record_feedback
from seci.metrics import metrics, stage_of


def _track(item_id: str, evidence: int, kind: ItemKind = ItemKind.TALK_TRACK) -> KnowledgeItem:
    return KnowledgeItem(id=item_id, kind=kind, text=f"answer {item_id}", evidence=evidence)


def test_metrics_count_items_flow_coverage_and_use(store: GraphStore) -> None:
    nodes = [_track("t1", 6), _track("t2", 4), _track("t3", 1), _track("f1", 1, ItemKind.FAQ)]
    store.apply([CreateNode(node=n) for n in nodes], actor="seci.externalize", action="item.mined")
    lifecycle.approve(store, "t1", "km:lee")
    lifecycle.reject(store, "t3", "km:lee")
    record_feedback(store, "t1", "worked", actor="employee:li")
    record_feedback(store, "t1", "failed", actor="employee:li")
    record_feedback(store, "t2", "used", actor="employee:li")
    found = metrics(store, frequent=3)
    assert found.items["talk_track"] == {"draft": 1, "approved": 1, "rejected": 1, "retired": 0}
    assert found.items["faq"]["draft"] == 1
    # t1 (6 situations, approved) and t2 (4, draft) are frequent; t3 is rare and rejected
    assert (found.coverage.frequent, found.coverage.situations) == (2, 10)
    assert (found.coverage.approved, found.coverage.share) == (6, 0.6)
    assert found.stages == {
        "socialization": 0,
        "externalization": 1,
        "combination": 2,
        "internalization": 3,
    }
    assert sum(sum(day.values()) for day in found.flow.values()) == 6
    assert (found.suggestions.uses, found.suggestions.worked, found.suggestions.failed) == (
        3,
        1,
        1,
    )
    assert 0 < found.suggestions.success_lower_bound < 0.5  # 1 of 2 is no 50 % yet


def test_every_change_belongs_to_a_stage() -> None:
    assert stage_of("source.write") == "socialization"
    assert stage_of("item.mined") == "externalization"
    assert stage_of("item.merge") == stage_of("proposal.dismiss") == "combination"
    assert stage_of("feedback.worked") == "internalization"
    assert stage_of("seci.externalize.run") is None

"""The feedback loop on both stores: used / worked / failed count on the item at once, move
the next ranking, are events in the log, and survive re-mining."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.changes import CreateNode, Observe
from graph.model import Conversation, ItemStatus, KnowledgeItem, LinkType, Message
from graph.settings import Settings
from graph.store import GraphStore, NotFound
from ingest.build import source_id_for
from ingest.pipeline import Ingestor
from seci.assist import suggest
from seci.feedback import record_feedback, settle_outcomes
from tests.conftest import HashEmbedder

SITUATION = "customer says the premium is too expensive"


def _item(item_id: str, text: str) -> KnowledgeItem:
    item = KnowledgeItem(
        id=item_id,
        title="Price objection",
        situation=SITUATION,
        text=text,
        status=ItemStatus.APPROVED,
    )
    item.embedding = HashEmbedder().encode([item.search_text()])[0].tolist()
    return item


@pytest.fixture
def two_answers(store: GraphStore) -> GraphStore:
    """Two approved answers to one situation, equally relevant to the question asked (the
    same words; only the punctuation differs)."""
    a = _item("item-a", "Break it down: about one coffee a month.")
    b = _item("item-b", "Break it down: about one coffee a month!")
    store.apply([CreateNode(node=a), CreateNode(node=b)], actor="km", action="item.create")
    return store


def _ranking(store: GraphStore) -> list[str]:
    answer = suggest(store, HashEmbedder(), SITUATION, top_k=2)  # type: ignore[arg-type]
    return [s.id for s in answer.suggestions]


def test_feedback_moves_the_next_ranking_and_is_logged(two_answers: GraphStore) -> None:
    store = two_answers
    first, second = _ranking(store)
    for _ in range(3):
        record_feedback(store, first, "failed", actor="employee:li", reason="customer left")
    event = record_feedback(store, second, "worked", actor="employee:li")
    assert _ranking(store) == [second, first]
    failing = store.get_node(first)
    assert isinstance(failing, KnowledgeItem)
    assert (failing.uses, failing.feedback_successes, failing.feedback_trials) == (3, 0, 3)
    assert event.action == "feedback.worked" and event.actor == "employee:li"
    assert event.after[second] == {"uses": 1, "feedback_successes": 1, "feedback_trials": 1}
    logged = store.events(node_id=first, actions=["feedback.failed"])
    assert [e.reason for e in logged] == ["customer left"] * 3
    top = suggest(store, HashEmbedder(), SITUATION, top_k=1).suggestions[0]  # type: ignore[arg-type]
    assert top.item is not None and (top.item.stats.successes, top.item.stats.trials) == (1, 1)
    assert "worked 1 of 1" in top.why
    # undo takes a report back
    store.undo(event.seq, actor="km")
    assert store.get_node(second).feedback_trials == 0  # type: ignore[union-attr]


def test_feedback_survives_re_mining_and_links_the_conversation(
    two_answers: GraphStore,
) -> None:
    store = two_answers
    conversation = "conv-1"
    store.upsert_nodes([Conversation(id=conversation, uri="chat.json")])
    record_feedback(store, "item-a", "used", actor="employee:li", conversation_id=conversation)
    record_feedback(store, "item-a", "worked", actor="employee:li", conversation_id=conversation)
    mined_again = _item("item-a", "Break it down: about one coffee a month.")
    store.apply([Observe(node=mined_again)], actor="seci.externalize", action="item.mined")
    item = store.get_node("item-a")
    assert isinstance(item, KnowledgeItem)
    assert (item.uses, item.feedback_successes, item.feedback_trials) == (2, 1, 1)
    used = store.neighbours("item-a", [LinkType.USED_IN], "out")
    assert [(n.node.id, n.link.props["feedback"]) for n in used] == [(conversation, "worked")]


def test_feedback_refuses_what_is_not_an_item(store: GraphStore) -> None:
    store.upsert_nodes([Message(id="m1", text="hello", uri="chat.json")])
    with pytest.raises(NotFound, match="not a knowledge item"):
        record_feedback(store, "m1", "worked", actor="employee:li")
    with pytest.raises(NotFound, match="no suggestion"):
        record_feedback(store, "nope", "worked", actor="employee:li")
    with pytest.raises(ValueError, match="used, worked or failed"):
        record_feedback(store, "m1", "great", actor="employee:li")  # type: ignore[arg-type]


def _transcript(path: Path, conv_id: str, outcome: str) -> Path:
    conversation = {
        "id": conv_id,
        "outcome": outcome,
        "messages": [
            {"role": "customer", "text": "the premium is too expensive"},
            {"role": "employee", "text": "Break it down: about one coffee a month."},
        ],
    }
    path.write_text(json.dumps(conversation), encoding="utf-8")
    return path


def test_an_outcome_that_arrives_later_counts_on_the_items_used(
    two_answers: GraphStore, tmp_path: Path
) -> None:
    store = two_answers
    ingestor = Ingestor(store, HashEmbedder(), Settings(deid_key="test-key"))  # type: ignore[arg-type]
    # Used in a conversation Spiral has not seen yet: it waits for it.
    record_feedback(store, "item-a", "used", actor="employee:li", conversation_id="chat-77")
    assert store.get_node("item-a").awaiting == {"chat-77": "employee:li"}  # type: ignore[union-attr]
    # Used in a conversation ingested while still open (no outcome yet).
    open_chat = _transcript(tmp_path / "open.json", "chat-78", "")
    assert ingestor.ingest([open_chat]).failed == 0
    conv_78 = next(
        n.node.id for n in store.neighbours(source_id_for(str(open_chat)), [LinkType.PART_OF], "in")
    )
    record_feedback(store, "item-b", "used", actor="employee:wu", conversation_id=conv_78)
    assert settle_outcomes(store).settled == 0  # nothing has ended yet

    assert ingestor.ingest([_transcript(tmp_path / "won.json", "chat-77", "converted")]).failed == 0
    _transcript(open_chat, "chat-78", "lost")  # the open one ends badly
    assert ingestor.ingest([open_chat]).failed == 0
    report = settle_outcomes(store)
    assert (report.conversations, report.settled) == (2, 2)
    a, b = store.get_node("item-a"), store.get_node("item-b")
    assert isinstance(a, KnowledgeItem) and isinstance(b, KnowledgeItem)
    assert (a.uses, a.feedback_successes, a.feedback_trials, a.awaiting) == (1, 1, 1, {})
    assert (b.uses, b.feedback_successes, b.feedback_trials, b.awaiting) == (1, 0, 1, {})
    used = store.neighbours("item-b", [LinkType.USED_IN], "out")
    assert [(n.node.id, n.link.props["feedback"], n.link.props["by"]) for n in used] == [
        (conv_78, "failed", "employee:wu")
    ]
    outcomes = store.events(actions=["feedback.worked", "feedback.failed"])
    assert {e.actor for e in outcomes} == {"seci.outcomes"}
    # Counted once: settling again, or ingesting the same conversation again, adds nothing.
    assert settle_outcomes(store).settled == 0
    assert ingestor.ingest([tmp_path / "won.json"]).failed == 0
    assert settle_outcomes(store).settled == 0
    assert store.get_node("item-a").feedback_trials == 1  # type: ignore[union-attr]

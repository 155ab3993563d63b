"""Externalization and combination on both stores, on the sample corpus: which talk track was
mined from which conversations, which response ranks first, what not to say, decisions that
survive re-mining and re-ingest, merge and undo, and contradictions found between documents."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from graph.embeddings import get_embedder
from graph.model import Conversation, ItemStatus, KnowledgeItem, Label, LinkType, make_id
from graph.settings import Settings
from graph.store import GraphStore, NodeQuery
from ingest.build import source_id_for
from ingest.pipeline import Ingestor
from seci import items as lifecycle
from seci.assist import suggest
from seci.combine import proposals
from seci.externalize import externalize
from seci.situations import is_success
from seci.tracks import mined_members
from tests.contract.test_ingest_contract import EXAMPLES

pytestmark = pytest.mark.model  # mining quality depends on the real model and entity resolution

LOST_ANSWER = "价格是保险公司定的，我们也没办法。"
PRICE_LOST = "zh_ins_03_zhangqiang_price_lost.json"
PRICE_WON = "zh_ins_01_wangli_price_jindun.json"


def ingestor(store: GraphStore) -> Ingestor:
    return Ingestor(store, get_embedder(), Settings(deid_key="test-key"))


def _corpus(tmp_path: Path) -> Path:
    """A copy of the sample transcripts and notes that a test may change."""
    root = tmp_path / "corpus"
    (root / "transcripts").mkdir(parents=True)
    (root / "notes").mkdir()
    for path in (EXAMPLES / "transcripts").glob("zh_ins_*.json"):  # the insurance chats
        shutil.copy(path, root / "transcripts" / path.name)
    for name in ("wangli_price_objection.md", "emma_refund_anger.md"):
        shutil.copy(EXAMPLES / "notes" / name, root / "notes" / name)
    return root


def _items(store: GraphStore) -> list[KnowledgeItem]:
    page = store.query_nodes(NodeQuery(label=Label.KNOWLEDGE_ITEM, limit=10_000))
    return [n for n in page.nodes if isinstance(n, KnowledgeItem)]


def _price_track(store: GraphStore) -> KnowledgeItem:
    found = [i for i in _items(store) if any(a.text == LOST_ANSWER for a in i.avoid)]
    assert len(found) == 1, [i.title for i in _items(store)]
    item = store.get_node(found[0].id)
    assert isinstance(item, KnowledgeItem)
    return item


def _conversation_of(store: GraphStore, path: Path) -> str:
    convs = store.neighbours(source_id_for(str(path)), [LinkType.PART_OF], "in")
    return next(n.node.id for n in convs if isinstance(n.node, Conversation))


@pytest.fixture
def mined(store: GraphStore, tmp_path: Path) -> tuple[GraphStore, Path]:
    root = _corpus(tmp_path)
    report = ingestor(store).ingest([root / "transcripts", root / "notes"])
    assert report.failed == 0
    result = externalize(store, get_embedder())
    assert result.full and result.created > 5
    return store, root


def test_price_objection_is_mined_with_outcomes_and_what_not_to_say(
    mined: tuple[GraphStore, Path],
) -> None:
    store, root = mined
    track = _price_track(store)
    assert "价格太贵" in track.title  # named after the objection
    _, members = mined_members(store, track.id)
    conversations = {m.conversation for _, m in members}
    lost = _conversation_of(store, root / "transcripts" / PRICE_LOST)
    won = _conversation_of(store, root / "transcripts" / PRICE_WON)
    assert {lost, won} <= conversations
    derived = {n.node.id for n in store.neighbours(track.id, [LinkType.DERIVED_FROM], "out")}
    assert {lost, won} <= derived
    assert track.trials >= 2 and 1 <= track.successes < track.trials
    best = track.responses[0]
    assert best.text == track.text and best.successes == best.trials >= 1  # it always worked
    assert all(r.text != LOST_ANSWER for r in track.responses)
    bad = next(a for a in track.avoid if a.text == LOST_ANSWER)
    assert (bad.successes, bad.trials) == (0, 1)
    said_by = {n.node.id for n in store.neighbours(track.id, [LinkType.SAID_BY], "out")}
    assert len(said_by) >= 2  # the employees who answered
    mentions = {n.node.name for n in store.neighbours(track.id, [LinkType.MENTIONS], "out")}  # type: ignore[attr-defined]
    assert "价格太贵" in mentions
    # the note items carry their author and note as provenance
    notes = [i for i in _items(store) if i.kind.value in ("faq", "fact")]
    assert notes and all(store.neighbours(i.id, [LinkType.SAID_BY], "out") for i in notes)
    # "what should I say" never suggests what not to say, and flags drafts
    answer = suggest(store, get_embedder(), "金盾医疗险三百多一年，是不是太贵了？", top_k=8)
    assert all(LOST_ANSWER not in s.text for s in answer.suggestions)
    from_track = [s for s in answer.suggestions if s.id == track.id]
    assert from_track and from_track[0].draft and from_track[0].item is not None
    assert from_track[0].item.stats.trials == track.trials


def test_rerun_is_incremental_and_decisions_survive_mining_and_reingest(
    mined: tuple[GraphStore, Path],
) -> None:
    store, root = mined
    embedder = get_embedder()
    quiet = externalize(store, embedder)
    assert not quiet.full and (quiet.created, quiet.updated, quiet.sources) == (0, 0, 0)
    track = _price_track(store)
    lifecycle.approve(store, track.id, "km:lee", "good answers")
    lifecycle.edit(store, track.id, {"title": "价格异议：金盾太贵"}, "km:lee")
    others = {i.id: i.version for i in _items(store) if i.id != track.id}
    # one new converted conversation about the same objection
    new = root / "transcripts" / "zh_new_price.json"
    new.write_text(
        json.dumps(
            {
                "id": "zh-new-1",
                "employee": "王丽",
                "outcome": "converted",
                "messages": [
                    {"role": "customer", "text": "金盾百万医疗险一年三百多，太贵了"},
                    {
                        "role": "employee",
                        "text": LOST_ANSWER.replace("保险公司", "公司")
                        + "不过我帮您算笔账：一天不到1块钱。",
                    },
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    ingestor(store).ingest([new])
    again = externalize(store, embedder)
    assert again.sources == 1 and again.clusters <= 2
    after = store.get_node(track.id)
    assert isinstance(after, KnowledgeItem)
    assert after.status is ItemStatus.APPROVED and after.title == "价格异议：金盾太贵"
    assert after.evidence == track.evidence + 1 and after.trials == track.trials + 1
    untouched = {i.id: i.version for i in _items(store) if i.id in others}
    assert untouched == others  # only the affected cluster was written
    # re-ingest a changed conversation: mined again, the decisions stay
    won = root / "transcripts" / PRICE_WON
    changed = json.loads(won.read_text(encoding="utf-8"))
    changed["messages"].append({"role": "customer", "text": "好的，谢谢王老师"})
    won.write_text(json.dumps(changed, ensure_ascii=False), encoding="utf-8")
    assert ingestor(store).ingest([won]).files[0].status == "ingested"
    externalize(store, embedder)
    kept = store.get_node(track.id)
    assert isinstance(kept, KnowledgeItem)
    assert kept.status is ItemStatus.APPROVED and kept.title == "价格异议：金盾太贵"
    assert kept.evidence == after.evidence and kept.trials == after.trials
    # forget the lost conversation: its evidence goes, the decisions stay
    lost = root / "transcripts" / PRICE_LOST
    ingestor(store).forget(lost)
    externalize(store, embedder)
    final = store.get_node(track.id)
    assert isinstance(final, KnowledgeItem)
    assert final.status is ItemStatus.APPROVED and final.title == "价格异议：金盾太贵"
    assert all(a.text != LOST_ANSWER for a in final.avoid)
    assert final.trials == after.trials - 1
    events = store.events(node_id=track.id, actions=["item.mined"])
    assert len(events) >= 3  # mined, updated twice: every change is in the log


def _chat(path: Path, conv_id: str, asked: str, answer: str) -> Path:
    messages = [{"role": "customer", "text": asked}, {"role": "employee", "text": answer}]
    data = {"id": conv_id, "employee": "王丽", "outcome": "resolved", "messages": messages}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_lone_situation_finds_its_partner_in_a_later_run(
    mined: tuple[GraphStore, Path],
) -> None:
    store, root = mined
    embedder = get_embedder()
    answer = "可以机洗，选羽绒服模式、30度以下，洗后拍打蓬松再晾干。"
    first = _chat(root / "wash1.json", "w1", "你好，羽绒服可以机洗吗？", answer)
    ingestor(store).ingest([first])
    alone = externalize(store, embedder)
    assert alone.situations == 1 and alone.created == 0  # one situation is no talk track yet
    second = _chat(root / "wash2.json", "w2", "请问羽绒服能不能用洗衣机机洗", answer)
    ingestor(store).ingest([second])
    paired = externalize(store, embedder)
    assert paired.sources == 1 and paired.created == 1
    track = next(i for i in _items(store) if i.text == answer)
    conversations = {m.conversation for _, m in mined_members(store, track.id)[1]}
    assert conversations == {_conversation_of(store, first), _conversation_of(store, second)}


def test_merge_keeps_both_sides_and_undo_restores_both_exactly(
    mined: tuple[GraphStore, Path],
) -> None:
    store, _ = mined
    tracks = sorted(
        (i for i in _items(store) if i.kind.value == "talk_track"), key=lambda i: -i.evidence
    )
    keep, other = (store.get_node(tracks[0].id), store.get_node(tracks[1].id))
    assert isinstance(keep, KnowledgeItem) and isinstance(other, KnowledgeItem)

    def snapshot() -> tuple[object, ...]:
        return tuple(
            (
                store.get_node(i).model_dump(exclude={"version", "updated_at"}),  # type: ignore[union-attr]
                sorted(
                    (n.link.type.value, n.direction, n.node.id, n.link.source_id)
                    for n in store.neighbours(i)
                ),
            )
            for i in (keep.id, other.id)
        )

    before = snapshot()
    event = lifecycle.merge(store, keep.id, other.id, "km:lee", "same situation")
    merged = store.get_node(keep.id)
    gone = store.get_node(other.id)
    assert isinstance(merged, KnowledgeItem) and isinstance(gone, KnowledgeItem)
    assert merged.evidence == keep.evidence + other.evidence
    # outcomes count once per conversation: both sides may share conversations
    both = mined_members(store, keep.id)[1]
    known = {m.conversation: is_success(m.outcome) for _, m in both}
    assert merged.trials == sum(v is not None for v in known.values()) >= keep.trials
    assert merged.merged_from == [other.id]
    assert gone.status is ItemStatus.RETIRED and gone.merged_into == keep.id
    _, members = mined_members(store, keep.id)
    assert len(members) == keep.evidence + other.evidence  # provenance of both sides
    store.undo(event.seq, "km:lee", "wrong merge")
    assert snapshot() == before
    # a split moves chosen situations out into a new draft; undo puts them back
    _, members = mined_members(store, keep.id)
    moved = [target for target, _ in members[:1]]
    split = lifecycle.split(store, get_embedder(), keep.id, moved, "km:lee", "two situations")
    new_id = make_id(Label.KNOWLEDGE_ITEM, keep.kind.value, "split", moved[0])
    assert [t for t, _ in mined_members(store, new_id)[1]] == moved
    assert moved[0] not in {t for t, _ in mined_members(store, keep.id)[1]}
    assert store.get_node(keep.id).evidence == keep.evidence - 1  # type: ignore[union-attr]
    store.undo(split.seq, "km:lee")
    assert store.get_node(new_id) is None and snapshot() == before


def test_contradiction_between_two_policies_is_proposed_and_decided(
    store: GraphStore,
) -> None:
    docs = [
        EXAMPLES / "docs" / "云裳服饰_退换货政策.md",
        EXAMPLES / "docs" / "云裳门店退换货须知.md",
    ]
    assert ingestor(store).ingest(docs).failed == 0
    found = proposals(store, kinds=["contradiction"])
    returns = [p for p in found if set(p.details["values"]) == {"7天", "15天"}]
    assert len(returns) == 1, [p.reason for p in found]
    proposal = returns[0]
    sources = {store.get_node(i).source_id for i in proposal.ids}  # type: ignore[union-attr]
    assert sources == {source_id_for(str(d)) for d in docs}
    assert any("无理由退货" in s for s in proposal.details["sentences"])
    event = lifecycle.link(
        store, proposal.ids[0], proposal.ids[1], LinkType.CONTRADICTS, "km:lee", "old notice"
    )
    assert proposal.id not in {p.id for p in proposals(store, kinds=["contradiction"])}
    store.undo(event.seq, "km:lee")
    assert proposal.id in {p.id for p in proposals(store, kinds=["contradiction"])}
    lifecycle.dismiss(store, proposal.ids, "contradiction", "km:lee", "both hold")
    assert proposal.id not in {p.id for p in proposals(store, kinds=["contradiction"])}

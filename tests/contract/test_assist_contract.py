""" "What should I say", second generation, on both stores: distinct options, the conversation
so far, the customer's history, approval, outcomes, openings and Chinese paraphrases.

A small corpus written here (so each expectation is visible next to its data) goes through the
real ingest pipeline with the packaged model; knowledge items are made the way curators and
mining make them (store.apply)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.changes import CreateNode
from graph.embeddings import get_embedder
from graph.model import ItemKind, ItemStatus, KnowledgeItem, Label, Sentence
from graph.settings import Settings
from graph.store import GraphStore, NodeQuery
from graph.text import index_terms
from ingest.pipeline import Ingestor, customer_node_id
from seci import items as lifecycle
from seci.assist import AskRequest, Turn, suggest
from seci.feedback import record_feedback
from seci.ranking import similarity

pytestmark = pytest.mark.model

SETTINGS = Settings(deid_key="test-key")
WAITING = "投保后有30天等待期，等待期过了就正式生效，意外没有等待期。"
CLAIM = "资料齐全后10个工作日内审核完，审核通过后1到3个工作日打到您的银行卡。"
GIVE_UP = "价格是保险公司定的，我们也没办法。"
VALUE = "理解您的顾虑，金盾一年三百多，算下来每天不到一块钱，保额有六百万。"

CONVERSATIONS = [
    {
        "id": "price-won",
        "customer_id": "cust-a",
        "employee": "王丽",
        "outcome": "converted",
        "messages": [
            {"role": "customer", "text": "金盾百万医疗险一年要三百多，太贵了"},
            {"role": "employee", "text": VALUE},
            {"role": "customer", "text": "那要多久才能生效呢？"},
            {"role": "employee", "text": WAITING},
        ],
    },
    {
        "id": "claim-resolved",
        "customer_id": "cust-b",
        "employee": "王丽",
        "outcome": "resolved",
        "messages": [
            {"role": "customer", "text": "我住院的理赔材料上周已经全部交上去了"},
            {"role": "employee", "text": "好的，我帮您查一下理赔进度。"},
            {"role": "customer", "text": "那要多久钱才能到？"},
            {"role": "employee", "text": CLAIM},
        ],
    },
    {
        "id": "price-lost",
        "customer_id": "cust-c",
        "employee": "张强",
        "outcome": "lost",
        "messages": [
            {"role": "customer", "text": "你们的保费比众安尊享e生贵太多了"},
            {"role": "employee", "text": GIVE_UP},
        ],
    },
    {
        "id": "history",
        "customer_id": "cust-d",
        "employee": "李娜",
        "outcome": "resolved",
        "messages": [
            {"role": "customer", "text": "我去年买的安心重疾险，想问问保障范围"},
            {"role": "employee", "text": "安心重疾险保120种重疾，确诊即赔。"},
        ],
    },
]
FAQ = """# 理赔到账时间
客户常见问法：
- 理赔多久能到账？
- 报销的钱什么时候打给我？
- 住院赔款几天能到银行卡？
- 理赔审核要多长时间？

答：资料齐全后10个工作日内审核完成，通过后1-3个工作日到账，可以在公众号查进度。

# 安心重疾险保障范围
安心重疾险保障120种重大疾病和30种轻症，确诊即一次性赔付保额。
金盾百万医疗险报销住院医疗费，和重疾险可以搭配。
"""


@pytest.fixture
def corpus(store: GraphStore, tmp_path: Path) -> GraphStore:
    chats = tmp_path / "chats"
    chats.mkdir()
    for conv in CONVERSATIONS:
        (chats / f"{conv['id']}.json").write_text(json.dumps(conv, ensure_ascii=False), "utf-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "理赔FAQ.md").write_text(FAQ, "utf-8")
    report = Ingestor(store, get_embedder(), SETTINGS).ingest([chats, docs])
    assert report.failed == 0
    return store


def _ask(store: GraphStore, request: AskRequest | str, top_k: int = 5):  # type: ignore[no-untyped-def]
    return suggest(store, get_embedder(), request, top_k)


def _answers(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [s.text for s in result.suggestions if not s.opening]


def _item(store: GraphStore, situation: str, text: str, status: ItemStatus) -> KnowledgeItem:
    item = KnowledgeItem(
        id=f"item:{abs(hash((situation, text))) % 10**8}",
        kind=ItemKind.TALK_TRACK,
        status=ItemStatus.DRAFT,
        title=situation,
        situation=situation,
        text=text,
        uri="test",
        embedding=get_embedder().encode([f"{situation}\n{situation}\n{text}"])[0].tolist(),
    )
    store.apply([CreateNode(node=item)], actor="test", action="item.create")
    if status is ItemStatus.APPROVED:
        lifecycle.approve(store, item.id, actor="km")
    found = store.get_node(item.id)
    assert isinstance(found, KnowledgeItem)
    return found


def test_options_are_distinct_and_whole_turns(corpus: GraphStore) -> None:
    result = _ask(corpus, "客户嫌金盾医疗险贵，我该怎么说")
    texts = _answers(result)
    assert len(texts) >= 3
    assert len(set(texts)) == len(texts)
    terms = [frozenset(index_terms(t)) for t in texts]
    for i in range(len(terms)):
        for j in range(i + 1, len(terms)):
            assert similarity(terms[i], terms[j]) < 0.8, (texts[i], texts[j])
    assert any(VALUE in t for t in texts[:3])
    assert "金盾百万医疗险" in result.entities  # the product in play is recognised


def test_a_reply_from_a_lost_conversation_is_never_offered(corpus: GraphStore) -> None:
    result = _ask(corpus, "你们的保费比众安尊享e生贵太多了", top_k=10)
    assert result.suggestions
    assert all(GIVE_UP not in t for t in _answers(result))


def test_the_conversation_so_far_decides_what_how_long_means(corpus: GraphStore) -> None:
    price = [
        Turn(role="customer", text="金盾医疗险三百多一年太贵了"),
        Turn(role="employee", text="每天不到一块钱，保额六百万"),
        Turn(role="customer", text="那要多久？"),
    ]
    claim = [
        Turn(role="customer", text="住院理赔的材料我都交齐了"),
        Turn(role="employee", text="我帮您查一下进度"),
        Turn(role="customer", text="那要多久？"),
    ]
    after_price = _answers(_ask(corpus, AskRequest(context=price)))
    after_claim = _answers(_ask(corpus, AskRequest(context=claim)))
    assert WAITING in after_price[0], after_price
    assert any(s in after_claim[0] for s in ("工作日", "到账")), after_claim
    alone = _answers(_ask(corpus, "那要多久？"))
    assert alone  # the words alone still get options


def test_an_opening_line_comes_first_until_the_employee_speaks(corpus: GraphStore) -> None:
    waiting = AskRequest(context=[Turn(role="customer", text="金盾百万医疗险一年多少钱？太贵了吧")])
    result = _ask(corpus, waiting)
    assert result.suggestions[0].opening
    assert result.suggestions[0].text.strip()
    assert not any(s.opening for s in result.suggestions[1:])
    assert result.suggestions[0].text not in [s.text for s in result.suggestions[1:]]
    assert len(result.suggestions) >= 4  # the opening, then the options
    spoken = AskRequest(
        context=[*waiting.context, Turn(role="employee", text="您好，我是王丽")],
        query="还是觉得贵",
    )
    assert not any(s.opening for s in _ask(corpus, spoken).suggestions)
    assert not any(s.opening for s in _ask(corpus, "太贵了").suggestions)  # no context


def test_approved_outranks_a_draft_of_equal_relevance(corpus: GraphStore) -> None:
    situation = "客户问能不能分期付保费"
    draft = _item(corpus, situation, "可以选择月缴，每月二十多块。", ItemStatus.DRAFT)
    approved = _item(corpus, situation, "支持月缴，每个月扣二十多元即可。", ItemStatus.APPROVED)
    result = _ask(corpus, situation)
    ids = [s.id for s in result.suggestions]
    assert ids.index(approved.id) < ids.index(draft.id)
    top = result.suggestions[ids.index(approved.id)]
    assert not top.draft and top.item is not None and top.item.status == "approved"
    assert result.suggestions[ids.index(draft.id)].draft


def test_an_unseen_chinese_paraphrase_finds_the_talk_track(corpus: GraphStore) -> None:
    answer = "材料齐了一般两周内到账，我每天帮您盯进度。"
    track = _item(corpus, "理赔款多久能到账", answer, ItemStatus.APPROVED)
    for paraphrase in ("赔款大概几天能打过来", "报销款啥时候能到账啊"):
        top = _ask(corpus, paraphrase, top_k=3).suggestions
        assert track.id in [s.id for s in top], (paraphrase, [s.title for s in top])


def test_a_listed_question_is_found_by_its_own_sentence(corpus: GraphStore) -> None:
    sentences = corpus.query_nodes(NodeQuery(label=Label.SENTENCE, limit=100)).nodes
    assert any(isinstance(s, Sentence) and "银行卡" in s.text for s in sentences)
    top = _ask(corpus, "住院的赔款要几天才能到银行卡", top_k=3).suggestions
    faq = [s for s in top if s.sources and s.sources[0].uri.endswith("理赔FAQ.md")]
    assert faq and "理赔到账时间" in faq[0].title
    assert "住院赔款几天能到银行卡" in faq[0].why  # the line that matched is named


def test_what_the_customer_asked_before_is_in_play(corpus: GraphStore) -> None:
    customer = customer_node_id(SETTINGS, "cust-d")
    assert corpus.get_node(customer) is not None
    plain = _ask(corpus, "这个保什么病？")
    known = _ask(corpus, AskRequest(query="这个保什么病？", customer=customer))
    assert "安心重疾险" in known.entities and "安心重疾险" not in plain.entities
    best = known.suggestions[0]
    assert "安心重疾险" in best.text and best.signals is not None
    assert "安心重疾险" in best.signals.entities


def test_feedback_moves_an_item_in_the_next_answer(corpus: GraphStore) -> None:
    situation = "客户说月缴太麻烦"
    a = _item(corpus, situation, "可以开通自动扣款，不用每月操心。", ItemStatus.DRAFT)
    b = _item(corpus, situation, "也可以选年缴，一次交完更省事。", ItemStatus.DRAFT)
    first = [s.id for s in _ask(corpus, situation).suggestions]
    loser, winner = (a, b) if first.index(a.id) < first.index(b.id) else (b, a)
    for _ in range(4):
        record_feedback(corpus, winner.id, "worked", actor="emp")
        record_feedback(corpus, loser.id, "failed", actor="emp")
    again = [s.id for s in _ask(corpus, situation).suggestions]
    assert again.index(winner.id) < again.index(loser.id)


@pytest.mark.parametrize("nonsense", ["*", "😀😀😀", "(((()", "asdf qwer zxcv"])
def test_nothing_relevant_gets_no_options_not_five_at_high_scores(
    corpus: GraphStore, nonsense: str
) -> None:
    result = _ask(corpus, nonsense)
    assert result.suggestions == []
    assert result.hint and ("nothing to search for" in result.hint or "close" in result.hint)


def test_weak_options_are_flagged_and_keep_their_rank(corpus: GraphStore) -> None:
    assert _ask(corpus, "how do I file a travel claim").suggestions == []  # a Chinese corpus
    result = _ask(corpus, "客户嫌金盾医疗险贵，我该怎么说")
    assert result.suggestions[0].weak is False
    scores = [s.score for s in result.suggestions]
    assert scores[0] == max(scores)  # the gate flags, the ranking orders
    for s in result.suggestions:
        assert s.signals is not None
        assert s.weak == (s.signals.overlap < 0.01), s  # Chinese: the shared terms decide
        assert ("a weak match" in s.why) == s.weak


THANKS = "不客气，祝您生活愉快，还有问题随时联系我们。"


def test_the_reply_colleagues_usually_give_comes_first(store: GraphStore, tmp_path: Path) -> None:
    """Three colleagues close "好的，谢谢" the same way; one answered it with more about the
    price. After a price talk the usual closing line still comes first, and says why."""
    chats = tmp_path / "thanks"
    chats.mkdir()
    topics = ["运费多少钱", "什么时候发货", "可以开发票吗", "运费能便宜点吗"]
    for n, topic in enumerate(topics):
        reply = THANKS if n < 3 else "运费的价格我再帮您确认一下，稍等。"
        conv = {
            "id": f"thanks-{n}",
            "outcome": "resolved",
            "messages": [
                {"role": "customer", "text": topic},
                {"role": "employee", "text": "好的，我帮您看一下。"},
                {"role": "customer", "text": "好的，谢谢"},
                {"role": "employee", "text": reply},
            ],
        }
        (chats / f"{conv['id']}.json").write_text(json.dumps(conv, ensure_ascii=False), "utf-8")
    assert Ingestor(store, get_embedder(), SETTINGS).ingest([chats]).failed == 0
    context = [Turn(role="customer", text="运费多少钱"), Turn(role="employee", text="10元")]
    result = _ask(store, AskRequest(query="好的，谢谢", context=context))
    first = result.suggestions[0]
    assert first.text == THANKS, _answers(result)
    assert "2 other replies found say much the same" in first.why
    assert first.signals is not None and first.signals.consensus > 1.0

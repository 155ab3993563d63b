"""Gazetteer loading and offline extraction: names, rule values, keyword topics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.model import Entity, EntityKind
from ingest.extract import Extractor, Mention, cn_number, extract
from ingest.gazetteer import GazetteerEntry, GazetteerError, load_gazetteer, merge
from ingest.nlp import get_nlp

ENTRIES = [
    GazetteerEntry(
        name="金盾医疗险",
        kind=EntityKind.PRODUCT,
        aliases=("Golden Shield Medical", "金盾医疗保险"),
    ),
    GazetteerEntry(name="金盾", kind=EntityKind.COMPETITOR),
    GazetteerEntry(name="安心重疾险", kind=EntityKind.PRODUCT),
    GazetteerEntry(name="价格太贵", kind=EntityKind.OBJECTION, aliases=("太贵了", "too expensive")),
    GazetteerEntry(name="return policy", kind=EntityKind.POLICY, aliases=("退货政策",)),
]


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor(ENTRIES)


def _found(mentions: list[Mention], kind: EntityKind) -> list[tuple[str, str]]:
    return [(m.surface, m.name) for m in mentions if m.kind == kind]


# -- gazetteer file ----------------------------------------------------------------------


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "gazetteer.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_load_gazetteer_reads_entries_and_merges_duplicates(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "entities": [
                {"name": " 金盾医疗险 ", "kind": "product", "aliases": ["Golden Shield Medical"]},
                {"name": "Golden Shield Medical", "kind": "product", "aliases": ["GSM", ""]},
                {"name": "太贵", "kind": "objection"},
            ]
        },
    )
    entries = load_gazetteer(path)
    assert [(e.name, e.kind, e.aliases) for e in entries] == [
        ("金盾医疗险", EntityKind.PRODUCT, ("Golden Shield Medical", "GSM")),
        ("太贵", EntityKind.OBJECTION, ()),
    ]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "Expecting property name"),
        ('[{"name": "x", "kind": "product"}]', '{"entities": [...]}'),
        ('{"entities": [{"name": "x", "kind": "money"}]}', "entities[0]: kind"),
        ('{"entities": [{"name": "x", "kind": "gadget"}]}', "entities[0]: kind"),
        ('{"entities": [{"name": "  ", "kind": "product"}]}', "entities[0]: name"),
        ('{"entities": [{"kind": "product"}]}', "entities[0]: name"),
        ('{"entities": [{"name": "x", "kind": "need", "aliases": "y"}]}', "aliases"),
    ],
)
def test_malformed_gazetteer_gives_a_clear_error(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(GazetteerError) as info:
        load_gazetteer(path)
    assert str(path) in str(info.value) and reason in str(info.value)


def test_missing_gazetteer_file_is_a_gazetteer_error(tmp_path: Path) -> None:
    with pytest.raises(GazetteerError, match=r"nope\.json"):
        load_gazetteer(tmp_path / "nope.json")


def test_merge_extends_the_gazetteer_with_graph_entities() -> None:
    approved = [
        Entity(id="e1", name="Golden Shield Medical", kind=EntityKind.PRODUCT, aliases=["GSM"]),
        Entity(id="e2", name="安心意外险", kind=EntityKind.PRODUCT),
        Entity(id="e3", name="CNY 3999", kind=EntityKind.MONEY),  # values are not names
        Entity(id="e4", name="金盾医疗险", kind=EntityKind.POLICY),  # another kind: separate
    ]
    merged = merge(ENTRIES, approved)
    shield = merged[0]
    assert shield.name == "金盾医疗险" and shield.aliases[-1] == "GSM"
    assert ENTRIES[0].aliases == ("Golden Shield Medical", "金盾医疗保险")  # not modified
    names = [(e.name, e.kind) for e in merged]
    assert ("安心意外险", EntityKind.PRODUCT) in names
    assert ("金盾医疗险", EntityKind.POLICY) in names
    assert all(e.name != "CNY 3999" for e in merged)
    assert Extractor(merged).extract("GSM 多少钱")[0].name == "金盾医疗险"


# -- gazetteer matching -------------------------------------------------------------------


def test_chinese_alias_found_even_when_jieba_splits_it(extractor: Extractor) -> None:
    text = "我想买金盾医疗险，但是太贵了"
    tokens = [t.text for t in get_nlp("zh").make_doc(text)]
    assert "金盾医疗险" not in tokens  # jieba cuts it, so token matching alone would miss it
    mentions = extractor.extract(text)
    assert _found(mentions, EntityKind.PRODUCT) == [("金盾医疗险", "金盾医疗险")]
    assert _found(mentions, EntityKind.OBJECTION) == [("太贵了", "价格太贵")]
    assert _found(mentions, EntityKind.COMPETITOR) == []  # longest alias wins over 金盾
    assert extractor.extract("金盾的产品怎么样")[0].kind == EntityKind.COMPETITOR


def test_english_aliases_are_case_insensitive_whole_words(extractor: Extractor) -> None:
    mentions = extractor.extract(
        "Is GOLDEN SHIELD MEDICAL too expensive? Ask about our Return Policy."
    )
    assert [(m.surface, m.name, m.method) for m in mentions if m.method == "gazetteer"] == [
        ("GOLDEN SHIELD MEDICAL", "金盾医疗险", "gazetteer"),
        ("too expensive", "价格太贵", "gazetteer"),
        ("Return Policy", "return policy", "gazetteer"),
    ]
    assert not [m for m in extractor.extract("goldenshield medicals") if m.method == "gazetteer"]


def test_aliases_in_the_other_language_are_found(extractor: Extractor) -> None:
    zh = extractor.extract("我想了解一下Golden Shield Medical的保障范围")
    assert _found(zh, EntityKind.PRODUCT) == [("Golden Shield Medical", "金盾医疗险")]
    en = extractor.extract("What does the 金盾医疗保险 plan cover for hospital stays?")
    assert _found(en, EntityKind.PRODUCT) == [("金盾医疗保险", "金盾医疗险")]


def test_character_scan_respects_word_edges_and_spacing(extractor: Extractor) -> None:
    text = "我要golden   shield\nmedical，不要return policyholder的东西"
    mentions = [m for m in extractor.extract(text) if m.method == "gazetteer"]
    assert [(m.surface, m.name) for m in mentions] == [("golden   shield\nmedical", "金盾医疗险")]


def test_confidence_is_highest_for_the_canonical_name(extractor: Extractor) -> None:
    exact, alias = extractor.extract("金盾医疗险"), extractor.extract("金盾医疗保险")
    assert exact[0].confidence == 1.0 and 0.9 <= alias[0].confidence < 1.0


def test_offsets_point_into_the_original_text(extractor: Extractor) -> None:
    text = "ＧＯＬＤＥＮ ＳＨＩＥＬＤ ＭＥＤＩＣＡＬ，价格１２００元，优惠２０％。Ｍｒ. Li 说太贵了"
    mentions = extractor.extract(text)
    assert mentions
    for mention in mentions:
        assert text[mention.start : mention.end] == mention.surface
    assert ("１２００元", "CNY 1200") in _found(mentions, EntityKind.MONEY)
    assert ("２０％", "20%") in _found(mentions, EntityKind.PERCENT)
    assert _found(mentions, EntityKind.PRODUCT) == [
        ("ＧＯＬＤＥＮ ＳＨＩＥＬＤ ＭＥＤＩＣＡＬ", "金盾医疗险")
    ]


# -- rules ----------------------------------------------------------------------------------

RULE_CASES = [
    (EntityKind.MONEY, "这款要¥3,999吗", "¥3,999", "CNY 3999"),
    (EntityKind.MONEY, "价格是３９９９元", "３９９９元", "CNY 3999"),
    (EntityKind.MONEY, "大概5千元左右", "5千元", "CNY 5000"),
    (EntityKind.MONEY, "首付1万元", "1万元", "CNY 10000"),
    (EntityKind.MONEY, "保额100万，够吗", "100万", "CNY 1000000"),
    (EntityKind.MONEY, "只要五千元", "五千元", "CNY 5000"),
    (EntityKind.MONEY, "It costs $25 a month", "$25", "USD 25"),
    (EntityKind.MONEY, "The fee is USD 25.00 per claim", "USD 25.00", "USD 25"),
    (EntityKind.MONEY, "I paid 25 dollars for it", "25 dollars", "USD 25"),
    (EntityKind.DURATION, "等待期一般30天左右吧", "30天", "30 days"),
    (EntityKind.DURATION, "3到5个工作日到账", "3到5个工作日", "3-5 business days"),
    (EntityKind.DURATION, "大概两周吧", "两周", "2 weeks"),
    (EntityKind.DURATION, "It ships in 2 weeks", "2 weeks", "2 weeks"),
    (EntityKind.DURATION, "We reply within 24 hours.", "24 hours", "24 hours"),
    (EntityKind.DURATION, "Give me three minutes", "three minutes", "3 minutes"),
    (
        EntityKind.DURATION,
        "Refunds take 3-5 business days",
        "3-5 business days",
        "3-5 business days",
    ),
    (EntityKind.POLICY_TERM, "支持7天无理由退货哦", "7天无理由退货", "7天无理由退货"),
    (EntityKind.POLICY_TERM, "支持七天无理由退货哦", "七天无理由退货", "7天无理由退货"),
    (EntityKind.POLICY_TERM, "另外15天换货", "15天换货", "15天换货"),
    (EntityKind.POLICY_TERM, "注意等待期30天", "等待期30天", "等待期30天"),
    (EntityKind.POLICY_TERM, "We offer a 30-day return.", "30-day return", "30 day return"),
    (
        EntityKind.POLICY_TERM,
        "There is a free exchange within 15 days.",
        "free exchange within 15 days",
        "free exchange within 15 days",
    ),
    (EntityKind.PERCENT, "可以优惠20%", "20%", "20%"),
    (EntityKind.PERCENT, "理赔比例百分之二十", "百分之二十", "20%"),
    (EntityKind.PERCENT, "现在打八折", "八折", "20% off"),
    (EntityKind.PERCENT, "会员8.5折", "8.5折", "15% off"),
    (EntityKind.PERCENT, "a discount of 15 percent", "15 percent", "15%"),
    (EntityKind.DATE, "生效日2026-03-05", "2026-03-05", "2026-03-05"),
    (EntityKind.DATE, "3月5日之前", "3月5日", "03-05"),
    (EntityKind.DATE, "2026年3月5日生效", "2026年3月5日", "2026-03-05"),
    (EntityKind.DATE, "Starting March 5, the plan changes", "March 5", "03-05"),
    (EntityKind.DATE, "until Mar 5th, 2026.", "Mar 5th, 2026", "2026-03-05"),
]


@pytest.mark.parametrize(("kind", "text", "surface", "name"), RULE_CASES)
def test_rules_find_values_with_canonical_names(
    kind: EntityKind, text: str, surface: str, name: str
) -> None:
    found = [m for m in extract(text) if m.kind == kind]
    assert [(m.surface, m.name, m.method) for m in found] == [(surface, name, f"rule:{kind.value}")]


@pytest.mark.parametrize(
    "text",
    [
        "第一天我们一块去吧",
        "2026年的计划",
        "我买了3,999个",
        "电话13800138000",
        "the 5 people I met",
    ],
)
def test_rules_do_not_fire_on_lookalikes(text: str) -> None:
    assert [m for m in extract(text) if m.method.startswith("rule:")] == []


def test_policy_term_and_the_policy_inside_it_are_both_kept(extractor: Extractor) -> None:
    mentions = extractor.extract("退货政策是7天无理由退货")
    kinds = {m.kind for m in mentions}
    assert {EntityKind.POLICY, EntityKind.POLICY_TERM} <= kinds
    assert EntityKind.DURATION not in kinds  # the 7天 inside the term is not repeated


def test_a_value_inside_a_gazetteer_name_is_not_repeated() -> None:
    entries = [
        GazetteerEntry(name="七天无理由退货", kind=EntityKind.POLICY, aliases=("7天无理由退货",))
    ]
    mentions = Extractor(entries).extract("支持7天无理由退货")
    assert [(m.name, m.kind) for m in mentions] == [("七天无理由退货", EntityKind.POLICY)]


def test_cn_number() -> None:
    assert [cn_number(t) for t in ["二十", "一百二十", "两万", "十五", "三千五百", "万", "半"]] == [
        20,
        120,
        20000,
        15,
        3500,
        10000,
        0.5,
    ]
    assert cn_number("天") is None


# -- keywords -------------------------------------------------------------------------------


def test_chinese_keywords_are_low_confidence_topics(extractor: Extractor) -> None:
    mentions = extractor.extract("我想了解金盾医疗险的理赔材料和保障范围，医院账单需要原件吗")
    topics = [m for m in mentions if m.kind == EntityKind.TOPIC]
    assert topics and all(m.method == "keyword:tfidf" for m in topics)
    assert all(0 < m.confidence < 0.9 for m in topics)
    names = {m.name for m in topics}
    assert {"理赔", "账单"} <= names  # a domain verb (rare) and a noun
    assert not names & {"金盾", "医疗险", "需要", "了解"}  # inside a name, or a common verb
    product = next(m for m in mentions if m.kind == EntityKind.PRODUCT)
    assert all(m.end <= product.start or m.start >= product.end for m in topics)


def test_english_keywords_are_phrases_without_stopwords() -> None:
    text = (
        "My delivery delay is annoying. The delivery delay happened twice, "
        "and the courier never called."
    )
    topics = [m for m in extract(text) if m.kind == EntityKind.TOPIC]
    assert topics and all(m.method == "keyword:rake" for m in topics)
    names = [m.name for m in topics]
    assert "delivery delay" in names and names.count("delivery delay") == 1
    assert not {"the", "and", "is", "my"} & {w for n in names for w in n.split()}
    for mention in topics:
        assert text[mention.start : mention.end].lower() == mention.name


def test_keywords_can_be_turned_off() -> None:
    mentions = Extractor(ENTRIES, keywords=False).extract("理赔材料和保障范围 claim documents")
    assert not [m for m in mentions if m.kind == EntityKind.TOPIC]


def test_empty_text_gives_no_mentions(extractor: Extractor) -> None:
    assert extractor.extract("") == [] and extractor.extract("  \n") == []


def test_a_text_seen_again_gives_the_same_mentions_in_a_list_of_its_own() -> None:
    """A live conversation is ingested again with every message: a short text's mentions and
    terms are kept, so each must come back equal and independent of what a caller did with
    the last answer; a long text is worked out each time and gives the same."""
    from graph.text import KEPT_TEXT_CHARS, search_tokens, segment_for_index

    extractor = Extractor([GazetteerEntry(name="安心保", kind=EntityKind.PRODUCT)])
    text = "安心保的保费是3999元，理赔多久能到账？"
    first = extractor.extract(text)
    first.clear()  # a caller changing its list changes nothing kept
    again = extractor.extract(text)
    assert again == Extractor([GazetteerEntry(name="安心保", kind=EntityKind.PRODUCT)]).extract(
        text
    )
    assert any(m.name == "安心保" for m in again) and any(m.name == "CNY 3999" for m in again)
    tokens = search_tokens(text)
    tokens.append("extra")
    assert "extra" not in search_tokens(text)
    assert segment_for_index(text) == segment_for_index(text[:]) and "理赔" in search_tokens(text)
    long = text * (KEPT_TEXT_CHARS // len(text) + 1)
    assert len(long) > KEPT_TEXT_CHARS
    assert extractor.extract(long) == extractor.extract(long)
    assert search_tokens(long)[: len(search_tokens(text))] == search_tokens(text)

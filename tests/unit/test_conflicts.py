"""Contradiction detection: which pair, which sentences, which values — and the planted
look-alikes (same figure in other words or units, another subject, ranges) left alone."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seci.conflicts import Contradiction, Statement, find_contradictions

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

POLICY = (
    "## 一、7天无理由退货\n"
    "- 自签收次日起7天内，商品吊牌完好、未穿着、未洗涤、不影响二次销售的，可申请无理由退货。\n"
    "## 二、15天换货\n"
    "- 自签收次日起15天内，可申请更换尺码或颜色（同款同价），每件商品限换1次。\n"
    "- 无理由退货：寄回运费由顾客承担（订单含运费险的除外）。\n"
    "- 银行卡、信用卡：3-7个工作日，以银行入账为准。"
)
STORE_NOTICE = (
    "- 自签收次日起15天内，商品吊牌完好、未穿着、未洗涤的，可申请无理由退货。\n"
    "- 自签收次日起15天内，可在任意门店更换尺码或颜色，每件商品限换1次。\n"
    "- 银行卡、信用卡退款：7-15个工作日到账，以银行入账为准。"
)


def pair(a: str, b: str, **kwargs: float) -> list[Contradiction]:
    return find_contradictions([Statement(id="a", text=a), Statement(id="b", text=b)], **kwargs)


def only(a: str, b: str) -> Contradiction:
    found = pair(a, b)
    assert len(found) == 1, found
    return found[0]


# -- contradictions are found, with their sentences and values ------------------------------


def test_return_window_7_against_15_days() -> None:
    c = only("7天无理由退货", "15天无理由退货")
    assert (c.a_id, c.b_id, c.kind, c.subject) == ("a", "b", "duration", "无理由退货")
    assert (c.a_value, c.b_value) == ("7天", "15天")
    assert (c.a_sentence, c.b_sentence) == ("7天无理由退货", "15天无理由退货")
    assert c.confidence == pytest.approx(1.0)


def test_deductible_in_wan_against_yuan() -> None:
    c = only("免赔额1万", "免赔额5000元")
    assert (c.kind, c.subject, c.a_value, c.b_value) == ("amount", "免赔额", "1万", "5000元")


def test_ids_are_ordered_and_values_follow() -> None:
    found = find_contradictions(
        [Statement(id="z-item", text="免赔额5000元"), Statement(id="a-doc", text="免赔额1万元")]
    )
    assert [(c.a_id, c.b_id, c.a_value, c.b_value) for c in found] == [
        ("a-doc", "z-item", "1万元", "5000元")
    ]


@pytest.mark.parametrize(
    ("a", "b", "kind", "values"),
    [
        (
            "Refunds within 3 business days",
            "Refunds within 10 business days",
            "duration",
            ("3 business days", "10 business days"),
        ),
        (
            "The deductible is USD 10,000",
            "The deductible is $5,000",
            "amount",
            ("USD 10,000", "$5,000"),
        ),
        (
            "Costs settled through social insurance are reimbursed at 100%.",
            "Costs settled through social insurance are reimbursed at 90%.",
            "percent",
            ("100%", "90%"),
        ),
        (
            "投保年龄：出生满28天至65周岁",
            "投保年龄：出生满28天至55周岁",
            "number",
            ("65周岁", "55周岁"),
        ),
        ("七天无理由退货", "15天无理由退货", "duration", ("七天", "15天")),
    ],
)
def test_figures_that_differ(a: str, b: str, kind: str, values: tuple[str, str]) -> None:
    c = only(a, b)
    assert (c.kind, c.a_value, c.b_value) == (kind, *values)
    assert (c.a_sentence, c.b_sentence) == (a.rstrip("."), b.rstrip("."))  # no terminator


def test_negation_flip() -> None:
    c = only("已发货订单不能直接取消。", "已发货订单可以直接取消。")
    assert c.kind == "negation"
    assert c.a_value.startswith("不能") and "不" not in c.b_value
    c = only("Renewal is guaranteed for 20 years.", "Renewal is not guaranteed.")
    assert (c.kind, c.a_value, c.b_value) == ("negation", "guarante", "not guarante")


def test_policy_term_who_pays() -> None:
    c = only("无理由退货：寄回运费由顾客承担。", "无理由退货的寄回运费由云裳承担。")
    assert (c.kind, c.a_value, c.b_value) == ("policy_term", "由顾客承担", "由云裳承担")
    assert "运费" in c.subject


def test_figures_in_one_sentence_are_paired_by_subject() -> None:
    c = only("一般医疗保险金：300万元，年度免赔额1万元。", "年度免赔额5000元。")
    assert (c.a_value, c.b_value) == ("1万元", "5000元")  # not 300万元
    assert "免赔额" in c.subject


def test_store_notice_against_policy_finds_the_planted_pair_only() -> None:
    found = find_contradictions(
        [
            Statement(id="policy", text=POLICY, group="policy.md"),
            Statement(id="store", text=STORE_NOTICE, group="store.md"),
        ]
    )
    got = {(c.a_value, c.b_value) for c in found}
    assert got == {("7天", "15天"), ("3-7个工作日", "7-15个工作日")}
    return_window = next(c for c in found if c.a_value == "7天")
    assert return_window.a_sentence.startswith("- 自签收次日起7天内")
    assert return_window.b_sentence.startswith("- 自签收次日起15天内，商品吊牌")


# -- look-alikes that are not contradictions ------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("7天无理由退货", "7天内可无理由退货"),
        ("免赔额1万元", "免赔额10000元"),
        ("免赔额1万", "免赔额一万元"),
        ("15天换货", "7天无理由退货"),
        ("退款3-7个工作日到账", "退款5个工作日到账"),
        ("两周内可换货", "14天内可换货"),
        ("48小时内发货", "2天内发货"),
        ("一个月内可免费维修", "30天内可免费维修"),
        ("十五天无理由退货", "15天无理由退货"),
        ("江浙沪1-2天送达，其他省份3-5天，偏远地区5-7天。", "偏远地区快递5-7天送达。"),
        ("质量问题、发错货：运费由云裳承担。", "无理由退货：寄回运费由顾客承担。"),
        ("The deductible is 10,000 CNY per year.", "The annual deductible is CNY 10000."),
        ("Refunds within two weeks.", "Refunds within 14 days."),
        ("Shipping takes 7-12 business days.", "Shipping usually takes 10 business days."),
        ("2026年3月版：7天无理由退货", "2025年版：7天无理由退货"),
        ("客服热线400-820-6688", "客服热线400-820-6699"),
    ],
)
def test_look_alikes_are_not_flagged(a: str, b: str) -> None:
    assert pair(a, b) == []


def test_same_group_and_same_statement_are_never_compared() -> None:
    same_group = [
        Statement(id="a", text="7天无理由退货", group="doc"),
        Statement(id="b", text="15天无理由退货", group="doc"),
    ]
    assert find_contradictions(same_group) == []
    assert find_contradictions([Statement(id="a", text="7天无理由退货。15天无理由退货。")]) == []
    other_group = [same_group[0], same_group[1].model_copy(update={"group": "other"})]
    assert len(find_contradictions(other_group)) == 1


def test_min_confidence_filters() -> None:
    a = "自签收次日起7天内，吊牌完好的商品可申请无理由退货。"
    b = "门店商品15天无理由退货。"
    found = pair(a, b, min_confidence=0.0)
    assert found and all(0.0 < c.confidence < 1.0 for c in found)
    top = max(c.confidence for c in found)
    assert pair(a, b, min_confidence=min(1.0, top + 0.01)) == []


# -- properties -----------------------------------------------------------------------------

TEMPLATES = [
    "自签收次日起{d}天内可申请无理由退货，退款{w}个工作日内到账。",
    "年度免赔额{y}元，报销比例{p}%。",
    "Refunds are issued within {w} business days; the deductible is CNY {y}.",
]


@PROPERTY
@given(
    template=st.sampled_from(TEMPLATES),
    d=st.integers(1, 60),
    w=st.integers(1, 20),
    y=st.integers(1, 9).map(lambda n: n * 10_000),
    p=st.integers(1, 100),
)
def test_a_statement_never_contradicts_itself_or_a_rewritten_copy(
    template: str, d: int, w: int, y: int, p: int
) -> None:
    text = template.format(d=d, w=w, y=y, p=p)
    rewritten = text.replace(f"{y}元", f"{y // 10_000}万元").replace(f"{d}天", f"{d * 24}小时")
    rewritten = rewritten.replace(f"CNY {y}", f"{y // 10_000}万元")
    statements = [Statement(id="a", text=text), Statement(id="b", text=text)]
    assert find_contradictions(statements) == []
    assert find_contradictions([statements[0], Statement(id="c", text=rewritten)]) == []


@PROPERTY
@given(d=st.integers(1, 60), e=st.integers(1, 60))
def test_changed_return_window_is_found_exactly_when_it_changes(d: int, e: int) -> None:
    found = pair(f"自签收次日起{d}天内可申请无理由退货。", f"{e}天无理由退货")
    assert [(c.a_value, c.b_value) for c in found] == ([] if d == e else [(f"{d}天", f"{e}天")])

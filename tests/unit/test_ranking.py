"""Ranking pieces that need no store: query terms, diversity, outcome factor, staleness."""

from __future__ import annotations

from datetime import UTC, datetime

from graph.text import index_terms, query_terms
from seci.ranking import Signals, agree, diversify, is_stale, outcome_factor


def test_chinese_index_terms_add_bigrams_beside_words() -> None:
    terms = index_terms("理赔款多久能到账")
    assert "理赔" in terms and "到账" in terms  # 理赔 is a bigram across jieba's 理/赔款
    assert len(terms) == len(set(terms)) and "理理" not in terms
    assert "理理" in index_terms("理赔款多久能到账", characters=True)  # a character term
    assert index_terms("refund please") == ["refund", "please"]  # no bigrams for English


def test_query_terms_leave_out_question_words_and_their_bigrams() -> None:
    terms = query_terms("理赔款什么时候能打到我卡上")
    assert "什么" not in terms and "时候" not in terms and "么时" not in terms
    assert {"理赔", "卡上"} <= set(terms)
    assert query_terms("什么时候") == ["什么", "时候"]  # only stop words: keep them all
    assert "the" not in query_terms("What is the premium?")


def test_diversify_prefers_a_different_approach_over_a_rewording() -> None:
    texts = [
        "算下来每天不到一块钱，保额六百万",
        "算下来每天不到一块钱，保额有六百万",  # a rewording of the first
        "可以先买基础版，明年再加保障",
    ]
    picked = diversify(texts, [1.0, 0.95, 0.8], k=2)
    assert picked == [0, 2]
    assert diversify(texts, [1.0, 0.95, 0.8], k=3) == [0, 2, 1]
    assert diversify(["a", "b"], [1.0, 0.9], k=2, groups=["item-1", "item-1"]) == [0]


def test_outcome_factor_uses_the_lower_bound_not_the_rate() -> None:
    assert outcome_factor(0, 0) == 1.0
    assert outcome_factor(40, 50) > outcome_factor(1, 1)  # 40 of 50 beats 1 of 1
    assert outcome_factor(0, 5) < 1.0 < outcome_factor(45, 50) <= 2.0
    assert outcome_factor(1, 1) == outcome_factor(0, 1) == 1.0  # one trial proves nothing
    assert outcome_factor(0, 10) < outcome_factor(0, 4) < outcome_factor(1, 3)


def test_signals_score_multiplies_the_factors() -> None:
    base = Signals(relevance=0.5, context=0.25).score()
    assert base == 0.75  # the words, and the conversation so far with the words
    assert Signals(relevance=0.5, context=0.25, approved=True).score() == 0.75 * 1.3
    four = Signals(relevance=0.5, context=0.25, entities=["a", "b", "c", "d"])
    assert four.score() == 0.75 * 1.3  # at most three entities count
    assert Signals(relevance=0.5, expired=True, outcome=0.8).score() == 0.5 * 0.7 * 0.8


def test_stale_after_two_years() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert is_stale("2024-01-01T00:00:00+08:00", now)
    assert not is_stale("2026-03-01", now) and not is_stale("", now) and not is_stale("x", now)


def test_agree_favours_what_most_replies_say_and_keeps_the_average() -> None:
    template = "不客气，祝您生活愉快，还有问题随时联系我们"
    texts = [
        template,
        template + "哦",
        "不客气，祝您生活愉快，有问题随时联系我们",
        "运费的事我再帮您确认一下价格",
    ]
    rows = agree(texts, [0.6, 0.5, 0.5, 1.0])
    factors = [factor for _, _, factor in rows]
    assert factors.index(min(factors)) == 3  # one person's wording, however relevant
    assert factors.index(max(factors)) in (0, 1)
    assert rows[0][1] == 2 and rows[3][1] == 0  # "much the same" counts
    assert abs(sum(factors) / len(factors) - 1.0) < 1e-9  # the replies' average stays put
    assert agree(["a b c", "x y z"], [1.0, 0.0])[0][0] == 0.0

"""Talk tracks from members (pure): responses ranked by shrunk outcomes, answers that say the
same thing grouped, what not to say, titles; and the clusterer's rules."""

from __future__ import annotations

import numpy as np

from seci.clusters import NO, Cluster, Clusterer, Features, content_tokens, situation_terms
from seci.tracks import Member, summarize


def member(conv: str, response: str, outcome: str, situation: str = "太贵了") -> Member:
    return Member(
        source="src",
        conversation=conv,
        outcome=outcome,
        situation=situation,
        response=response,
        response_id=f"{conv}#m1",
        speaker=f"employee:{conv}",
        entities="e:price",
        entity_names="价格太贵",
    )


def test_evidence_beats_a_single_lucky_success() -> None:
    members = [member(f"c{i}", "我帮您算笔账：一天不到一块钱。", "converted") for i in range(8)]
    members += [member(f"d{i}", "我帮您算笔账：一天不到一块钱。", "lost") for i in range(2)]
    members += [member("e0", "这款保障真的很全面哦。", "converted")]
    summary = summarize(members)
    first, second = summary.responses
    assert first.text == "我帮您算笔账：一天不到一块钱。" and (first.successes, first.trials) == (
        8,
        10,
    )
    assert (second.successes, second.trials) == (1, 1)  # its estimate is higher, its support not
    assert summary.text == first.text and (summary.successes, summary.trials) == (9, 11)
    assert summary.title.startswith("价格太贵: “")


def test_answers_saying_the_same_thing_are_one_response() -> None:
    members = [
        member("a", "亲，退款1-3个工作日到账哦", "resolved"),
        member("b", "亲，退款1-3个工作日到账哦~", "resolved"),
        member("c", "退款1-3个工作日到账", "resolved"),
    ]
    summary = summarize(members)
    assert len(summary.responses) == 1 and summary.responses[0].evidence == 3


def test_what_never_worked_where_others_did_is_not_suggested() -> None:
    members = [
        member("a", "理解您的顾虑，我帮您算笔账。", "converted"),
        member("b", "价格是公司定的，我们也没办法。", "lost"),
        member("c", "不清楚，您自己对比吧。", "escalated"),
    ]
    summary = summarize(members)
    assert [r.text for r in summary.responses] == ["理解您的顾虑，我帮您算笔账。"]
    assert {a.text for a in summary.avoid} == {
        "价格是公司定的，我们也没办法。",
        "不清楚，您自己对比吧。",
    }
    # without any success in the situation, one failure alone proves nothing
    alone = summarize([member("x", "稍等，我查一下。", "lost"), member("y", "好的", "")])
    assert not alone.avoid and alone.trials == 1


def test_unknown_outcomes_are_not_trials() -> None:
    summary = summarize([member("a", "好的", ""), member("b", "好的", "pending")])
    assert (summary.successes, summary.trials, summary.evidence) == (0, 0, 2)
    assert summary.responses[0].evidence == 2


def _features(vector: list[float], words: str, intents: list[str] | None = None) -> Features:
    v = np.asarray(vector, np.float32)
    return Features(
        vector=v / np.linalg.norm(v),
        tokens=situation_terms(words),
        entities=intents or [],
        intents=intents or [],
        language="zh",
    )


def test_clusterer_joins_alike_and_keeps_other_objections_apart() -> None:
    clusterer = Clusterer(threshold=0.45, dim=3)
    a = clusterer.add(_features([1, 0, 0], "金盾 保费 太贵", ["e:price"]), 0, "k0")
    b = clusterer.add(_features([1, 0.1, 0], "金盾 保费 太贵 了", ["e:price"]), 1, "k1")
    c = clusterer.add(_features([1, 0, 0], "金盾 保费 太贵", ["e:waiting"]), 2, "k2")
    assert a is b and a.members == [0, 1]
    assert c is not a  # same words, another objection: another situation
    assert content_tokens("[PHONE] 你好 在吗 退款") == [
        "退款"
    ]  # greetings and placeholders say nothing
    assert situation_terms("I can't donate today") == ["donate", "today", NO]


def test_a_no_does_not_join_a_cluster_of_yes() -> None:
    clusterer = Clusterer(threshold=0.45, dim=3)

    def english(vector: list[float], words: str) -> Features:
        f = _features(vector, words)
        f.language = "en"
        return f

    yes = clusterer.add(english([1, 0, 0], "I would donate to the children"), 0, "yes")
    clusterer.add(english([1, 0.05, 0], "sure I would donate to them"), 1, "yes2")
    # as alike as a sentence and its negation are to the model (cosine 0.86)
    no = clusterer.add(english([1, 0.6, 0], "I would not donate to the children"), 2, "no")
    assert yes.members == [0, 1] and no is not yes


def test_an_existing_item_is_a_cluster_new_situations_join() -> None:
    clusterer = Clusterer(threshold=0.45, dim=3)
    seeded = Cluster.from_profile(
        "item", np.asarray([1, 0, 0], np.float32), 5, {"退款": 5, "到账": 4}, {}, {}
    )
    clusterer.seed(seeded)
    joined = clusterer.add(_features([1, 0, 0], "退款 什么时候 到账"), 0, "new")
    assert joined is seeded and joined.n == 6 and joined.members == [0]

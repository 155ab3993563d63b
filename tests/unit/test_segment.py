"""Sentence splitting, chunking and transcript exchanges (Chinese and English)."""

from __future__ import annotations

import itertools

import pytest

from ingest.records import TranscriptMessage
from ingest.segment import MAX_CHARS, chunk_text, group_exchanges, reply_pairs, split_sentences


def test_chinese_sentences_split_on_chinese_punctuation_and_newlines() -> None:
    text = "您好。请问可以退货吗？可以！7天内有效；超过就不行……\n谢谢"
    assert split_sentences(text) == [
        "您好。",
        "请问可以退货吗？",
        "可以！",
        "7天内有效；",
        "超过就不行……",
        "谢谢",
    ]


def test_opening_quote_starts_the_next_sentence() -> None:
    assert split_sentences("他说。“真的吗？”我说是。") == ["他说。", "“真的吗？”", "我说是。"]


def test_english_sentences_keep_abbreviations_and_join_hard_wraps() -> None:
    text = "Mr. Smith asked about the plan. It covers most\nhospital stays. Really?\nYes"
    assert split_sentences(text) == [
        "Mr. Smith asked about the plan.",
        "It covers most hospital stays.",
        "Really?",
        "Yes",
    ]


def _sentences(n: int, zh: bool) -> str:
    if zh:
        return "".join(f"这是第{i}句关于退货政策的说明。" for i in range(n))
    return " ".join(f"This is sentence number {i} about the return policy." for i in range(n))


@pytest.mark.parametrize("zh", [True, False])
def test_chunks_respect_max_chars_and_never_cut_sentences(zh: bool) -> None:
    text = _sentences(40, zh)
    sentences = split_sentences(text)
    chunks = chunk_text(text, max_chars=120)
    assert len(chunks) > 3
    assert [c.position for c in chunks] == list(range(len(chunks)))
    joiner = "" if zh else " "
    for chunk in chunks:
        assert len(chunk.text) <= 120
        parts = split_sentences(chunk.text)
        assert all(part in sentences for part in parts)  # whole sentences only
        assert chunk.text == joiner.join(parts)
    assert {s for c in chunks for s in split_sentences(c.text)} == set(sentences)


@pytest.mark.parametrize("zh", [True, False])
def test_consecutive_chunks_overlap_by_one_sentence(zh: bool) -> None:
    chunks = chunk_text(_sentences(30, zh), max_chars=150)
    for before, after in itertools.pairwise(chunks):
        assert split_sentences(after.text)[0] == split_sentences(before.text)[-1]
    no_overlap = chunk_text(_sentences(30, zh), max_chars=150, overlap=0)
    assert sum(len(c.text) for c in no_overlap) < sum(len(c.text) for c in chunks)
    assert split_sentences(no_overlap[1].text)[0] != split_sentences(no_overlap[0].text)[-1]


def test_default_size_depends_on_language() -> None:
    zh = chunk_text(_sentences(100, zh=True))
    en = chunk_text(_sentences(100, zh=False))
    assert {c.language for c in zh} == {"zh"} and {c.language for c in en} == {"en"}
    assert max(len(c.text) for c in zh) <= MAX_CHARS["zh"] < max(len(c.text) for c in en)
    assert max(len(c.text) for c in en) <= MAX_CHARS["en"]
    assert max(len(c.text) for c in zh) > MAX_CHARS["zh"] * 0.8  # packed, not one per sentence


def test_headings_start_chunks_and_become_titles() -> None:
    text = (
        "Intro line before any heading.\n"
        "# 退货政策\n"
        "我们支持7天无理由退货。商品需保持完好。\n"
        "## Return policy ##\n"
        "You can return items within 30 days.\n"
        "```\n# not a heading, a comment in code\n```\n"
    )
    chunks = chunk_text(text)
    assert [(c.title, c.language) for c in chunks] == [
        ("", "en"),
        ("退货政策", "zh"),
        ("Return policy", "en"),
    ]
    assert chunks[1].text == "我们支持7天无理由退货。商品需保持完好。"
    assert "# not a heading" in chunks[2].text
    assert "退货" not in chunks[2].text  # no overlap across a heading


def test_overlong_sentence_is_hard_split_in_order() -> None:
    long_zh = "这是一句非常长的句子，" * 30 + "结束。"
    chunks = chunk_text(long_zh, max_chars=50)
    assert all(len(c.text) <= 50 for c in chunks)
    assert "".join(c.text for c in chunks) == long_zh
    long_en = "word " * 100 + "end."
    pieces = chunk_text(long_en, max_chars=60)
    assert all(len(c.text) <= 60 for c in pieces)
    assert all(not c.text.startswith("ord") for c in pieces)  # cut at spaces


def test_list_lines_keep_their_line_breaks() -> None:
    chunks = chunk_text("# 条款\n- 第一条：七天退货\n- 第二条：十五天换货\n")
    assert chunks[0].text == "- 第一条：七天退货\n- 第二条：十五天换货"


def test_empty_and_heading_only_text_give_no_chunks() -> None:
    assert chunk_text("") == []
    assert chunk_text("# Title only\n\n") == []


def _messages(roles: str) -> list[TranscriptMessage]:
    names = {"c": "customer", "e": "employee", "s": "system"}
    return [TranscriptMessage(role=names[r], text=f"{r}{i}") for i, r in enumerate(roles)]


def test_exchanges_group_customer_runs_with_their_answers() -> None:
    assert group_exchanges(_messages("eccecceec")) == [0, 1, 1, 1, 2, 2, 2, 2, 3]
    assert group_exchanges(_messages("ccsee")) == [0, 0, 0, 0, 0]
    assert group_exchanges(_messages("")) == []


def test_reply_pairs_answer_the_last_customer_message_of_the_exchange() -> None:
    messages = _messages("eccecceec")
    assert reply_pairs(messages) == [(3, 2), (6, 5), (7, 5)]
    as_dicts = [m.model_dump() for m in messages]
    assert reply_pairs(as_dicts) == reply_pairs(messages)
    assert group_exchanges(as_dicts) == group_exchanges(messages)

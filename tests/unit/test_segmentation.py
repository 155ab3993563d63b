"""jieba's segmentation, shared by keyword extraction and the full-text index: the same
words as jieba's own calls, whatever the text."""

from __future__ import annotations

import jieba
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.text import _search_words, jieba_words, search_tokens
from ingest.extract import _View, _zh_keywords

# Chat-like Chinese, Latin letters and digits (jieba keeps them in its blocks), the
# punctuation and spaces it cuts blocks at, full-width forms and an emoji.
_ALPHABET = (
    "您好请问退款理赔什么时候到账已经帮您申请了订单号京东手机壳"
    "ABCiphone12x_.%#&+-，。！？、 \n\t（）：Ａ１😀"
)
CHAT = [
    "您好，请问退款什么时候到账？",
    "亲，已经帮您申请了，订单号12345678，预计1-3个工作日到账哦",
    "iPhone12 的手机壳有货吗？  需要 100% 正品",
    "好的好的～谢谢😀",
    "中华人民共和国消费者权益保护法规定七天无理由退货",  # long words: their 2- and 3-grams
]


@settings(max_examples=400, deadline=None)
@given(st.text(_ALPHABET, max_size=40))
def test_words_are_jiebas_own(text: str) -> None:
    assert jieba_words(text) == list(jieba.cut(text))
    assert _search_words(text) == list(jieba.cut_for_search(text))


def test_chat_lines_segment_as_jieba_does() -> None:
    for text in CHAT:
        assert jieba_words(text) == [w for w, _, _ in jieba.tokenize(text)]
        assert _search_words(text) == list(jieba.cut_for_search(text))
        assert search_tokens(text)  # words, punctuation dropped
        assert "，" not in search_tokens(text)


def test_keyword_offsets_are_jiebas() -> None:
    """A keyword's offsets are those jieba.tokenize gives its first occurrence."""
    for text in CHAT:
        view = _View(text)
        spans = {w: (a, b) for w, a, b in reversed(list(jieba.tokenize(view.text)))}
        for start, end, word, _ in _zh_keywords(view, 10):
            assert (start, end) == spans[word]
            assert view.text[start:end] == word

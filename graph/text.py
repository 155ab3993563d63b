"""Text helpers shared by ingest and search: language guess and search tokenisation.

Both stores index the same jieba-segmented, lower-cased text, so Chinese and English are
searched the same way whatever the backend's own analyzer does.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache

__all__ = [
    "INDEX_TERMS_VERSION",
    "LATIN_WORD",
    "character_term",
    "content_characters",
    "detect_language",
    "index_terms",
    "is_cjk",
    "jieba_words",
    "normalize",
    "query_terms",
    "search_tokens",
    "segment_for_index",
    "shingles",
]

# Bump when what the index holds for a text changes: both stores re-index once when opened.
# 2: Chinese character bigrams; 3: characters for knowledge; 4: characters as own terms.
INDEX_TERMS_VERSION = 4

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"\w", re.UNICODE)
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")


def is_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def detect_language(text: str) -> str:
    """'zh' when a meaningful share of letters are CJK ideographs, else 'en'."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "en"
    cjk = sum(1 for c in letters if _CJK.match(c))
    return "zh" if cjk / len(letters) >= 0.2 else "en"


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), lower case, collapsed whitespace."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


@lru_cache(maxsize=1)
def _jieba():  # type: ignore[no-untyped-def]
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


# Short texts (chat messages) are segmented once each: a live conversation is ingested again
# with every message, and segmenting all its earlier messages again was a fifth of an append
# at 80 messages. jieba's dictionary never changes in a process: the same text, the same
# tokens. Long texts (document chunks) are not kept: they do not come back, and would weigh.
KEPT_TEXT_CHARS = 500
KEPT_TEXTS = 5_000


def search_tokens(text: str) -> list[str]:
    """Word tokens for search: jieba for CJK runs (search mode, so compounds also yield their
    parts), plain word split for the rest; punctuation dropped."""
    if len(text) <= KEPT_TEXT_CHARS:
        return list(_kept_tokens(text))
    return list(_search_tokens(text))


@lru_cache(maxsize=KEPT_TEXTS)
def _kept_tokens(text: str) -> tuple[str, ...]:
    return _search_tokens(text)


def _search_tokens(text: str) -> tuple[str, ...]:
    tokens: list[str] = []
    for token in _search_words(normalize(text)):
        token = token.strip()
        if token and _WORD.search(token):
            tokens.append(token)
    return tuple(tokens)


# jieba's words for one block (a run it segments as a whole: Chinese, letters, digits), kept:
# an import segments each chat message twice (its keywords, then its index terms), and chats
# repeat their phrases (好的, 请问还有什么可以帮您): 31,719 blocks in 994 JDDC sessions, 15,967
# distinct. The dictionary never changes in a process (no word is added), so neither do they.
KEPT_BLOCKS = 50_000


def jieba_words(text: str) -> list[str]:
    """`jieba.cut(text)` (its default mode, HMM on), each block segmented once per process:
    jieba cuts the text into blocks at everything that is not Chinese, a letter or a digit,
    and segments each block on its own."""
    words: list[str] = []
    for block in _jieba().re_han_default.split(text):
        if block:  # the runs between blocks too: punctuation and spaces, mostly the same few
            words += _block_words(block)
    return words


@lru_cache(maxsize=KEPT_BLOCKS)
def _block_words(block: str) -> tuple[str, ...]:
    return tuple(_jieba().dt.cut(block))


def _search_words(text: str) -> list[str]:
    """`jieba.cut_for_search(text)` from `jieba_words`: each word, after the dictionary words
    of two and three characters inside it."""
    freq = _jieba().dt.FREQ
    out: list[str] = []
    for word in jieba_words(text):
        if len(word) > 2:
            out += [word[i : i + 2] for i in range(len(word) - 1) if freq.get(word[i : i + 2])]
        if len(word) > 3:
            out += [word[i : i + 3] for i in range(len(word) - 2) if freq.get(word[i : i + 3])]
        out.append(word)
    return out


def _grams(text: str, seen: set[str], characters: bool = True) -> list[str]:
    """Chinese character bigrams, and with `characters` each character as a character term
    (`character_term`)."""
    grams: list[str] = []
    for run in _CJK_RUN.findall(normalize(text)):
        for i in range(len(run) - 1):
            gram = run[i : i + 2]
            if gram not in seen:
                seen.add(gram)
                grams.append(gram)
        if characters:
            for c in run:
                term = character_term(c)
                if term not in seen:
                    seen.add(term)
                    grams.append(term)
    return grams


def character_term(char: str) -> str:
    """A single character as an index term of its own, written twice (理 → 理理): both stores
    then keep it apart from the one-character words jieba emits (钱, 卡), so a query's
    characters match the characters of knowledge, not every chat message with that word."""
    return char * 2


def index_terms(text: str, characters: bool = False) -> list[str]:
    """What the full-text index holds: the words, and for Chinese also every character bigram
    (and with `characters` every character). A paraphrase rarely keeps jieba's words (理赔多久
    能到账 vs 赔款几天到) but often keeps some bigrams and characters; measured in
    benchmarks/assist_eval.py."""
    words = search_tokens(text)
    return words + _grams(text, set(words), characters)


_STOP_TEXT = """
什么 什么时候 时候 怎么 怎么办 怎么样 怎样 为什么 为啥 多少 哪些 哪个 哪里 请问 一下 可以 能不能
是不是 有没有 会不会 要不要 我们 你们 他们 这个 那个 这样 那样 就是 还是 如果 因为 所以 但是 而且
已经 现在 然后 一个 没有 需要 应该 知道 觉得 的话 您好 你好 好的 谢谢 麻烦 那么 这么 吗 呢 吧 啊
的 了 是 我 你 您 他 她 它 在 有 和 就 都 也 还 又 要 会 能 想 让 给 把 被 说 问 去 来 对 嗯
a an the is are am be was were do does did i me my you your we our to of in on at for and
or it this that what how can could should would will with
"""
_STOPWORDS = frozenset(_STOP_TEXT.split())


_STOP_CHARACTERS = frozenset(c for w in _STOPWORDS for c in w if is_cjk(c))


def content_characters(text: str) -> list[str]:
    """The Chinese characters of `text` that are not part of a stop word, once each."""
    return list(dict.fromkeys(c for c in text if is_cjk(c) and c not in _STOP_CHARACTERS))


def query_terms(text: str) -> list[str]:
    """What a full-text query looks for: the index terms less the stop words and the
    bigrams that touch one ("什么时候" gives no 么时, "能打" is dropped), so "什么时候确诊"
    does not answer "理赔款什么时候到". All terms when nothing else is left."""
    words = list(dict.fromkeys(search_tokens(text)))
    stop_chars = {c for w in words if w in _STOPWORDS for c in w}
    kept = [w for w in words if w not in _STOPWORDS]
    kept += [g for g in _grams(text, set(words)) if not stop_chars & set(g) and g not in _STOPWORDS]
    return kept or words


# A run of letters or digits that is not Chinese (a word of a Latin-script language).
LATIN_WORD = re.compile(r"[^\W\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+", re.UNICODE)
_CJK_ANY_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


@lru_cache(maxsize=20_000)
def shingles(text: str) -> frozenset[str]:
    """Words and Chinese character bigrams (a lone character as itself), without a
    segmenter: for telling rewordings apart quickly, where `index_terms` costs a jieba pass.
    Kept per text: an ask compares the same replies and tracks that the last ones did."""
    flat = normalize(text)
    out = set(LATIN_WORD.findall(flat))
    for run in _CJK_ANY_RUN.findall(flat):
        out.update(run[i : i + 2] for i in range(max(1, len(run) - 1)))
    return frozenset(out)


def segment_for_index(text: str, characters: bool = False) -> str:
    """The space-joined term string both stores put in their full-text index."""
    if len(text) <= KEPT_TEXT_CHARS:
        return _kept_segments(text, characters)
    return " ".join(index_terms(text, characters))


@lru_cache(maxsize=KEPT_TEXTS)
def _kept_segments(text: str, characters: bool) -> str:
    return " ".join(index_terms(text, characters))

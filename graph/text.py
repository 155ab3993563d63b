"""Text helpers shared by ingest and search: language guess and search tokenisation.

Both stores index the same jieba-segmented, lower-cased text, so Chinese and English are
searched the same way whatever the backend's own analyzer does.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache

__all__ = ["detect_language", "is_cjk", "normalize", "search_tokens", "segment_for_index"]

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"\w", re.UNICODE)


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


def search_tokens(text: str) -> list[str]:
    """Word tokens for search: jieba for CJK runs (search mode, so compounds also yield their
    parts), plain word split for the rest; punctuation dropped."""
    tokens: list[str] = []
    for token in _jieba().cut_for_search(normalize(text)):
        token = token.strip()
        if token and _WORD.search(token):
            tokens.append(token)
    return tokens


def segment_for_index(text: str) -> str:
    """The space-joined token string both stores put in their full-text index."""
    return " ".join(search_tokens(text))

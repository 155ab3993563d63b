"""spaCy pipelines for Chinese and English, built once per process.

Why cached: building a blank pipeline and initialising jieba's dictionary costs about a
second; segmentation and extraction run per message, so they must reuse one pipeline.
No trained model is needed (none can be downloaded offline): Chinese uses spaCy's jieba
segmenter, both languages use a rule-based sentencizer.
"""

from __future__ import annotations

import logging
import threading

from spacy.language import Language

from graph.text import detect_language

__all__ = ["ZH_SENTENCE_PUNCT", "get_nlp", "language_of"]

# Sentence-final marks for Chinese text (plus ASCII ones, since chats mix them) and newline.
ZH_SENTENCE_PUNCT = ["。", "！", "？", "；", "…", "!", "?", ";", "\n", "｡", "︒", "﹒"]

_lock = threading.Lock()
_pipelines: dict[str, Language] = {}


def language_of(text: str, language: str | None = None) -> str:
    """The given language when set, else the guess from graph.text ('zh' or 'en')."""
    return language if language in ("zh", "en") else detect_language(text)


def _build(language: str) -> Language:
    import spacy

    if language == "zh":
        import jieba

        jieba.setLogLevel(logging.WARNING)
        nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
        nlp.add_pipe("sentencizer", config={"punct_chars": ZH_SENTENCE_PUNCT})
    else:
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
    return nlp


def get_nlp(language: str) -> Language:
    """The shared pipeline (tokenizer + sentencizer) for 'zh' or 'en'; others fall back to 'en'.

    Callers must not add components to it: it is shared by the whole process.
    """
    key = "zh" if language == "zh" else "en"
    with _lock:
        if key not in _pipelines:
            _pipelines[key] = _build(key)
        return _pipelines[key]

"""Sentence splitting, sentence-aware chunking and transcript exchanges.

Why sentence-aware: a chunk is what search returns and what an employee reads, so it must
not stop mid-sentence; a one-sentence overlap keeps the context a follow-up sentence needs.
Markdown headings start a new chunk and travel with it as its title, so a chunk found by
search still says which section it came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from ingest.nlp import get_nlp, language_of

__all__ = [
    "MAX_CHARS",
    "TextChunk",
    "chunk_text",
    "group_exchanges",
    "reply_pairs",
    "split_sentences",
]

# Default chunk size by language: Chinese packs about twice the meaning per character.
MAX_CHARS = {"zh": 400, "en": 800}

_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(?:```|~~~)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d+[.)]|\|)\s")
_TERMINAL = ".!?:;。！？；…"
_SOFT_BREAKS = " \t，,、：:；;）)"
# Opening quotes and brackets the sentencizer leaves at the end of the previous sentence.
_OPENERS = "“‘「『（(《【〈[{"

Unit = tuple[str, str]  # (sentence text, separator that follows it)


class TextChunk(BaseModel):
    """A piece of a document small enough to search and read on its own."""

    text: str
    position: int
    language: str
    title: str = ""


def _sections(text: str) -> list[tuple[str, list[str]]]:
    """(heading, body lines) pairs; text before the first heading has an empty heading.
    Lines inside fenced code blocks are never taken as headings."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading:
            sections.append((heading.group(1).strip(), []))
        else:
            sections[-1][1].append(line)
    return [(title, lines) for title, lines in sections if any(s.strip() for s in lines)]


def _continues(previous: str, line: str) -> bool:
    """English hard-wrapped text: a lower-case line after an unfinished one continues it."""
    return (
        bool(previous)
        and previous[-1] not in _TERMINAL
        and line[:1].islower()
        and not _LIST_ITEM.match(line)
    )


def _logical_lines(lines: Sequence[str], language: str) -> list[str]:
    """Non-blank lines, with English hard wraps joined back into one line."""
    out: list[str] = []
    previous = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            previous = ""
            continue
        if language == "en" and _continues(previous, line):
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
        previous = out[-1]
    return out


def _reattach_openers(sentences: list[str]) -> list[str]:
    """Move an opening quote or bracket stranded at a sentence end to the next sentence."""
    out: list[str] = []
    carry = ""
    for sentence in sentences:
        body = (carry + sentence).rstrip(_OPENERS)
        carry = (carry + sentence)[len(body) :]
        if body.strip():
            out.append(body.strip())
    if carry and out:
        out[-1] += carry
    return out


def _units(lines: Sequence[str], language: str) -> list[Unit]:
    """Sentences of the lines; the last sentence of a line is followed by a newline."""
    joiner = "" if language == "zh" else " "
    units: list[Unit] = []
    for doc in get_nlp(language).pipe(_logical_lines(lines, language)):
        sentences = _reattach_openers([s.text.strip() for s in doc.sents if s.text.strip()])
        units.extend((s, joiner) for s in sentences)
        if sentences:
            units[-1] = (units[-1][0], "\n")
    return units


def split_sentences(text: str, language: str | None = None) -> list[str]:
    """Sentences of `text` (newlines always end a sentence in Chinese, and a line in both)."""
    language = language_of(text, language)
    return [sentence for sentence, _ in _units(text.splitlines(), language)]


def _hard_split(text: str, max_chars: int) -> list[str]:
    """Cut an over-long sentence, preferring a space or comma in the second half of the window."""
    pieces: list[str] = []
    while len(text) > max_chars:
        cut = max(text.rfind(c, 0, max_chars) for c in _SOFT_BREAKS) + 1
        if cut <= max_chars // 2:
            cut = max_chars
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*pieces, text] if text else pieces


def _fit(units: list[Unit], max_chars: int, language: str) -> list[Unit]:
    """Units no longer than max_chars (long sentences hard-split, the pieces kept in order)."""
    joiner = "" if language == "zh" else " "
    out: list[Unit] = []
    for sentence, sep in units:
        pieces = _hard_split(sentence, max_chars)
        out.extend((piece, joiner) for piece in pieces[:-1])
        out.append((pieces[-1], sep))
    return out


def _join(units: Sequence[Unit]) -> str:
    return "".join(text + sep for text, sep in units[:-1]) + units[-1][0] if units else ""


def _pack(units: list[Unit], max_chars: int, overlap: int) -> list[str]:
    """Greedy packing of whole sentences; each new chunk repeats the last `overlap` ones."""
    chunks: list[str] = []
    current: list[Unit] = []
    for unit in units:
        if current and len(_join([*current, unit])) > max_chars:
            chunks.append(_join(current))
            current = current[-overlap:] if overlap > 0 else []
            while current and len(_join([*current, unit])) > max_chars:
                current.pop(0)
        current.append(unit)
    if current:
        chunks.append(_join(current))
    return chunks


def chunk_text(
    text: str,
    max_chars: int | None = None,
    overlap: int = 1,
    language: str | None = None,
) -> list[TextChunk]:
    """Sentence-aware chunks, numbered from 0; a Markdown heading starts a new chunk and is
    its title. The language (and so the default size) is taken per section unless given."""
    chunks: list[TextChunk] = []
    for title, lines in _sections(text):
        lang = language_of("\n".join([title, *lines]), language)
        limit = max_chars or MAX_CHARS.get(lang, MAX_CHARS["en"])
        units = _fit(_units(lines, lang), limit, lang)
        for piece in _pack(units, limit, overlap):
            chunks.append(TextChunk(text=piece, position=len(chunks), language=lang, title=title))
    return chunks


def _role(message: Any) -> str:
    return str(message.get("role", "") if isinstance(message, Mapping) else message.role)


def group_exchanges(messages: Sequence[Any]) -> list[int]:
    """Exchange number (from 0) of each message: a run of customer messages and the employee
    messages that answer them. An employee opening before any customer turn is exchange 0
    on its own; system messages stay in the exchange they fall in."""
    numbers: list[int] = []
    current, answered = 0, False
    for message in messages:
        role = _role(message)
        if role == "customer" and answered:
            current, answered = current + 1, False
        elif role == "employee":
            answered = True
        numbers.append(current)
    return numbers


def reply_pairs(messages: Sequence[Any]) -> list[tuple[int, int]]:
    """(employee message index, customer message index it answers): the last customer
    message before it in the same exchange. Employee messages with none are left out."""
    exchanges = group_exchanges(messages)
    pairs: list[tuple[int, int]] = []
    last_customer: int | None = None
    for index, message in enumerate(messages):
        role = _role(message)
        if role == "customer":
            last_customer = index
        elif (
            role == "employee"
            and last_customer is not None
            and exchanges[last_customer] == exchanges[index]
        ):
            pairs.append((index, last_customer))
    return pairs

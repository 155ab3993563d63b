"""Employee notes: a Markdown or text file whose first non-empty line names its author
(`author: 王丽`, `作者：王丽`). The author line is how a note is told apart from a document, and
it is what lets the graph credit the person whose tacit knowledge it is."""

from __future__ import annotations

import re

from ingest.loaders.text_io import decode_text, sha256_hex, stem_of
from ingest.records import LoadedNote, LoadError

__all__ = ["load_note", "note_author", "note_from_text"]

_AUTHOR = re.compile(r"^\s*(?:author|作者)\s*[:：]\s*(\S.*?)\s*$", re.IGNORECASE)
_HEADING = re.compile(r"^\s*#{1,6}\s+")
_TITLE_MAX = 60


def note_author(text: str) -> str | None:
    """The author named on the first non-empty line, or None when the text is not a note."""
    for line in text.splitlines():
        if line.strip():
            m = _AUTHOR.match(line)
            return m.group(1) if m else None
    return None


def load_note(data: bytes, uri: str, require_author: bool = False) -> LoadedNote:
    return note_from_text(decode_text(data, uri), uri, sha256_hex(data), require_author)


def note_from_text(text: str, uri: str, raw_hash: str, require_author: bool = False) -> LoadedNote:
    """The author line is metadata and leaves the text; the title is the next line (heading
    marks removed), cut to a title's length. Without an author line (a forced `--kind note`)
    the whole text is the note and the author stays empty."""
    lines = text.splitlines()
    author = ""
    start = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    if start < len(lines) and (m := _AUTHOR.match(lines[start])):
        author = m.group(1)
        lines = lines[start + 1 :]
    elif require_author:
        raise LoadError(uri, "not a note: the first line is not 'author: NAME' or '作者：NAME'")
    body = "\n".join(lines).strip()
    if not body:
        raise LoadError(uri, "note has no text")
    first = _HEADING.sub("", body.splitlines()[0]).strip()
    title = first if len(first) <= _TITLE_MAX else first[: _TITLE_MAX - 1].rstrip() + "…"
    return LoadedNote(
        uri=uri, text=body, author=author, title=title or stem_of(uri), raw_hash=raw_hash
    )

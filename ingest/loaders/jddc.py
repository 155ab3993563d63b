"""JD.com JDDC 2019 chats: TSV lines `session_id, user_id, is_agent, flag, flag, sku, text`,
one message per line, sessions contiguous. Personal data is already masked ([订单x], [姓名x]).

The full corpus is about a gigabyte, so `load_jddc` streams the file and can stop after
`limit_sessions`; benchmarks use that instead of the limits of `load`."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from pathlib import Path

from ingest.loaders.text_io import undecodable
from ingest.loaders.transcript_common import finish
from ingest.records import LoadedTranscript, LoadError, TranscriptConversation, TranscriptMessage
from ingest.untrusted import clean_text

__all__ = ["load_jddc", "looks_like_jddc", "parse_jddc"]

_FIELDS = 7


def looks_like_jddc(text: str) -> bool:
    """Most of the first 20 lines have 7 tab-separated fields and 0/1 in the third."""
    lines = [line for line in text.splitlines()[:40] if line.strip()][:20]
    if not lines:
        return False
    hits = 0
    for line in lines:
        fields = line.split("\t", _FIELDS - 1)
        hits += len(fields) == _FIELDS and fields[2].strip() in ("0", "1")
    return hits >= 0.8 * len(lines)


def load_jddc(
    path: Path, uri: str | None = None, limit_sessions: int | None = None
) -> LoadedTranscript:
    """Stream a JDDC file. With `limit_sessions` only the first N sessions are read, and
    `raw_hash` covers the lines read (for the whole file it is the file's sha256)."""
    uri = uri or str(path)
    try:
        with Path(path).open("rb") as handle:
            return _parse_lines(handle, uri, limit_sessions)
    except FileNotFoundError:
        raise LoadError(uri, "no such file") from None
    except IsADirectoryError:
        raise LoadError(uri, "is a folder, not a file") from None
    except PermissionError:
        raise LoadError(uri, "cannot read: permission denied") from None


def parse_jddc(data: bytes, uri: str, limit_sessions: int | None = None) -> LoadedTranscript:
    """The same over bytes already read (what `load` uses)."""
    if not data:
        raise LoadError(uri, "empty file")
    return _parse_lines(io.BytesIO(data), uri, limit_sessions)


def _decode_line(raw: bytes) -> str | None:
    """One line as clean text: UTF-8, else GB18030 (both strict); None when neither reads
    it, so the line is reported instead of stored as mojibake."""
    for encoding in ("utf-8", "gb18030"):
        try:
            return clean_text(raw.decode(encoding))
        except UnicodeDecodeError:
            continue
    return None


def _undecodable_line(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return undecodable(raw, exc, ["utf-8", "gb18030"])
    return "cannot decode cleanly"  # pragma: no cover - only called for undecodable lines


def _parse_lines(lines: Iterable[bytes], uri: str, limit_sessions: int | None) -> LoadedTranscript:
    if limit_sessions is not None and limit_sessions < 1:
        raise ValueError("limit_sessions must be a positive number of sessions")
    digest = hashlib.sha256()
    conversations: dict[str, TranscriptConversation] = {}
    errors: list[str] = []
    for number, raw in enumerate(lines, start=1):
        line = _decode_line(raw)
        if line is None:
            digest.update(raw)
            errors.append(f"line {number}: {_undecodable_line(raw)}")
            continue
        line = line.rstrip("\r\n").lstrip("\ufeff") if number == 1 else line.rstrip("\r\n")
        fields = line.split("\t", _FIELDS - 1)
        session = fields[0].strip()
        is_new = session not in conversations
        full = limit_sessions is not None and len(conversations) >= limit_sessions
        if full and is_new and len(fields) == _FIELDS:
            break
        digest.update(raw)
        if not line.strip():
            continue
        if len(fields) != _FIELDS:
            errors.append(f"line {number}: {len(fields)} tab-separated fields, expected 7")
            continue
        _, user, is_agent, _, _, _, text = (f.strip() for f in fields)
        if is_agent not in ("0", "1"):
            errors.append(f"line {number}: is_agent is {is_agent!r}, expected 0 or 1")
            continue
        if not text or not session:
            errors.append(f"line {number}: missing {'text' if session else 'session id'}")
            continue
        conv = conversations.get(session)
        if conv is None:
            conv = conversations[session] = TranscriptConversation(
                id=session, channel="jd", customer=user
            )
        employee = is_agent == "1"
        conv.messages.append(
            TranscriptMessage(
                role="employee" if employee else "customer",
                text=text,
                speaker="" if employee else user,
            )
        )
    if not conversations and not errors:
        raise LoadError(uri, "empty file")
    return finish(uri, "jddc", list(conversations.values()), digest.hexdigest(), errors)

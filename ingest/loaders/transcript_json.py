"""The canonical transcript JSON that ingest always accepts (DESIGN.md): one conversation
object, or a list of them. Lenient where it costs nothing (role synonyms, numbers as text), strict
where guessing would corrupt data (unknown role, missing text): such a message or conversation
becomes a row error and the rest of the file still loads."""

from __future__ import annotations

import math
from typing import Any

from ingest.loaders.text_io import decode_text, sha256_hex
from ingest.loaders.transcript_common import (
    BadLine,
    conversation_id,
    finish,
    normalize_role,
    parse_json_payload,
    time_value,
)
from ingest.records import LoadedTranscript, LoadError, TranscriptConversation, TranscriptMessage

__all__ = ["load_json_transcript", "looks_like_canonical", "transcript_from_json"]


class _RowError(ValueError):
    """One message or conversation that cannot be read."""


def looks_like_canonical(payload: Any) -> bool:
    """An object with 'messages', a {'conversations': [...]}, or a list whose first object
    has 'messages'."""
    if isinstance(payload, dict):
        return "messages" in payload or isinstance(payload.get("conversations"), list)
    if isinstance(payload, list):
        first = next((item for item in payload if isinstance(item, dict)), None)
        return first is not None and "messages" in first
    return False


def load_json_transcript(data: bytes, uri: str) -> LoadedTranscript:
    payload = parse_json_payload(decode_text(data, uri), uri)
    return transcript_from_json(payload, uri, sha256_hex(data))


def transcript_from_json(payload: Any, uri: str, raw_hash: str) -> LoadedTranscript:
    """Row errors name the failing item by its JSON path: `conversations[2].messages[5]: ...`
    (or `messages[5]: ...` in a one-conversation file)."""
    if isinstance(payload, dict) and "messages" not in payload:
        if not isinstance(payload.get("conversations"), list):
            raise LoadError(uri, "JSON object is not a conversation: it has no 'messages'")
        payload = payload["conversations"]
    single = isinstance(payload, dict)
    if single:
        items = [payload]
    elif isinstance(payload, list):
        items = payload
    else:
        raise LoadError(uri, "JSON must be a conversation object or a list of them")
    if not items:
        raise LoadError(uri, "JSON list holds no conversations")

    conversations: list[TranscriptConversation] = []
    errors: list[str] = []
    for index, item in enumerate(items):
        if isinstance(item, BadLine):  # a JSON-lines record that is not JSON
            errors.append(str(item))
            continue
        where = "" if single else f"conversations[{index}]"
        try:
            conversations.append(_conversation(item, uri, index, where, errors))
        except _RowError as exc:
            errors.append(f"{where or 'conversation'}: {exc}")
    return finish(uri, "json", conversations, raw_hash, errors)


def _conversation(
    item: Any, uri: str, index: int, where: str, errors: list[str]
) -> TranscriptConversation:
    if not isinstance(item, dict):
        raise _RowError(f"not an object but {type(item).__name__}")
    raw_messages = item.get("messages")
    if not isinstance(raw_messages, list):
        raise _RowError("'messages' is missing or not a list")
    prefix = f"{where}." if where else ""
    messages = []
    for m_index, raw in enumerate(raw_messages):
        try:
            messages.append(_message(raw))
        except _RowError as exc:
            errors.append(f"{prefix}messages[{m_index}]: {exc}")
    if not messages:
        raise _RowError("no readable message; conversation skipped")
    satisfaction = _satisfaction(item.get("satisfaction"))
    if satisfaction is _INVALID:
        errors.append(f"{prefix}satisfaction: {item['satisfaction']!r} is not a number; ignored")
        satisfaction = None
    return TranscriptConversation(
        id=_text(item.get("id")) or conversation_id(uri, index),
        channel=_text(item.get("channel")),
        employee=_text(item.get("employee")),
        customer=_text(item.get("customer")),
        employee_id=_text(item.get("employee_id")),
        customer_id=_text(item.get("customer_id")),
        outcome=_text(item.get("outcome")),
        satisfaction=satisfaction,
        messages=messages,
    )


def _message(raw: Any) -> TranscriptMessage:
    if not isinstance(raw, dict):
        raise _RowError(f"not an object but {type(raw).__name__}")
    if "role" not in raw or raw["role"] in (None, ""):
        raise _RowError("missing 'role'")
    role = normalize_role(raw["role"])
    if role is None:
        raise _RowError(f"unknown role {raw['role']!r} (expected customer or employee)")
    text = raw.get("text")
    if text is None:
        raise _RowError("missing 'text'")
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise _RowError(f"'text' is {type(text).__name__}, not a string")
    text = str(text).strip()
    if not text:
        raise _RowError("empty 'text'")
    # An employee's message may name its speaker's id ("speaker_id", or "employee_id" as on the
    # conversation); a customer's id there is not an employee's, so it is not kept.
    speaker_id = _text(raw.get("speaker_id") or raw.get("employee_id"))
    return TranscriptMessage(
        role=role,
        text=text,
        speaker=_text(raw.get("speaker")),
        speaker_id=speaker_id if role == "employee" else "",
        time=time_value(raw.get("time")),
    )


_INVALID: Any = object()


def _satisfaction(value: Any) -> float | None:
    """A number (or numeric string); _INVALID for anything else, so the caller can say so."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return _INVALID
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _INVALID
    return number if math.isfinite(number) else _INVALID


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()

"""WeCom chat archive (会话内容存档) records, as the customer's own SDK decrypts them: one JSON
record per message, as a JSON list or JSON lines.

Choices:
- `recall` records are dropped with the message they recall (`pre_msgid`, top level or in the
  `revoke` body, wherever it appears in the file); `switch` records are dropped.
- Conversations: the room for group chats, else the unordered pair (from, tolist[0]); the id is
  the roomid, or the two ids sorted and joined by '~'. Conversations keep order of first
  appearance; messages are ordered by msgtime (stable).
- `text` → a message; `card` → a ContactCard on the conversation (no message: the card is
  personal data handled by de-identification, not talk); `file` → a SharedFile plus a system
  message "[file] NAME" so the timeline shows when it was sent; every other type (image, voice,
  video, link, emotion, mixed, …) carries no text worth mining and is only counted in
  `omitted` by type.
- External contacts (ids starting `wm` / `wo`) are customers; everyone else is an employee.
  The archive names people only by id: an employee's corp user id is both their name and their
  `employee_id` / `speaker_id` (the id that keeps them one Employee node).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingest.loaders.text_io import decode_text, sha256_hex
from ingest.loaders.transcript_common import (
    BadLine,
    finish,
    iso_from_epoch,
    parse_json_payload,
)
from ingest.records import (
    ContactCard,
    LoadedTranscript,
    LoadError,
    SharedFile,
    TranscriptConversation,
    TranscriptMessage,
)

__all__ = ["is_external", "load_wecom", "looks_like_wecom", "transcript_from_wecom"]

_EXTERNAL_PREFIXES = ("wm", "wo")


def is_external(user_id: str) -> bool:
    """External contacts (customers) have ids starting with 'wm' or 'wo'."""
    return user_id.startswith(_EXTERNAL_PREFIXES)


def _records(payload: Any) -> list[Any] | None:
    if isinstance(payload, dict):
        if isinstance(payload.get("chatdata"), list):
            return payload["chatdata"]
        return [payload] if "msgid" in payload else None
    return payload if isinstance(payload, list) else None


def looks_like_wecom(payload: Any) -> bool:
    """The first record carries a 'msgid' or a 'msgtype' (and no 'messages')."""
    records = _records(payload)
    first = next((r for r in records or [] if isinstance(r, dict)), None)
    return (
        first is not None and "messages" not in first and ("msgid" in first or "msgtype" in first)
    )


def load_wecom(data: bytes, uri: str) -> LoadedTranscript:
    payload = parse_json_payload(decode_text(data, uri), uri)
    return transcript_from_wecom(payload, uri, sha256_hex(data))


@dataclass
class _Conv:
    conv: TranscriptConversation
    timed: list[tuple[int, int, TranscriptMessage]] = field(default_factory=list)


def transcript_from_wecom(payload: Any, uri: str, raw_hash: str) -> LoadedTranscript:
    """Row errors name the record by position and msgid: `records[4] (msgid X): …`."""
    records = _records(payload)
    if records is None:
        raise LoadError(uri, "not a WeCom archive: expected a list of message records")
    recalled = {_recalled_id(r) for r in records if isinstance(r, dict)} - {""}
    conversations: dict[str, _Conv] = {}
    errors: list[str] = []
    last_ms = 0
    for index, record in enumerate(records):
        if isinstance(record, BadLine):  # a JSON-lines record that is not JSON
            errors.append(str(record))
            continue
        if not isinstance(record, dict):
            errors.append(f"records[{index}]: not an object but {type(record).__name__}")
            continue
        where = f"records[{index}] (msgid {record.get('msgid', '?')})"
        action = str(record.get("action") or "send")
        if action in ("recall", "switch") or record.get("msgid") in recalled:
            continue
        try:
            key, conv_id, sender, members = _route(record)
        except ValueError as exc:
            errors.append(f"{where}: {exc}")
            continue
        ms = _msgtime(record.get("msgtime"))
        last_ms = ms if ms is not None else last_ms
        time = iso_from_epoch(ms) if ms is not None else ""
        state = conversations.setdefault(
            key, _Conv(TranscriptConversation(id=conv_id, channel="wecom"))
        )
        _note_parties(state.conv, [sender, *members])
        try:
            _add(state, record, sender, time, (last_ms, index))
        except ValueError as exc:
            errors.append(f"{where}: {exc}")
    result = []
    for state in conversations.values():
        state.timed.sort(key=lambda item: (item[0], item[1]))
        state.conv.messages = [message for _, _, message in state.timed]
        if state.conv.messages or state.conv.cards or state.conv.files:
            result.append(state.conv)  # one holding only images/voice has nothing to read
    return finish(uri, "wecom", result, raw_hash, errors)


def _recalled_id(record: dict[str, Any]) -> str:
    if record.get("action") != "recall":
        return ""
    revoke = record.get("revoke")
    body = revoke if isinstance(revoke, dict) else {}
    return str(record.get("pre_msgid") or body.get("pre_msgid") or "")


def _route(record: dict[str, Any]) -> tuple[str, str, str, list[str]]:
    """(grouping key, conversation id, sender, recipients)."""
    sender = str(record.get("from") or "").strip()
    if not sender:
        raise ValueError("missing 'from'")
    tolist = record.get("tolist") or []
    if isinstance(tolist, str):
        tolist = [tolist]
    if not isinstance(tolist, list):
        raise ValueError("'tolist' is not a list")
    members = [str(t).strip() for t in tolist if str(t).strip()]
    room = str(record.get("roomid") or "").strip()
    if room:
        return f"room:{room}", room, sender, members
    if not members:
        raise ValueError("one-to-one message without a recipient in 'tolist'")
    pair = sorted((sender, members[0]))
    return "pair:" + "\n".join(pair), "~".join(pair), sender, members


def _msgtime(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _note_parties(conv: TranscriptConversation, ids: list[str]) -> None:
    for user_id in ids:
        if is_external(user_id):
            if not conv.customer:
                conv.customer, conv.customer_id = user_id, user_id
        elif not conv.employee:
            conv.employee, conv.employee_id = user_id, user_id


def _add(
    state: _Conv, record: dict[str, Any], sender: str, time: str, order: tuple[int, int]
) -> None:
    msgtype = str(record.get("msgtype") or "")
    body = record.get(msgtype) if msgtype else None
    role = "customer" if is_external(sender) else "employee"
    if msgtype == "text":
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, str) or not content.strip():
            raise ValueError("text message without 'text.content'")
        message = TranscriptMessage(
            role=role,
            text=content.strip(),
            speaker=sender,
            speaker_id=sender if role == "employee" else "",
            time=time,
        )
        state.timed.append((*order, message))
    elif msgtype == "card":
        if not isinstance(body, dict):
            raise ValueError("card message without a 'card' body")
        state.conv.cards.append(
            ContactCard(
                userid=str(body.get("userid") or ""), company=str(body.get("corpname") or "")
            )
        )
    elif msgtype == "file":
        if not isinstance(body, dict) or not str(body.get("filename") or "").strip():
            raise ValueError("file message without 'file.filename'")
        shared = SharedFile(
            filename=str(body["filename"]).strip(),
            fileext=str(body.get("fileext") or ""),
            filesize=_int(body.get("filesize")),
            md5sum=str(body.get("md5sum") or ""),
            time=time,
            sender=sender,
        )
        state.conv.files.append(shared)
        notice = TranscriptMessage(
            role="system", text=f"[file] {shared.filename}", speaker=sender, time=time
        )
        state.timed.append((*order, notice))
    else:
        kind = msgtype or "unknown"
        state.conv.omitted[kind] = state.conv.omitted.get(kind, 0) + 1


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0

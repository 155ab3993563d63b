"""Chat exports as CSV, one message per row (what CRMs and Excel hand out). Columns are found by
name through synonyms, so the header may be English or Chinese in any order."""

from __future__ import annotations

import csv
import io
import math

from ingest.loaders.text_io import decode_text, sha256_hex
from ingest.loaders.transcript_common import (
    Role,
    conversation_id,
    finish,
    normalize_role,
    time_value,
)
from ingest.records import LoadedTranscript, LoadError, TranscriptConversation, TranscriptMessage

__all__ = ["csv_columns", "load_csv_transcript", "transcript_from_csv"]

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "conversation": ("conversation_id", "conversation", "session", "session_id", "sessionid",
                     "id", "chat_id", "dialog_id", "会话", "会话id", "会话编号"),
    "role": ("role", "sender_role", "speaker_role", "角色", "身份"),
    "is_agent": ("is_agent", "isagent", "is_employee", "is_staff"),
    "speaker": ("speaker", "name", "sender", "from", "发言人", "姓名", "发送人"),
    "time": ("time", "timestamp", "datetime", "created_at", "时间"),
    "text": ("text", "content", "message", "msg", "body", "内容", "消息", "文本"),
    "channel": ("channel", "渠道"),
    "outcome": ("outcome", "result", "结果"),
    "satisfaction": ("satisfaction", "满意度"),
}  # fmt: skip
_TRUE = {"1", "true", "yes", "y", "t", "是"}
_FALSE = {"0", "false", "no", "n", "f", "否"}
_DELIMITERS = (",", "\t", ";", "|")


def _normalize_header(name: str) -> str:
    return name.strip().lstrip("\ufeff").strip().lower().replace(" ", "_").replace("-", "_")


def _delimiter(header_line: str) -> str:
    """The candidate that splits the header most; ',' when none does."""
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def csv_columns(header: list[str]) -> dict[str, int]:
    """Field name → column index for the columns we recognise (first match wins)."""
    found: dict[str, int] = {}
    normalized = [_normalize_header(h) for h in header]
    for field, names in _SYNONYMS.items():
        for index, name in enumerate(normalized):
            if name in names:
                found[field] = index
                break
    return found


def load_csv_transcript(data: bytes, uri: str) -> LoadedTranscript:
    return transcript_from_csv(decode_text(data, uri), uri, sha256_hex(data))


def transcript_from_csv(text: str, uri: str, raw_hash: str) -> LoadedTranscript:
    """Rows are grouped by conversation id in order of first appearance. An empty id cell
    continues the previous row's conversation (spreadsheets with merged id cells export like
    that); without an id column the file is one conversation. Row numbers in errors are
    spreadsheet rows: the header is row 1."""
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    rows, errors = _rows(text, _delimiter(first_line))
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise LoadError(uri, "CSV has no header")
    header, body = rows[0], rows[1:]
    cols = csv_columns(header)
    if "text" not in cols or ("role" not in cols and "is_agent" not in cols):
        found = ", ".join(h.strip() for h in header) or "nothing"
        raise LoadError(
            uri, f"CSV header needs a role (or is_agent) and a text column; found: {found}"
        )
    if not body:
        raise LoadError(uri, "CSV has a header but no rows")

    def cell(row: list[str], field: str) -> str:
        index = cols.get(field)
        return row[index].strip() if index is not None and index < len(row) else ""

    conversations: dict[str, TranscriptConversation] = {}
    current = conversation_id(uri, 0)
    for number, row in enumerate(body, start=2):
        current = cell(row, "conversation") or current
        role, problem = _row_role(cell(row, "role"), cell(row, "is_agent"))
        text = cell(row, "text")
        if problem:
            errors.append(f"row {number}: {problem}")
            continue
        if not text:
            errors.append(f"row {number}: missing text")
            continue
        conv = conversations.setdefault(current, TranscriptConversation(id=current))
        assert role is not None
        conv.messages.append(
            TranscriptMessage(
                role=role,
                text=text,
                speaker=cell(row, "speaker"),
                time=time_value(cell(row, "time")),
            )
        )
        conv.channel = conv.channel or cell(row, "channel")
        conv.outcome = conv.outcome or cell(row, "outcome")
        if (raw := cell(row, "satisfaction")) and conv.satisfaction is None:
            try:
                value = float(raw)
                conv.satisfaction = value if math.isfinite(value) else None
            except ValueError:
                errors.append(f"row {number}: satisfaction {raw!r} is not a number; ignored")
    return finish(uri, "csv", list(conversations.values()), raw_hash, errors)


def _rows(text: str, delimiter: str) -> tuple[list[list[str]], list[str]]:
    """The rows, and a row error for each line the csv module refuses (a cell over its size
    limit, say): the reader has consumed that line, so the rest still reads."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows: list[list[str]] = []
    errors: list[str] = []
    while True:
        try:
            rows.append(next(reader))
        except StopIteration:
            return rows, errors
        except csv.Error as exc:
            errors.append(f"line {reader.line_num}: malformed CSV ({exc}); skipped")


def _row_role(role_cell: str, agent_cell: str) -> tuple[Role | None, str]:
    """(role, '') or (None, why not). A role column wins; is_agent fills in when it is blank."""
    if role_cell:
        role = normalize_role(role_cell)
        if role is None:
            return None, f"unknown role {role_cell!r} (expected customer or employee)"
        return role, ""
    flag = agent_cell.lower()
    if flag in _TRUE:
        return "employee", ""
    if flag in _FALSE:
        return "customer", ""
    if agent_cell:
        return None, f"is_agent is {agent_cell!r}, expected 1 or 0"
    return None, "missing role"

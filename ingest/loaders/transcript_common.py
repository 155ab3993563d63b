"""What every transcript loader shares: role names and their synonyms, time stamps, JSON
parsing with one-line errors, and the final check that a file yielded something."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ingest.records import LoadedTranscript, LoadError, TranscriptConversation
from ingest.untrusted import clean_payload

__all__ = [
    "BadLine",
    "Role",
    "conversation_id",
    "fill_parties",
    "finish",
    "iso_from_epoch",
    "normalize_role",
    "parse_json_payload",
    "role_from_speaker",
    "time_value",
]

Role = Literal["customer", "employee", "system"]
TranscriptFormat = Literal["json", "csv", "log", "wecom", "jddc"]

_ROLE_SYNONYMS: dict[str, Role] = {
    **dict.fromkeys(
        ("employee", "agent", "staff", "客服", "员工", "support", "sales", "销售", "顾问",
         "advisor", "坐席", "seller", "商家"),
        "employee",
    ),
    **dict.fromkeys(
        ("customer", "user", "client", "客户", "用户", "顾客", "buyer", "买家", "访客", "visitor"),
        "customer",
    ),
    **dict.fromkeys(("system", "系统"), "system"),
}  # fmt: skip

# Substrings of a speaker's name that give away the role. Employee words are tried first:
# 客户经理 (account manager) contains 客户 (customer).
_EMPLOYEE_WORDS = ("客户经理", "客服", "顾问", "销售", "坐席", "员工", "agent", "support",
                   "staff", "advisor", "employee", "sales")  # fmt: skip
_CUSTOMER_WORDS = ("客户", "顾客", "用户", "买家", "访客", "customer", "client", "user", "buyer",
                   "visitor")  # fmt: skip


def normalize_role(value: object) -> Role | None:
    """'Agent', '客服', 'staff' → 'employee'; 'user', '客户' → 'customer'; else None."""
    if not isinstance(value, str):
        return None
    return _ROLE_SYNONYMS.get(value.strip().lower())


def role_from_speaker(name: str) -> Role | None:
    """Role implied by a speaker's name ('客服小李' → employee, '客户张先生' → customer)."""
    lowered = name.strip().lower()
    if any(word in lowered for word in _EMPLOYEE_WORDS):
        return "employee"
    if any(word in lowered for word in _CUSTOMER_WORDS):
        return "customer"
    return None


def iso_from_epoch(value: float) -> str:
    """Epoch seconds or milliseconds (anything past year 5138 in seconds is read as ms) to
    ISO-8601 UTC with a 'Z'."""
    seconds = value / 1000 if abs(value) > 1e11 else value
    stamp = datetime.fromtimestamp(seconds, tz=UTC)
    return stamp.isoformat(timespec="seconds").replace("+00:00", "Z")


def time_value(value: object) -> str:
    """A message time as given: strings kept (trimmed); epoch numbers, and 10- or 13-digit
    strings that can only be epochs, made ISO-8601."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return ""
        try:
            return iso_from_epoch(value)
        except (OverflowError, OSError, ValueError):
            return ""
    text = str(value).strip()
    if text.isdigit() and len(text) in (10, 13):  # epoch seconds / milliseconds as text
        return iso_from_epoch(int(text))
    return text


def conversation_id(uri: str, index: int) -> str:
    """Id for a conversation the file leaves unnamed: stable across re-ingests of the file."""
    return f"{uri}#{index}"


def fill_parties(conv: TranscriptConversation) -> TranscriptConversation:
    """Name the employee and customer from the first speakers of each role when the source
    did not name them."""
    for message in conv.messages:
        if not message.speaker:
            continue
        if message.role == "employee" and not conv.employee:
            conv.employee = message.speaker
        elif message.role == "customer" and not conv.customer:
            conv.customer = message.speaker
    return conv


def parse_json_payload(text: str, uri: str) -> Any:
    """One JSON value, or JSON lines (one value per line, as archive exports often are), with
    every string in it cleaned (ingest/untrusted.py): JSON escapes can spell lone surrogates
    and control characters that the decoded file text did not contain."""
    return clean_payload(_parse_json(text, uri))


@dataclass(frozen=True)
class BadLine:
    """A line of a JSON-lines file that is not JSON, kept in its place among the values so
    that the loader reports it as a row error and reads the other lines."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: malformed JSON ({self.reason})"


def _parse_json(text: str, uri: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise LoadError(uri, "malformed JSON: nested too deeply") from None
    except json.JSONDecodeError as first_error:
        if (values := _json_lines(text)) is not None:
            return values
        raise LoadError(
            uri,
            f"malformed JSON: {first_error.msg} at line {first_error.lineno} "
            f"column {first_error.colno}",
        ) from None


def _json_lines(text: str) -> list[Any] | None:
    """One value per non-empty line, a BadLine where a line is not JSON; None when this is
    not JSON lines at all (one line, the first line broken, or most lines broken: one
    malformed JSON document rather than a few bad records)."""
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if len(numbered) < 2:
        return None
    values: list[Any] = []
    for number, line in numbered:
        try:
            values.append(json.loads(line))
        except json.JSONDecodeError as exc:
            values.append(BadLine(number, f"{exc.msg} at column {exc.colno}"))
        except RecursionError:
            values.append(BadLine(number, "nested too deeply"))
    bad = sum(isinstance(v, BadLine) for v in values)
    return None if isinstance(values[0], BadLine) or 2 * bad > len(values) else values


def finish(
    uri: str,
    fmt: TranscriptFormat,
    conversations: list[TranscriptConversation],
    raw_hash: str,
    row_errors: list[str],
) -> LoadedTranscript:
    """The transcript, or a LoadError when not a single conversation could be read (then the
    first row error is the most useful reason to show)."""
    if not conversations:
        reason = "no readable conversation"
        if row_errors:
            reason += f" ({row_errors[0]}"
            reason += f"; {len(row_errors) - 1} more row errors)" if len(row_errors) > 1 else ")"
        raise LoadError(uri, reason)
    return LoadedTranscript(
        uri=uri,
        format=fmt,
        conversations=[fill_parties(c) for c in conversations],
        raw_hash=raw_hash,
        row_errors=row_errors,
    )

"""Plain chat logs, one `speaker: text` per line (ASCII or full-width colon), as people paste
them from WeChat, phone-call notes or a CRM. Roles come from the speakers' names, from an
optional header (`# employee: 王丽`, `# outcome: resolved channel: phone`), else from order."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ingest.loaders.text_io import decode_text, sha256_hex
from ingest.loaders.transcript_common import Role, conversation_id, finish, role_from_speaker
from ingest.records import LoadedTranscript, LoadError, TranscriptConversation, TranscriptMessage

__all__ = ["load_log_transcript", "looks_like_log", "speaker_line", "transcript_from_log"]

_TIME = r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}[ T])?\d{1,2}:\d{2}(?::\d{2})?"
_LINE = re.compile(
    rf"^\s*(?:[\[【(（]?(?P<time>{_TIME})[\]】)）]?\s*)?"
    r"(?P<speaker>[^\s:：#][^:：]{0,29}?)\s*[:：]\s*(?P<text>.*)$"
)
_DATETIME = re.compile(
    r"^(?:(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})[ T])?(\d{1,2}):(\d{2})(?::(\d{2}))?$"
)
_LETTER = re.compile(r"[^\W\d_]")
_NOT_IN_NAMES = set('。，,!?！？;；“”"')
_HEADER_FIELDS = {
    "outcome": "outcome", "结果": "outcome",
    "channel": "channel", "渠道": "channel",
    "employee": "employee", "employees": "employee", "staff": "employee", "agent": "employee",
    "员工": "employee", "客服": "employee",
    "customer": "customer", "customers": "customer", "客户": "customer", "顾客": "customer",
    "id": "id", "conversation": "id", "会话": "id",
    "satisfaction": "satisfaction", "满意度": "satisfaction",
}  # fmt: skip
_HEADER_KEY = re.compile(
    r"(?:^|(?<=[\s,，;；]))("
    + "|".join(sorted(map(re.escape, _HEADER_FIELDS), key=len, reverse=True))
    + r")\s*[:：]",
    re.IGNORECASE,
)
_NAME_SPLIT = re.compile(r"[,，、;；/]")


def speaker_line(line: str) -> tuple[str, str, str] | None:
    """(time, speaker, text) when the line opens a message. A speaker is a short name with a
    letter in it and no sentence punctuation, so '10:02', 'http://…' and prose with a colon
    in it stay text."""
    m = _LINE.match(line)
    if not m:
        return None
    speaker, text = m.group("speaker").strip(), m.group("text").strip()
    if (
        not _LETTER.search(speaker)
        or _NOT_IN_NAMES & set(speaker)
        or len(speaker.split()) > 3
        or text.startswith("//")
    ):
        return None
    return _iso_time(m.group("time") or ""), speaker, text


def _iso_time(raw: str) -> str:
    m = _DATETIME.match(raw.strip())
    if not m:
        return ""
    year, month, day, hour, minute, second = m.groups()
    clock = f"{int(hour):02d}:{minute}" + (f":{second}" if second else "")
    return f"{year}-{int(month):02d}-{int(day):02d}T{clock}" if year else clock


def _header_pairs(comment: str) -> list[tuple[str, str]]:
    """`outcome: resolved channel: phone` → [('outcome', 'resolved'), ('channel', 'phone')]."""
    keys = list(_HEADER_KEY.finditer(comment))
    pairs = []
    for i, m in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(comment)
        value = comment[m.end() : end].strip().strip(",，;；").strip()
        pairs.append((_HEADER_FIELDS[m.group(1).lower()], value))
    return pairs


def looks_like_log(text: str) -> bool:
    """Mostly `name: text` lines, and chat-like: a speaker who speaks twice, a role word in a
    name, or a header. That keeps 'Price: 30 / Colour: red' spec sheets documents."""
    content = [line for line in text.splitlines() if line.strip()]
    comments = [line for line in content if line.lstrip().startswith("#")]
    body = [line for line in content if not line.lstrip().startswith("#")]
    found = [parsed for line in body if (parsed := speaker_line(line))]
    if len(found) < 2 or len(found) < 0.5 * len(body):
        return False
    speakers = [speaker for _, speaker, _ in found]
    distinct = set(speakers)
    if len(distinct) > 20:
        return False
    has_header = any(_header_pairs(line.lstrip("#").strip()) for line in comments)
    return (
        len(distinct) < len(speakers) or any(role_from_speaker(s) for s in distinct) or has_header
    )


@dataclass
class _Entry:
    line: int
    time: str
    speaker: str
    parts: list[str] = field(default_factory=list)


def load_log_transcript(data: bytes, uri: str) -> LoadedTranscript:
    return transcript_from_log(decode_text(data, uri), uri, sha256_hex(data))


def transcript_from_log(text: str, uri: str, raw_hash: str) -> LoadedTranscript:
    """One conversation per file. Lines without a speaker continue the previous message;
    `# key: value` lines set outcome, channel, id, satisfaction and who is employee/customer
    (other `#` lines before the chat are comments, after it they are text)."""
    header: dict[str, str] = {}
    named: dict[str, list[str]] = {"employee": [], "customer": []}
    entries: list[_Entry] = []
    errors: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            comment = stripped.lstrip("#").strip()
            pairs = _header_pairs(comment)
            if pairs and (not entries or _HEADER_KEY.match(comment)):
                for key, value in pairs:
                    if key in named:
                        named[key].extend(n.strip() for n in _NAME_SPLIT.split(value) if n.strip())
                    elif value:
                        header.setdefault(key, value)
                continue
            if not entries:
                continue
        elif parsed := speaker_line(line):
            time, speaker, first = parsed
            entries.append(_Entry(number, time, speaker, [first] if first else []))
            continue
        if entries:
            entries[-1].parts.append(stripped)
        else:
            errors.append(f"line {number}: text before the first 'speaker: text' line; skipped")
    if not entries:
        raise LoadError(uri, "no 'speaker: text' lines found")

    roles = _assign_roles([e.speaker for e in entries], named)
    messages = []
    for entry in entries:
        body = "\n".join(entry.parts).strip()
        if not body:
            errors.append(f"line {entry.line}: empty message from {entry.speaker}; skipped")
            continue
        messages.append(
            TranscriptMessage(
                role=roles[entry.speaker], text=body, speaker=entry.speaker, time=entry.time
            )
        )
    conv = TranscriptConversation(
        id=header.get("id") or conversation_id(uri, 0),
        channel=header.get("channel", ""),
        outcome=header.get("outcome", ""),
        employee=named["employee"][0] if named["employee"] else "",
        customer=named["customer"][0] if named["customer"] else "",
        satisfaction=_satisfaction(header.get("satisfaction"), errors),
        messages=messages,
    )
    return finish(uri, "log", [conv] if messages else [], raw_hash, errors)


def _assign_roles(speakers: list[str], named: dict[str, list[str]]) -> dict[str, Role]:
    """Header names first, then role words in the name; the rest by order of appearance:
    the first unknown speaker is the customer unless one is known already, the next the
    employee, and any further unknown speakers employees (colleagues joining)."""
    roles: dict[str, Role] = {}
    order = list(dict.fromkeys(speakers))
    for speaker in order:
        if speaker in named["employee"]:
            roles[speaker] = "employee"
        elif speaker in named["customer"]:
            roles[speaker] = "customer"
        elif role := role_from_speaker(speaker):
            roles[speaker] = role
    for speaker in order:
        if speaker not in roles:
            roles[speaker] = "customer" if "customer" not in roles.values() else "employee"
    return roles


def _satisfaction(raw: str | None, errors: list[str]) -> float | None:
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        errors.append(f"header: satisfaction {raw!r} is not a number; ignored")
        return None
    return value if math.isfinite(value) else None

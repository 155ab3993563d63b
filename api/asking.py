"""What an ask is made from, for the CLI and the API alike: the customer's words, a
conversation in the canonical transcript JSON (DESIGN.md), a line of an ask file.

Errors are `AskInputError` with a message a person can act on; nothing here touches the store.
Text passes through `ingest.untrusted` first: a "\\ud800" in JSON is not a crash later.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ingest.loaders.transcript_json import transcript_from_json
from ingest.records import LoadError
from ingest.untrusted import clean_payload, clean_text
from seci.assist import AskRequest, Turn

__all__ = ["AskInputError", "ask_lines", "request_from_conversation", "request_from_json"]


class AskInputError(ValueError):
    """An ask that cannot be understood (bad JSON, no conversation, no words)."""


def request_from_conversation(
    payload: Any,
    query: str | None = None,
    employee: str | None = None,
    customer: str | None = None,
    channel: str | None = None,
) -> AskRequest:
    """An ask from one conversation so far (canonical transcript JSON): its messages are the
    context; the words asked are `query`, else the customer's last turn; the employee, the
    customer and the channel default to the conversation's."""
    payload = clean_payload(payload)
    query, employee, customer, channel = (
        clean_text(v) if isinstance(v, str) else v for v in (query, employee, customer, channel)
    )
    if isinstance(payload, list):
        if len(payload) != 1:
            raise AskInputError(f"the context holds {len(payload)} conversations: give exactly one")
        payload = payload[0]
    if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
        raise AskInputError('the context is not a conversation: expected {"messages": [...]}')
    try:
        loaded = transcript_from_json(payload, "context", "")
    except LoadError as exc:
        raise AskInputError(f"the context cannot be read: {exc}") from None
    if not loaded.conversations:
        problems = "; ".join(loaded.row_errors[:3]) or "no readable message"
        raise AskInputError(f"the context has no usable messages: {problems}")
    conv = loaded.conversations[0]
    try:
        request = AskRequest(
            query=query or "",
            context=[Turn(role=m.role, text=m.text, speaker=m.speaker) for m in conv.messages],
            employee=employee or conv.employee_id or conv.employee or None,
            customer=customer or conv.customer_id or conv.customer or None,
            channel=channel or conv.channel or None,
        )
    except ValidationError as exc:
        raise AskInputError(_first_error(exc)) from None
    if not request.words():
        raise AskInputError(
            "nothing to answer: give the customer's words, or a context whose "
            "last customer turn says something"
        )
    return request


def request_from_json(record: Any) -> AskRequest:
    """One ask as JSON: {"query", "context": [messages] or a conversation, "employee",
    "customer", "channel"} (all but the words optional)."""
    if not isinstance(record, dict):
        raise AskInputError("an ask is a JSON object with at least a query or a context")
    record = clean_payload(record)
    context = record.get("context")
    fields = {k: record.get(k) for k in ("employee", "customer", "channel")}
    for name, value in fields.items():
        if value is not None and not isinstance(value, str):
            raise AskInputError(f"{name} must be a string")
    query = record.get("query") or ""
    if not isinstance(query, str):
        raise AskInputError("query must be a string")
    if context:
        conversation = context if isinstance(context, dict) else {"messages": context}
        return request_from_conversation(conversation, query, **fields)
    if not query.strip():
        raise AskInputError("nothing to answer: the ask has no query and no context")
    try:
        return AskRequest(query=query, **fields)
    except ValidationError as exc:
        raise AskInputError(_first_error(exc)) from None


def ask_lines(path: Path) -> Iterator[tuple[int, AskRequest | AskInputError]]:
    """(line number, ask or what is wrong with it) for each non-empty line of an ask file:
    a line is the customer's words, or a JSON object (`request_from_json`)."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise AskInputError(f"cannot read {path}: {exc}") from None
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text:
            continue
        if not text.startswith("{"):
            yield number, AskRequest(query=clean_text(text)[:4000])
            continue
        try:
            yield number, request_from_json(json.loads(text))
        except json.JSONDecodeError as exc:
            yield number, AskInputError(f"line {number}: not JSON ({exc.msg})")
        except AskInputError as exc:
            yield number, AskInputError(f"line {number}: {exc}")


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))

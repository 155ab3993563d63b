"""What the API takes and gives, in families (`...Create` in, `...Public` out).

Text from a request passes through `ingest.untrusted.clean_text` at the boundary, as pydantic
validates it: a lone surrogate ("\\ud800" in JSON), a NUL or a bidi override never reaches a
route, the store or a log. `CleanStr` is that string type; every text field of a request uses it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, BeforeValidator, Field, field_validator

from api.problems import FieldError, Problem
from graph.model import Role
from ingest.untrusted import clean_text

__all__ = [
    "AccountCreate",
    "AccountPublic",
    "AccountUpdate",
    "AskCreate",
    "CleanStr",
    "FeedbackCreate",
    "FeedbackPublic",
    "FieldError",
    "KeyCreated",
    "KeyPublic",
    "MessageCreate",
    "MessagesPublic",
    "OutcomeCreate",
    "OutcomePublic",
    "Problem",
    "TeamPublic",
    "TurnCreate",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookPublic",
    "errors",
    "problems",
]


def _clean(value: Any) -> Any:
    return clean_text(value) if isinstance(value, str) else value


# Cleaned before the length and other checks, so those apply to what is kept.
CleanStr = Annotated[str, BeforeValidator(_clean)]


class TurnCreate(BaseModel):
    """One message of the conversation so far (the canonical transcript JSON's fields)."""

    role: Literal["customer", "employee", "system"] = "customer"
    text: CleanStr = Field(default="", max_length=4000)
    speaker: CleanStr = Field(default="", max_length=200)


class AskCreate(BaseModel):
    query: CleanStr = Field(
        default="",
        max_length=4000,
        description="The customer's latest words (default: their last turn in the context).",
    )
    context: list[TurnCreate] = Field(
        default_factory=list,
        max_length=500,
        description="The conversation so far, oldest first (messages of the canonical "
        "transcript JSON: role, text, speaker).",
    )
    employee: CleanStr | None = Field(default=None, max_length=200)
    customer: CleanStr | None = Field(
        default=None, max_length=200, description="The customer's id or name in the source."
    )
    channel: CleanStr | None = Field(default=None, max_length=50)
    top_k: int = Field(default=5, ge=1, le=50)


class FeedbackCreate(BaseModel):
    suggestion_id: CleanStr = Field(min_length=1, max_length=500)
    outcome: Literal["used", "worked", "failed"]
    conversation: CleanStr | None = Field(
        default=None,
        max_length=500,
        description="The conversation it was used in: its id, or its id in the source when it "
        "is not ingested yet (its outcome is counted when it arrives).",
    )
    employee: CleanStr | None = Field(default=None, max_length=200)
    reason: CleanStr = Field(default="", max_length=2000)


class FeedbackPublic(BaseModel):
    seq: int
    item: str
    outcome: str


class AccountCreate(BaseModel):
    name: CleanStr = Field(min_length=1, max_length=200)
    role: Role = "employee"
    team: CleanStr = Field(default="", max_length=200)
    employee_id: CleanStr = Field(
        default="",
        max_length=500,
        description="The Employee this person is: node id, source-system id or unique name.",
    )


class AccountUpdate(BaseModel):
    """Only the fields given change."""

    name: CleanStr | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    team: CleanStr | None = Field(default=None, max_length=200)
    employee_id: CleanStr | None = Field(default=None, max_length=500)
    disabled: bool | None = None


class AccountPublic(BaseModel):
    id: str
    name: str
    role: Role
    team: str
    employee_id: str
    disabled: bool
    created_at: str
    created_by: str


class KeyPublic(BaseModel):
    """A key as it is listed: never the key itself, nor its hash."""

    id: str
    prefix: str = Field(description="The public part: keys look like spk_<prefix>_<secret>.")
    account_id: str
    created_at: str
    revoked: bool
    revoked_at: str


class KeyCreated(KeyPublic):
    key: str = Field(description="The key: shown this once, never again (only its hash is kept).")


class TeamPublic(BaseModel):
    team: str = Field(description="The team's name ('' for accounts without one).")
    members: list[AccountPublic]


class MessageCreate(BaseModel):
    """One message of a live conversation, with who the conversation is between (the
    conversation's fields of the canonical transcript JSON; given once is enough)."""

    id: CleanStr = Field(
        default="",
        max_length=200,
        description="The message's id in the source system: the same id again is not appended "
        "twice. Without one, role, speaker, time and text identify the message.",
    )
    role: Literal["customer", "employee"]
    text: CleanStr = Field(min_length=1, max_length=4000)
    speaker: CleanStr = Field(default="", max_length=200)
    speaker_id: CleanStr = Field(default="", max_length=200)
    time: CleanStr = Field(default="", max_length=50, description="ISO-8601.")
    channel: CleanStr = Field(default="", max_length=50)
    employee: CleanStr = Field(default="", max_length=200)
    employee_id: CleanStr = Field(default="", max_length=200)
    customer: CleanStr = Field(default="", max_length=200)
    customer_id: CleanStr = Field(default="", max_length=200)


class MessagesPublic(BaseModel):
    conversation_id: str
    conversation: str = Field(description="The Conversation node id.")
    employee: str = Field(description="The handling Employee node id ('' when none is known).")
    appended: list[str] = Field(description="Ids of the messages appended (source ids).")
    duplicates: list[str] = Field(description="Ids already in the conversation: left as they were.")
    nodes: list[str] = Field(description="Message node ids of the appended messages, in order.")


class OutcomeCreate(BaseModel):
    outcome: CleanStr = Field(
        min_length=1, max_length=50, description="resolved, converted, escalated, lost, ..."
    )


class OutcomePublic(BaseModel):
    conversation_id: str
    conversation: str
    outcome: str
    settled: int = Field(description="Uses of suggestions in it now counted as worked/failed.")


class WebhookCreate(BaseModel):
    team: CleanStr = Field(min_length=1, max_length=200)
    url: CleanStr = Field(min_length=1, max_length=2000)
    events: list[CleanStr] = Field(
        default_factory=list, max_length=50, description="Event names; none: every event."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a URL: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("a webhook URL must be http(s)://host/...")
        return url


class WebhookPublic(BaseModel):
    id: str
    team: str
    url: str
    events: list[str]
    created_at: str


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="The signing secret: shown this once, never again.")


_ERRORS = {
    400: "The body cannot be parsed (not JSON, not a multipart form).",
    401: "No API key, or an unknown, revoked or disabled one (WWW-Authenticate: Bearer).",
    403: "The key's role may not do this, or not for that person.",
    404: "Nothing with that id.",
    409: "The change is based on a stale read, or later changes stand in the way.",
    413: "The body is over the size limit (max_request_mb; uploads: max_file_mb).",
    422: "The request cannot be used; the detail says why.",
    429: "Over the rate limit (rate_limit_per_minute); Retry-After says when to try again.",
    503: "A setting, the store or the model is not available; try again when it is.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route for the errors it can answer (422, 429 and 503 always; 400
    and 413 for a route that takes a body), each a `Problem` (application/problem+json)."""
    return problems(*codes, 422, 429, 503)


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Exactly these error answers (routes the rate limit and validation never touch)."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        out[code] = {"model": Problem, "description": _ERRORS[code]}
        if code == 429:
            out[code]["headers"] = {"Retry-After": _RETRY_AFTER}
        if code == 401:
            out[code]["headers"] = {"WWW-Authenticate": _CHALLENGE}
    return out


_CHALLENGE = {"description": "Bearer: send an API key.", "schema": {"type": "string"}}
_RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "integer"},
}


class ConversationSummary(BaseModel):
    """A conversation as a list shows it (its messages: GET /conversations/{id})."""

    id: str = Field(description="The Conversation node id (use it to open the conversation).")
    title: str
    channel: str
    employee: str
    customer: str
    outcome: str
    started_at: str


class MessagePublic(BaseModel):
    id: str
    role: str
    speaker: str
    text: str
    time: str
    position: int


class ConversationPublic(ConversationSummary):
    messages: list[MessagePublic] = Field(description="In the order they were written.")

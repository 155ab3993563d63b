"""What the API takes and gives, in families (`...Create` in, `...Public` out).

Text from a request passes through `ingest.untrusted.clean_text` at the boundary, as pydantic
validates it: a lone surrogate ("\\ud800" in JSON), a NUL or a bidi override never reaches a
route, the store or a log. `CleanStr` is that string type; every text field of a request uses it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

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
    "Problem",
    "TeamPublic",
    "TurnCreate",
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

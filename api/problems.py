"""Every error as RFC 9457 problem details (`application/problem+json`).

One shape for every failure, whoever raises it (a route, the domain, validation, a middleware,
a bug), so a client needs one parser: `type` (a stable URI to branch on), `title` (short, per
type), `status`, `detail` (the one line that says why; older clients read only this), `instance`
(the path asked for) and, for a request that does not fit the schema, `errors` (one per problem).
A 500 says that something failed, never what: the traceback goes to the log, not the client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from ingest.untrusted import clean_text

__all__ = [
    "PROBLEM_JSON",
    "FieldError",
    "Problem",
    "ProblemResponse",
    "SafeJSONResponse",
    "add_problem_handlers",
    "problem",
    "problem_openapi",
]

log = logging.getLogger("spiral.api")

PROBLEM_JSON = "application/problem+json"
BASE = "https://spiral.dev/problems/"

# status -> (type slug, title). A status not listed is "about:blank" with the HTTP phrase.
_TYPES: dict[int, tuple[str, str]] = {
    400: ("bad-request", "The body cannot be parsed"),
    401: ("unauthorized", "An API key is needed"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    409: ("conflict", "Conflict"),
    413: ("too-large", "Request too large"),
    422: ("unusable-input", "The input cannot be used"),
    429: ("rate-limited", "Too many requests"),
    500: ("internal", "Internal server error"),
    503: ("unavailable", "Not available"),
}
VALIDATION = (BASE + "validation", "The request does not fit the schema")


class FieldError(BaseModel):
    """One way a request does not fit the schema: where (`["body", "query"]`) and why."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An error answer (RFC 9457). `detail` is always one line of text."""

    type: str = Field(default="about:blank", description="A stable URI naming the kind.")
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="The path that was asked for.")
    errors: list[FieldError] | None = Field(
        default=None, description="For a request that does not fit the schema: each problem."
    )


class SafeJSONResponse(JSONResponse):
    """JSON that is always valid UTF-8: an error that quotes the request (a validation error
    echoes the input) cannot carry a lone surrogate out, nor fail to encode it."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            return clean_text(text).encode("utf-8")


class ProblemResponse(SafeJSONResponse):
    media_type = PROBLEM_JSON


def problem(
    status: int,
    detail: str,
    instance: str | None = None,
    *,
    errors: list[Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> ProblemResponse:
    """The problem+json answer for `status`, its type and title from the table above."""
    if errors is not None:
        kind, title = VALIDATION
    elif status in _TYPES:
        slug, title = _TYPES[status]
        kind = BASE + slug
    else:
        kind, title = "about:blank", _phrase(status)
    body: dict[str, Any] = {"type": kind, "title": title, "status": status, "detail": detail}
    if instance is not None:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


Handler = Callable[[Request, Exception], Awaitable[Response]]


def add_problem_handlers(
    app: FastAPI, by_status: Mapping[int, tuple[type[Exception], ...]]
) -> None:
    """Domain errors by the status that says what they are; HTTP errors, validation errors and
    anything unexpected (500, logged with its traceback) as problems too."""

    def answer(status: int) -> Handler:
        async def handler(request: Request, exc: Exception) -> Response:
            return problem(status, _one_line(str(exc)), request.url.path)

        return handler

    for status, errors in by_status.items():
        for error in errors:
            app.add_exception_handler(error, answer(status))
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _unexpected)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code < 200 or exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(jsonable_encoder(exc.detail))
    return problem(exc.status_code, _one_line(detail), request.url.path, headers=exc.headers)


async def _invalid_request(request: Request, exc: Exception) -> Response:
    """FastAPI's 422, as a problem: the first problem in `detail`, all of them in `errors`."""
    assert isinstance(exc, RequestValidationError)
    errors = [_error(e) for e in exc.errors()]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first.get("loc", []))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    detail = f"{where}: {first.get('msg', '')}{more}" if where else f"{first.get('msg', '')}{more}"
    return problem(422, _one_line(detail), request.url.path, errors=errors)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "an unexpected error; it has been logged", request.url.path)


def _error(error: Any) -> Any:
    """A validation error as `FieldError` fields (the input it quotes is left out: it can be
    large, or bytes that cannot be shown)."""
    return jsonable_encoder({k: error[k] for k in ("loc", "msg", "type") if k in error})


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "no detail"


def problem_openapi(app: FastAPI) -> None:
    """Document every 4xx/5xx answer as `application/problem+json` (FastAPI files a response
    model under the route's own media type)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for code, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if code[:1] in "45" and "application/json" in content:
                        content[PROBLEM_JSON] = content.pop("application/json")
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

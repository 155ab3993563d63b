"""The HTTP API: one router per audience; the runtime (store, model) is built once.

Input a person can describe is never a 500: request text is cleaned as it is validated
(`api.schemas.CleanStr`), and the domain's errors about what was asked for are answered as what
they are (404 not found, 409 conflict, 422 cannot be used; 503 for a setting, the store or the
model), in one line that says why. `api.schemas.errors` documents them on each route.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from api.asking import AskInputError
from api.routes import admin, assist, ingest
from api.runtime import KNOWN_ERRORS, Runtime
from graph.settings import Settings, get_settings
from graph.store import Conflict, NotFound
from ingest.records import LoadError
from ingest.untrusted import UnsafeName, clean_text
from seci.internalize import PathCycle

__all__ = ["UNUSABLE_INPUT", "SafeJSONResponse", "create_app"]

# Domain errors that mean "this input cannot be used", each with a message that says why.
UNUSABLE_INPUT: tuple[type[Exception], ...] = (UnsafeName, LoadError, AskInputError, PathCycle)


class SafeJSONResponse(JSONResponse):
    """JSON that is always valid UTF-8: an error that quotes the request (a validation error
    echoes the input) cannot carry a lone surrogate out, nor fail to encode it."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            return clean_text(text).encode("utf-8")


def create_app(settings: Settings | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = Runtime(settings or get_settings())
        yield
        app.state.runtime.close()

    app = FastAPI(
        title="Spiral",
        description="Knowledge graph with a SECI workflow: the right talk track, right now.",
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=SafeJSONResponse,
    )
    for router in (assist.router, ingest.router, admin.router):
        app.include_router(router)

    _add_error_handlers(app)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    def answer(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
        async def handler(_: Request, exc: Exception) -> Response:
            return SafeJSONResponse(status_code=status, content={"detail": str(exc)})

        return handler

    # A setting or a busy store, not the request: one clear line, try again later.
    for error in KNOWN_ERRORS:
        app.add_exception_handler(error, answer(503))
    app.add_exception_handler(Conflict, answer(409))
    app.add_exception_handler(NotFound, answer(404))
    for error in UNUSABLE_INPUT:
        app.add_exception_handler(error, answer(422))
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code < 200 or exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    content = {"detail": exc.detail}
    return SafeJSONResponse(content, status_code=exc.status_code, headers=exc.headers)


async def _invalid_request(_: Request, exc: Exception) -> Response:
    """FastAPI's 422, but safe to encode whatever input it quotes."""
    assert isinstance(exc, RequestValidationError)
    content = {"detail": [_error(e) for e in exc.errors()]}
    return SafeJSONResponse(content, status_code=422)


def _error(error: Any) -> Any:
    try:
        return jsonable_encoder(error)
    except (UnicodeDecodeError, TypeError, ValueError):  # an input it cannot show (raw bytes)
        return jsonable_encoder({k: error[k] for k in ("type", "loc", "msg") if k in error})

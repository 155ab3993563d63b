"""The HTTP API: one router per audience; the runtime (store, model) is built once.

Input a person can describe is never a 500: request text is cleaned as it is validated
(`api.schemas.CleanStr`), and the domain's errors about what was asked for are answered as what
they are (404 not found, 409 conflict, 422 cannot be used; 503 for a setting, the store or the
model), in one line that says why. `api.schemas.errors` documents them on each route. Every
error, these and the rest (413 too large, 429 too many, a 500 that says nothing of its cause),
is RFC 9457 problem+json (`api.problems`). Limits on request size and rate: `api.limits`.
Every route but the probes needs an API key, and each router says which roles (`api.auth`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from api.accounts import AccountError
from api.asking import AskInputError
from api.jobs import open_jobs
from api.limits import BodyLimit, KeyFunc, RateLimit, client_key, open_limiter
from api.live import LiveError, open_push
from api.problems import SafeJSONResponse, add_problem_handlers, problem_openapi
from api.routes import (
    admin,
    assist,
    console,
    conversations,
    curation,
    experts,
    graph,
    health,
    ingest,
    items,
    learning,
    me,
    metrics,
    push,
    webhooks,
)
from api.runtime import KNOWN_ERRORS, Runtime
from graph.settings import Settings, get_settings
from graph.store import Conflict, NotFound
from ingest.records import LoadError
from ingest.untrusted import UnsafeName
from seci.internalize import PathCycle

__all__ = ["UNUSABLE_INPUT", "SafeJSONResponse", "create_app", "serving_app"]

log = logging.getLogger("spiral.api")

DEV_WARNING = (
    "DEV MODE: requests without an API key act as an ADMIN. Never expose this server; "
    "set SPIRAL_ADMIN_KEY and run without --dev in production."
)

# Domain errors that mean "this input cannot be used", each with a message that says why.
UNUSABLE_INPUT: tuple[type[Exception], ...] = (
    UnsafeName,
    LoadError,
    AskInputError,
    PathCycle,
    AccountError,
    LiveError,
)


def create_app(
    settings: Settings | None = None, rate_key: KeyFunc = client_key, warm: bool = False
) -> FastAPI:
    """The app; settings are read when it starts (lifespan), not here. `rate_key` says whose
    allowance a request spends (an auth layer can key by principal). `warm`: load the model
    and the language tables in the background at start (`spiral serve`), and say not ready
    until they are, so no customer waits for them."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = Runtime(settings or get_settings())
        _warn_about_auth(app.state.runtime.settings)
        app.state.limiter = open_limiter(app.state.runtime.settings)
        # Live push: the hub, the webhook dispatcher and the live conversation index (Redis
        # when SPIRAL_REDIS_URL is set, so every worker shares them; else this process).
        app.state.push = open_push(app.state.runtime.settings)
        # Ingest jobs: run here, one at a time; kept in Redis too when it is set.
        app.state.jobs = open_jobs(app.state.runtime.settings)
        if warm:
            app.state.runtime.start_warming()
        yield
        await app.state.jobs.close()
        await app.state.push.close()
        if app.state.limiter is not None:
            await app.state.limiter.close()
        app.state.runtime.close()

    app = FastAPI(
        title="Spiral",
        description="Knowledge graph with a SECI workflow: the right talk track, right now.",
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=SafeJSONResponse,
    )
    routers = (
        health,
        me,
        assist,
        conversations,
        push,
        items,
        curation,
        learning,
        experts,
        metrics,
        ingest,
        graph,
        admin,
        webhooks,
        console,
    )
    for module in routers:
        app.include_router(module.router)
    console.mount(app)
    # The last added runs first: over the rate limit is refused before a body is read.
    app.add_middleware(BodyLimit)
    app.add_middleware(RateLimit, key=rate_key)
    add_problem_handlers(
        app,
        {
            # A setting, a busy store or Redis gone, not the request: try again later.
            503: (*KNOWN_ERRORS, RedisConnectionError, RedisTimeoutError),
            409: (Conflict,),
            404: (NotFound,),
            422: UNUSABLE_INPUT,
        },
    )
    problem_openapi(app)
    return app


def _warn_about_auth(settings: Settings) -> None:
    """Say loudly at startup when anyone may act as an admin, or when no admin can get in."""
    if settings.dev_mode:
        log.warning("!" * 72)
        log.warning(DEV_WARNING)
        log.warning("!" * 72)
    elif not settings.admin_key.get_secret_value():
        log.warning("SPIRAL_ADMIN_KEY is not set: only keys of accounts in the store work")


def serving_app() -> FastAPI:
    """What `spiral serve` runs (uvicorn's factory): the app, warmed up as it starts."""
    return create_app(warm=True)

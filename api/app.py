"""The HTTP API: one router per audience; the runtime (store, model) is built once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.routes import admin, assist, ingest
from api.runtime import KNOWN_ERRORS, Runtime
from graph.settings import Settings, get_settings
from graph.store import Conflict, NotFound

__all__ = ["create_app"]


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
    )
    for router in (assist.router, ingest.router, admin.router):
        app.include_router(router)

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        """A setting or a busy store, not the request: one clear line, try again later."""
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    async def conflict(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": str(exc)})

    async def not_found(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    for error in KNOWN_ERRORS:
        app.add_exception_handler(error, unavailable)
    app.add_exception_handler(Conflict, conflict)
    app.add_exception_handler(NotFound, not_found)

    return app

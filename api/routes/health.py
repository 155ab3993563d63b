"""Probes for orchestrators and load balancers: alive (`/healthz`) and ready (`/readyz`).

Liveness touches nothing (a slow store must not get a healthy process restarted); readiness
checks what a request needs, the store and the model, and names what is not ready, so a
replica is taken out of rotation until it is. Neither is rate-limited (api.limits) nor needs a
key (api.auth): probes carry no credentials. Nor does the older `/health`, which existing
probes still call.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from huggingface_hub import try_to_load_from_cache
from pydantic import BaseModel

from api.deps import RuntimeDep
from api.problems import problem
from api.runtime import Runtime
from api.schemas import errors, problems
from graph.embeddings import LazyEmbedder, ModelError, resolve_model_path

__all__ = ["Health", "Live", "Ready", "router"]

router = APIRouter(tags=["health"])

# A probe's id that no node has: looking it up proves the store answers, at index cost.
_PROBE_ID = "spiral:readyz"


class Live(BaseModel):
    status: str = "ok"


class Ready(BaseModel):
    status: str = "ready"
    checks: dict[str, str]


class Health(BaseModel):
    status: str
    store: str


@router.get("/healthz", response_model=Live)
async def healthz() -> Live:
    """The process answers; nothing else is checked (no store, no model)."""
    return Live()


@router.get("/readyz", response_model=Ready, responses=problems(503))
async def readyz(request: Request, rt: RuntimeDep) -> Ready | Response:
    """The store answers and the model is loaded or can be: 200 with each check, else 503
    naming what is not ready."""
    checks, failed = await run_in_threadpool(_checks, rt)
    if failed:
        return problem(503, "not ready: " + "; ".join(failed), request.url.path)
    return Ready(checks=checks)


@router.get("/health", response_model=Health, responses=errors())
def health(rt: RuntimeDep) -> Health:
    """The older check, kept for existing probes: the store answers."""
    rt.store.stats()  # fails loudly when the store is gone
    return Health(status="ok", store=rt.settings.store)


def _checks(rt: Runtime) -> tuple[dict[str, str], list[str]]:
    checks: dict[str, str] = {}
    failed: list[str] = []
    for name, check in (("store", _store), ("model", _model)):
        try:
            checks[name] = check(rt)
        except Exception as exc:  # any failure means "not ready", said in one line
            failed.append(f"{name}: {' '.join(str(exc).split())[:300] or type(exc).__name__}")
    return checks, failed


def _store(rt: Runtime) -> str:
    rt.store.get_node(_PROBE_ID)
    return f"{rt.settings.store}: reachable"


def _model(rt: Runtime) -> str:
    """Loaded, or loadable: its folder is there (the weights are verified when it loads)."""
    embedder = rt.embedder
    if rt.warm_state == "warming":
        raise ModelError("warming up: loading the model and the language tables")
    if not isinstance(embedder, LazyEmbedder):
        return "loaded"
    if embedder.is_loaded:
        return f"{embedder.model}: loaded"
    location = resolve_model_path(embedder.model)  # ModelError when it is not installed
    if isinstance(location, str) and try_to_load_from_cache(location, "config.json") is None:
        # Offline, a name that is no folder nor package loads only from the local cache.
        raise ModelError(f"{location!r} is not installed, a folder, or in the local cache")
    return f"{embedder.model}: loadable from {location}"

"""Knowledge managers, trainers and admins: where knowledge is in the SECI spiral and how it
moves, read from the event log (items per kind and status, events per stage per day,
coverage of frequent situations by approved talk tracks, the contradiction backlog, and how
suggestions fared)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from api.auth import require
from api.deps import RuntimeDep
from api.schemas import errors, problems
from seci.metrics import SeciMetrics, metrics

__all__ = ["router"]

router = APIRouter(
    prefix="/metrics",
    tags=["metrics"],
    dependencies=[Depends(require("knowledge_manager", "trainer", "admin"))],
    responses=problems(401, 403),
)


@router.get("", response_model=SeciMetrics, responses=errors())
async def seci_metrics(
    rt: RuntimeDep,
    frequent: Annotated[
        int, Query(ge=1, le=1000, description="Situations that make a talk track frequent.")
    ] = 3,
) -> SeciMetrics:
    return await run_in_threadpool(metrics, rt.store, frequent)

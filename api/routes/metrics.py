"""Knowledge managers, trainers and admins: where knowledge is in the SECI spiral and how it
moves, read from the event log (items per kind and status, events per stage per day,
coverage of frequent situations by approved talk tracks, the contradiction backlog, and how
suggestions fared)."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from api.auth import CurrentUser, require
from api.deps import RuntimeDep
from api.schemas import errors, problems
from api.scope import item_visible, sees_everything
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
    user: CurrentUser,
    frequent: Annotated[
        int, Query(ge=1, le=1000, description="Situations that make a talk track frequent.")
    ] = 3,
) -> SeciMetrics:
    """Over the items the caller may see: a team's account gets its team's items and the
    shared ones (and the events and contradictions on them); admins and accounts in no team
    get everything."""
    visible = None if sees_everything(user) else partial(item_visible, user)
    return await run_in_threadpool(metrics, rt.store, frequent, visible)

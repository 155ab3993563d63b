"""Everyone: who handles a topic best (outcomes shrunk towards the team's rate, with the
evidence), and which of their real conversations that ended well to read.

A team scopes people (api.scope): a team's members see their team's experts and people in no
team; an employee sees everyone they may learn from in their team.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from api.auth import CurrentUser, require
from api.deps import RuntimeDep
from api.schemas import errors, problems
from api.scope import colleagues
from seci.socialize import Exemplar, ExpertsResult, exemplars, experts

__all__ = ["router"]

router = APIRouter(
    prefix="/experts",
    tags=["experts"],
    dependencies=[Depends(require())],
    responses=problems(401, 403),
)
Topic = Annotated[str, Query(max_length=500, description="In the customer's words.")]


@router.get("", response_model=ExpertsResult, responses=errors())
async def ranked(
    rt: RuntimeDep,
    user: CurrentUser,
    topic: Topic = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> ExpertsResult:
    """People ranked by how their conversations on the topic (all, if empty) ended: 1 of 1
    does not beat 40 of 50."""

    def read() -> ExpertsResult:
        found = experts(rt.store, rt.embedder, topic, limit=10_000)
        people = colleagues(rt, user)
        if people is not None:
            found.experts = [e for e in found.experts if e.employee in people]
        found.experts = found.experts[:limit]
        return found

    return await run_in_threadpool(read)


@router.get("/exemplars", response_model=list[Exemplar], responses=errors())
async def conversations(
    rt: RuntimeDep,
    user: CurrentUser,
    topic: Annotated[str, Query(min_length=1, max_length=500)],
    limit: Annotated[int, Query(ge=1, le=100)] = 5,
) -> list[Exemplar]:
    """Real conversations on the topic that ended well, by the people who handle it best."""

    def read() -> list[Exemplar]:
        people = colleagues(rt, user)
        found = exemplars(rt.store, rt.embedder, topic, limit=limit if people is None else 100)
        if people is not None:
            found = [x for x in found if x.employee_id in people]
        return found[:limit]

    return await run_in_threadpool(read)

"""Trainers build learning paths (prerequisite order, a cycle refused with its members),
assign them to people or a team, and see progress, due reviews and gaps; employees see their
own and record their reviews (FSRS schedules the next). Mentoring (shadowed, coached) is
recorded by trainers.

People are scoped (api.scope): an employee only themselves, a trainer of a team that team's
people. Every change is one event in the log with the account as actor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from api.auth import CurrentUser, Principal, require
from api.deps import RuntimeDep, in_domain
from api.runtime import Runtime
from api.schemas import errors, problems
from api.schemas_seci import (
    MentoringCreate,
    PathAssign,
    PathCreate,
    PathPublic,
    PersonPublic,
    ReviewCreate,
)
from api.scope import account_teams, colleagues, person_team, visible_item, visible_person
from graph.model import Employee, Label, LearningPath
from graph.store import GraphStore, NodeQuery, iter_nodes
from seci.internalize import (
    DueCard,
    Gap,
    LearnerProgress,
    MentoringRecord,
    PathStep,
    assign_path,
    create_path,
    due_cards,
    gaps,
    item_title,
    progress,
    record_mentoring,
    review,
    suggest_path,
)

__all__ = ["router"]

router = APIRouter(
    prefix="/learning",
    tags=["learning"],
    dependencies=[Depends(require())],
    responses=problems(401, 403),
)
TRAINERS = [Depends(require("trainer", "admin"))]
T = TypeVar("T")
PathId = Annotated[str, Path(min_length=1, max_length=500)]
Person = Annotated[str, Path(min_length=1, max_length=200, description="Id, source id or name.")]


@router.get("/paths", response_model=list[PathPublic], dependencies=TRAINERS, responses=errors())
async def list_paths(rt: RuntimeDep, user: CurrentUser) -> list[PathPublic]:
    """Every path, with its items in order and who it is assigned to."""

    def read() -> list[PathPublic]:
        paths = iter_nodes(rt.store, NodeQuery(label=Label.LEARNING_PATH, limit=1000))
        return [_public(rt, p) for p in paths if isinstance(p, LearningPath)]

    return await in_domain(read)


@router.post(
    "/paths",
    response_model=PathPublic,
    status_code=201,
    dependencies=TRAINERS,
    responses=errors(400, 404, 413),
)
async def build_path(body: PathCreate, rt: RuntimeDep, user: CurrentUser) -> PathPublic:
    """A path from the items given and, with a topic, the live items that match it, ordered
    so that what an item requires (PREREQUISITE_OF) comes first. A cycle is a 422 naming it."""
    if not body.items and not body.topic.strip():
        raise HTTPException(422, "give items, a topic, or both")

    def build() -> PathPublic:
        for item_id in body.items:
            visible_item(rt.store, user, item_id)
        path = create_path(rt.store, rt.embedder, body.title, user.actor, body.items, body.topic)
        return _public(rt, path)

    return await in_domain(build)


@router.get("/suggest", response_model=list[PathStep], dependencies=TRAINERS, responses=errors())
async def suggest(
    rt: RuntimeDep, topic: Annotated[str, Query(min_length=1, max_length=500)]
) -> list[PathStep]:
    """What a path for the topic would hold, in order, each step with why; nothing saved."""
    return await in_domain(lambda: suggest_path(rt.store, rt.embedder, topic))


@router.post(
    "/paths/{path_id}/assignees",
    response_model=PathPublic,
    dependencies=TRAINERS,
    responses=errors(400, 404, 409, 413),
)
async def assign(
    path_id: PathId, body: PathAssign, rt: RuntimeDep, user: CurrentUser
) -> PathPublic:
    """Give the path to people, or to a whole team (`team:NAME`); one event."""

    def act() -> PathPublic:
        for who in body.employees:
            if who.startswith("team:"):
                team = who.removeprefix("team:")
                if user.team and user.role != "admin" and team != user.team:
                    raise HTTPException(403, f"a trainer of {user.team!r} assigns within it")
            else:
                visible_person(rt, user, who)
        teams = account_teams(rt)
        return _public(rt, assign_path(rt.store, path_id, body.employees, user.actor, teams))

    return await in_domain(act)


@router.get("/people", response_model=list[PersonPublic], dependencies=TRAINERS, responses=errors())
async def people(rt: RuntimeDep, user: CurrentUser) -> list[PersonPublic]:
    """The people a trainer may assign paths to and follow: their team's and those in no team
    (an admin or a team-less trainer: everyone), by name. A person's team is their Employee
    node's, else that of the account that is them."""

    def read() -> list[PersonPublic]:
        allowed = colleagues(rt, user)
        teams = account_teams(rt)
        found = [
            PersonPublic(
                id=n.id, name=n.name, external_id=n.external_id, team=person_team(rt, n, teams)
            )
            for n in iter_nodes(rt.store, NodeQuery(label=Label.EMPLOYEE, limit=1000))
            if isinstance(n, Employee) and (allowed is None or n.id in allowed)
        ]
        return sorted(found, key=lambda p: (p.name, p.id))

    return await in_domain(read)


@router.get("/progress/{employee}", response_model=LearnerProgress, responses=errors(404))
async def learner_progress(employee: Person, rt: RuntimeDep, user: CurrentUser) -> LearnerProgress:
    """Each assigned path (items learnt, reviews, uses with customers, next due dates) and the
    shadowing and coaching they had."""
    return await in_domain(lambda: _as_person(rt, user, employee, progress))


@router.get("/due/{employee}", response_model=list[DueCard], responses=errors(404))
async def due(employee: Person, rt: RuntimeDep, user: CurrentUser) -> list[DueCard]:
    """What is due for review now, then items of their paths not reviewed yet."""
    return await in_domain(lambda: _as_person(rt, user, employee, due_cards))


@router.get(
    "/gaps/{employee}", response_model=list[Gap], dependencies=TRAINERS, responses=errors(404)
)
async def learner_gaps(employee: Person, rt: RuntimeDep, user: CurrentUser) -> list[Gap]:
    """Situations where their outcomes are worse than the rest of the team's, with the
    evidence (build a path from them with POST /learning/paths)."""
    return await in_domain(lambda: _as_person(rt, user, employee, gaps))


@router.post("/reviews", response_model=DueCard, responses=errors(400, 404, 409, 413))
async def record_review(body: ReviewCreate, rt: RuntimeDep, user: CurrentUser) -> DueCard:
    """How well they recalled an item (again, hard, good, easy); FSRS sets the next due date.
    An employee records their own reviews (by default: themselves)."""

    def act() -> DueCard:
        ref = body.employee or user.employee_id
        if not ref:
            raise HTTPException(422, "say whose review it is (employee)")
        person = visible_person(rt, user, ref)
        visible_item(rt.store, user, body.item)
        card = review(rt.store, person.id, body.item, body.rating, actor=user.actor)
        title = item_title(rt.store, body.item)
        return DueCard(item=card.item, title=title, due=card.due, new=False, reviews=card.reviews)

    return await in_domain(act)


@router.post(
    "/mentoring",
    response_model=MentoringRecord,
    status_code=201,
    dependencies=TRAINERS,
    responses=errors(400, 404, 413),
)
async def mentoring(body: MentoringCreate, rt: RuntimeDep, user: CurrentUser) -> MentoringRecord:
    """Record that the learner shadowed the mentor, or was coached by them, on a topic."""

    def act() -> MentoringRecord:
        for who in (body.mentor, body.learner):
            visible_person(rt, user, who)
        done = record_mentoring(
            rt.store, body.mentor, body.learner, body.topic, body.kind, user.actor, note=body.note
        )
        return MentoringRecord.model_validate(done, from_attributes=True)

    return await in_domain(act)


def _as_person(rt: Runtime, user: Principal, ref: str, read: Callable[[GraphStore, str], T]) -> T:
    """`read(store, employee_id)` for a person the principal may see."""
    return read(rt.store, visible_person(rt, user, ref).id)


def _public(rt: Runtime, path: LearningPath) -> PathPublic:
    titles = [item_title(rt.store, i) for i in path.items]
    return PathPublic(
        id=path.id,
        title=path.title,
        topic=path.topic,
        items=path.items,
        titles=titles,
        assignees=path.assignees,
    )

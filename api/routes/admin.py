"""Admins: accounts, their keys, teams, and store contents. Admin role only.

Every change goes through api.accounts as one unit of work with the admin as actor, so the
event log says who created, changed, issued or revoked what. A key is shown once, in the answer
that issues it; listings show its id, prefix, times and whether it is revoked, never the key.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.auth import CurrentUser, require
from api.deps import RuntimeDep, in_domain
from api.schemas import (
    AccountCreate,
    AccountPublic,
    AccountUpdate,
    CleanStr,
    KeyCreated,
    KeyPublic,
    TeamPublic,
    errors,
    problems,
)
from api.schemas_seci import MAX_SEQ, DecisionCreate, EventPublic, Seq
from graph.model import Account, ApiKey
from seci.handover import HandoverResult, handover

__all__ = ["Stats", "router"]

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(require("admin"))],
    responses=problems(401, 403),
)
Id = Annotated[str, Path(min_length=1, max_length=500)]


class HandoverCreate(BaseModel):
    from_employee: CleanStr = Field(min_length=1, max_length=200, description="Who leaves.")
    to_employee: CleanStr = Field(min_length=1, max_length=200, description="Who takes over.")
    reason: CleanStr = Field(default="", max_length=2000)


class Stats(BaseModel):
    nodes: dict[str, int]
    links: dict[str, int]


@router.get("/stats", response_model=Stats, responses=errors())
def stats(rt: RuntimeDep) -> Stats:
    s = rt.store.stats()
    return Stats(nodes=s.nodes, links=s.links)


@router.post("/users", response_model=AccountPublic, status_code=201, responses=errors(400, 413))
async def create_user(body: AccountCreate, rt: RuntimeDep, user: CurrentUser) -> AccountPublic:
    """A new account (no key yet: issue one with POST /admin/users/{id}/keys)."""
    account = await run_in_threadpool(
        rt.accounts.create, user.actor, body.name, body.role, body.team, body.employee_id
    )
    return account_public(account)


@router.get("/users", response_model=list[AccountPublic], responses=errors())
async def list_users(rt: RuntimeDep) -> list[AccountPublic]:
    return [account_public(a) for a in await run_in_threadpool(rt.accounts.all)]


@router.get("/users/{account_id}", response_model=AccountPublic, responses=errors(404))
async def get_user(account_id: Id, rt: RuntimeDep) -> AccountPublic:
    return account_public(await run_in_threadpool(rt.accounts.get, account_id))


@router.patch(
    "/users/{account_id}", response_model=AccountPublic, responses=errors(400, 404, 409, 413)
)
async def update_user(
    account_id: Id, body: AccountUpdate, rt: RuntimeDep, user: CurrentUser
) -> AccountPublic:
    """Change name, role, team, the Employee it is, or disable it (its keys stop working)."""
    fields = body.model_dump(exclude_none=True)
    account = await run_in_threadpool(rt.accounts.update, user.actor, account_id, fields)
    return account_public(account)


@router.post(
    "/users/{account_id}/keys", response_model=KeyCreated, status_code=201, responses=errors(404)
)
async def issue_key(account_id: Id, rt: RuntimeDep, user: CurrentUser) -> KeyCreated:
    """A new key for the account, shown in this answer only: store it now."""
    key, node = await run_in_threadpool(rt.accounts.issue_key, user.actor, account_id)
    return KeyCreated(key=key, **key_public(node).model_dump())


@router.get("/users/{account_id}/keys", response_model=list[KeyPublic], responses=errors(404))
async def list_keys(account_id: Id, rt: RuntimeDep) -> list[KeyPublic]:
    return [key_public(k) for k in await run_in_threadpool(rt.accounts.keys, account_id)]


@router.delete("/keys/{key_id}", response_model=KeyPublic, responses=errors(404))
async def revoke_key(key_id: Id, rt: RuntimeDep, user: CurrentUser) -> KeyPublic:
    """Revoke a key (by id or prefix): refused from now on (on other replicas within
    SPIRAL_AUTH_CACHE_S). Revoking it again changes nothing."""
    return key_public(await run_in_threadpool(rt.accounts.revoke_key, user.actor, key_id))


@router.get("/teams", response_model=list[TeamPublic], responses=errors())
async def teams(rt: RuntimeDep) -> list[TeamPublic]:
    """Teams as the accounts name them, each with its members (by team, then name)."""
    members: dict[str, list[AccountPublic]] = defaultdict(list)
    for account in await run_in_threadpool(rt.accounts.all):
        members[account.team].append(account_public(account))
    return [
        TeamPublic(team=team, members=sorted(people, key=lambda a: (a.name, a.id)))
        for team, people in sorted(members.items())
    ]


def account_public(account: Account) -> AccountPublic:
    return AccountPublic(
        id=account.id,
        name=account.name,
        role=account.role,
        team=account.team,
        employee_id=account.employee_id,
        disabled=account.disabled,
        created_at=account.provenance.created_at.isoformat(),
        created_by=account.provenance.created_by,
    )


def key_public(key: ApiKey) -> KeyPublic:
    return KeyPublic.model_validate(key, from_attributes=True)  # the same names, never the hash


@router.post("/handover", response_model=HandoverResult, responses=errors(400, 404, 409, 413))
async def hand_over(body: HandoverCreate, rt: RuntimeDep, user: CurrentUser) -> HandoverResult:
    """Move someone's customers, open conversations and notes to a colleague in one event
    (undo it by its seq); who handled and said what stays attributed to the one who left."""
    return await in_domain(
        lambda: handover(rt.store, body.from_employee, body.to_employee, user.actor, body.reason)
    )


@router.get("/events", response_model=list[EventPublic], responses=errors())
async def events(
    rt: RuntimeDep,
    since: Annotated[int, Query(ge=0, le=MAX_SEQ, description="After this seq.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[list[str] | None, Query(description="Only these actions.")] = None,
    node: Annotated[str | None, Query(max_length=500, description="Touching this node.")] = None,
) -> list[EventPublic]:
    """The audit trail and change feed: who changed what, when and why, oldest first."""
    found = await run_in_threadpool(rt.store.events, since, limit, action, node)
    return [EventPublic.of(e) for e in found]


@router.post("/events/{seq}/undo", response_model=EventPublic, responses=errors(400, 404, 409, 413))
async def undo(seq: Seq, body: DecisionCreate, rt: RuntimeDep, user: CurrentUser) -> EventPublic:
    """Undo any undoable event (its inverse is appended). Ingest summaries are undone by
    re-ingesting or forgetting the source; account and key changes by changing them again."""
    event = await run_in_threadpool(rt.store.undo, seq, user.actor, body.reason)
    return EventPublic.of(event)

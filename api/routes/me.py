"""Who the key belongs to: what the web console (and any client) needs to know before it shows
anything — the role (which screens), the team and the Employee node (whose stream)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from api.auth import CurrentUser, require
from api.schemas import problems
from graph.model import Role

__all__ = ["MePublic", "router"]

router = APIRouter(tags=["me"], dependencies=[Depends(require())], responses=problems(401))


class MePublic(BaseModel):
    account_id: str
    role: Role
    team: str
    employee_id: str
    name: str


@router.get("/me", response_model=MePublic)
async def me(user: CurrentUser) -> MePublic:
    """The account behind this request's key."""
    return MePublic.model_validate(user, from_attributes=True)

"""Admins and operators: health and store contents."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import RuntimeDep
from api.schemas import errors

router = APIRouter(tags=["admin"])


class Health(BaseModel):
    status: str
    store: str


class Stats(BaseModel):
    nodes: dict[str, int]
    links: dict[str, int]


@router.get("/health", response_model=Health, responses=errors())
def health(rt: RuntimeDep) -> Health:
    rt.store.stats()  # fails loudly when the store is gone
    return Health(status="ok", store=rt.settings.store)


@router.get("/admin/stats", response_model=Stats, responses=errors())
def stats(rt: RuntimeDep) -> Stats:
    s = rt.store.stats()
    return Stats(nodes=s.nodes, links=s.links)

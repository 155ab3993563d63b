"""Everyone: the knowledge items they may see, one page at a time, and one item's whole story.

A team scopes items (api.scope): an item in no team is everyone's, a team's item its team's;
employees see approved items only. An item that is not theirs to see is a 404, like one that
does not exist, so ids of other teams do not leak.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.auth import CurrentUser, Principal, require
from api.deps import RuntimeDep, in_domain
from api.runtime import Runtime
from api.schemas import errors, problems
from api.schemas_seci import ItemDetailPublic, ItemPublic
from api.scope import item_visible, sees_everything, visible_item
from graph.model import KnowledgeItem, Label, Node
from graph.search import hybrid_search
from graph.store import GraphStore, NodeQuery, SearchFilter
from seci.assist import AskOptions
from seci.items_view import item_detail, item_record

__all__ = ["ItemsPage", "router"]

router = APIRouter(
    prefix="/items",
    tags=["items"],
    dependencies=[Depends(require())],
    responses=problems(401, 403),
)
ItemId = Annotated[str, Path(min_length=1, max_length=500)]
MAX_Q = 500  # characters of search words
SEARCH_CANDIDATES = 50  # hits per side before fusion, as search takes them


class ItemsPage(BaseModel):
    items: list[ItemPublic]
    next_cursor: str | None = None


@router.get("", response_model=ItemsPage, responses=errors())
async def list_items(
    rt: RuntimeDep,
    user: CurrentUser,
    status: Literal["draft", "approved", "rejected", "retired"] | None = None,
    kind: Literal["talk_track", "faq", "fact"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=MAX_Q)] = None,
) -> ItemsPage:
    """Items by id, with outcome counts and sources. A page can hold fewer than `limit` items
    when some are another team's: follow `next_cursor` until it is null. With `q`: the
    `limit` items that best match those words (lexical and dense, as search ranks), best
    first, in one page (`cursor` is not taken with it)."""
    if user.role == "employee":
        status = "approved"
    if q is not None:
        if cursor is not None:
            raise HTTPException(422, "q and cursor do not go together: a search is one page")
        scoped = None if sees_everything(user) else [user.team]
        filters = SearchFilter(
            status=[status] if status else None, kind=[kind] if kind else None, team=scoped
        )
        return await run_in_threadpool(lambda: _found(rt, user, q, filters, limit))
    query = NodeQuery(
        label=Label.KNOWLEDGE_ITEM, status=status, kind=kind, limit=limit, cursor=cursor
    )
    return await in_domain(lambda: _page(rt.store, user, query))  # a bad cursor: 422


@router.get("/{item_id}", response_model=ItemDetailPublic, responses=errors(404))
async def get_item(item_id: ItemId, rt: RuntimeDep, user: CurrentUser) -> ItemDetailPublic:
    """Responses with their counts, what not to say, situations, links and the history."""

    def read() -> ItemDetailPublic:
        item = visible_item(rt.store, user, item_id)
        detail = item_detail(rt.store, item_id) or {}
        return ItemDetailPublic.model_validate({**detail, "team": item.team})

    return await run_in_threadpool(read)


def _found(
    rt: Runtime, user: Principal, words: str, filters: SearchFilter, limit: int
) -> ItemsPage:
    """The items that best match `words`, fused as an ask fuses them (the dense side weighs
    less for Chinese words: the default model is English-only); filters apply inside the
    search, so another team's items never take a slot."""
    options = AskOptions.from_settings(rt.settings)
    hits = hybrid_search(
        rt.store,
        rt.embedder,
        words,
        k=limit,
        fusion=options.fusion,
        dense_weight=options.weight(words),
        labels=[Label.KNOWLEDGE_ITEM],
        candidates=max(limit, SEARCH_CANDIDATES),
        filters=filters,
    )
    nodes = [rt.store.get_node(hit.id) for hit in hits]
    return ItemsPage(items=_visible(rt.store, user, nodes))


def _page(store: GraphStore, user: Principal, query: NodeQuery) -> ItemsPage:
    page = store.query_nodes(query)
    return ItemsPage(items=_visible(store, user, page.nodes), next_cursor=page.next_cursor)


def _visible(store: GraphStore, user: Principal, nodes: Iterable[Node | None]) -> list[ItemPublic]:
    """The knowledge items among `nodes` that the account may see, in their order."""
    return [
        ItemPublic.model_validate({**item_record(store, n), "team": n.team})
        for n in nodes
        if isinstance(n, KnowledgeItem) and item_visible(user, n)
    ]

"""Explorers and consoles: the neighbourhood of one node, small enough to draw.

Only the store's own API is used (`get_node`, `neighbours`), so it works on every backend.
What a node shows is an allow-list (id, label, a display name, a few scalar fields): never an
embedding, a key hash, contact fields or mined statistics. Read-only, for every role; accounts
and API keys are not part of the graph shown (no such node, as far as this route says).

What a node is shown to is the rest of the API's rule (api/scope.py): knowledge items only to
whom `/items` shows them (employees: approved ones; a team's items to its team), people only
to whom they are visible, and to an employee no other employee's conversations, and no
messages or customers at all (their own conversations they open in the assist panel). A hidden
node is not walked through either, and a hidden centre is a 404 like an unknown id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.accounts import Principal
from api.auth import CurrentUser, require
from api.deps import RuntimeDep
from api.runtime import Runtime
from api.schemas import errors, problems
from api.scope import account_teams, item_visible, person_visible
from graph.model import Conversation, Employee, KnowledgeItem, Label, LinkType, Node
from graph.store import GraphStore, Neighbour

__all__ = ["GraphLink", "GraphNode", "Neighbourhood", "neighbourhood", "router"]

router = APIRouter(
    prefix="/graph",
    tags=["graph"],
    dependencies=[Depends(require("employee", "knowledge_manager", "trainer", "admin"))],
    responses=problems(401, 403),
)

# Scalar fields safe to show on any node that has them.
SAFE_FIELDS = ("kind", "status", "uri", "channel", "outcome", "role", "team", "language")
_NAME_CHARS = 80
# Who may use the API is not knowledge: never shown, never walked through.
HIDDEN_LABELS = frozenset({Label.ACCOUNT, Label.API_KEY})
# What a neighbourhood shows first, and what there can be thousands of (shown after it).
BULK_LABELS = (
    Label.MESSAGE,
    Label.CHUNK,
    Label.SENTENCE,
    Label.CONVERSATION,
    Label.CUSTOMER,
    Label.CARD,
)
KNOWLEDGE_LABELS = tuple(
    label for label in Label if label not in BULK_LABELS and label not in HIDDEN_LABELS
)


class GraphNode(BaseModel):
    id: str
    label: Label
    name: str = Field(description="What to call it: title, name, or the start of its text.")
    properties: dict[str, str | int | float | bool] = Field(default_factory=dict)


class GraphLink(BaseModel):
    source: str
    target: str
    type: LinkType


class Neighbourhood(BaseModel):
    center: str
    depth: int
    nodes: list[GraphNode] = Field(description="The centre first, then by distance.")
    links: list[GraphLink] = Field(description="Links between the nodes shown.")
    truncated: bool = Field(description="True when more neighbours exist than `limit` allowed.")


@router.get("/neighbourhood/{node_id}", response_model=Neighbourhood, responses=errors(404))
async def neighbourhood_route(
    rt: RuntimeDep,
    user: CurrentUser,
    node_id: Annotated[str, Path(min_length=1, max_length=500)],
    depth: Annotated[int, Query(ge=1, le=2, description="Hops from the node.")] = 1,
    limit: Annotated[int, Query(ge=1, le=200, description="Most neighbours shown.")] = 50,
    types: Annotated[
        list[LinkType] | None, Query(description="Only links of these types (default: all).")
    ] = None,
) -> Neighbourhood:
    """The node, its neighbours up to `depth` hops (at most `limit`, nearest first) and the
    links between them; `truncated` says when some were left out."""
    found = await run_in_threadpool(
        neighbourhood, rt.store, node_id, depth, limit, types, visible_to(rt, user)
    )
    if found is None:
        raise HTTPException(404, f"no node {node_id!r}")
    return found


def neighbourhood(
    store: GraphStore,
    node_id: str,
    depth: int = 1,
    limit: int = 50,
    types: list[LinkType] | None = None,
    visible: Callable[[Node], bool] = lambda node: True,
) -> Neighbourhood | None:
    """Breadth first from `node_id`; a node's neighbours knowledge first (items, entities,
    documents, people, paths), then the bulk (messages, chunks, conversations...), each in
    (link type, id) order, so the answer is the same on every backend and a product
    mentioned in a thousand messages still shows the items about it. None when there is no
    such node (or it is not `visible`); nodes that are not are left out and not walked
    through."""
    center = store.get_node(node_id)
    if center is None or center.label in HIDDEN_LABELS or not visible(center):
        return None
    shown: dict[str, Node] = {center.id: center}
    links: dict[tuple[str, str, str], GraphLink] = {}
    frontier, truncated = [center.id], False
    for _ in range(depth):
        reached: list[str] = []
        for here in frontier:
            for n in _knowledge_first(store, here, types or None, limit + 1):
                if n.node.label in HIDDEN_LABELS or not visible(n.node):
                    continue
                if n.node.id not in shown:
                    if len(shown) > limit:
                        truncated = True
                        continue
                    shown[n.node.id] = n.node
                    reached.append(n.node.id)
                link = GraphLink(source=n.link.src, target=n.link.dst, type=n.link.type)
                links[(link.source, link.type.value, link.target)] = link
        frontier = reached
    kept = [link for link in links.values() if link.source in shown and link.target in shown]
    nodes = [_public(node) for node in shown.values()]
    return Neighbourhood(
        center=center.id, depth=depth, nodes=nodes, links=kept, truncated=truncated
    )


_EMPLOYEE_HIDDEN = frozenset({Label.MESSAGE, Label.CUSTOMER})


def visible_to(rt: Runtime, user: Principal) -> Callable[[Node], bool]:
    """Whether the principal may see a node here (the module's docstring says the rule). The
    accounts' teams are read once, when the first person is met, not once per person."""
    teams: dict[str, str] | None = None

    def visible(node: Node) -> bool:
        nonlocal teams
        if isinstance(node, KnowledgeItem):
            return item_visible(user, node)
        if isinstance(node, Employee):
            if teams is None:
                teams = account_teams(rt)
            return person_visible(rt, user, node, teams)
        if user.role != "employee":
            return True
        if node.label in _EMPLOYEE_HIDDEN:
            return False
        if isinstance(node, Conversation):
            handled = rt.store.neighbours(node.id, [LinkType.HANDLED_BY], direction="out")
            return any(n.node.id == user.employee_id for n in handled)
        return True

    return visible


def _knowledge_first(
    store: GraphStore, node_id: str, types: list[LinkType] | None, most: int
) -> list[Neighbour]:
    """Up to `most` neighbours of each kind (each side), knowledge before bulk."""
    return [
        n
        for labels in (KNOWLEDGE_LABELS, BULK_LABELS)
        for n in _sorted(store.neighbours(node_id, types, limit=most, labels=labels))
    ]


def _sorted(found: list[Neighbour]) -> list[Neighbour]:
    return sorted(found, key=lambda n: (n.link.type.value, n.node.id, n.direction))


def _public(node: Node) -> GraphNode:
    record = node.model_dump(mode="json", include={*SAFE_FIELDS, "title", "name", "text"})
    name = record.pop("title", "") or record.pop("name", "") or record.pop("text", "") or node.id
    properties = {k: v for k, v in record.items() if k in SAFE_FIELDS and v not in ("", None)}
    return GraphNode(id=node.id, label=node.label, name=name[:_NAME_CHARS], properties=properties)

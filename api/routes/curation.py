"""Knowledge managers: the curation queue and every decision on items (approve, reject,
retire, verify, edit, assign, merge, split, link, accept or dismiss a proposal, undo).

Each decision is one event in the log with the account as actor and the reason given, and the
answer is that event: its `seq` is what undo takes. A team's knowledge manager decides on
their team's items and items in no team (api.scope); another team's are a 404. Mining
(`POST /curation/externalize`) turns new transcripts and notes into draft items.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from api.auth import CurrentUser, Principal, require
from api.deps import RuntimeDep, in_domain
from api.runtime import Runtime
from api.schemas import errors, problems
from api.schemas_seci import (
    DecisionCreate,
    EventPublic,
    ItemUpdate,
    LinkCreate,
    MergeCreate,
    OwnerUpdate,
    Seq,
    SplitCreate,
    VerifyCreate,
)
from api.scope import items_visible, visible_item
from graph.changes import Event
from graph.model import KnowledgeItem, LinkType
from graph.store import GraphStore, NotFound
from seci import items as lifecycle
from seci.combine import Proposal, accept, dismiss, find_proposal, proposals
from seci.externalize import ExternalizeReport, externalize

__all__ = ["CURATION_ACTIONS", "router"]

router = APIRouter(
    prefix="/curation",
    tags=["curation"],
    dependencies=[Depends(require("knowledge_manager", "admin"))],
    responses=problems(401, 403),
)
ItemId = Annotated[str, Path(min_length=1, max_length=500)]
ProposalId = Annotated[str, Path(min_length=1, max_length=500)]
Decision = Literal["approve", "reject", "retire"]
# What a knowledge manager may undo here: decisions on items and proposals (admins undo the
# rest through /admin/events/{seq}/undo).
CURATION_ACTIONS = ("item.", "proposal.")
_DECISIONS: dict[str, Callable[..., Event]] = {
    "approve": lifecycle.approve,
    "reject": lifecycle.reject,
    "retire": lifecycle.retire,
}


@router.get("/queue", response_model=list[Proposal], responses=errors())
async def queue(
    rt: RuntimeDep,
    user: CurrentUser,
    kind: Annotated[
        list[Literal["contradiction", "merge", "review", "complements", "approve"]] | None,
        Query(description="Only these kinds (repeatable)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[Proposal]:
    """Proposals waiting for a decision, most urgent first: contradictions (with both
    sentences and the differing figures in `details`), merges, reviews, links, drafts."""

    def read() -> list[Proposal]:
        found = (p for p in proposals(rt.store, kinds=kind) if items_visible(rt.store, user, p.ids))
        return [p for _, p in zip(range(limit), found, strict=False)]

    return await in_domain(read)


@router.post(
    "/proposals/{proposal_id}/{decision}",
    response_model=EventPublic,
    responses=errors(400, 404, 409, 413),
)
async def decide_proposal(
    proposal_id: ProposalId,
    decision: Literal["accept", "dismiss"],
    body: DecisionCreate,
    rt: RuntimeDep,
    user: CurrentUser,
) -> EventPublic:
    """Accept (merge, link, approve, verify: what it proposes) or dismiss (not proposed again;
    a dismissed draft is rejected, a dismissed review retired)."""

    def act() -> Event:
        p = find_proposal(rt.store, proposal_id)
        if not items_visible(rt.store, user, p.ids):
            raise NotFound(f"no proposal {proposal_id!r} in the queue")
        do = accept if decision == "accept" else dismiss
        return do(rt.store, p, user.actor, body.reason)

    return EventPublic.of(await in_domain(act))


@router.post(
    "/items/{item_id}/verify", response_model=EventPublic, responses=errors(400, 404, 409, 413)
)
async def verify(
    item_id: ItemId, body: VerifyCreate, rt: RuntimeDep, user: CurrentUser
) -> EventPublic:
    """Confirm the item still holds: sets verified_at and the next expiry."""
    return await _on_item(rt, user, item_id, lifecycle.verify, body.reason, days=body.days)


@router.patch("/items/{item_id}", response_model=EventPublic, responses=errors(400, 404, 409, 413))
async def edit(item_id: ItemId, body: ItemUpdate, rt: RuntimeDep, user: CurrentUser) -> EventPublic:
    """New wording for the fields given; mining never overwrites it."""
    changes = body.model_dump(exclude_none=True, exclude={"reason"})
    if not changes:
        raise HTTPException(422, "give at least one of title, text, situation, kind")

    return await _on_item(rt, user, item_id, lifecycle.edit, body.reason, changes=changes)


@router.put(
    "/items/{item_id}/owner", response_model=EventPublic, responses=errors(400, 404, 409, 413)
)
async def assign(
    item_id: ItemId, body: OwnerUpdate, rt: RuntimeDep, user: CurrentUser
) -> EventPublic:
    """Make someone (and a team) responsible. A team's knowledge manager keeps it in their
    team; only admins and team-less managers move an item to another team."""
    if body.team and user.team and user.role != "admin" and body.team != user.team:
        raise HTTPException(403, f"a knowledge manager of {user.team!r} assigns within it")
    return await _on_item(
        rt, user, item_id, lifecycle.assign, body.reason, owner=body.owner, team=body.team
    )


@router.post("/merge", response_model=EventPublic, responses=errors(400, 404, 409, 413))
async def merge(body: MergeCreate, rt: RuntimeDep, user: CurrentUser) -> EventPublic:
    """Merge `other` into `keep`: the evidence, counts and links of both are kept; `other`
    is retired. Undo brings both back as they were."""

    def act() -> Event:
        for item_id in (body.keep, body.other):
            visible_item(rt.store, user, item_id)
        return lifecycle.merge(rt.store, body.keep, body.other, user.actor, body.reason)

    return EventPublic.of(await in_domain(act))


@router.post(
    "/items/{item_id}/split", response_model=EventPublic, responses=errors(400, 404, 409, 413)
)
async def split(
    item_id: ItemId, body: SplitCreate, rt: RuntimeDep, user: CurrentUser
) -> EventPublic:
    """Move some situations of an item out into a new draft item."""

    def act(store: GraphStore, item_id: str, actor: str, reason: str) -> Event:
        return lifecycle.split(store, rt.embedder, item_id, body.members, actor, reason)

    return await _on_item(rt, user, item_id, act, body.reason)


@router.post(
    "/items/{item_id}/{decision}",
    response_model=EventPublic,
    responses=errors(400, 404, 409, 413),
)
async def decide_item(
    item_id: ItemId, decision: Decision, body: DecisionCreate, rt: RuntimeDep, user: CurrentUser
) -> EventPublic:
    """Approve (suggested before drafts), reject (never suggested) or retire (no longer
    holds) an item. (Declared after verify and split, which it would shadow.)"""
    return await _on_item(rt, user, item_id, _DECISIONS[decision], body.reason)


@router.post("/links", response_model=EventPublic, responses=errors(400, 404, 409, 413))
async def link(body: LinkCreate, rt: RuntimeDep, user: CurrentUser) -> EventPublic:
    """Link two items (or an item and a document chunk)."""

    def act() -> Event:
        for node_id in (body.src, body.dst):
            node = rt.store.get_node(node_id)
            if isinstance(node, KnowledgeItem):
                visible_item(rt.store, user, node_id)
        type_ = LinkType[body.type.upper()]
        return lifecycle.link(rt.store, body.src, body.dst, type_, user.actor, body.reason)

    return EventPublic.of(await in_domain(act))


@router.post("/events/{seq}/undo", response_model=EventPublic, responses=errors(400, 404, 409, 413))
async def undo(seq: Seq, body: DecisionCreate, rt: RuntimeDep, user: CurrentUser) -> EventPublic:
    """Undo a decision on items by its event number: its inverse is appended to the log (409
    when later changes stand in the way, naming them)."""

    def act() -> Event:
        found = rt.store.events(since=seq - 1, limit=1)
        if not found or found[0].seq != seq:
            raise NotFound(f"no event #{seq}")
        event = found[0]
        if not event.action.startswith(CURATION_ACTIONS):
            raise HTTPException(
                403,
                f"event #{seq} ({event.action}) is not a curation decision: an admin "
                f"undoes it (POST /admin/events/{seq}/undo)",
            )
        if not items_visible(rt.store, user, event.ids):
            raise NotFound(f"no event #{seq}")
        return rt.store.undo(seq, actor=user.actor, reason=body.reason)

    return EventPublic.of(await in_domain(act))


@router.post("/externalize", response_model=ExternalizeReport, responses=errors(400, 413))
async def run_externalize(
    rt: RuntimeDep,
    full: Annotated[bool, Query(description="Re-read every source.")] = False,
) -> ExternalizeReport:
    """Mine draft talk tracks from conversations and FAQ / fact items from notes (from where
    the last run stopped in the event log, unless `full`)."""
    return await in_domain(lambda: externalize(rt.store, rt.embedder, full=full))


async def _on_item(
    rt: Runtime,
    user: Principal,
    item_id: str,
    action: Callable[..., Event],
    reason: str,
    **options: object,
) -> EventPublic:
    """Check the item is theirs to decide on, then do it as them (one event)."""

    def act() -> Event:
        visible_item(rt.store, user, item_id)
        return action(rt.store, item_id, actor=user.actor, reason=reason, **options)

    return EventPublic.of(await in_domain(act))

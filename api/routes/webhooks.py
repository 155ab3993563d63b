"""Teams' webhooks: where pushed events are also POSTed, signed (api/webhooks.py).

Admins for any team, knowledge managers for their own. A registration's secret is shown once,
in the answer that creates it. Failed deliveries wait as dead letters until replayed. With
`SPIRAL_REDIS_URL` registrations and dead letters live in Redis (every worker sees them); without
it, in this process only (lost on restart). Registering, deleting and replaying are marker
events in the store's log, with the actor (never the secret).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.concurrency import run_in_threadpool

from api.auth import CurrentUser, Principal, require
from api.deps import RuntimeDep
from api.live import PushDep
from api.runtime import Runtime
from api.schemas import WebhookCreate, WebhookCreated, WebhookPublic, errors, problems
from api.webhooks import DeadLetter, DeliveryResult, Webhook
from graph.store import NotFound

__all__ = ["router"]

router = APIRouter(
    prefix="/webhooks",
    tags=["webhooks"],
    dependencies=[Depends(require("knowledge_manager", "admin"))],
    responses=problems(401, 403),
)
Id = Annotated[str, Path(min_length=1, max_length=200)]


@router.post("", response_model=WebhookCreated, status_code=201, responses=errors(400, 413))
async def create(
    body: WebhookCreate, push: PushDep, rt: RuntimeDep, user: CurrentUser
) -> WebhookCreated:
    """Register a URL for the team's events (none named: all). The secret signs every
    delivery (X-Spiral-Signature): store it now, it is not shown again."""
    _check_team(user, body.team)
    hook = Webhook(team_id=body.team, url=body.url, events=list(dict.fromkeys(body.events)))
    await push.dispatcher.store.add(hook)
    await _audit(rt, user, "webhook.register", hook, f"webhook for team {hook.team_id!r}")
    return WebhookCreated(secret=hook.secret, **_public(hook).model_dump())


@router.get("", response_model=list[WebhookPublic], responses=errors())
async def list_hooks(
    push: PushDep, user: CurrentUser, team: Annotated[str | None, Query(max_length=200)] = None
) -> list[WebhookPublic]:
    """The team's webhooks (a knowledge manager: their own team's; an admin names the team)."""
    team = _team(user, team)
    return [_public(h) for h in await push.dispatcher.store.for_team(team)]


@router.delete("/{hook_id}", response_model=WebhookPublic, responses=errors(404))
async def delete(hook_id: Id, push: PushDep, rt: RuntimeDep, user: CurrentUser) -> WebhookPublic:
    hook = await push.dispatcher.store.get(hook_id)
    if hook is None:
        raise NotFound(f"no webhook {hook_id}")
    _check_team(user, hook.team_id)
    await push.dispatcher.store.remove(hook_id)
    await _audit(rt, user, "webhook.delete", hook, f"webhook for team {hook.team_id!r}")
    return _public(hook)


@router.get("/dead-letters", response_model=list[DeadLetter], responses=errors())
async def dead_letters(
    push: PushDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadLetter]:
    """Deliveries that failed for good, newest first (a knowledge manager: their team's)."""
    letters = await push.dispatcher.store.dead_letters(limit if user.role == "admin" else 10_000)
    if user.role != "admin":
        letters = [d for d in letters if d.team_id == user.team][:limit]
    return letters


@router.post(
    "/dead-letters/{delivery_id}/replay", response_model=DeliveryResult, responses=errors(404)
)
async def replay(
    delivery_id: Id, push: PushDep, rt: RuntimeDep, user: CurrentUser
) -> DeliveryResult:
    """Send a dead letter again (the webhook's current URL and secret); delivered: it is gone
    from the list; failed again: it stays, updated."""
    letter = await push.dispatcher.store.get_dead(delivery_id)
    if letter is None:
        raise NotFound(f"no dead letter {delivery_id}")
    _check_team(user, letter.team_id)
    try:
        result = await push.dispatcher.replay(delivery_id)
    except KeyError as exc:
        raise NotFound(str(exc.args[0])) from None
    after = {"delivery": delivery_id, "webhook": letter.webhook_id, "team": letter.team_id}
    await run_in_threadpool(
        rt.store.log, user.actor, "webhook.replay", after, f"dead letter {delivery_id} sent again"
    )
    return result


async def _audit(rt: Runtime, user: Principal, action: str, hook: Webhook, reason: str) -> None:
    """Webhook changes live beside the store (Redis or memory), so the log gets a marker event
    with the actor: the audit trail says who sent the team's events where. Never the secret."""
    after = {"webhook": hook.id, "team": hook.team_id, "url": hook.url, "events": hook.events}
    await run_in_threadpool(rt.store.log, user.actor, action, after, reason)


def _check_team(user: Principal, team: str) -> None:
    if user.role != "admin" and team != user.team:
        raise HTTPException(403, "a knowledge manager manages only their own team's webhooks")


def _team(user: Principal, team: str | None) -> str:
    if user.role == "admin":
        if not team:
            raise HTTPException(422, "name the team: ?team=NAME")
        return team
    _check_team(user, team or user.team)
    return user.team


def _public(hook: Webhook) -> WebhookPublic:
    return WebhookPublic(
        id=hook.id,
        team=hook.team_id,
        url=hook.url,
        events=hook.events,
        created_at=hook.created_at.isoformat(),
    )

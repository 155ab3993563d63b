"""Employees: live suggestions as Server-Sent Events, on their own channel only.

`GET /push/stream` streams the principal's employee channel (api/push.py): a `suggestions`
event for each customer message of a conversation they handle (api/routes/conversations.py).
A client that reconnects sends `Last-Event-ID` (browsers do) or `?last_event_id=`, and gets
the events it missed, then live ones; when some may be lost, a `resync` event comes first,
telling it to refetch its state. An admin may watch any employee (`?employee=ID`); nobody else
may watch anyone but themselves (403). The route is left out of the OpenAPI schema (see below);
the README documents it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api.auth import CurrentUser, Principal, require
from api.deps import RuntimeDep
from api.live import PushDep
from api.push import Subscription, employee_channel, sse_stream
from api.runtime import Runtime
from api.schemas import problems
from graph.store import NotFound
from seci.handover import find_employee

__all__ = ["RESYNC", "router"]

RESYNC = "event: resync\ndata: {}\n\n"
"""Sent first when events after the client's Last-Event-ID may be lost: refetch, then go on."""

router = APIRouter(
    prefix="/push",
    tags=["push"],
    dependencies=[Depends(require())],
    responses=problems(401, 403),
)


# Not in the OpenAPI schema: an endless stream cannot be described there, and clients and
# fuzzers driven by the schema (tests/api/test_schemathesis.py) would wait on it forever.
@router.get("/stream", response_class=StreamingResponse, include_in_schema=False)
async def stream(
    request: Request,
    rt: RuntimeDep,
    push: PushDep,
    user: CurrentUser,
    employee: Annotated[str | None, Query(max_length=200)] = None,
    last_event_id: Annotated[str | None, Query(max_length=100)] = None,
    last_event_header: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=100, include_in_schema=False)
    ] = None,
) -> StreamingResponse:
    """Suggestions pushed to you while you talk to customers (text/event-stream)."""
    who = await run_in_threadpool(_whose, rt, user, employee)
    try:
        channel = employee_channel(who)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    since = last_event_header or last_event_id or None
    sub = await push.hub.subscribe(channel, since)
    return StreamingResponse(
        _events(request, sub, push.keepalive_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(request: Request, sub: Subscription, keepalive_s: float) -> AsyncIterator[str]:
    if sub.gap:
        yield RESYNC
    else:
        yield ": connected\n\n"  # flushes the headers and tells the client the stream is up
    async for chunk in sse_stream(sub, keepalive_s):
        if await request.is_disconnected():
            return
        yield chunk


def _whose(rt: Runtime, user: Principal, employee: str | None) -> str:
    """The Employee node whose channel is read: the principal's own; an admin's choice."""
    me = user.employee_id
    if employee is None or employee == me:
        if not me:
            raise HTTPException(
                403 if user.role != "admin" else 422,
                "this account is not linked to an employee"
                + (": name one with ?employee=ID" if user.role == "admin" else ""),
            )
        return me
    if user.role != "admin":
        raise HTTPException(403, "you may stream only your own suggestions")
    try:
        return find_employee(rt.store, employee).id
    except (NotFound, ValueError):
        return employee  # not in the graph yet: its channel may still get events

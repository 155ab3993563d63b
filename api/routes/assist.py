"""Employees: "what should I say?", and what happened when they said it. Any role may ask;
an employee asks only as themselves (api.scope), the others on anyone's behalf."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool

from api.asking import AskInputError, request_from_conversation
from api.auth import CurrentUser, require
from api.deps import RuntimeDep
from api.schemas import AskCreate, FeedbackCreate, FeedbackPublic, errors, problems
from api.scope import as_themselves
from seci.assist import AskRequest, AskResult
from seci.feedback import record_feedback

router = APIRouter(
    prefix="/assist",
    tags=["assist"],
    dependencies=[Depends(require())],
    responses=problems(401, 403),
)


@router.post("/ask", response_model=AskResult, responses=errors(400, 413))
async def ask(body: AskCreate, rt: RuntimeDep, user: CurrentUser) -> AskResult:
    """Distinct options, best first, each with why it was chosen and the file it came from.
    With a context in which the employee has not spoken yet, an opening line comes first."""
    employee = await run_in_threadpool(as_themselves, rt, user, body.employee, body.customer)
    request = _request(body.model_copy(update={"employee": employee}))
    return await run_in_threadpool(rt.ask, request, body.top_k)


@router.post("/feedback", response_model=FeedbackPublic, responses=errors(400, 404, 409, 413))
async def feedback(body: FeedbackCreate, rt: RuntimeDep, user: CurrentUser) -> FeedbackPublic:
    """Used, worked or failed: counted on the item at once (one event in the log), as the
    employee named (an employee: themselves), else as the account."""
    employee = await run_in_threadpool(as_themselves, rt, user, body.employee, None)
    actor = f"employee:{employee}" if employee else user.actor
    event = await run_in_threadpool(
        record_feedback,
        rt.store,
        body.suggestion_id,
        body.outcome,
        actor,
        body.conversation,
        body.reason,
    )
    return FeedbackPublic(seq=event.seq, item=body.suggestion_id, outcome=body.outcome)


def _request(body: AskCreate) -> AskRequest:
    try:
        if body.context:
            payload = {"messages": [t.model_dump() for t in body.context]}
            return request_from_conversation(
                payload, body.query, body.employee, body.customer, body.channel
            )
        if not body.query.strip():
            raise AskInputError("give the customer's words (query) or the conversation (context)")
        return AskRequest(
            query=body.query, employee=body.employee, customer=body.customer, channel=body.channel
        )
    except AskInputError as exc:
        raise HTTPException(422, str(exc)) from None

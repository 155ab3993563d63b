"""Employees: "what should I say?", and what happened when they said it."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.asking import AskInputError, request_from_conversation
from api.deps import RuntimeDep
from seci.assist import AskRequest, AskResult, Turn
from seci.feedback import record_feedback

router = APIRouter(prefix="/assist", tags=["assist"])


class AskCreate(BaseModel):
    query: str = Field(
        default="",
        max_length=4000,
        description="The customer's latest words (default: their last turn in the context).",
    )
    context: list[Turn] = Field(
        default_factory=list,
        max_length=500,
        description="The conversation so far, oldest first (messages of the canonical "
        "transcript JSON: role, text, speaker).",
    )
    employee: str | None = Field(default=None, max_length=200)
    customer: str | None = Field(
        default=None, max_length=200, description="The customer's id or name in the source."
    )
    channel: str | None = Field(default=None, max_length=50)
    top_k: int = Field(default=5, ge=1, le=50)


class FeedbackCreate(BaseModel):
    suggestion_id: str = Field(min_length=1, max_length=500)
    outcome: Literal["used", "worked", "failed"]
    conversation: str | None = Field(
        default=None,
        max_length=500,
        description="The conversation it was used in: its id, or its id in the source when it "
        "is not ingested yet (its outcome is counted when it arrives).",
    )
    employee: str | None = Field(default=None, max_length=200)
    reason: str = Field(default="", max_length=2000)


class FeedbackPublic(BaseModel):
    seq: int
    item: str
    outcome: str


@router.post("/ask", response_model=AskResult)
async def ask(body: AskCreate, rt: RuntimeDep) -> AskResult:
    """Distinct options, best first, each with why it was chosen and the file it came from.
    With a context in which the employee has not spoken yet, an opening line comes first."""
    request = _request(body)
    return await run_in_threadpool(rt.ask, request, body.top_k)


@router.post("/feedback", response_model=FeedbackPublic)
async def feedback(body: FeedbackCreate, rt: RuntimeDep) -> FeedbackPublic:
    """Used, worked or failed: counted on the item at once (one event in the log)."""
    actor = f"employee:{body.employee}" if body.employee else "api"
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

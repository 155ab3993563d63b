"""Employees: "what should I say?" """

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import RuntimeDep
from seci.assist import AskResult

router = APIRouter(prefix="/assist", tags=["assist"])


class AskRequest(BaseModel):
    query: str = Field(
        min_length=1, max_length=4000, description="The customer's words or the situation."
    )
    top_k: int = Field(default=5, ge=1, le=50)


@router.post("/ask", response_model=AskResult)
def ask(body: AskRequest, rt: RuntimeDep) -> AskResult:
    """Suggestions, best first, each with why it was chosen and the file it came from."""
    return rt.ask(body.query, body.top_k)

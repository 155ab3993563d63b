"""What the SECI routers take and give (items, curation, learning, experts), in the same
families as api/schemas.py: `...Create` / `...Update` in, `...Public` out. Every text field of a
request is a `CleanStr`; every decision carries a reason that the event log keeps."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, Field

from api.schemas import CleanStr
from graph.changes import Event
from graph.model import ResponseStat

__all__ = [
    "MAX_SEQ",
    "DecisionCreate",
    "EventPublic",
    "ItemDetailPublic",
    "ItemPublic",
    "ItemUpdate",
    "LinkCreate",
    "MentoringCreate",
    "MergeCreate",
    "OwnerUpdate",
    "PathAssign",
    "PathCreate",
    "PathPublic",
    "ReviewCreate",
    "Seq",
    "SplitCreate",
    "VerifyCreate",
]

MAX_SEQ = 2**53  # event numbers fit a JSON number and every store's integer
Seq = Annotated[int, Path(ge=1, le=MAX_SEQ, description="An event's number in the log.")]
Reason = CleanStr
Ref = CleanStr


def _reason() -> Reason:
    return Field(default="", max_length=2000, description="Why (kept in the event log).")  # type: ignore[no-any-return]


class EventPublic(BaseModel):
    """One entry of the event log: what a change did, by whom and why (undo it by `seq`)."""

    seq: int
    at: str
    actor: str
    action: str
    ids: list[str] = Field(default_factory=list)
    reason: str = ""

    @classmethod
    def of(cls, event: Event) -> EventPublic:
        return cls.model_validate(event.model_dump(include=set(cls.model_fields)))


class ItemStats(BaseModel):
    uses: int
    successes: int
    trials: int


class SourcePublic(BaseModel):
    uri: str
    id: str
    label: str


class ItemPublic(BaseModel):
    """An item as `spiral items list --json` prints it, with the team that owns it."""

    id: str
    kind: str
    status: str
    title: str
    text: str
    stats: ItemStats
    sources: list[SourcePublic]
    evidence: int
    confidence: float
    owner: str
    team: str = ""
    expires_at: str
    verified_at: str


class SituationPublic(BaseModel):
    id: str
    text: str
    response: str
    outcome: str
    speaker: str
    uri: str


class ItemLinkPublic(BaseModel):
    type: str
    direction: str
    id: str
    title: str


class HistoryPublic(BaseModel):
    seq: int
    at: str
    actor: str
    action: str
    reason: str


class ItemDetailPublic(ItemPublic):
    """Everything a curator needs to decide: responses and what not to say with their
    counts, the situations (ids a split takes), curators' links and the item's history."""

    situation: str
    responses: list[ResponseStat]
    avoid: list[ResponseStat]
    merged_from: list[str]
    merged_into: str
    approved_by: str
    version: int
    situations: list[SituationPublic]
    links: list[ItemLinkPublic]
    history: list[HistoryPublic]


class DecisionCreate(BaseModel):
    reason: Reason = _reason()


class VerifyCreate(DecisionCreate):
    days: int = Field(default=180, ge=1, le=3650, description="Valid for this many days.")


class ItemUpdate(DecisionCreate):
    """New wording; mining never overwrites it. Only the fields given change."""

    title: CleanStr | None = Field(default=None, max_length=500)
    text: CleanStr | None = Field(default=None, min_length=1, max_length=20_000)
    situation: CleanStr | None = Field(default=None, max_length=4000)
    kind: Literal["talk_track", "faq", "fact"] | None = None


class OwnerUpdate(DecisionCreate):
    owner: Ref = Field(min_length=1, max_length=200)
    team: CleanStr = Field(default="", max_length=200)


class MergeCreate(DecisionCreate):
    keep: Ref = Field(min_length=1, max_length=500)
    other: Ref = Field(min_length=1, max_length=500, description="Retired into `keep`.")


class SplitCreate(DecisionCreate):
    members: list[Ref] = Field(
        min_length=1, max_length=1000, description="Situation ids (see the item's situations)."
    )


class LinkCreate(DecisionCreate):
    src: Ref = Field(min_length=1, max_length=500)
    dst: Ref = Field(min_length=1, max_length=500)
    type: Literal["complements", "contradicts", "prerequisite_of", "similar_to"] = "complements"


class PathCreate(BaseModel):
    title: CleanStr = Field(min_length=1, max_length=300)
    items: list[Ref] = Field(default_factory=list, max_length=500, description="In order.")
    topic: CleanStr = Field(
        default="", max_length=500, description="Also the live items that match this."
    )


class PathPublic(BaseModel):
    id: str
    title: str
    topic: str
    items: list[str]
    titles: list[str]
    assignees: list[str]


class PathAssign(BaseModel):
    employees: list[Ref] = Field(
        min_length=1,
        max_length=1000,
        description="Employee ids, source ids or names, or `team:NAME` for a whole team.",
    )


class PersonPublic(BaseModel):
    """A person as a trainer picks them: the Employee node, their name and team."""

    id: str
    name: str
    external_id: str = Field(description="Their id in the source system ('' when unknown).")
    team: str = Field(description="Their team ('' for none).")


class ReviewCreate(BaseModel):
    employee: Ref | None = Field(
        default=None, max_length=200, description="Who reviewed (an employee: themselves)."
    )
    item: Ref = Field(min_length=1, max_length=500)
    rating: Literal["again", "hard", "good", "easy"]


class MentoringCreate(BaseModel):
    mentor: Ref = Field(min_length=1, max_length=200)
    learner: Ref = Field(min_length=1, max_length=200)
    topic: CleanStr = Field(min_length=1, max_length=500)
    kind: Literal["shadowed", "coached"] = "shadowed"
    note: CleanStr = Field(default="", max_length=4000)

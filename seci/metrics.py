"""SECI metrics: where knowledge is in the spiral and how it moves, from the store and the
event log (the one history every change is in).

- items by kind and status;
- flow: events per day and SECI stage (conversations captured → S, items mined → E,
  curation decisions → C, feedback from use → I);
- coverage: of the frequent customer situations (talk tracks with at least `frequent`
  situations), the share whose talk track is approved, weighted by how often they occur;
- the contradiction backlog (proposals waiting in the queue);
- suggestions: uses, and outcomes reported, with a lower bound of the success rate.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

from pydantic import BaseModel, Field

from graph.model import ItemKind, ItemStatus, KnowledgeItem
from graph.store import GraphStore, iter_events
from seci.combine import proposals
from seci.items_view import items_page
from seci.tracks import lower_bound

__all__ = ["STAGES", "Coverage", "SeciMetrics", "Usage", "metrics", "stage_of"]

STAGES = ("socialization", "externalization", "combination", "internalization")
_COMBINATION = ("item.", "proposal.", "undo")


def stage_of(action: str) -> str | None:
    """The SECI stage an event belongs to (None: bookkeeping such as run markers)."""
    if action.startswith("source."):
        return "socialization"
    if action in ("item.mined", "item.unmined"):
        return "externalization"
    if action.startswith("feedback."):
        return "internalization"
    if action.startswith(_COMBINATION):
        return "combination"
    return None


class Coverage(BaseModel):
    frequent: int = 0  # talk tracks with enough situations to count as frequent
    situations: int = 0  # situations in them
    approved: int = 0  # of those situations, in an approved talk track
    share: float = 0.0


class Usage(BaseModel):
    uses: int = 0
    worked: int = 0
    failed: int = 0
    success_lower_bound: float = 0.0


class SeciMetrics(BaseModel):
    items: dict[str, dict[str, int]] = Field(default_factory=dict)  # kind → status → count
    flow: dict[str, dict[str, int]] = Field(default_factory=dict)  # day → stage → events
    stages: dict[str, int] = Field(default_factory=dict)  # stage → events, all time
    coverage: Coverage = Field(default_factory=Coverage)
    contradiction_backlog: int = 0
    suggestions: Usage = Field(default_factory=Usage)


def metrics(
    store: GraphStore,
    frequent: int = 3,
    visible: Callable[[KnowledgeItem], bool] | None = None,
) -> SeciMetrics:
    """`visible`: the items that count (a team's, and everyone's shared ones); None: all.
    Events and contradictions that touch an item left out are left out with it."""
    everything = items_page(store, limit=1_000_000)
    items = everything if visible is None else [i for i in everything if visible(i)]
    hidden = {i.id for i in everything} - {i.id for i in items}
    result = SeciMetrics(items=_by_kind(items), coverage=_coverage(items, frequent))
    flow: dict[str, Counter[str]] = defaultdict(Counter)
    for event in iter_events(store):
        if (stage := stage_of(event.action)) and hidden.isdisjoint(event.ids):
            flow[event.at[:10]][stage] += 1
    result.flow = {day: dict(counts) for day, counts in sorted(flow.items())}
    result.stages = {s: sum(day.get(s, 0) for day in result.flow.values()) for s in STAGES}
    contradictions = proposals(store, kinds=["contradiction"])
    result.contradiction_backlog = sum(hidden.isdisjoint(p.ids) for p in contradictions)
    worked = sum(i.feedback_successes for i in items)
    trials = sum(i.feedback_trials for i in items)
    result.suggestions = Usage(
        uses=sum(i.uses for i in items),
        worked=worked,
        failed=trials - worked,
        success_lower_bound=round(max(lower_bound(worked, trials), 0.0), 3) if trials else 0.0,
    )
    return result


def _by_kind(items: list[KnowledgeItem]) -> dict[str, dict[str, int]]:
    counts = {kind.value: dict.fromkeys((s.value for s in ItemStatus), 0) for kind in ItemKind}
    for item in items:
        counts[item.kind.value][item.status.value] += 1
    return counts


def _coverage(items: list[KnowledgeItem], frequent: int) -> Coverage:
    tracks = [
        i
        for i in items
        if i.kind is ItemKind.TALK_TRACK
        and i.evidence >= frequent
        and i.status in (ItemStatus.DRAFT, ItemStatus.APPROVED)
    ]
    situations = sum(i.evidence for i in tracks)
    approved = sum(i.evidence for i in tracks if i.status is ItemStatus.APPROVED)
    share = round(approved / situations, 3) if situations else 0.0
    return Coverage(frequent=len(tracks), situations=situations, approved=approved, share=share)

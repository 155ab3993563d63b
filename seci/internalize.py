"""Internalization (explicit → tacit): learning paths in prerequisite order, and spaced review.

A trainer picks items (or a topic, whose approved and draft items are found by search); the
path adds what they require and orders everything by PREREQUISITE_OF links (A PREREQUISITE_OF B:
learn A first), with networkx. A cycle among them has no order: the path is refused and the
cycle's members are named, so the trainer can remove one link. Paths are assigned to people;
each (employee, item) gets a spaced-review card scheduled by the `fsrs` library, kept in the
store so schedules survive restarts. Every change is one event in the log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import networkx as nx
from fsrs import Card as FsrsCard
from fsrs import Rating, Scheduler
from pydantic import BaseModel, Field

from graph.changes import CreateNode, NotFound, SetFields
from graph.embeddings import Embedder
from graph.model import (
    Card,
    Employee,
    ItemStatus,
    KnowledgeItem,
    Label,
    LearningPath,
    LinkType,
    Mentoring,
    make_id,
)
from graph.search import matching
from graph.store import GraphStore, NodeQuery, SearchFilter, iter_nodes
from seci.handover import find_employee
from seci.items import get_item
from seci.situations import BAD_OUTCOMES, GOOD_OUTCOMES

__all__ = [
    "RATINGS",
    "DueCard",
    "Gap",
    "LearnerProgress",
    "PathCycle",
    "PathProgress",
    "assign_path",
    "create_path",
    "due_cards",
    "gaps",
    "item_title",
    "path_order",
    "progress",
    "record_mentoring",
    "review",
    "situation_outcomes",
    "suggest_path",
]

RATINGS = {"again": Rating.Again, "hard": Rating.Hard, "good": Rating.Good, "easy": Rating.Easy}
TOPIC_ITEMS = 10  # items a topic brings into a path
FEEDBACK = ("feedback.used", "feedback.worked", "feedback.failed")
LIVE = SearchFilter(status=[ItemStatus.APPROVED.value, ItemStatus.DRAFT.value])


class PathCycle(ValueError):
    """Prerequisites that go round in a circle: no order exists."""

    def __init__(self, members: list[str], titles: list[str]) -> None:
        self.members = members
        super().__init__(
            "these items require each other in a circle, so no order exists: "
            + " → ".join([*titles, titles[0]])
            + "; remove one of these prerequisite links and try again"
        )


class DueCard(BaseModel):
    item: str
    title: str
    due: str  # "" for an item not reviewed yet
    new: bool
    reviews: int = 0


class ItemProgress(BaseModel):
    item: str
    title: str
    reviews: int
    due: str
    last_rating: str = ""
    used: int = 0  # times they reported using it with a customer (feedback)
    worked: int = 0  # ... and it worked


class PathProgress(BaseModel):
    path: str
    title: str
    items: list[ItemProgress] = Field(default_factory=list)
    # Learnt: recalled well ("good" or "easy") in a review, or used with a customer and it
    # worked — using an item in a real conversation is evidence of internalization too.
    done: int = 0


class PathStep(BaseModel):
    item: str
    title: str
    why: str  # matches the topic, or which item needs it first


class MentoringRecord(BaseModel):
    id: str
    mentor: str  # name
    learner: str
    topic: str
    kind: str
    at: str


class LearnerProgress(BaseModel):
    employee: str
    paths: list[PathProgress] = Field(default_factory=list)
    mentoring: list[MentoringRecord] = Field(default_factory=list)  # as learner, newest first


def path_order(store: GraphStore, item_ids: Sequence[str]) -> list[str]:
    """`item_ids` and everything they require, each prerequisite before what needs it, and
    otherwise in the order the trainer gave. Raises PathCycle naming a cycle's members."""
    graph = store.projection([LinkType.PREREQUISITE_OF])
    wanted = list(dict.fromkeys(item_ids))
    needed = set(wanted)
    for item_id in wanted:
        if item_id in graph:
            needed |= nx.ancestors(graph, item_id)
    needed = {n for n in needed if isinstance(store.get_node(n), KnowledgeItem)}
    sub = nx.DiGraph()
    sub.add_nodes_from(needed)
    sub.add_edges_from((a, b) for a, b in graph.edges() if a in needed and b in needed)
    try:
        cycle = nx.find_cycle(sub)
    except nx.NetworkXNoCycle:
        cycle = []
    if cycle:
        members = [a for a, _ in cycle]
        titles = [item_title(store, m) for m in members]
        raise PathCycle(members, titles)
    # A prerequisite pulled in comes just before the first item given that needs it.
    rank = {item_id: i for i, item_id in enumerate(wanted)}
    for node in needed - set(rank):
        rank[node] = min((rank[d] for d in nx.descendants(sub, node) if d in rank), default=0)
    return list(nx.lexicographical_topological_sort(sub, key=lambda n: (rank[n], n)))


def create_path(
    store: GraphStore,
    embedder: Embedder,
    title: str,
    actor: str,
    item_ids: Sequence[str] = (),
    topic: str = "",
) -> LearningPath:
    """A path from the items given and, with a topic, the live items that match it."""
    if not title.strip():
        raise ValueError("a learning path needs a title")
    chosen = list(dict.fromkeys(item_ids))
    for item_id in chosen:
        get_item(store, item_id)
    if topic.strip():
        chosen += [i for i in _topic_items(store, embedder, topic) if i not in chosen]
    if not chosen:
        raise ValueError(f"nothing to learn: no items given and none found for “{topic}”")
    path = LearningPath(
        id=make_id(Label.LEARNING_PATH, title, datetime.now(UTC).isoformat()),
        title=title,
        topic=topic,
        items=path_order(store, chosen),
        created_by=actor,
    )
    store.apply([CreateNode(node=path)], actor, "learn.path", f"learning path “{title}”")
    return path


def _topic_items(store: GraphStore, embedder: Embedder, topic: str) -> list[str]:
    hits = matching(store, embedder, topic, TOPIC_ITEMS, [Label.KNOWLEDGE_ITEM], LIVE)
    return [h.id for h in hits[:TOPIC_ITEMS]]


def suggest_path(store: GraphStore, embedder: Embedder, topic: str) -> list[PathStep]:
    """What a path for `topic` would hold, in order, without saving it: the live items that
    match the topic and the items they require, each step saying why it is there. A trainer
    reviews it, then builds the path with the items they keep."""
    if not topic.strip():
        raise ValueError("say which topic the path is for")
    found = _topic_items(store, embedder, topic)
    if not found:
        return []
    order = path_order(store, found)
    graph = store.projection([LinkType.PREREQUISITE_OF])
    steps = []
    for item_id in order:
        if item_id in found:
            why = f"matches “{topic}”"
        else:
            needs = [i for i in order if i in found and nx.has_path(graph, item_id, i)]
            why = "needed first by " + ", ".join(f"“{item_title(store, i)}”" for i in needs[:3])
        steps.append(PathStep(item=item_id, title=item_title(store, item_id), why=why))
    return steps


def _path(store: GraphStore, path_id: str) -> LearningPath:
    node = store.get_node(path_id)
    if not isinstance(node, LearningPath):
        raise NotFound(f"no learning path with id {path_id!r}")
    return node


def assign_path(
    store: GraphStore,
    path_id: str,
    employees: Sequence[str],
    actor: str,
    teams: Mapping[str, str] | None = None,
) -> LearningPath:
    """Give the path to people (ids, source ids or names) or to everyone in a team
    ("team:NAME"); one event. A person's team is their Employee node's, else `teams`
    (employee id → team, e.g. from the accounts that are them)."""
    path = _path(store, path_id)
    people: list[str] = []
    for who in employees:
        if who.startswith("team:"):
            team = who.removeprefix("team:")
            members = [
                n.id
                for n in iter_nodes(store, NodeQuery(label=Label.EMPLOYEE, limit=1000))
                if isinstance(n, Employee) and (n.team or (teams or {}).get(n.id, "")) == team
            ]
            if not members:
                raise NotFound(f"no employee in team {team!r}")
            people += members
        else:
            people.append(find_employee(store, who).id)
    assignees = list(dict.fromkeys([*path.assignees, *people]))
    store.apply(
        [SetFields(id=path.id, fields={"assignees": assignees}, expected_version=path.version)],
        actor,
        "learn.assign",
        f"“{path.title}” assigned to {', '.join(employees)}",
    )
    return _path(store, path_id)


def _paths_of(store: GraphStore, employee_id: str) -> list[LearningPath]:
    return [
        n
        for n in iter_nodes(store, NodeQuery(label=Label.LEARNING_PATH, limit=1000))
        if isinstance(n, LearningPath) and employee_id in n.assignees
    ]


def _card(store: GraphStore, employee_id: str, item_id: str) -> Card | None:
    node = store.get_node(make_id(Label.CARD, employee_id, item_id))
    return node if isinstance(node, Card) else None


def review(
    store: GraphStore,
    employee: str,
    item_id: str,
    rating: str,
    now: datetime | None = None,
    actor: str = "",
) -> Card:
    """Record how well `employee` recalled the item (again, hard, good, easy); the card's
    next due date comes from FSRS. One event, by `actor` (default: the employee)."""
    if rating not in RATINGS:
        raise ValueError(f"rating must be one of {', '.join(RATINGS)}, not {rating!r}")
    person = find_employee(store, employee)
    get_item(store, item_id)
    when = now or datetime.now(UTC)
    existing = _card(store, person.id, item_id)
    state = FsrsCard.from_dict(existing.state) if existing and existing.state else FsrsCard()
    updated, _ = Scheduler().review_card(state, RATINGS[rating], review_datetime=when)
    card = Card(
        id=make_id(Label.CARD, person.id, item_id),
        employee=person.id,
        item=item_id,
        due=updated.due.astimezone(UTC).isoformat(),
        reviews=(existing.reviews if existing else 0) + 1,
        last_rating=rating,
        state=updated.to_dict(),
    )
    fields = card.model_dump(include={"due", "reviews", "last_rating", "state"})
    op = (
        SetFields(id=card.id, fields=fields, expected_version=existing.version)
        if existing
        else CreateNode(node=card)
    )
    store.apply([op], actor or person.id, "learn.review", f"{rating}: {item_title(store, item_id)}")
    return card


def due_cards(store: GraphStore, employee: str, now: datetime | None = None) -> list[DueCard]:
    """What `employee` should review now: cards that are due, then items of their paths
    never reviewed (in path order)."""
    person = find_employee(store, employee)
    when = (now or datetime.now(UTC)).isoformat()
    out: list[DueCard] = []
    seen: set[str] = set()
    for path in _paths_of(store, person.id):
        for item_id in path.items:
            if item_id in seen:
                continue
            seen.add(item_id)
            card = _card(store, person.id, item_id)
            if card is None:
                out.append(
                    DueCard(item=item_id, title=item_title(store, item_id), due="", new=True)
                )
            elif card.due <= when:
                out.append(
                    DueCard(
                        item=item_id,
                        title=item_title(store, item_id),
                        due=card.due,
                        new=False,
                        reviews=card.reviews,
                    )
                )
    return sorted(out, key=lambda c: (c.new, c.due))


def progress(store: GraphStore, employee: str) -> LearnerProgress:
    """Per assigned path: each item's reviews, next due date and uses with customers, and how
    many are learnt; and the shadowing and coaching they had."""
    person = find_employee(store, employee)
    me = {person.id, person.external_id, person.name} - {""}
    out = LearnerProgress(employee=person.id)
    for path in _paths_of(store, person.id):
        rows = []
        for item_id in path.items:
            card = _card(store, person.id, item_id)
            uses = [
                e.action
                for e in store.events(actions=list(FEEDBACK), node_id=item_id, limit=10_000)
                if e.actor in me
            ]
            rows.append(
                ItemProgress(
                    item=item_id,
                    title=item_title(store, item_id),
                    reviews=card.reviews if card else 0,
                    due=card.due if card else "",
                    last_rating=card.last_rating if card else "",
                    used=len(uses),
                    worked=uses.count("feedback.worked"),
                )
            )
        done = sum(1 for r in rows if r.last_rating in ("good", "easy") or r.worked)
        out.paths.append(PathProgress(path=path.id, title=path.title, items=rows, done=done))
    out.mentoring = [
        MentoringRecord(
            id=m.id,
            mentor=_name(store, m.mentor),
            learner=_name(store, m.learner),
            topic=m.topic,
            kind=m.kind,
            at=m.at,
        )
        for m in _mentoring(store)
        if m.learner == person.id
    ]
    return out


def record_mentoring(
    store: GraphStore,
    mentor: str,
    learner: str,
    topic: str,
    kind: str,
    actor: str,
    at: datetime | None = None,
    note: str = "",
) -> Mentoring:
    """Who shadowed or was coached by whom, on what, when: evidence of know-how passed on,
    shown in the learner's progress. One event."""
    if kind not in ("shadowed", "coached"):
        raise ValueError(f"kind is shadowed or coached, not {kind!r}")
    if not topic.strip():
        raise ValueError("say what the mentoring was about (--topic)")
    who, whom = find_employee(store, mentor), find_employee(store, learner)
    if who.id == whom.id:
        raise ValueError("a mentor and a learner are two different people")
    when = (at or datetime.now(UTC)).astimezone(UTC).isoformat()
    record = Mentoring(
        id=make_id(Label.MENTORING, who.id, whom.id, topic, when),
        mentor=who.id,
        learner=whom.id,
        topic=topic,
        kind=kind,  # type: ignore[arg-type]
        at=when,
        note=note,
    )
    store.apply(
        [CreateNode(node=record)],
        actor,
        "learn.mentoring",
        f"{whom.name or whom.id} {kind} {who.name or who.id}: {topic}",
    )
    return record


def _mentoring(store: GraphStore) -> list[Mentoring]:
    found = [
        n
        for n in iter_nodes(store, NodeQuery(label=Label.MENTORING, limit=1000))
        if isinstance(n, Mentoring)
    ]
    return sorted(found, key=lambda m: m.at, reverse=True)


def _name(store: GraphStore, employee_id: str) -> str:
    node = store.get_node(employee_id)
    return (
        (node.name or node.external_id or employee_id)
        if isinstance(node, Employee)
        else employee_id
    )


def item_title(store: GraphStore, item_id: str) -> str:
    """An item's title (its first words without one); the id for what is not an item."""
    node = store.get_node(item_id)
    return (node.title or node.text[:30]) if isinstance(node, KnowledgeItem) else item_id


class Gap(BaseModel):
    """A situation where one person's outcomes are worse than the team's, with the evidence."""

    item: str  # the talk track of the situation
    title: str
    situation: str
    successes: int
    trials: int
    estimate: float  # the person's rate shrunk towards the team's
    high: float  # its upper bound (one-sided 90 %)
    team_rate: float  # the rest of the team's (Laplace-smoothed)
    team_trials: int
    pooled: bool = False  # found by the test over all their situations together
    why: str


GAP_MIN_TRIALS = 3  # conversations of theirs with a known outcome (in one situation, or pooled)
GAP_PRIOR = 2.0  # the team rate counts as this many conversations in the person's estimate
GAP_Z = 1.2816  # one-sided 90 % for one situation
POOLED_Z = 1.6449  # one-sided 95 % for all their situations together


# Per live talk track: (who answered, the conversation, whether it ended well) per situation.
SituationOutcomes = list[tuple[KnowledgeItem, list[tuple[str, str, bool]]]]


def situation_outcomes(store: GraphStore) -> SituationOutcomes:
    """Each live talk track with (who answered, whether it ended well) for every situation it
    was mined from that has an outcome; read once, for any number of people's gaps."""
    query = NodeQuery(label=Label.KNOWLEDGE_ITEM, kind="talk_track", limit=1000)
    out: SituationOutcomes = []
    for item in iter_nodes(store, query):
        if not isinstance(item, KnowledgeItem) or item.status is ItemStatus.RETIRED:
            continue
        said = []
        for n in store.neighbours(item.id, [LinkType.DERIVED_FROM], "out"):
            props = n.link.props
            outcome = str(props.get("outcome", "")).strip().lower()
            good = outcome in GOOD_OUTCOMES
            if props.get("role") == "situation" and (good or outcome in BAD_OUTCOMES):
                said.append((str(props.get("speaker", "")), str(props.get("conversation")), good))
        out.append((item, said))
    return out


def gaps(store: GraphStore, employee: str, outcomes: SituationOutcomes | None = None) -> list[Gap]:
    """Situations (mined talk tracks) where `employee` does worse than the rest of the team,
    decided two ways, largest gap first:
    - in one situation: at least GAP_MIN_TRIALS of their conversations there have an outcome,
      and even the upper end of a one-sided 90 % interval of their rate (shrunk towards the
      team's) stays below the team's rate;
    - over all their situations together (someone who is a little worse everywhere, with too
      few conversations per situation to tell one by one): over at least GAP_MIN_TRIALS of
      their conversations, the ones that ended well fall short of what the team's rates in
      the situations each met predict, by more than 1.645 standard deviations (a one-sided
      test at 95 %, one trial per conversation); then every situation where they did worse
      than the team is a gap.
    Counts are of conversations, never of situations: one lost conversation with ten
    situations is one failure."""
    person = find_employee(store, employee)
    rows: list[tuple[KnowledgeItem, int, int, int, int]] = []  # item, s, n, team s, team n
    theirs: dict[str, tuple[bool, list[float]]] = {}  # conversation -> outcome, team rates
    for item, said in outcomes if outcomes is not None else situation_outcomes(store):
        # One trial per conversation: a conversation meets a situation once, however often.
        mine = {c: good for speaker, c, good in said if speaker == person.id}
        rest = {c: good for speaker, c, good in said if speaker != person.id}
        if mine and rest:
            row = (item, sum(mine.values()), len(mine), sum(rest.values()), len(rest))
            rows.append(row)
            for conversation, good in mine.items():
                theirs.setdefault(conversation, (good, []))[1].append(_rate(*row[3:]))
    found = [_gap(*row) for row in rows if row[2] >= GAP_MIN_TRIALS]
    found = [g for g in found if g.high < g.team_rate]
    if not found and len(theirs) >= GAP_MIN_TRIALS:
        # Stratified by conversation (its outcome is one trial): what each of their
        # conversations was expected to do is the mean of the team's rates in the situations
        # it met.
        expected_by = [sum(rates) / len(rates) for _, rates in theirs.values()]
        observed = sum(good for good, _ in theirs.values())
        expected = sum(expected_by)
        spread = sum(p * (1 - p) for p in expected_by)
        if spread > 0 and (observed - expected) / spread**0.5 < -POOLED_Z:
            found = [
                _gap(*row, pooled=(observed, len(theirs), expected))
                for row in rows
                if row[1] / row[2] < _rate(row[3], row[4])
            ]
    return sorted(found, key=lambda g: g.estimate - g.team_rate)


def _rate(successes: int, trials: int) -> float:
    """The rest of the team's rate, with one success and one failure added (Laplace): their
    1 of 1 is not a certainty either."""
    return (successes + 1) / (trials + 2)


def _gap(
    item: KnowledgeItem,
    successes: int,
    trials: int,
    team_successes: int,
    team_trials: int,
    pooled: tuple[int, int, float] | None = None,
) -> Gap:
    team = _rate(team_successes, team_trials)
    estimate = (successes + GAP_PRIOR * team) / (trials + GAP_PRIOR)
    high = estimate + GAP_Z * (estimate * (1 - estimate) / (trials + GAP_PRIOR + 1)) ** 0.5
    why = (
        f"{successes} of {trials} of theirs worked here, against {team_successes} of "
        f"{team_trials} for the rest of the team"
    )
    if pooled:
        observed, total, expected = pooled
        why += (
            f"; over all their conversations {observed} of {total} ended well where the team's "
            f"rates predict {expected:.1f}"
        )
    return Gap(
        item=item.id,
        title=item.title or item.situation[:30],
        situation=item.situation,
        successes=successes,
        trials=trials,
        estimate=round(estimate, 4),
        high=round(min(1.0, high), 4),
        team_rate=round(team, 4),
        team_trials=team_trials,
        pooled=pooled is not None,
        why=why,
    )

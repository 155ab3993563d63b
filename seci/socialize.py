"""Socialization (tacit → tacit): who handles a situation best, and their real conversations.

Expert finding ranks employees by the outcomes of their conversations on a topic, not by how
many they had. A raw rate would put 1 of 1 above 40 of 50, so each person's rate is shrunk
towards the team's rate on the topic (a beta prior centred on it); how strongly is estimated
from how much the people's rates really differ beyond chance (empirical Bayes), so a team whose
members are all alike is ranked mostly by the team rate and one with real differences by each
person's own record. Each expert comes with the evidence: the counts, the interval, the
conversations. Exemplars are the conversations of the best people on the topic that ended
well, with the talk tracks they show. benchmarks/experts_eval.py measures whether the ranking
predicts outcomes on conversations it never saw.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field

from graph.embeddings import Embedder
from graph.model import Conversation, Employee, KnowledgeItem, Label, LinkType
from graph.search import matching
from graph.store import GraphStore, NodeQuery, iter_nodes
from seci.situations import BAD_OUTCOMES, GOOD_OUTCOMES

__all__ = [
    "Exemplar",
    "Expert",
    "ExpertsResult",
    "conversation_handlers",
    "exemplars",
    "experts",
    "prior_strength",
    "topic_conversations",
]

TOPIC_HITS = 300  # messages searched for a topic; their conversations are "on the topic"
MIN_PRIOR, MAX_PRIOR = 2.0, 100.0  # bounds of the prior's weight, in conversations
DEFAULT_PRIOR = 10.0  # when the people's rates cannot tell (too few people or conversations)
Z = 1.645  # a 90 % interval
EVIDENCE = 5  # conversations listed per expert


class Expert(BaseModel):
    employee: str  # node id
    name: str
    successes: int
    trials: int  # conversations with a known outcome
    conversations: int  # all of them on the topic, outcome known or not
    rate: float | None  # raw, for reference only
    estimate: float  # shrunk towards the team's rate: what the ranking uses
    low: float
    high: float
    evidence: list[str] = Field(default_factory=list)  # conversation titles, good ones first
    why: str = ""


class ExpertsResult(BaseModel):
    topic: str
    conversations: int
    team_rate: float | None
    prior_strength: float  # how many conversations the team rate counts for in each estimate
    experts: list[Expert] = Field(default_factory=list)
    hint: str | None = None


class Exemplar(BaseModel):
    conversation: str  # node id
    title: str
    uri: str
    employee: str  # name
    employee_id: str = ""  # node id
    outcome: str
    talk_tracks: list[str] = Field(default_factory=list)  # titles of items mined from it
    why: str


def topic_conversations(
    store: GraphStore, embedder: Embedder, topic: str, hits: int = TOPIC_HITS
) -> list[Conversation]:
    """The conversations on `topic`, most relevant first: those of the messages that match it
    (graph.search.matching); every conversation when the topic is empty."""
    if not topic.strip():
        return [
            n
            for n in iter_nodes(store, NodeQuery(label=Label.CONVERSATION, limit=1000))
            if isinstance(n, Conversation)
        ]
    found = matching(store, embedder, topic, hits, [Label.MESSAGE])
    contexts = store.hit_contexts([h.id for h in found])
    out: dict[str, Conversation] = {}
    for hit in found:
        context = contexts.get(hit.id)
        if context and context.conversation and context.conversation.id not in out:
            out[context.conversation.id] = context.conversation
    return list(out.values())


def _outcome(conversation: Conversation) -> bool | None:
    outcome = conversation.outcome.strip().lower()
    return True if outcome in GOOD_OUTCOMES else False if outcome in BAD_OUTCOMES else None


def prior_strength(records: Iterable[tuple[int, int]], team_rate: float) -> float:
    """The prior's weight m (in conversations) from (successes, trials) per person, by the
    method of moments: the spread of the people's rates beyond what chance alone gives is the
    spread of their true rates, and m = p(1-p) / that - 1. Bounded to [MIN_PRIOR, MAX_PRIOR];
    DEFAULT_PRIOR when fewer than three people have two or more conversations."""
    usable = [(s, n) for s, n in records if n >= 2]
    if len(usable) < 3 or not 0 < team_rate < 1:
        return DEFAULT_PRIOR
    total = sum(n for _, n in usable)
    spread = sum(n * (s / n - team_rate) ** 2 for s, n in usable) / total
    chance = team_rate * (1 - team_rate) * len(usable) / total
    true_spread = spread - chance
    if true_spread <= 0:
        return MAX_PRIOR  # no difference beyond chance: everyone is the team
    return min(MAX_PRIOR, max(MIN_PRIOR, team_rate * (1 - team_rate) / true_spread - 1))


def experts(
    store: GraphStore, embedder: Embedder, topic: str = "", limit: int = 10
) -> ExpertsResult:
    """Employees ranked by their shrunk success rate on `topic`, each with the evidence."""
    conversations = topic_conversations(store, embedder, topic)
    return _ranked(store, topic, conversations, conversation_handlers(store), limit)


def _ranked(
    store: GraphStore,
    topic: str,
    conversations: list[Conversation],
    handlers: dict[str, list[str]],
    limit: int,
) -> ExpertsResult:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # successes, trials, all
    theirs: dict[str, list[tuple[bool | None, Conversation]]] = defaultdict(list)
    for conversation in conversations:
        outcome = _outcome(conversation)
        for person in handlers.get(conversation.id, []):
            counts[person][2] += 1
            theirs[person].append((outcome, conversation))
            if outcome is not None:
                counts[person][1] += 1
                counts[person][0] += int(outcome)
    known = [c for c in conversations if _outcome(c) is not None]
    if not known:
        hint = (
            f"no conversation on “{topic}” has a recorded outcome"
            if conversations
            else f"no conversation found on “{topic}”"
        )
        return ExpertsResult(
            topic=topic,
            conversations=len(conversations),
            team_rate=None,
            prior_strength=DEFAULT_PRIOR,
            hint=hint,
        )
    team = sum(1 for c in known if _outcome(c)) / len(known)
    m = prior_strength(((s, n) for s, n, _ in counts.values()), team)
    names = _names(store, list(counts))
    ranked: list[Expert] = []
    for person, (s, n, total) in counts.items():
        a, b = s + m * team, (n - s) + m * (1 - team)
        estimate = a / (a + b)
        half = Z * (estimate * (1 - estimate) / (a + b + 1)) ** 0.5
        listed = sorted(theirs[person], key=lambda oc: (oc[0] is not True, oc[1].title))
        ranked.append(
            Expert(
                employee=person,
                name=names.get(person, person),
                successes=s,
                trials=n,
                conversations=total,
                rate=s / n if n else None,
                estimate=round(estimate, 4),
                low=round(max(0.0, estimate - half), 4),
                high=round(min(1.0, estimate + half), 4),
                evidence=[c.title or c.id for _, c in listed[:EVIDENCE]],
                why=_why(s, n, total, estimate, team),
            )
        )
    ranked.sort(key=lambda e: (-e.estimate, -e.trials, e.name))
    return ExpertsResult(
        topic=topic,
        conversations=len(conversations),
        team_rate=round(team, 4),
        prior_strength=round(m, 2),
        experts=ranked[:limit],
    )


def exemplars(store: GraphStore, embedder: Embedder, topic: str, limit: int = 5) -> list[Exemplar]:
    """Conversations on `topic` that ended well, of the best-ranked people first, each with
    why and the talk tracks mined from it: what to read to learn how the best handle it."""
    conversations = topic_conversations(store, embedder, topic)
    handlers = conversation_handlers(store)
    ranking = _ranked(store, topic, conversations, handlers, limit=1000)
    order = {e.employee: (i, e) for i, e in enumerate(ranking.experts)}
    good = [c for c in conversations if _outcome(c)]
    relevance = {c.id: i for i, c in enumerate(conversations)}

    def best(conversation: Conversation) -> tuple[int, Expert] | None:
        ranks = [order[p] for p in handlers.get(conversation.id, []) if p in order]
        return min(ranks, key=lambda r: r[0]) if ranks else None

    picked = sorted(
        (c for c in good if best(c) is not None),
        key=lambda c: (best(c)[0], relevance[c.id]),  # type: ignore[index]
    )[:limit]
    out = []
    for conversation in picked:
        _, expert = best(conversation)  # type: ignore[misc]
        out.append(
            Exemplar(
                conversation=conversation.id,
                title=conversation.title,
                uri=conversation.uri,
                employee=expert.name,
                employee_id=expert.employee,
                outcome=conversation.outcome,
                talk_tracks=_tracks(store, conversation.id),
                why=f"{expert.name} handled it and it was {conversation.outcome}; {expert.why}",
            )
        )
    return out


def _why(successes: int, trials: int, total: int, estimate: float, team: float) -> str:
    unknown = total - trials
    parts = [f"{successes} of {trials} conversations on this ended well"]
    if unknown:
        parts.append(f"{unknown} more without a recorded outcome")
    parts.append(f"estimated {estimate:.0%} against the team's {team:.0%}")
    return "; ".join(parts)


def conversation_handlers(store: GraphStore) -> dict[str, list[str]]:
    """Conversation id → the employees who handled it (HANDLED_BY), read in one pass."""
    out: dict[str, set[str]] = defaultdict(set)
    for src, dst in store.projection([LinkType.HANDLED_BY]).edges():
        out[src].add(dst)
    return {c: sorted(people) for c, people in out.items()}


def _names(store: GraphStore, ids: Sequence[str]) -> dict[str, str]:
    out = {}
    for person in ids:
        node = store.get_node(person)
        if isinstance(node, Employee):
            out[person] = node.name or node.external_id or person
    return out


def _tracks(store: GraphStore, conversation_id: str) -> list[str]:
    items = store.neighbours(conversation_id, [LinkType.DERIVED_FROM], direction="in")
    return sorted({n.node.title for n in items if isinstance(n.node, KnowledgeItem)})

"""From a cluster's members to a talk track: responses ranked by what worked.

A member is one situation → response → outcome, kept as the properties of the DERIVED_FROM
link from the item to the customer's message, so an item can be recomputed from its links
alone when conversations are added, changed or forgotten.

Why shrinkage: a response said once in a conversation that converted is 1 of 1, not 100 %.
Every success estimate is (successes + a·p) / (trials + a), pulled towards the situation's
rate p; responses rank by that estimate less one posterior standard deviation, so a response
needs evidence to rise above its peers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from graph.changes import AddLink, RemoveLink
from graph.model import ItemKind, KnowledgeItem, Link, LinkType, Provenance, ResponseStat
from graph.store import GraphStore
from graph.text import normalize
from seci.clusters import NO, content_tokens, situation_terms
from seci.situations import OPENING, Situation, is_success

__all__ = [
    "ACTOR",
    "MINED",
    "Member",
    "TrackSummary",
    "build_item",
    "evidence_links",
    "lower_bound",
    "member_of",
    "mined_members",
    "relink",
    "summarize",
]

ACTOR = "seci.externalize"
MINED = "seci:externalize"  # source_id of the links mining owns (people's links have none)
MEMBER_ROLES = ("situation", "note")

PRIOR_WEIGHT = 2.0  # a: how many trials the situation's rate counts for
SAME_RESPONSE = 0.55  # character-bigram overlap above which two answers are one response
MAX_SHOWN = 5


class Member(BaseModel):
    """One situation of a cluster, as stored on its DERIVED_FROM link."""

    role: str = "situation"
    source: str
    uri: str = ""
    conversation: str
    outcome: str = ""
    situation: str
    response: str
    response_id: str = ""
    speaker: str = ""
    speaker_name: str = ""
    entities: str = ""  # ids joined by "|"
    entity_names: str = ""  # names joined by "|", same order
    intents: str = ""  # objection and need ids among the entities, joined by "|"
    language: str = "en"

    @property
    def entity_ids(self) -> list[str]:
        return [e for e in self.entities.split("|") if e]

    @property
    def intent_ids(self) -> list[str]:
        return [e for e in self.intents.split("|") if e]

    def props(self) -> dict[str, Any]:
        return self.model_dump()


def member_of(s: Situation) -> Member:
    names = [s.entity_names.get(e, "") for e in s.entities]
    return Member(
        source=s.source_id,
        uri=s.uri,
        conversation=s.conversation_id,
        outcome=s.outcome,
        situation=s.text[:600],
        response=s.response[:2000],
        response_id=s.response_ids[0] if s.response_ids else "",
        speaker=s.speaker,
        speaker_name=s.speaker_name,
        entities="|".join(s.entities),
        entity_names="|".join(names),
        intents="|".join(s.intents),
        language=s.language,
    )


class TrackSummary(BaseModel):
    title: str
    situation: str
    text: str
    responses: list[ResponseStat] = Field(default_factory=list)
    avoid: list[ResponseStat] = Field(default_factory=list)
    evidence: int = 0
    successes: int = 0
    trials: int = 0
    speakers: Counter[str] = Field(default_factory=Counter)
    entities: Counter[str] = Field(default_factory=Counter)
    intents: dict[str, int] = Field(default_factory=dict)
    terms: dict[str, int] = Field(default_factory=dict)


def _bigrams(text: str) -> set[str]:
    flat = "".join(ch for ch in normalize(text) if ch.isalnum())
    return {flat[i : i + 2] for i in range(len(flat) - 1)} or {flat}


class _Variant:
    def __init__(self, member: Member) -> None:
        self.members = [member]
        self.grams = _bigrams(member.response)

    def matches(self, grams: set[str]) -> bool:
        union = len(self.grams | grams)
        return bool(union) and len(self.grams & grams) / union >= SAME_RESPONSE


def _variants(members: Sequence[Member]) -> list[_Variant]:
    """Group answers that say the same thing (greedy, by character-bigram overlap)."""
    exact: dict[str, _Variant] = {}
    variants: list[_Variant] = []
    for m in members:
        key = normalize(m.response)
        if key in exact:
            exact[key].members.append(m)
            continue
        grams = _bigrams(m.response)
        found = next((v for v in variants if v.matches(grams)), None)
        if found is None:
            found = _Variant(m)
            variants.append(found)
        else:
            found.members.append(m)
        exact[key] = found
    return variants


def _outcomes(members: Sequence[Member]) -> tuple[int, int]:
    """(successes, trials) over distinct conversations with a known outcome."""
    by_conversation = {m.conversation: is_success(m.outcome) for m in members}
    known = [v for v in by_conversation.values() if v is not None]
    return sum(known), len(known)


def _stat(variant: _Variant, rate: float) -> ResponseStat:
    successes, trials = _outcomes(variant.members)
    texts = Counter(m.response for m in variant.members)
    return ResponseStat(
        text=texts.most_common(1)[0][0],
        successes=successes,
        trials=trials,
        evidence=len({m.conversation for m in variant.members}),
        score=round((successes + PRIOR_WEIGHT * rate) / (trials + PRIOR_WEIGHT), 4),
        speakers=sorted({m.speaker for m in variant.members if m.speaker}),
        message_ids=sorted({m.response_id for m in variant.members if m.response_id}),
    )


def lower_bound(successes: int, trials: int, prior: float = 0.5) -> float:
    """What the evidence supports: the estimate shrunk towards `prior`, less one standard
    deviation of its posterior, so 8 of 10 ranks above 1 of 1 (the estimate alone would not)."""
    mean = (successes + PRIOR_WEIGHT * prior) / (trials + PRIOR_WEIGHT)
    return mean - (mean * (1 - mean) / (trials + PRIOR_WEIGHT + 1)) ** 0.5


def upper_bound(successes: int, trials: int, prior: float = 0.5) -> float:
    """The estimate shrunk towards `prior`, plus one standard deviation of its posterior:
    below even chances only when the evidence says so (0 of 1 is not yet a failure)."""
    mean = (successes + PRIOR_WEIGHT * prior) / (trials + PRIOR_WEIGHT)
    return mean + (mean * (1 - mean) / (trials + PRIOR_WEIGHT + 1)) ** 0.5


def _lower(stat: ResponseStat, rate: float) -> float:
    return lower_bound(stat.successes, stat.trials, rate)


def _bad(stat: ResponseStat, cluster_successes: int) -> bool:
    """Strongly tied to bad outcomes: it never worked, and either failed twice or failed
    where other answers to the same situation worked."""
    return stat.trials > 0 and stat.successes == 0 and (stat.trials >= 2 or cluster_successes > 0)


def summarize(members: Sequence[Member], prior: float = 0.5) -> TrackSummary:
    """Rank the responses of one situation cluster; name the situation."""
    successes, trials = _outcomes(members)
    rate = (successes + PRIOR_WEIGHT * prior) / (trials + PRIOR_WEIGHT)
    stats = [_stat(v, rate) for v in _variants(members)]
    avoid = [s for s in stats if _bad(s, successes)]
    good = [s for s in stats if not _bad(s, successes)]
    good.sort(key=lambda s: (-_lower(s, rate), -s.evidence, s.text))
    avoid.sort(key=lambda s: (s.score, -s.evidence, s.text))
    terms: Counter[str] = Counter()
    for m in members:
        terms.update(situation_terms(m.situation) if m.situation != OPENING else ["(opening)"])
    entities = Counter(e for m in members for e in m.entity_ids)
    situation = _representative(members, terms)
    return TrackSummary(
        title=_title(members, entities, situation),
        situation=situation,
        text=good[0].text if good else "",
        responses=good[:MAX_SHOWN],
        avoid=avoid[:MAX_SHOWN],
        evidence=len(members),
        successes=successes,
        trials=trials,
        speakers=Counter(m.speaker for m in members if m.speaker),
        entities=entities,
        intents=dict(Counter(e for m in members for e in m.intent_ids)),
        terms={**dict(terms.most_common(40)), **({NO: terms[NO]} if terms[NO] else {})},
    )


def _representative(members: Sequence[Member], terms: Counter[str]) -> str:
    """The situation whose words are most typical of the cluster."""

    def typical(m: Member) -> tuple[float, str]:
        words = content_tokens(m.situation)
        return (sum(terms[w] for w in words) / max(len(words), 1) ** 0.5, m.situation)

    return max(members, key=typical).situation


def _title(members: Sequence[Member], entities: Counter[str], situation: str) -> str:
    names: dict[str, str] = {}
    for m in members:
        names.update(zip(m.entity_ids, m.entity_names.split("|"), strict=False))
    named = [names[e] for e, _ in entities.most_common(2) if names.get(e)]
    if situation == OPENING:
        said = "Opening the conversation"
    else:
        flat = " ".join(situation.split())
        said = f"“{flat[:40]}{'…' if len(flat) > 40 else ''}”"
    return f"{' · '.join(named)}: {said}" if named else said


def build_item(
    key: str, kind: ItemKind, members: list[Member], centroid: np.ndarray, cohesion: float
) -> KnowledgeItem:
    """The item a cluster stands for: what mining observed about it (people's decisions are
    laid on top by the store)."""
    summary = summarize(members)
    confidence = round(len(members) / (len(members) + 3) * max(cohesion, 0.0), 3)
    top = summary.responses[0] if summary.responses else None
    uri = next((m.uri for m in members if top and m.response_id in top.message_ids), members[0].uri)
    return KnowledgeItem(
        id=key,
        kind=kind,
        title=summary.title,
        text=summary.text,
        situation=summary.situation,
        uri=uri,
        responses=summary.responses,
        avoid=summary.avoid,
        evidence=summary.evidence,
        successes=summary.successes,
        trials=summary.trials,
        confidence=min(confidence, 1.0),
        terms=summary.terms,
        entities=dict(summary.entities),
        intents=summary.intents,
        externalized_by=ACTOR,
        embedding=np.asarray(centroid, dtype=np.float32).astype(float).tolist(),
        provenance=Provenance(
            source=uri, created_by=ACTOR, method="cluster", confidence=min(confidence, 1.0)
        ),
    )


def _link(item_id: str, type_: LinkType, dst: str, weight: float = 1.0, **props: Any) -> Link:
    return Link(
        src=item_id,
        type=type_,
        dst=dst,
        weight=weight,
        source_id=MINED,
        props=props,
        provenance=Provenance(source=ACTOR, created_by=ACTOR, method="cluster"),
    )


def evidence_links(item: KnowledgeItem, members: list[tuple[str, Member]]) -> list[Link]:
    """DERIVED_FROM each situation (its member record on the link), response, conversation
    and source; SAID_BY who answered; MENTIONS what the situations named."""
    links: list[Link] = []
    speakers: dict[str, int] = {}
    for target, m in members:
        links.append(_link(item.id, LinkType.DERIVED_FROM, target, **m.props()))
        for role, dst in (
            ("response", m.response_id),
            ("conversation", m.conversation),
            ("source", m.source),
        ):
            if dst and dst != target:
                links.append(_link(item.id, LinkType.DERIVED_FROM, dst, role=role))
        if m.speaker:
            speakers[m.speaker] = speakers.get(m.speaker, 0) + 1
    links += [
        _link(item.id, LinkType.SAID_BY, e, float(c), count=c) for e, c in sorted(speakers.items())
    ]
    links += [
        _link(item.id, LinkType.MENTIONS, e, float(c), count=c)
        for e, c in sorted(item.entities.items())
    ]
    return links


def relink(old: Sequence[Link], wanted: Sequence[Link]) -> list[AddLink | RemoveLink]:
    """The link operations that turn an item's evidence `old` into `wanted`: stale links go,
    new or changed ones are written, unchanged ones are left alone."""
    target = {link.key: link for link in wanted}
    have = {link.key: (link.weight, link.props) for link in old}
    ops: list[AddLink | RemoveLink] = [
        RemoveLink(src=x.src, type=x.type, dst=x.dst, source_id=x.source_id)
        for x in old
        if x.key not in target
    ]
    ops += [
        AddLink(link=link)
        for key, link in target.items()
        if have.get(key) != (link.weight, link.props)
    ]
    return ops


def mined_members(store: GraphStore, item_id: str) -> tuple[list[Link], list[tuple[str, Member]]]:
    """The links mining owns at an item, and its members (target id, member) among them."""
    links = [
        n.link for n in store.neighbours(item_id, direction="out") if n.link.source_id == MINED
    ]
    members = [
        (link.dst, Member.model_validate(link.props))
        for link in links
        if link.props.get("role") in MEMBER_ROLES
    ]
    return links, members

"""How suggestions are ranked: every signal in one place, each one visible in the answer.

score = (relevance to the customer's words + CONTEXT_WEIGHT x relevance to the conversation so
far together with the words) x approval x expiry x freshness x entities in play x what worked.
Relevance is the fused lexical + dense score (0..1 within one ask). What worked is the lower
bound of the outcome estimate (never a raw rate, so 1 of 1 does not beat 40 of 50). The options
are then picked by maximal marginal relevance: each is a different approach, not a rewording.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from graph.text import shingles
from seci.tracks import lower_bound, upper_bound

__all__ = [
    "APPROVED_BOOST",
    "CONTEXT_WEIGHT",
    "EXPIRED_PENALTY",
    "Signals",
    "agree",
    "diversify",
    "outcome_factor",
]

# The conversation so far with the words, against the words alone: 1.0 was best on both the
# labelled context queries and JDDC (0.5 and 2.0 were each worse on one of them).
CONTEXT_WEIGHT = 1.0
APPROVED_BOOST = 1.3  # approved talk tracks first
EXPIRED_PENALTY = 0.7  # an old answer beats none, if it says so
ENTITY_BOOST = 0.1  # per entity in play the option names, up to MAX_ENTITY_BOOSTS
MAX_ENTITY_BOOSTS = 3
UNKNOWN_OUTCOME = 0.85  # a raw reply from a conversation whose outcome nobody recorded
STALE_AFTER_DAYS = 730  # a raw reply older than this counts a little less
STALE_FACTOR = 0.9
EVEN = 0.5
OUTCOME_SCALE = 2.0
MIN_OUTCOME, MAX_OUTCOME = 0.2, 2.0
MMR_LAMBDA = 0.7  # relevance against novelty when picking the options (0.5–0.85: no change)
# What colleagues answered most (among the replies found for one ask) against the relevance
# of the words they answered. JDDC top-1 reply F1 by weight (seed 13, 300 turns): 0 → 0.197,
# 10 → 0.231, 30 → 0.240, 60 → 0.242; the score then mostly orders replies by agreement.
AGREEMENT_WEIGHT = 30.0
ALIKE = 0.5  # two replies this alike (shingle Jaccard) say "much the same" in `why`


class Signals(BaseModel):
    """What an option's score is made of (shown in the answer as `signals`)."""

    relevance: float = 0.0
    context: float = 0.0
    approved: bool = False
    draft: bool = False
    expired: bool = False
    stale: bool = False
    entities: list[str] = Field(default_factory=list)  # names of the entities in play it names
    successes: int = 0
    trials: int = 0
    outcome: float = 1.0  # the factor from what worked
    # Absolute, not relative to the other options: what says whether anything matched at all.
    similarity: float = 0.0  # cosine of the matched text to the words asked (0: not in the top)
    overlap: float = 0.0  # share of the words' content terms found in the matched text
    # Raw replies only: how much the other replies found say the same (relevance-weighted
    # likeness), how many say much the same, and the factor it gives (1.0 for the average).
    agreement: float = 0.0
    alike: int = 0
    consensus: float = 1.0

    def score(self) -> float:
        value = self.relevance + CONTEXT_WEIGHT * self.context
        value *= APPROVED_BOOST if self.approved else 1.0
        value *= EXPIRED_PENALTY if self.expired else 1.0
        value *= STALE_FACTOR if self.stale else 1.0
        value *= 1.0 + ENTITY_BOOST * min(len(self.entities), MAX_ENTITY_BOOSTS)
        return value * self.outcome * self.consensus


def outcome_factor(successes: int, trials: int) -> float:
    """What worked moves an option only as far as the evidence is sure: up by how far the
    lower bound of its success estimate is above even chances, down by how far the upper
    bound is below (twice that, from 0.2x to 2x). Unknown and 1 of 1 stay at 1.0; 8 of 10
    gives 1.26, 40 of 50 1.46; 0 of 4 gives 0.62, 0 of 10 0.33."""
    if trials <= 0:
        return 1.0
    gain = max(0.0, lower_bound(successes, trials) - EVEN)
    loss = max(0.0, EVEN - upper_bound(successes, trials))
    return min(MAX_OUTCOME, max(MIN_OUTCOME, 1.0 + OUTCOME_SCALE * (gain - loss)))


def is_stale(when: str, now: datetime | None = None) -> bool:
    if not when:
        return False
    try:
        moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return ((now or datetime.now(UTC)) - moment).days > STALE_AFTER_DAYS


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Word and character-bigram overlap (Jaccard): rewordings share most of them."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def diversify(
    texts: Sequence[str], scores: Sequence[float], k: int, groups: Sequence[str] | None = None
) -> list[int]:
    """Indexes of `k` options by maximal marginal relevance: each next one is the best
    trade of its score against its likeness to those already picked. Options of the same
    group (one knowledge item) are never picked twice."""
    if not texts:
        return []
    top = max(scores) or 1.0
    terms = [shingles(t) for t in texts]
    chosen: list[int] = []
    likeness = [0.0] * len(texts)  # to the most alike of those chosen so far
    left = list(range(len(texts)))
    while left and len(chosen) < k:
        best, best_value = -1, float("-inf")
        for i in left:
            if groups and any(groups[i] and groups[i] == groups[j] for j in chosen):
                continue
            value = MMR_LAMBDA * scores[i] / top - (1 - MMR_LAMBDA) * likeness[i]
            if value > best_value:
                best, best_value = i, value
        if best < 0:
            break
        chosen.append(best)
        left.remove(best)
        for i in left:
            likeness[i] = max(likeness[i], similarity(terms[i], terms[best]))
    return chosen


def agree(texts: Sequence[str], scores: Sequence[float]) -> list[tuple[float, int, float]]:
    """(agreement, alike, consensus factor) of each of several replies to similar words:
    the relevance-weighted mean likeness of the others to it, how many are much the same,
    and the factor that moves it up or down from the average. Choosing the reply most like
    the others (minimum Bayes risk) favours what colleagues usually answer over one
    person's wording of it; the factor keeps the replies' average score where it was, so
    documents and talk tracks in the same ask are not pushed aside."""
    terms = [shingles(t) for t in texts]
    rows = []
    for i, a in enumerate(terms):
        likeness = [similarity(a, b) if i != j else 0.0 for j, b in enumerate(terms)]
        weight = sum(scores) - scores[i]
        mean = sum(s * x for s, x in zip(scores, likeness, strict=True)) / weight if weight else 0.0
        rows.append((mean, sum(x >= ALIKE for x in likeness)))
    average = sum(mean for mean, _ in rows) / len(rows) if rows else 0.0
    base = 1.0 + AGREEMENT_WEIGHT * average
    return [(mean, alike, (1.0 + AGREEMENT_WEIGHT * mean) / base) for mean, alike in rows]

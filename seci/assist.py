""" "What should I say": turn search hits into talk-track suggestions with their reasons.

A hit on a document chunk or a knowledge item is suggested as it is. A hit on something a
customer said is turned into what the employee answered to it (the REPLIES_TO link), ranked
up when that conversation ended well: the best answers of the best people become everyone's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from graph.embeddings import Embedder
from graph.model import (
    Chunk,
    Conversation,
    ItemStatus,
    KnowledgeItem,
    Label,
    LinkType,
    Message,
    Node,
)
from graph.search import Fusion, hybrid_search
from graph.store import GraphStore, Hit, SearchFilter
from graph.text import search_tokens
from seci.tracks import lower_bound

__all__ = ["EMPTY_STORE_HINT", "AskResult", "SourceRef", "Suggestion", "suggest"]

EMPTY_STORE_HINT = "the store is empty: run `spiral ingest PATH...` or `spiral demo` first"
NO_MATCH_HINT = "nothing matched: try other words, or ingest more material"
# Rejected and retired items never take a slot: filtered inside the search, before ranking.
# Expired ones still may, flagged and ranked lower: an old answer beats none, if it says so.
LIVE = SearchFilter(status=[ItemStatus.DRAFT.value, ItemStatus.APPROVED.value])
APPROVED_BOOST = 1.3  # approved talk tracks first
EXPIRED_PENALTY = 0.7
TURN_MESSAGES = 8  # at most this many messages of one employee turn in a suggestion
GOOD_OUTCOMES = {"resolved", "converted"}
BAD_OUTCOMES = {"lost", "escalated"}


class SourceRef(BaseModel):
    uri: str
    label: str
    id: str
    title: str = ""


class ItemStats(BaseModel):
    uses: int = 0
    successes: int = 0
    trials: int = 0


class ItemRef(BaseModel):
    id: str
    kind: str
    status: str
    stats: ItemStats
    expired: bool = False


class Suggestion(BaseModel):
    id: str
    title: str
    text: str
    score: float
    why: str
    sources: list[SourceRef] = Field(default_factory=list)
    item: ItemRef | None = None
    draft: bool = False  # made from a draft item: not yet checked by a knowledge manager


class AskResult(BaseModel):
    query: str
    suggestions: list[Suggestion] = Field(default_factory=list)
    hint: str | None = None


def _matched_words(query: str, text: str) -> list[str]:
    words = set(search_tokens(text))
    return [t for t in dict.fromkeys(search_tokens(query)) if t in words and len(t) > 1][:5]


def _why(query: str, text: str, extra: str) -> str:
    words = _matched_words(query, text)
    parts = [f"shares the words {', '.join(words)}" if words else "similar in meaning"]
    if extra:
        parts.append(extra)
    return "; ".join(parts)


def _conversation(store: GraphStore, message_id: str) -> Conversation | None:
    for n in store.neighbours(message_id, [LinkType.PART_OF], direction="out"):
        if isinstance(n.node, Conversation):
            return n.node
    return None


def _outcome_factor(conversation: Conversation | None) -> float:
    outcome = (conversation.outcome if conversation else "").lower()
    if outcome in GOOD_OUTCOMES:
        return 1.0
    return 0.6 if outcome in BAD_OUTCOMES else 0.85


def _avoided(store: GraphStore, message: Message) -> bool:
    """A reply a mined talk track lists under "what not to say": never suggested."""
    for n in store.neighbours(message.id, [LinkType.DERIVED_FROM], direction="in"):
        item = n.node
        if isinstance(item, KnowledgeItem) and any(message.id in a.message_ids for a in item.avoid):
            return True
    return False


def _whole_turn(store: GraphStore, first: Message) -> str:
    """The employee's whole turn from `first`: the next messages while the employee speaks
    ("区别主要在三点" and then the three points)."""
    parts, current = [first.text], first
    for _ in range(TURN_MESSAGES - 1):
        following = [
            n.node
            for n in store.neighbours(current.id, [LinkType.NEXT], direction="out")
            if isinstance(n.node, Message)
        ]
        if not following or following[0].role != "employee":
            break
        current = following[0]
        parts.append(current.text)
    return "\n".join(p for p in parts if p.strip())


def _from_message(store: GraphStore, query: str, hit: Hit, node: Message) -> Suggestion | None:
    conv = _conversation(store, node.id)
    outcome = f"the conversation was {conv.outcome}" if conv and conv.outcome else ""
    if node.role == "employee":
        reply, said = node, ""
    else:
        replies = [
            n.node
            for n in store.neighbours(node.id, [LinkType.REPLIES_TO], direction="in")
            if isinstance(n.node, Message)
        ]
        if not replies:
            return None
        reply = min(replies, key=lambda m: m.position)
        said = f'a customer said "{node.text[:60]}"'
    if _avoided(store, reply):
        return None
    who = f"{reply.speaker} answered" if reply.speaker else ""
    extra = ", ".join(p for p in (said, who, outcome) if p)
    return Suggestion(
        id=reply.id,
        title=conv.title
        if conv and conv.title
        else (conv.channel if conv else "") or "conversation",
        text=_whole_turn(store, reply),
        score=hit.score * _outcome_factor(conv),
        why=_why(query, node.text, extra),
        sources=[SourceRef(uri=reply.uri, label=Label.MESSAGE.value, id=reply.id)],
    )


def _expired(item: KnowledgeItem) -> bool:
    return bool(item.expires_at) and item.expires_at < datetime.now(UTC).isoformat()


def _from_item(query: str, hit: Hit, item: KnowledgeItem) -> Suggestion | None:
    """A talk track suggests its best response with its outcome counts; drafts say so."""
    if item.status not in (ItemStatus.DRAFT, ItemStatus.APPROVED) or not item.text.strip():
        return None
    approved = item.status is ItemStatus.APPROVED
    expired = _expired(item)
    score = hit.score * (APPROVED_BOOST if approved else 1.0)
    score *= EXPIRED_PENALTY if expired else 1.0
    # What worked counts, by the lower bound of its estimate (never a raw rate): from about
    # 0.8x for what keeps failing to 1.2x for what keeps working.
    score *= 0.8 + 0.4 * lower_bound(item.total_successes, item.total_trials)
    notes = [f"{item.status.value} {item.kind.value}"]
    if item.trials:
        notes.append(f"worked in {item.successes} of {item.trials} conversations")
    if item.feedback_trials:
        notes.append(
            f"employees report it worked {item.feedback_successes} of {item.feedback_trials} times"
        )
    if item.evidence:
        notes.append(f"seen {item.evidence} times")
    if expired:
        notes.append(f"expired {item.expires_at[:10]}: check before use")
    return Suggestion(
        id=item.id,
        title=item.title or item.kind.value,
        text=item.text,
        score=score,
        why=_why(query, item.search_text(), "; ".join(notes)),
        sources=[SourceRef(uri=item.uri, label=item.label.value, id=item.id)],
        item=ItemRef(
            id=item.id,
            kind=item.kind.value,
            status=item.status.value,
            stats=ItemStats(
                uses=item.uses, successes=item.total_successes, trials=item.total_trials
            ),
            expired=expired,
        ),
        draft=not approved,
    )


def _from_node(query: str, hit: Hit, node: Node) -> Suggestion | None:
    if isinstance(node, KnowledgeItem):
        return _from_item(query, hit, node)
    if isinstance(node, Chunk):
        return Suggestion(
            id=node.id,
            title=node.title or node.uri,
            text=node.text,
            score=hit.score,
            why=_why(query, node.search_text(), "from a document"),
            sources=[SourceRef(uri=node.uri, label=node.label.value, id=node.id, title=node.title)],
        )
    return None


def suggest(
    store: GraphStore,
    embedder: Embedder,
    query: str,
    top_k: int = 5,
    fusion: Fusion = "weighted",
    dense_weight: float = 0.8,
) -> AskResult:
    """Suggestions for what to say, best first, each with why it was chosen and its source."""
    query = query.strip()
    if not query:
        return AskResult(query=query, hint="ask something: the customer's words or the situation")
    hits = hybrid_search(
        store,
        embedder,
        query,
        k=top_k * 3,
        fusion=fusion,
        dense_weight=dense_weight,
        filters=LIVE,
    )
    suggestions = _suggestions(store, query, hits)
    ranked = _distinct(sorted(suggestions.values(), key=lambda s: -s.score))[:top_k]
    if ranked:
        return AskResult(query=query, suggestions=ranked)
    # Counting the store costs a scan, so only when there is nothing to show.
    empty = store.stats().total_nodes == 0
    return AskResult(query=query, hint=EMPTY_STORE_HINT if empty else NO_MATCH_HINT)


def _distinct(ranked: list[Suggestion]) -> list[Suggestion]:
    """One suggestion per text: a talk track's best response and the raw message it was
    mined from say the same thing; the better-ranked one (with its counts) stays."""
    seen: set[str] = set()
    kept = []
    for s in ranked:
        key = " ".join(s.text.split())
        if key not in seen:
            seen.add(key)
            kept.append(s)
    return kept


def _suggestions(store: GraphStore, query: str, hits: Sequence[Hit]) -> dict[str, Suggestion]:
    best: dict[str, Suggestion] = {}
    for hit in hits:
        node = store.get_node(hit.id)
        if node is None:
            continue
        if isinstance(node, Message):
            suggestion = _from_message(store, query, hit, node)
        else:
            suggestion = _from_node(query, hit, node)
        if suggestion and (
            suggestion.id not in best or best[suggestion.id].score < suggestion.score
        ):
            best[suggestion.id] = suggestion
    return best

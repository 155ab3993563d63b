""" "What should I say": a few distinct options, each with why, from everything the graph knows.

The one place suggestions are made (CLI, API and live push alike). An ask carries the
customer's latest words and, optionally, the conversation so far, the employee and the
customer. Both are searched (lexical with the organisation's synonyms, dense; sentences of
documents each with their own vector); every hit is read with its surroundings in one call
(`GraphStore.hit_contexts`): a customer's words become the talk track mined from them or the
employee turn that answered them — never a reply from a conversation that ended badly, never
one listed under "what not to say". Options are ranked by seci.ranking (the replies found are
also weighed against each other: what colleagues usually answer moves up) and picked so that
each is a different approach. With a conversation in which the employee has not spoken yet,
an opening line comes first.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, PrivateAttr

from graph.context import HitContext
from graph.embeddings import Embedder
from graph.model import (
    Chunk,
    Conversation,
    ItemStatus,
    KnowledgeItem,
    Label,
    LinkType,
    Message,
)
from graph.search import Fusion, fuse, search_both, search_sides
from graph.settings import Settings
from graph.store import GraphStore, Hit, SearchFilter
from graph.text import (
    LATIN_WORD,
    content_characters,
    detect_language,
    is_cjk,
    normalize,
    query_terms,
    search_tokens,
)
from seci.ranking import (
    UNKNOWN_OUTCOME,
    Signals,
    agree,
    diversify,
    is_stale,
    outcome_factor,
)
from seci.recognize import Recognized, customer_entities, expansion, recognize
from seci.situations import BAD_OUTCOMES, GOOD_OUTCOMES, OPENING

__all__ = [
    "EMPTY_STORE_HINT",
    "AskOptions",
    "AskRequest",
    "AskResult",
    "SourceRef",
    "Suggestion",
    "Turn",
    "baseline",
    "suggest",
]

EMPTY_STORE_HINT = "the store is empty: run `spiral ingest PATH...` or `spiral demo` first"
NO_MATCH_HINT = "nothing close enough matched: try other words, or ingest more material"
NO_CONTENT_HINT = "nothing to search for: the words hold no letters or digits"
HAS_CONTENT = re.compile(r"[^\W_]")  # a letter, a digit or a CJK character
ASK_HINT = "ask something: the customer's words or the situation"
# Rejected and retired items never take a slot: filtered inside the search, before ranking.
# Expired ones still may, flagged and ranked lower.
LIVE = SearchFilter(status=[ItemStatus.DRAFT.value, ItemStatus.APPROVED.value])
SEARCHED = (Label.CHUNK, Label.SENTENCE, Label.KNOWLEDGE_ITEM, Label.MESSAGE)
PLAIN = (Label.CHUNK, Label.KNOWLEDGE_ITEM, Label.MESSAGE)  # what a plain search would use
CONTEXT_TURNS = 4  # the last turns of the conversation that count as its context
# At most this many characters of them, the newest kept: the context is encoded with the words
# after it, and the model reads only its first 256 tokens (a CJK character is about one), so
# four long turns used to push the words asked out of the text; and the encoding's cost grows
# with its length (one query with 4 turns of ~300 characters: ~40 ms on one core).
CONTEXT_CHARS = 240
# What the model encodes of them is smaller for Chinese: a CJK character is about one token
# and an English word of ~4 letters about one, so 240 Chinese characters cost the model four
# times 240 English ones (one core: ~105 ms against ~26, benchmarks/README "the live ask").
# The dense context counts each CJK character this many times; the lexical one keeps them all.
CONTEXT_CJK_COST = 4
CANDIDATES = 50  # hits per side and per text before fusion
POOL = 8  # candidates read per option returned: enough replies for "what colleagues usually say"
CONTEXT_POOL = 10  # the best hits for the conversation so far join the pool
GROUP_FIT = 0.8  # a hit's own fit to the conversation so far counts more than its group's


def _cost(text: str, cjk_cost: int) -> int:
    """Characters, a CJK one counting `cjk_cost`."""
    if cjk_cost == 1:
        return len(text)
    return len(text) + (cjk_cost - 1) * sum(1 for c in text if is_cjk(c))


def _tail(text: str, room: int, cjk_cost: int) -> str:
    """The end of `text` that costs at most `room`."""
    if cjk_cost == 1:
        return text[-room:] if room > 0 else ""
    start = len(text)
    while start > 0 and room >= _cost(text[start - 1], cjk_cost):
        room -= _cost(text[start - 1], cjk_cost)
        start -= 1
    return text[start:]


class Turn(BaseModel):
    role: Literal["customer", "employee", "system"] = "customer"
    text: str = Field(default="", max_length=4000)
    speaker: str = ""


class AskRequest(BaseModel):
    """What an employee asks with: the customer's latest words, and optionally the
    conversation so far (the canonical transcript's messages), who asks and about whom."""

    query: str = Field(default="", max_length=4000, description="The customer's latest words.")
    context: list[Turn] = Field(default_factory=list, max_length=500)
    employee: str | None = None
    customer: str | None = Field(default=None, description="The customer's node id.")
    channel: str | None = None

    def words(self) -> str:
        """The words to answer: the query, else the customer's last turn in the context."""
        if self.query.strip():
            return self.query.strip()
        for turn in reversed(self.context):
            if turn.role == "customer" and turn.text.strip():
                return turn.text.strip()
        return ""

    def recent(self, cjk_cost: int = 1) -> str:
        """The last turns before the words asked, oldest first: what the conversation is
        about (the same "how long?" after a claim talk and after a refund talk differ).
        It is searched together with the words: the answer must fit both. At most
        CONTEXT_CHARS, a CJK character counting `cjk_cost` (CONTEXT_CJK_COST for the text
        the model encodes)."""
        turns = [t for t in self.context if t.text.strip() and t.role != "system"]
        if turns and turns[-1].role == "customer" and turns[-1].text.strip() == self.words():
            turns = turns[:-1]
        kept: list[str] = []
        room = CONTEXT_CHARS
        for turn in reversed(turns[-CONTEXT_TURNS:]):  # the newest first, while they fit
            text = turn.text.strip()
            cost = _cost(text, cjk_cost)
            if cost > room:
                if not kept:
                    kept.append(_tail(text, room, cjk_cost))
                break
            kept.append(text)
            room -= cost + 1
        return "\n".join(reversed(kept))

    @property
    def employee_spoke(self) -> bool:
        return any(t.role == "employee" and t.text.strip() for t in self.context)


class AskOptions(BaseModel):
    """Tuning from the settings. The dense share of the fusion depends on the language of
    what is asked: the default model is English-only, so Chinese leans on the lexical side."""

    fusion: Fusion = "weighted"
    dense_weight: float = 0.8
    dense_weight_cjk: float = 0.3
    # The dense side ranks a document's chunk half by its best sentence, half by the chunk's
    # own vector among the other chunks: the passage as a whole (graph.search.search_sides).
    # False: by the better of the two alone, which is nearly always one sentence (banking77,
    # 1,000 queries, R@1 0.797 against 0.836 with passages; plain dense retrieval 0.799).
    passages: bool = True
    # An option is offered only when it is close enough to the words asked: cosine at least
    # min_similarity (per language: the default model is English-only, and unrelated Chinese
    # texts reach 0.5–0.65 with it), or at least min_overlap of the words' content terms in
    # the text matched. Calibrated on clinc150's out-of-scope queries (benchmarks/README).
    min_similarity: float = 0.35
    min_similarity_cjk: float = 1.01  # out of reach: the terms decide (see the settings)
    min_overlap: float = 0.67
    min_overlap_cjk: float = 0.01  # any content word, character or bigram of the words

    @classmethod
    def from_settings(cls, settings: Settings) -> AskOptions:
        return cls(
            fusion=settings.fusion,
            dense_weight=settings.fusion_dense_weight,
            dense_weight_cjk=settings.fusion_dense_weight_cjk,
            min_similarity=settings.ask_min_similarity,
            min_similarity_cjk=settings.ask_min_similarity_cjk,
            min_overlap=settings.ask_min_overlap,
            min_overlap_cjk=settings.ask_min_overlap_cjk,
        )

    def weight(self, text: str) -> float:
        return self.dense_weight_cjk if detect_language(text) == "zh" else self.dense_weight

    def relevant(self, signals: Signals, language: str) -> bool:
        if language == "zh":
            floor, share = self.min_similarity_cjk, self.min_overlap_cjk
        else:
            floor, share = self.min_similarity, self.min_overlap
        return signals.similarity >= floor or signals.overlap >= share


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
    opening: bool = False  # the opening line of a conversation, not an answer
    weak: bool = False  # not close to the words asked; shown only after close ones
    signals: Signals | None = None
    # The text the words asked are compared with when `why` is finished (only for the options
    # picked: segmenting every candidate's text was a third of an ask).
    _match: str = PrivateAttr(default="")
    _reply: bool = PrivateAttr(default=False)  # a colleague's reply, not a document or item


class AskResult(BaseModel):
    query: str
    suggestions: list[Suggestion] = Field(default_factory=list)
    hint: str | None = None
    entities: list[str] = Field(default_factory=list)  # names of the entities in play


class _InPlay:
    """The entities in play, by id, and whether the words asked named them."""

    def __init__(self, groups: Iterable[Sequence[Recognized]]) -> None:
        self.by_id: dict[str, Recognized] = {}
        for group in groups:
            for entity in group:
                self.by_id.setdefault(entity.id, entity)

    def named(self, entity_ids: Iterable[str]) -> list[str]:
        return sorted({self.by_id[e].name for e in entity_ids if e in self.by_id})


def suggest(
    store: GraphStore,
    embedder: Embedder,
    request: AskRequest | str,
    top_k: int = 5,
    options: AskOptions | None = None,
) -> AskResult:
    """Options for what to say, best first, each with why and its sources."""
    request = AskRequest(query=request) if isinstance(request, str) else request
    options = options or AskOptions()
    words, recent = request.words(), request.recent()
    encoded = request.recent(CONTEXT_CJK_COST)  # what of it the model reads
    if not words:
        return AskResult(query="", hint=ASK_HINT)
    if not HAS_CONTENT.search(words):
        return AskResult(query=words, hint=NO_CONTENT_HINT)
    asked = recognize(store, words)
    in_play = _InPlay(
        [
            asked,
            recognize(store, recent, "context") if recent else [],
            customer_entities(store, request.customer) if request.customer else [],
        ]
    )
    texts = [words, f"{encoded}\n{words}"] if recent else [words]
    lexical_texts = [f"{words} {expansion(asked)}".strip()]
    lexical_texts += [f"{recent}\n{words}"] if recent else []
    size = max(top_k * POOL, 20)
    found = search_sides(
        store,
        embedder,
        texts,
        CANDIDATES,
        SEARCHED,
        LIVE,
        lexical_texts,
        passages=options.passages,
        contexts=len(texts) - 1,
    )
    results = [(lexical, dense) for lexical, dense, _ in found]
    rankings = [
        fuse(lexical, dense, CANDIDATES, options.fusion, options.weight(text), passages)
        for text, (lexical, dense, passages) in zip(texts, found, strict=True)
    ]
    relevance = {h.id: h for h in rankings[0]}
    context = {h.id: h.score for h in rankings[1]} if recent else {}
    pool = [h.id for h in rankings[0][:size]]
    pool += [h.id for h in rankings[1][:CONTEXT_POOL]] if recent else []
    hits = {h.id: h for ranking in rankings for h in ranking}
    found_by_id = store.hit_contexts(list(dict.fromkeys(pool)))
    contexts = {i: found_by_id[i] for i in dict.fromkeys(pool) if i in found_by_id}
    fits = _fit_by_group(contexts, hits, context)
    candidates: dict[str, Suggestion] = {}
    for node_id, found in contexts.items():
        hit = relevance.get(node_id) or hits[node_id].model_copy(update={"score": 0.0})
        fit = max(context.get(node_id, 0.0), fits.get(_group(found, hit), 0.0))
        option = _option(words, hit, found, fit, in_play)
        if option and (option.id not in candidates or candidates[option.id].score < option.score):
            candidates[option.id] = option
    _agree([c for c in candidates.values() if c._reply])
    opening = None
    if request.context and not request.employee_spoke:
        opening = _opening(store, words, contexts, in_play)
    # The opening line is not offered again among the options.
    said = [opening] if opening else []
    ranked = _distinct_texts([*said, *sorted(candidates.values(), key=lambda s: -s.score)])
    picked = _pick(
        ranked[len(said) :], _Closeness(texts, [d for _, d in results]), words, options, top_k
    )
    asked_terms = [t for t in dict.fromkeys(search_tokens(words)) if len(t) > 1]
    picked = [_explained(asked_terms, s) for s in [*said, *picked]]
    entities = in_play.named(in_play.by_id)
    if picked:
        return AskResult(query=words, suggestions=picked, entities=entities)
    # Counting the store costs a scan, so only when there is nothing to show.
    empty = store.stats().total_nodes == 0
    return AskResult(
        query=words, hint=EMPTY_STORE_HINT if empty else NO_MATCH_HINT, entities=entities
    )


def baseline(
    store: GraphStore,
    embedder: Embedder,
    query: str,
    mode: Literal["lexical", "dense"],
    top_k: int = 5,
    labels: Sequence[Label] = PLAIN,
) -> AskResult:
    """Plain one-sided retrieval for the evaluations: the hits in their order, a customer's
    words turned into the reply that followed them; no reranking, no diversity, no
    outcomes. The same store and the same conversion, so the comparison is fair."""
    sides = (mode == "lexical", mode == "dense")
    lexical, dense = search_both(store, embedder, [query], CANDIDATES, labels, LIVE, sides=sides)[0]
    hits = (lexical if mode == "lexical" else dense)[: top_k * 2]
    contexts = store.hit_contexts([h.id for h in hits])
    out: list[Suggestion] = []
    for hit in hits:
        found = contexts.get(hit.id)
        if found is None:
            continue
        node = found.node
        text = _turn_text(found) if isinstance(node, Message) else getattr(node, "text", "")
        if text:
            uri = found.turn[0].uri if isinstance(node, Message) and found.turn else hit.uri
            out.append(
                Suggestion(
                    id=hit.id,
                    title=hit.title,
                    text=text,
                    score=hit.score,
                    why=mode,
                    sources=[SourceRef(uri=uri, label=hit.label.value, id=hit.id)],
                )
            )
    return AskResult(query=query, suggestions=out[:top_k])


def _pick(
    ranked: list[Suggestion], closeness: _Closeness, words: str, options: AskOptions, top_k: int
) -> list[Suggestion]:
    """The options to show, each a different approach, in the order of their scores. When
    none is close to the words asked, none: five options at 0.8 for "asdf" would be scores
    that mean nothing. When some are, the others may still be shown, flagged weak: a turn
    like "好的" shares no words with the closing line it calls for, and the ranking (with
    what colleagues answered most) knows better than a word count."""
    language = detect_language(words)

    def close(option: Suggestion) -> bool:
        return options.relevant(closeness.measure(option), language) or closeness.unjudged

    # Measured lazily: the first close option settles whether any is (measuring all ~40
    # candidates was a tenth of an ask), and only the options shown carry their signals.
    if not any(close(option) for option in ranked):
        return []
    picked = diversify([s.text for s in ranked], [s.score for s in ranked], top_k)
    for i in picked:
        if not close(ranked[i]):
            ranked[i].weak = True
            ranked[i].why = f"{ranked[i].why}; a weak match" if ranked[i].why else "a weak match"
    return [ranked[i] for i in picked]


def _agree(replies: list[Suggestion]) -> None:
    """Replies found for similar words are weighed against each other: the one most like
    the rest is what colleagues usually say (its `why` counts them)."""
    if len(replies) < 2:
        return
    rows = agree([r.text for r in replies], [r.score for r in replies])
    for reply, (agreement, alike, consensus) in zip(replies, rows, strict=True):
        signals = reply.signals or Signals()
        signals.agreement, signals.alike = round(agreement, 4), alike
        signals.consensus = round(consensus, 4)
        reply.score = round(signals.score(), 6)
        if alike:
            reply.why = f"{reply.why}; {alike} other replies found say much the same"


def _group(found: HitContext, hit: Hit) -> str:
    """What a hit belongs to: its conversation (a message), else its source (a document)."""
    return found.conversation.id if found.conversation else hit.source_id or hit.id


def _fit_by_group(
    contexts: dict[str, HitContext], hits: dict[str, Hit], context: dict[str, float]
) -> dict[str, float]:
    """How well each conversation or document fits the conversation so far: its best hit
    for the recent turns. "那要多久？" then finds the answer in the conversation that was
    about the same thing, though that answer's own words never match the recent turns."""
    fits: dict[str, float] = {}
    for node_id, found in contexts.items():
        score = context.get(node_id, 0.0)
        if score:
            key = _group(found, hits[node_id])
            fits[key] = max(fits.get(key, 0.0), score * GROUP_FIT)
    return fits


# -- options --------------------------------------------------------------------------------


def _option(
    words: str, hit: Hit, found: HitContext, context: float, in_play: _InPlay
) -> Suggestion | None:
    node = found.node
    signals = Signals(relevance=hit.score, context=context)
    if isinstance(node, KnowledgeItem):
        return _from_item(words, node, signals, in_play)
    if isinstance(node, Chunk):
        signals.entities = in_play.named(found.entities)
        matched = hit.matched
        extra = f"from a document, the line “{_short(matched)}”" if matched else "from a document"
        return _suggestion(
            node_id=node.id,
            title=node.title or node.uri,
            text=node.text,
            signals=signals,
            why=extra,
            match=f"{node.title}\n{node.text}",
            sources=[SourceRef(uri=node.uri, label=node.label.value, id=node.id, title=node.title)],
        )
    if isinstance(node, Message):
        return _from_message(words, node, found, signals, in_play)
    return None


def _from_message(
    words: str, node: Message, found: HitContext, signals: Signals, in_play: _InPlay
) -> Suggestion | None:
    """What the employee answered to these words, or the talk track mined from them."""
    if not found.turn:
        return None
    reply = found.turn[0]
    conversation = found.conversation
    outcome = (conversation.outcome if conversation else "").strip().lower()
    avoided = any(reply.id in a.message_ids for item in found.items for a in item.avoid)
    if outcome in BAD_OUTCOMES or avoided:
        return None  # never offered as what to say
    tracks = [i for i in found.items if _live(i)]
    if tracks:
        best = max(tracks, key=_track_rank)
        return _from_item(words, best, signals, in_play)
    signals.entities = in_play.named(found.entities)
    signals.outcome = 1.0 if outcome in GOOD_OUTCOMES else UNKNOWN_OUTCOME
    signals.stale = is_stale(conversation.started_at if conversation else "")
    said = f"a customer said “{_short(node.text)}”" if node.role == "customer" else ""
    who = f"{reply.speaker} answered" if reply.speaker else ""
    ended = f"the conversation was {conversation.outcome}" if outcome else ""
    option = _suggestion(
        node_id=reply.id,
        title=(conversation.title if conversation else "") or "conversation",
        text=_turn_text(found),
        signals=signals,
        why="; ".join(p for p in (said, who, ended) if p),
        match=node.text,
        sources=[SourceRef(uri=reply.uri, label=Label.MESSAGE.value, id=reply.id)],
    )
    if option is not None:
        option._reply = True
    return option


def _from_item(
    words: str, item: KnowledgeItem, signals: Signals, in_play: _InPlay
) -> Suggestion | None:
    """A talk track suggests its best response with its outcome counts; drafts say so."""
    if not _live(item):
        return None
    signals.approved = item.status is ItemStatus.APPROVED
    signals.draft = not signals.approved
    signals.expired = _expired(item)
    signals.entities = in_play.named(item.entities)
    signals.successes, signals.trials = item.total_successes, item.total_trials
    signals.outcome = outcome_factor(item.total_successes, item.total_trials)
    notes = [f"{item.status.value} {item.kind.value}"]
    if item.situation and item.situation != OPENING:
        notes.append(f"for “{_short(item.situation)}”")
    if item.trials:
        notes.append(f"worked in {item.successes} of {item.trials} conversations")
    if item.feedback_trials:
        notes.append(
            f"employees report it worked {item.feedback_successes} of {item.feedback_trials} times"
        )
    if item.evidence:
        notes.append(f"seen {item.evidence} times")
    if signals.expired:
        notes.append(f"expired {item.expires_at[:10]}: check before use")
    suggestion = _suggestion(
        node_id=item.id,
        title=item.title or item.kind.value,
        text=item.text,
        signals=signals,
        why="; ".join(notes),
        match=item.search_text(),
        sources=[SourceRef(uri=item.uri, label=item.label.value, id=item.id)],
    )
    suggestion.item = ItemRef(
        id=item.id,
        kind=item.kind.value,
        status=item.status.value,
        stats=ItemStats(uses=item.uses, successes=item.total_successes, trials=item.total_trials),
        expired=signals.expired,
    )
    suggestion.draft = signals.draft
    return suggestion


def _suggestion(
    *,
    node_id: str,
    title: str,
    text: str,
    signals: Signals,
    why: str,
    sources: list[SourceRef],
    match: str = "",
) -> Suggestion | None:
    """An option; with `match`, `_explained` later puts the words it shares with the words
    asked in front of `why`."""
    if not text.strip():
        return None
    if signals.entities:
        why = f"{why}; about {', '.join(signals.entities)}"
    if signals.context >= 0.5:
        why = f"{why}; fits the conversation so far"
    suggestion = Suggestion(
        id=node_id,
        title=title,
        text=text,
        score=round(signals.score(), 6),
        why=why,
        sources=sources,
        signals=signals,
    )
    suggestion._match = match
    return suggestion


def _opening(
    store: GraphStore, words: str, contexts: dict[str, HitContext], in_play: _InPlay
) -> Suggestion | None:
    """How the best people open such a conversation: a mined opening talk track in the
    language of the conversation, else the first employee turn of the most relevant
    conversation like this one that ended well."""
    language = detect_language(words)
    hits = store.lexical_search("opening", 20, [Label.KNOWLEDGE_ITEM], LIVE)
    tracks = [
        c.node
        for c in store.hit_contexts([h.id for h in hits]).values()
        if isinstance(c.node, KnowledgeItem)
        and c.node.situation == OPENING
        and detect_language(c.node.text) == language
    ]
    if tracks:
        best = max(tracks, key=lambda i: (len(in_play.named(i.entities)), *_track_rank(i), i.id))
        option = _from_item(words, best, Signals(relevance=1.0), in_play)
    else:
        option = _opening_from_conversations(store, words, contexts, in_play)
    if option is None:
        return None
    return option.model_copy(
        update={"opening": True, "title": f"Opening line · {option.title}", "score": 0.0}
    )


def _opening_from_conversations(
    store: GraphStore, words: str, contexts: dict[str, HitContext], in_play: _InPlay
) -> Suggestion | None:
    for found in contexts.values():  # in the order of relevance
        conversation = found.conversation
        if conversation is None or conversation.outcome.strip().lower() not in GOOD_OUTCOMES:
            continue
        first = _first_employee_message(store, conversation)
        if first is None:
            continue
        opened = store.hit_contexts([first.id]).get(first.id)
        if opened is not None and opened.turn:
            signals = Signals(relevance=1.0, outcome=1.0)
            signals.entities = in_play.named(opened.entities)
            return _suggestion(
                node_id=first.id,
                title=conversation.title or "conversation",
                text=_turn_text(opened),
                signals=signals,
                why=f"how {first.speaker or 'a colleague'} opened a conversation like this one "
                f"that was {conversation.outcome}",
                sources=[SourceRef(uri=first.uri, label=Label.MESSAGE.value, id=first.id)],
            )
    return None


def _first_employee_message(store: GraphStore, conversation: Conversation) -> Message | None:
    messages = [
        n.node
        for n in store.neighbours(conversation.id, [LinkType.PART_OF], direction="in")
        if isinstance(n.node, Message) and n.node.role == "employee"
    ]
    return min(messages, key=lambda m: m.position) if messages else None


# -- helpers --------------------------------------------------------------------------------


def _live(item: KnowledgeItem) -> bool:
    return item.status in (ItemStatus.DRAFT, ItemStatus.APPROVED) and bool(item.text.strip())


def _track_rank(item: KnowledgeItem) -> tuple[bool, float, int]:
    return (
        item.status is ItemStatus.APPROVED,
        outcome_factor(item.total_successes, item.total_trials),
        item.evidence,
    )


def _expired(item: KnowledgeItem) -> bool:
    return bool(item.expires_at) and item.expires_at < datetime.now(UTC).isoformat()


def _turn_text(found: HitContext) -> str:
    """The employee's whole turn ("区别主要在三点" and then the three points)."""
    return "\n".join(m.text for m in found.turn if m.text.strip())


def _short(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _found_in(terms: Iterable[str], text: str) -> list[str]:
    """The terms that occur in `text`: Latin-script ones as whole words, Chinese ones as a
    part of it (Chinese text has no spaces to find words by)."""
    flat = normalize(text)
    words = set(LATIN_WORD.findall(flat))
    return [t for t in terms if (t in words if LATIN_WORD.fullmatch(t) else t in flat)]


class _Closeness:
    """How close an option's matched text is to the words asked (alone, and with the
    conversation so far): the best cosine among the dense hits and the share of content terms
    found. Fused scores are relative within one ask, so they cannot say this."""

    def __init__(self, texts: Sequence[str], dense: Sequence[Sequence[Hit]]) -> None:
        self.cosine = [{h.id: h.score for h in hits} for hits in dense]
        self.terms = [_content_terms(t) for t in texts]
        self.all_terms = list(dict.fromkeys(t for terms in self.terms for t in terms))
        # Words with no content terms to share ("好的", "thanks": one lone character counts
        # as chance below) are a turn of the conversation, not a search: the ranking alone
        # decides (judging them by the context's words pushed aside the closing lines
        # they call for).
        self.unjudged = self._shared(self.terms[0], self.terms[0]) == 0

    def measure(self, option: Suggestion) -> Signals:
        """Fill in the option's similarity and overlap signals (and return them)."""
        signals = option.signals or Signals()
        ids = [option.id, *(source.id for source in option.sources)]
        signals.similarity = round(
            max((c.get(i, 0.0) for c in self.cosine for i in ids), default=0.0), 4
        )
        present = set(_found_in(self.all_terms, option._match or option.text))
        shares = [
            self._shared(terms, present) / len(terms) if terms else 0.0 for terms in self.terms
        ]
        signals.overlap = round(max(shares, default=0.0), 4)
        option.signals = signals
        return signals

    @staticmethod
    def _shared(terms: Sequence[str], present: Container[str]) -> int:
        """How many of `terms` are present. One Chinese character in common is chance ("天"
        of 今天天气 in "30天"); two are not."""
        hits = [t for t in terms if t in present]
        characters = [t for t in hits if len(t) == 1 and is_cjk(t)]
        return len(hits) - (len(characters) if len(characters) < 2 else 0)


def _content_terms(text: str) -> list[str]:
    """What a full-text query would look for (stop words out; Chinese words and bigrams),
    less the one-letter Latin words and the doubled-character index forms, plus each Chinese
    character outside the stop words ("贵" in "生贵太多了", which jieba cut badly)."""
    terms = [
        t
        for t in query_terms(text)
        if not (len(t) == 2 and t[0] == t[1]) and not (len(t) == 1 and LATIN_WORD.fullmatch(t))
    ]
    return list(dict.fromkeys([*terms, *content_characters(text)]))


def _explained(terms: Sequence[str], suggestion: Suggestion) -> Suggestion:
    """`why` led by the words asked (`terms`: those of two letters or more) that the option
    shares: Chinese ones as a part of its text, others as whole words; the text is not
    segmented (that cost ~1 ms per option)."""
    if not suggestion._match:
        return suggestion
    words = _found_in(terms, suggestion._match)[:5]
    lead = f"shares the words {', '.join(words)}" if words else "similar in meaning"
    suggestion.why = "; ".join(p for p in (lead, suggestion.why) if p)
    suggestion._match = ""
    return suggestion


def _distinct_texts(ranked: list[Suggestion]) -> list[Suggestion]:
    """One option per text: a talk track's best response and the raw message it was mined
    from say the same thing; the better-ranked one (with its counts) stays."""
    seen: set[str] = set()
    kept = []
    for s in ranked:
        key = " ".join(s.text.split())
        if key not in seen:
            seen.add(key)
            kept.append(s)
    return kept

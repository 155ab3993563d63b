"""Hybrid search: lexical (BM25 / Lucene) and dense (cosine) rankings fused into one.

Why several fusions: naive fusion can be worse than dense search alone. The default was
chosen by benchmarks/fusion_eval.py on real customer-service queries (see README).
- "rrf": reciprocal rank fusion, score = sum 1/(60 + rank); ignores score magnitudes.
- "weighted": min-max normalise each list's scores, then w*dense + (1-w)*lexical.
- "dense" / "lexical": one side only.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from typing import Literal, NamedTuple

from graph.embeddings import Embedder, encode_context
from graph.model import Label
from graph.store import GraphStore, Hit, SearchFilter

__all__ = [
    "DEFAULT_LABELS",
    "Fusion",
    "Sides",
    "collapse",
    "fuse",
    "hybrid_search",
    "matching",
    "search_both",
    "search_sides",
]

Fusion = Literal["rrf", "weighted", "dense", "lexical"]
RRF_K = 60
# What "what should I say" searches by default: explicit content and what was said.
DEFAULT_LABELS: tuple[Label, ...] = (
    Label.CHUNK,
    Label.SENTENCE,
    Label.KNOWLEDGE_ITEM,
    Label.MESSAGE,
)


def _minmax(hits: Sequence[Hit]) -> dict[str, float]:
    if not hits:
        return {}
    scores = [h.score for h in hits]
    low, high = min(scores), max(scores)
    span = high - low
    return {h.id: (h.score - low) / span if span else 1.0 for h in hits}


def fuse(
    lexical: Sequence[Hit],
    dense: Sequence[Hit],
    k: int,
    fusion: Fusion = "weighted",
    dense_weight: float = 0.8,
    passages: Sequence[Hit] = (),
) -> list[Hit]:
    """One ranking from two; each returned hit carries the fused score. `passages`, when
    given, ranks the chunks as wholes, each by its own vector (`search_sides`): a chunk's
    dense share is then half its place in `dense` (by its best sentence) and half its place
    among the passages; a message or an item, one text without sentences, keeps its place in
    `dense` alone."""
    if fusion == "dense":
        return list(dense[:k])
    if fusion == "lexical":
        return list(lexical[:k])
    by_id = {h.id: h for h in [*lexical, *passages, *dense]}
    for h in lexical:  # a line matched on one side is kept whichever hit is returned
        if h.matched and not by_id[h.id].matched:
            by_id[h.id] = by_id[h.id].model_copy(update={"matched": h.matched})
    scores: dict[str, float] = dict.fromkeys(by_id, 0.0)
    if fusion == "rrf":
        line, whole = _reciprocal(dense), _reciprocal(passages)
        for node_id, s in _reciprocal(lexical).items():
            scores[node_id] += s
    else:
        line = {i: dense_weight * s for i, s in _minmax(dense).items()}
        whole = {i: dense_weight * s for i, s in _minmax(passages).items()}
        for node_id, s in _minmax(lexical).items():
            scores[node_id] += (1.0 - dense_weight) * s
    for node_id, hit in by_id.items():
        if passages and (node_id in whole or hit.label is Label.CHUNK):
            scores[node_id] += (line.get(node_id, 0.0) + whole.get(node_id, 0.0)) / 2
        else:
            scores[node_id] += line.get(node_id, 0.0)
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
    return [by_id[node_id].model_copy(update={"score": score}) for node_id, score in ranked]


def _reciprocal(hits: Sequence[Hit]) -> dict[str, float]:
    return {h.id: 1.0 / (RRF_K + rank + 1) for rank, h in enumerate(hits)}


def collapse(hits: Sequence[Hit]) -> list[Hit]:
    """Sentence hits become their chunk (the best sentence wins and its text is kept as the
    hit's text, the matched line); best first, one hit per id."""
    best: dict[str, Hit] = {}
    for hit in hits:
        if hit.label is Label.SENTENCE and hit.parent:
            hit = hit.model_copy(
                update={"id": hit.parent, "label": Label.CHUNK, "parent": "", "matched": hit.text}
            )
        if hit.id not in best or best[hit.id].score < hit.score:
            best[hit.id] = hit
    return sorted(best.values(), key=lambda h: -h.score)


def hybrid_search(
    store: GraphStore,
    embedder: Embedder,
    query: str,
    k: int = 5,
    fusion: Fusion = "weighted",
    dense_weight: float = 0.8,
    labels: Sequence[Label] | None = DEFAULT_LABELS,
    candidates: int = 50,
    filters: SearchFilter | None = None,
) -> list[Hit]:
    """Search both ways for `candidates` hits each, then fuse down to `k`. `filters` apply
    inside each search, before ranking, so what they exclude never takes a slot."""
    if not query.strip():
        return []
    sides = (fusion != "dense", fusion != "lexical")
    lexical, dense = search_both(
        store, embedder, [query], max(k, candidates), labels, filters, sides=sides
    )[0]
    return fuse(lexical, dense, k, fusion, dense_weight)


class Sides(NamedTuple):
    """What one text found: lexical hits, dense hits (a chunk by the best of its sentences'
    vectors and its own) and, when asked for and sentences were among them, dense hits of
    whole passages alone (a chunk by its own vector; empty otherwise)."""

    lexical: list[Hit]
    dense: list[Hit]
    passages: list[Hit]


def search_both(
    store: GraphStore,
    embedder: Embedder,
    texts: Sequence[str],
    depth: int,
    labels: Sequence[Label] | None = DEFAULT_LABELS,
    filters: SearchFilter | None = None,
    lexical_texts: Sequence[str] | None = None,
    sides: tuple[bool, bool] = (True, True),
) -> list[tuple[list[Hit], list[Hit]]]:
    """(lexical, dense) hits for each text, sentences collapsed into their chunks (see
    `search_sides`)."""
    found = search_sides(store, embedder, texts, depth, labels, filters, lexical_texts, sides)
    return [(lexical, dense) for lexical, dense, _ in found]


def search_sides(
    store: GraphStore,
    embedder: Embedder,
    texts: Sequence[str],
    depth: int,
    labels: Sequence[Label] | None = DEFAULT_LABELS,
    filters: SearchFilter | None = None,
    lexical_texts: Sequence[str] | None = None,
    sides: tuple[bool, bool] = (True, True),
    passages: bool = False,
    contexts: int = 0,
) -> list[Sides]:
    """Lexical and dense hits for each text, sentences collapsed into their chunks. All texts
    are embedded in one model call; the lexical searches run in worker threads, so their
    latency hides behind the model's or the vector search's (`store.lexical_beside_model`
    says which). `lexical_texts`
    replaces what the lexical side looks for (e.g. with synonyms added); `sides` turns the
    lexical or the dense side off.

    `passages`: also rank whole passages by their own vectors, when sentences were found.
    A chunk's best sentence is nearly always closer to a short question than the chunk's own
    vector, so in `dense` a chunk is in effect ranked by one line; its own vector says how
    well the passage as a whole fits (every way it puts the matter), and a chunk one line of
    which happens to be worded like the question is not the chunk about it. `fuse` weighs
    both. Without sentences among the dense hits there is nothing to weigh: no passages.

    `contexts`: the last so many texts carry a conversation's context; the embedder encodes
    them with its `encode_context` (the int8 model: graph.embeddings)."""
    wanted = lexical_texts or texts
    early = sides[0] and (store.lexical_beside_model or not sides[1])
    jobs = [_lexical(store, text, depth, labels, filters) for text in wanted] if early else []
    dense: list[list[Hit]] = [[] for _ in texts]
    whole: list[list[Hit]] = [[] for _ in texts]
    if sides[1]:
        grains = passages and {Label.SENTENCE, Label.CHUNK} <= set(labels or Label)
        plain = len(texts) - contexts
        vectors = [
            *(embedder.encode(list(texts[:plain])) if plain else []),
            *(encode_context(embedder, list(texts[plain:])) if contexts else []),
        ]
        if sides[0] and not early:
            jobs = [_lexical(store, text, depth, labels, filters) for text in wanted]
        for i, vector in enumerate(vectors):
            if grains:  # one scan for both
                found, chunks = store.vector_search_views(
                    vector.tolist(), depth, [labels, [Label.CHUNK]], filters
                )
                if any(h.label is Label.SENTENCE for h in found):
                    whole[i] = chunks
            else:
                found = store.vector_search(vector.tolist(), depth, labels, filters)
            dense[i] = collapse(found)
    lexical = [collapse(job.result()) for job in jobs] or [[] for _ in texts]
    return [Sides(*found) for found in zip(lexical, dense, whole, strict=True)]


def _lexical(
    store: GraphStore,
    text: str,
    depth: int,
    labels: Sequence[Label] | None,
    filters: SearchFilter | None,
) -> Future[list[Hit]]:
    return _pool().submit(store.lexical_search, text, depth, labels, filters)


MATCH_SHARE = 0.5  # `matching`: a lexical hit at least this share of the best one's BM25
MATCH_COSINE = 0.6  # `matching`: a dense hit at least this close in meaning


def matching(
    store: GraphStore,
    embedder: Embedder,
    text: str,
    depth: int,
    labels: Sequence[Label] | None = None,
    filters: SearchFilter | None = None,
) -> list[Hit]:
    """Hits that really match `text`, for choosing a set (a topic's conversations or items)
    rather than ranking: those that share its words at least half as well as the best match,
    then those close in meaning (cosine at least MATCH_COSINE). Ranked lists always have a
    first hit; this is empty when nothing matches."""
    if not text.strip():
        return []
    lexical, dense = search_both(store, embedder, [text], depth, labels, filters)[0]
    floor = MATCH_SHARE * lexical[0].score if lexical else 0.0
    found = [h for h in lexical if h.score >= floor]
    found += [h for h in dense if h.score >= MATCH_COSINE]
    unique: dict[str, Hit] = {}
    for hit in found:
        unique.setdefault(hit.id, hit)
    return list(unique.values())


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="spiral-search")

"""Hybrid search: lexical (BM25 / Lucene) and dense (cosine) rankings fused into one.

Why several fusions: naive fusion can be worse than dense search alone. The default was
chosen by benchmarks/fusion_eval.py on real customer-service queries (see README).
- "rrf": reciprocal rank fusion, score = sum 1/(60 + rank); ignores score magnitudes.
- "weighted": min-max normalise each list's scores, then w*dense + (1-w)*lexical.
- "dense" / "lexical": one side only.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Literal

from graph.embeddings import Embedder
from graph.model import Label
from graph.store import GraphStore, Hit, SearchFilter

__all__ = ["DEFAULT_LABELS", "Fusion", "fuse", "hybrid_search"]

Fusion = Literal["rrf", "weighted", "dense", "lexical"]
RRF_K = 60
# What "what should I say" searches by default: explicit content and what was said.
DEFAULT_LABELS: tuple[Label, ...] = (Label.CHUNK, Label.KNOWLEDGE_ITEM, Label.MESSAGE)


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
) -> list[Hit]:
    """One ranking from two; each returned hit carries the fused score."""
    if fusion == "dense":
        return list(dense[:k])
    if fusion == "lexical":
        return list(lexical[:k])
    by_id = {h.id: h for h in [*lexical, *dense]}
    scores: dict[str, float] = dict.fromkeys(by_id, 0.0)
    if fusion == "rrf":
        for ranking in (lexical, dense):
            for rank, hit in enumerate(ranking):
                scores[hit.id] += 1.0 / (RRF_K + rank + 1)
    else:
        for node_id, s in _minmax(dense).items():
            scores[node_id] += dense_weight * s
        for node_id, s in _minmax(lexical).items():
            scores[node_id] += (1.0 - dense_weight) * s
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
    return [by_id[node_id].model_copy(update={"score": score}) for node_id, score in ranked]


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
    inside each search, before ranking, so what they exclude never takes a slot.

    The lexical search runs in a worker thread while the query is embedded (both release
    the GIL), so its latency hides behind the model's."""
    if not query.strip():
        return []
    depth = max(k, candidates)
    lexical_job = (
        _pool().submit(store.lexical_search, query, depth, labels, filters)
        if fusion != "dense"
        else None
    )
    dense: list[Hit] = []
    if fusion != "lexical":
        vector = embedder.encode([query])[0]
        dense = store.vector_search(vector.tolist(), depth, labels, filters)
    lexical = lexical_job.result() if lexical_job else []
    return fuse(lexical, dense, k, fusion, dense_weight)


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="spiral-search")

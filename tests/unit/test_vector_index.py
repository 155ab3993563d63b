"""The embedded store's vector index: from COARSE_ROWS rows an 8-bit scan picks candidates
that are ranked exactly; the hits must be the exact scan's, labels and filters included."""

from __future__ import annotations

import numpy as np

from graph.embedded_index import COARSE_ROWS, VectorIndex
from graph.model import Label
from graph.store import SearchFilter

LABELS = [Label.CHUNK, Label.MESSAGE, Label.KNOWLEDGE_ITEM, Label.ENTITY]


def _index(rows: int, seed: int = 3) -> VectorIndex:
    """Clustered unit vectors (as real embeddings are: many near neighbours), four labels,
    a status on the items."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(200, 64)).astype(np.float32)
    vectors = centres[rng.integers(0, 200, rows)] + 0.4 * rng.normal(size=(rows, 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    labels = [LABELS[i % 4].value for i in range(rows)]
    status = ["retired" if i % 8 == 2 else ("draft" if i % 4 == 2 else "") for i in range(rows)]
    return VectorIndex(
        1,
        [f"n{i}" for i in range(rows)],
        labels,
        [v.tobytes() for v in vectors],
        {"status": status},
    )


def _exact(index: VectorIndex, query: np.ndarray, k: int, mask: np.ndarray) -> list[str]:
    scores = np.where(mask, index.matrix @ query, -np.inf)
    order = np.argsort(-scores, kind="stable")[:k]
    return [index.ids[i] for i in order if np.isfinite(scores[i])]


def test_large_indexes_scan_a_quantized_copy_and_rank_exactly() -> None:
    index = _index(COARSE_ROWS + 5_000)
    assert index.coarse is not None
    small = _index(2_000)
    assert small.coarse is None  # small ones scan the float32 matrix only
    rng = np.random.default_rng(9)
    live = SearchFilter(status=["draft", "approved"])
    codes = np.array(
        [LABELS.index(Label(x)) for x in np.array(LABELS)[np.arange(len(index.ids)) % 4]]
    )
    status = index.meta["status"]
    for _ in range(30):
        query = index.matrix[rng.integers(0, len(index.ids))] + 0.05 * rng.normal(size=64)
        query = (query / np.linalg.norm(query)).astype(np.float32)
        got = index.top(query.tolist(), 50)
        assert [i for i, _ in got] == _exact(index, query, 50, np.ones(len(status), bool))
        scores = [s for _, s in got]
        assert scores == sorted(scores, reverse=True)
        # labels and filters apply before ranking, as in the exact scan
        wanted = (codes == 1) | (codes == 2)
        passed = (status == "") | np.isin(status, ["draft", "approved"])
        got = index.top(query.tolist(), 20, [Label.MESSAGE, Label.KNOWLEDGE_ITEM], live, "x")
        assert [i for i, _ in got] == _exact(index, query, 20, wanted & passed)
    # a filter that lets only a few rows through still fills k with the exact best of them
    retired = (codes == 2) & (status == "retired")
    query = index.matrix[2]
    only = index.top(query.tolist(), 50, [Label.KNOWLEDGE_ITEM], SearchFilter(status=["retired"]))
    assert len(only) == 50 and [i for i, _ in only] == _exact(index, query, 50, retired)

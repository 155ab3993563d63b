"""The embedded store's vector index: from COARSE_ROWS rows a binary scan picks candidates
that are ranked exactly; the hits must be the exact scan's, labels and filters included."""

from __future__ import annotations

import numpy as np
import pytest

from graph.embedded_index import COARSE_ROWS, LABEL_CODES, DeltaIndex, VectorIndex
from graph.model import Label
from graph.store import FILTER_FIELDS, SearchFilter

LABELS = [Label.CHUNK, Label.MESSAGE, Label.KNOWLEDGE_ITEM, Label.ENTITY]
DIM = 384  # the model's: a binary code of fewer bits would order candidates worse than real


CENTRES = np.random.default_rng(3).normal(size=(200, DIM)).astype(np.float32)


def _clustered(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Unit vectors around the same 200 centres, as real embeddings are (many near
    neighbours, and new texts near the old ones)."""
    vectors = CENTRES[rng.integers(0, 200, rows)] + 0.4 * rng.normal(size=(rows, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _index(rows: int, seed: int = 3) -> VectorIndex:
    """Clustered unit vectors, four labels, a status on the items."""
    vectors = _clustered(np.random.default_rng(seed), rows)
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


def test_large_indexes_scan_a_binary_copy_and_rank_exactly() -> None:
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
        query = index.matrix[rng.integers(0, len(index.ids))] + 0.05 * rng.normal(size=DIM)
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


def _rows(index: VectorIndex) -> dict[str, tuple[str, bytes, list[str]]]:
    """Every row as the store would read it: (label, vector bytes, filter fields)."""
    status = index.meta["status"]
    out = {}
    for row, node_id in enumerate(index.ids):
        fields = ["" for _ in FILTER_FIELDS]
        fields[FILTER_FIELDS.index("status")] = str(status[row])
        out[node_id] = (_label(index, row), index.matrix[row].tobytes(), fields)
    return out


def _label(index: VectorIndex, row: int) -> str:
    return next(lab.value for lab, code in LABEL_CODES.items() if code == index.labels[row])


def _unit(rng: np.random.Generator, dim: int = DIM) -> np.ndarray:
    v = rng.normal(size=dim).astype(np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32)


@pytest.mark.parametrize("size", [300, COARSE_ROWS + 2_000])
def test_rows_changed_since_loading_search_as_a_reload_would(size: int) -> None:
    """Live messages add vectors every few seconds: the index takes the changed rows beside
    the loaded matrix (DeltaIndex) and folds them in past a share; every search must find what
    a full reload of the same rows finds, labels and filters included."""
    rng = np.random.default_rng(5)
    index: VectorIndex | DeltaIndex = _index(size)
    truth = _rows(index)  # type: ignore[arg-type]
    status_at = FILTER_FIELDS.index("status")
    live = SearchFilter(status=["draft", "approved"])
    folded = False
    for step in range(40):
        added = {
            f"new{step}-{j}": (
                LABELS[j % 4].value,
                _clustered(rng, 1)[0].tobytes(),
                [""] * len(FILTER_FIELDS),
            )
            for j in range(int(rng.integers(1, 150)))
        }
        ids = list(truth)
        replaced = {
            i: (truth[i][0], _clustered(rng, 1)[0].tobytes(), truth[i][2])
            for i in rng.choice(ids, 5, replace=False)
        }
        removed = set(rng.choice(ids, 3, replace=False)) - set(replaced)
        for i in removed:
            truth.pop(i)
        truth.update(added | replaced)
        index = index.with_vectors(step, added | replaced, removed)
        folded |= isinstance(index, VectorIndex)
        decided = {i: list(truth[i][2]) for i in rng.choice(list(truth), 4, replace=False)}
        for fields in decided.values():
            fields[status_at] = "retired"
        for i, fields in decided.items():
            truth[i] = (truth[i][0], truth[i][1], fields)
        index = index.with_changes(step, decided)
        reloaded = VectorIndex.from_rows(step, truth)  # a full reload
        for _ in range(3):  # near a row, as an ask is near what it is about
            near = np.frombuffer(truth[rng.choice(list(truth))][1], dtype=np.float32)
            query = near + 0.05 * rng.normal(size=DIM)
            query = (query / np.linalg.norm(query)).astype(np.float32)
            for labels, filters in (
                (None, None),
                ([Label.MESSAGE, Label.KNOWLEDGE_ITEM], live),
            ):
                got = index.top(query.tolist(), 20, labels, filters, "x")
                want = reloaded.top(query.tolist(), 20, labels, filters, "x")
                assert [i for i, _ in got] == [i for i, _ in want]
                assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-6)
    assert folded or size > 2_000 * 8  # the small index folded its changes in at least once


def test_kept_masks_follow_the_clock_and_each_index_version() -> None:
    """The label and filter masks are kept per index; what depends on the time (expiry)
    is applied at every search, and an index with changed fields keeps masks of its own."""
    rows = 300
    rng = np.random.default_rng(11)
    vectors = [_unit(rng) for _ in range(rows)]
    expires = ["2026-06-01T00:00:00" if i % 3 == 0 else "" for i in range(rows)]
    index = VectorIndex(
        1,
        [f"n{i}" for i in range(rows)],
        [Label.KNOWLEDGE_ITEM.value] * rows,
        [v.tobytes() for v in vectors],
        {"status": ["approved"] * rows, "expires_at": expires},
    )
    fresh = SearchFilter(status=["approved"], not_expired=True)
    query = vectors[0].tolist()  # n0 expires on 1 June
    before = [i for i, _ in index.top(query, rows, [Label.KNOWLEDGE_ITEM], fresh, "2026-05-01")]
    after = [i for i, _ in index.top(query, rows, [Label.KNOWLEDGE_ITEM], fresh, "2026-07-01")]
    again = [i for i, _ in index.top(query, rows, [Label.KNOWLEDGE_ITEM], fresh, "2026-05-01")]
    assert before[0] == "n0" and len(before) == rows
    assert "n0" not in after and len(after) == rows - rows // 3
    assert again == before  # the kept mask was not frozen at the later time
    # a decision on n0 makes a new index version: its status is filtered at once
    status_at = FILTER_FIELDS.index("status")
    fields = [""] * len(FILTER_FIELDS)
    fields[status_at] = "retired"
    decided = index.with_changes(2, {"n0": fields})
    got = [i for i, _ in decided.top(query, 5, [Label.KNOWLEDGE_ITEM], fresh, "2026-05-01")]
    assert "n0" not in got
    assert index.top(query, 1, [Label.KNOWLEDGE_ITEM], fresh, "2026-05-01")[0][0] == "n0"


def test_a_long_query_keeps_its_rarest_terms_within_the_postings_budget() -> None:
    """FTS5 scores every row holding any term: in a large index a query keeps its rarest
    terms while their postings fit MAX_POSTINGS, and always at least one."""
    from graph.embedded_index import MAX_POSTINGS, fts_match

    docs = 100_000
    freq = {f"t{i}": 1_000 * (i + 1) for i in range(8)}  # t0 rarest ... t7 commonest
    match = fts_match(list(reversed(freq)), freq, docs)
    kept = [t.strip('"') for t in match.split(" OR ")]
    assert kept == [t for t in freq if sum(freq[u] for u in freq if u <= t) <= MAX_POSTINGS]
    assert kept[0] == "t0" and len(kept) < len(freq)
    common = {"的": 40_000, "好": 30_000}  # only common terms: the rarest one still searches
    assert fts_match(["的", "好"], common, docs) == '"好"'
    small = fts_match(list(freq), freq, 1_000)  # a small index is never pruned
    assert small.count(" OR ") == len(freq) - 1


def test_several_label_sets_from_one_scan_rank_as_their_own_scans() -> None:
    """An ask ranks with and without sentences: one binary scan serves both, each view
    exact, and a view the union's candidates hold too few of gets its own scan."""
    index = _index(COARSE_ROWS + 5_000)
    rng = np.random.default_rng(21)
    live = SearchFilter(status=["draft", "approved"])
    codes = np.arange(len(index.ids)) % 4
    status = index.meta["status"]
    passed = (status == "") | np.isin(status, ["draft", "approved"])
    views = [
        [Label.CHUNK, Label.MESSAGE, Label.KNOWLEDGE_ITEM],
        [Label.CHUNK, Label.KNOWLEDGE_ITEM],
        [Label.ENTITY],  # not in the others: its own scan
    ]
    for _ in range(10):
        query = index.matrix[rng.integers(0, len(index.ids))] + 0.05 * rng.normal(size=DIM)
        query = (query / np.linalg.norm(query)).astype(np.float32)
        found = index.top_views(query.tolist(), 50, views, live, "x")
        for labels, got in zip(views, found, strict=True):
            wanted = np.isin(codes, [LABELS.index(x) for x in labels])
            assert [i for i, _ in got] == _exact(index, query, 50, wanted & passed)
        blank = [""] * len(FILTER_FIELDS)
        delta = index.with_vectors(2, {"fresh": (Label.CHUNK.value, query.tobytes(), blank)}, [])
        first = delta.top_views(query.tolist(), 5, views[:2], live, "x")
        assert first[0][0][0] == "fresh" and first[1][0][0] == "fresh"

"""In-memory search helpers of the embedded store: the vector matrix and the FTS5 query.

Why a matrix scan: exact, and nothing to tune or keep in sync. At 100k x 384 float32 one
matrix-vector product is ~8 ms on this kind of machine, bound by reading 150 MB; from
`COARSE_ROWS` rows a binary copy picks candidates and the float32 rows of those alone are
ranked exactly. The copy is one bit per value (the sign of each value less the matrix's mean,
faiss' binary flat index: 48 bytes a row, a 32nd of the matrix), made with the matrix (the
matrix is rebuilt whenever vectors change), so its centre always fits the data. The 8-bit
scalar quantizer used before read a quarter of the matrix: ~9 ms of an ask's ~45 at 100k.
Measured at 100k on real asks (benchmarks/README "binary candidates"): the exact top 50 of each
view are among the candidates (recall 1.0000 and 0.9999 for an ask's two views at the depth
used) at ~a third of the 8-bit scan's time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from graph.model import Label
from graph.store import FILTER_FIELDS, SearchFilter
from graph.text import query_terms as _query_terms

__all__ = [
    "COMMON_TERM_SHARE",
    "MIN_DOCS_FOR_PRUNING",
    "DeltaIndex",
    "DocFreqCache",
    "StoredRow",
    "VectorIndex",
    "fts_match",
]

LABEL_CODES = {label: code for code, label in enumerate(Label)}
# A term in more than this share of documents adds almost nothing to BM25 but makes FTS5
# score most of the index ("的", "i", "my"): leave it out of the query.
COMMON_TERM_SHARE = 0.05
MIN_DOCS_FOR_PRUNING = 2000
MIN_TERMS = 3
# FTS5 scores every row that holds any term of the query: its time follows the postings read
# (at 100k rows, r = 0.90 over 200 questions; 60-75 ms for a long one with ~40k). Past this
# many, the commonest terms left are dropped: they weigh least in BM25.
MAX_POSTINGS = 12_000
COARSE_ROWS = 20_000  # from this many rows a binary scan picks the candidates
# Candidates of a view ranked exactly (at least 32x the hits asked for): one bit per value
# keeps the order only roughly, so it picks many. A search of one view takes twice as many.
COARSE_DEPTH = 1600
DEPTH_PER_HIT = 32
MAX_MASKS = 32  # label and filter masks kept per index
# `top_views` takes this many times its views' depth from the one scan: the union's best are
# often mostly one label (messages), and a view short of its depth needs a scan of its own.
VIEW_POOL = 2
# Rows changed since the index was loaded are kept beside it until there are more than this
# many and more than 1/COMPACT_SHARE of it; then the two are folded into one (in memory).
COMPACT_MIN_ROWS = 2_000
COMPACT_SHARE = 8
# A changed row as read from the store: (label, embedding bytes, FILTER_FIELDS values).
StoredRow = tuple[str, bytes, list[str]]


class VectorIndex:
    """Ids, label codes and the unit-vector matrix of every embedded node, at one version."""

    def __init__(
        self,
        version: object,
        ids: list[str],
        labels: list[str],
        vectors: list[bytes],
        meta: Mapping[str, list[str]] | None = None,
    ):
        self.version = version
        self.ids = ids
        self.labels = np.array([LABEL_CODES[Label(x)] for x in labels], dtype=np.int16)
        self._rows: dict[str, int] | None = None
        # The filterable fields per row ('' = unset), for filters applied before ranking.
        self.meta = {name: np.array(values, dtype=str) for name, values in (meta or {}).items()}
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        if vectors:
            sizes = {len(v) for v in vectors}
            if len(sizes) > 1:
                raise ValueError(f"stored embeddings differ in size: {sorted(sizes)} bytes")
            # One copy of all the bytes (far cheaper than stacking 100k small arrays).
            self.matrix = np.frombuffer(b"".join(vectors), dtype=np.float32).reshape(
                len(vectors), -1
            )
        self.coarse = _Quantized(self.matrix) if len(self.matrix) >= COARSE_ROWS else None

    def with_changes(self, version: object, changed: Mapping[str, list[str]]) -> VectorIndex:
        """The same vectors with some rows' filterable fields replaced (after decisions): no
        matrix reload. `changed` maps an id to its values in FILTER_FIELDS order."""
        clone = object.__new__(VectorIndex)
        clone.version, clone.ids, clone.labels, clone.matrix, clone.coarse = (
            version,
            self.ids,
            self.labels,
            self.matrix,
            self.coarse,
        )
        clone._rows = self.rows()
        clone.meta = {name: values.copy() for name, values in self.meta.items()}
        for node_id, values in changed.items():
            row = clone._rows.get(node_id)
            if row is None:
                continue
            for name, value in zip(FILTER_FIELDS, values, strict=True):
                if name in clone.meta:
                    column = clone.meta[name]
                    if len(value) > column.itemsize // 4:  # wider than the column's strings
                        column = clone.meta[name] = column.astype(f"<U{len(value)}")
                    column[row] = value
        return clone

    def with_vectors(
        self, version: object, rows: Mapping[str, StoredRow], removed: Iterable[str]
    ) -> VectorIndex | DeltaIndex:
        """This index with some rows added, replaced or removed, without reading the others
        again (see DeltaIndex)."""
        return DeltaIndex(self.version, self, np.zeros(len(self.ids), bool), {}).with_vectors(
            version, rows, removed
        )

    @classmethod
    def from_rows(cls, version: object, rows: Mapping[str, StoredRow]) -> VectorIndex:
        """An index of rows as the store reads them, in their order."""
        ids = list(rows)
        meta = {name: [rows[i][2][n] for i in ids] for n, name in enumerate(FILTER_FIELDS)}
        return cls(version, ids, [rows[i][0] for i in ids], [rows[i][1] for i in ids], meta)

    @classmethod
    def from_arrays(
        cls,
        version: object,
        ids: list[str],
        labels: np.ndarray,
        matrix: np.ndarray,
        meta: Mapping[str, np.ndarray],
    ) -> VectorIndex:
        index = object.__new__(cls)
        index.version, index.ids, index.labels, index.matrix = version, ids, labels, matrix
        index._rows = None
        index.meta = dict(meta)
        index.coarse = _Quantized(matrix) if len(matrix) >= COARSE_ROWS else None
        return index

    def rows(self) -> dict[str, int]:
        """id → row, built once per matrix."""
        if getattr(self, "_rows", None) is None:
            self._rows = {node_id: row for row, node_id in enumerate(self.ids)}
        return self._rows

    def allowed(self, filters: SearchFilter, now: str) -> np.ndarray:
        """Rows the filter lets through: unset values pass, set ones must be allowed."""
        mask = np.ones(len(self.ids), dtype=bool)
        for name in ("status", "kind", "team"):
            wanted = getattr(filters, name)
            if wanted is not None and name in self.meta:
                values = self.meta[name]
                mask &= (values == "") | np.isin(values, list(wanted))
        if filters.not_expired and "expires_at" in self.meta:
            rows, expires = self._expiring()
            mask[rows[expires <= now]] = False
        return mask

    def _expiring(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows that have an expiry date, and their dates (few of all rows)."""
        if getattr(self, "_expiry", None) is None:
            expires = self.meta["expires_at"]
            rows = np.flatnonzero(expires != "")
            self._expiry = (rows, expires[rows])
        return self._expiry

    def mask(
        self, labels: Sequence[Label] | None, filters: SearchFilter | None, now: str
    ) -> np.ndarray | None:
        """The rows that the labels and filters let through (None: all). Comparing 100k
        strings per search cost as much as the candidate scan, and a server asks with the
        same few filters all day: the masks are kept per index (an index never changes)."""
        active = filters is not None and filters.active
        if not labels and not active:
            return None
        key = (tuple(labels or ()), filters.model_dump_json() if active else "")  # type: ignore[union-attr]
        masks: dict[tuple[Any, ...], np.ndarray] = self.__dict__.setdefault("_masks", {})
        mask = masks.get(key)
        if mask is None:
            mask = np.ones(len(self.ids), dtype=bool)
            if labels:
                mask &= np.isin(self.labels, [LABEL_CODES[label] for label in labels])
            if active:
                timeless = filters.model_copy(update={"not_expired": False})  # type: ignore[union-attr]
                if timeless.active:
                    mask &= self.allowed(timeless, now)
            if len(masks) >= MAX_MASKS:
                masks.clear()
            masks[key] = mask
        if active and filters.not_expired and "expires_at" in self.meta:  # type: ignore[union-attr]
            rows, expires = self._expiring()
            stale = rows[expires <= now]
            if len(stale):
                mask = mask.copy()
                mask[stale] = False
        return mask

    def top(
        self,
        vector: Sequence[float],
        k: int,
        labels: Sequence[Label] | None = None,
        filters: SearchFilter | None = None,
        now: str = "",
        exclude: np.ndarray | None = None,
    ) -> list[tuple[str, float]]:
        """(id, cosine) of the k nearest that pass the labels and filters, best first;
        `exclude`: rows left out (True = out)."""
        if not self.ids:
            return []
        query = np.asarray(vector, dtype=np.float32)
        if query.shape[0] != self.matrix.shape[1]:
            raise ValueError(
                f"query vector has {query.shape[0]} dimensions, the store holds "
                f"{self.matrix.shape[1]}: was the embedding model changed?"
            )
        mask = self.mask(labels, filters, now)
        if exclude is not None:
            mask = ~exclude if mask is None else mask & ~exclude
        if k <= 0:
            return []
        if self.coarse is not None:
            rows = self.coarse.candidates(query, 2 * _depth(k), mask)
            scores = self.matrix[rows] @ query
        else:
            rows = np.arange(len(self.ids))
            scores = self.matrix @ query
            if mask is not None:
                scores = np.where(mask, scores, -np.inf)
        k = min(k, len(scores))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[rows[i]], float(scores[i])) for i in top if np.isfinite(scores[i])]

    def top_views(
        self,
        vector: Sequence[float],
        k: int,
        views: Sequence[Sequence[Label] | None],
        filters: SearchFilter | None = None,
        now: str = "",
        exclude: np.ndarray | None = None,
    ) -> list[list[tuple[str, float]]]:
        """`top` for several label sets from one scan: an ask ranks chunks by their best
        sentence and by their own vector, and two binary scans cost twice one. The
        candidates of the union are scored exactly once; a view with fewer than k of them
        (the union's best were mostly other labels) gets a scan of its own."""
        if len(views) < 2 or self.coarse is None or k <= 0:
            return [self.top(vector, k, labels, filters, now, exclude) for labels in views]
        union = None if any(not v for v in views) else sorted({x for v in views for x in v})
        query = np.asarray(vector, dtype=np.float32)
        if query.shape[0] != self.matrix.shape[1]:
            return [self.top(vector, k, labels, filters, now, exclude) for labels in views]
        mask = self.mask(union, filters, now)
        if exclude is not None:
            mask = ~exclude if mask is None else mask & ~exclude
        rows = self.coarse.candidates(query, VIEW_POOL * len(views) * _depth(k), mask)
        scores = self.matrix[rows] @ query
        out = []
        for labels in views:
            if labels:
                wanted = np.isin(self.labels[rows], [LABEL_CODES[label] for label in labels])
            else:
                wanted = np.ones(len(rows), dtype=bool)
            # The view's best by the binary distances are all among the union's as soon as
            # the union's hold as many of its rows as a view's depth.
            if int(wanted.sum()) < _depth(k):  # too few: its own scan
                out.append(self.top(vector, k, labels, filters, now, exclude))
                continue
            view = np.where(wanted, scores, -np.inf)
            top = np.argpartition(-view, k - 1)[:k]
            top = top[np.argsort(-view[top], kind="stable")]
            out.append([(self.ids[rows[i]], float(view[i])) for i in top if np.isfinite(view[i])])
        return out


class DeltaIndex:
    """A VectorIndex as last loaded (the base) and the rows changed since: base rows removed
    or replaced are left out of its scans, added or replaced ones are scored in a small index
    of their own. Why: a live conversation adds a message and its vector every few seconds,
    and reloading every vector for each (150 MB of rows at 100k) would cost more than the
    search. Folded into a new base, in memory, once the changed rows pass a share of it."""

    def __init__(
        self,
        version: object,
        base: VectorIndex,
        dead: np.ndarray,
        changed: dict[str, StoredRow],
    ) -> None:
        self.version, self.base, self.dead, self.changed = version, base, dead, changed
        self.extra = VectorIndex.from_rows(version, changed)

    def with_vectors(
        self, version: object, rows: Mapping[str, StoredRow], removed: Iterable[str]
    ) -> VectorIndex | DeltaIndex:
        dead = self.dead.copy()
        changed = dict(self.changed)
        positions = self.base.rows()
        for node_id in [*rows, *removed]:
            row = positions.get(node_id)
            if row is not None:
                dead[row] = True
            changed.pop(node_id, None)
        changed.update(rows)
        alive = len(dead) - int(dead.sum())
        if len(changed) > max(COMPACT_MIN_ROWS, alive // COMPACT_SHARE):
            return self._compacted(version, dead, changed)
        return DeltaIndex(version, self.base, dead, changed)

    def with_changes(self, version: object, changed: Mapping[str, list[str]]) -> DeltaIndex:
        """Filterable fields replaced (after decisions), in the base and the changed rows."""
        rows = {
            i: (self.changed[i][0], self.changed[i][1], list(v))
            for i, v in changed.items()
            if i in self.changed
        }
        base = self.base.with_changes(version, changed)
        return DeltaIndex(version, base, self.dead, {**self.changed, **rows})

    def top(
        self,
        vector: Sequence[float],
        k: int,
        labels: Sequence[Label] | None = None,
        filters: SearchFilter | None = None,
        now: str = "",
    ) -> list[tuple[str, float]]:
        found = self.base.top(vector, k, labels, filters, now, exclude=self.dead)
        found += self.extra.top(vector, k, labels, filters, now)
        return sorted(found, key=lambda hit: -hit[1])[: max(k, 0)]

    def top_views(
        self,
        vector: Sequence[float],
        k: int,
        views: Sequence[Sequence[Label] | None],
        filters: SearchFilter | None = None,
        now: str = "",
    ) -> list[list[tuple[str, float]]]:
        base = self.base.top_views(vector, k, views, filters, now, exclude=self.dead)
        extra = [self.extra.top(vector, k, labels, filters, now) for labels in views]
        return [
            sorted(a + b, key=lambda hit: -hit[1])[: max(k, 0)]
            for a, b in zip(base, extra, strict=True)
        ]

    def _compacted(
        self, version: object, dead: np.ndarray, changed: dict[str, StoredRow]
    ) -> VectorIndex:
        base, keep = self.base, ~dead
        extra = DeltaIndex(version, base, dead, changed).extra
        ids = [i for i, alive in zip(base.ids, keep, strict=True) if alive] + extra.ids
        meta = {
            name: np.concatenate([base.meta[name][keep], extra.meta[name]]).astype(str)
            for name in base.meta
            if name in extra.meta
        }
        matrix = base.matrix[keep]
        if len(extra.ids):
            matrix = np.concatenate([matrix, extra.matrix]) if len(matrix) else extra.matrix
        labels = np.concatenate([base.labels[keep], extra.labels]).astype(np.int16)
        return VectorIndex.from_arrays(version, ids, labels, matrix, meta)


def _depth(k: int) -> int:
    return max(COARSE_DEPTH, DEPTH_PER_HIT * k)


class _Quantized:
    """The matrix at one bit per value (the sign of value - the column mean) in faiss'
    binary flat index, for picking candidates by Hamming distance. Centred, because the
    model's vectors share a large common component: uncentred signs lose more of the order
    (recall of the exact top 50 at 1,600 candidates, 100k rows: 0.995 against 0.998)."""

    def __init__(self, matrix: np.ndarray) -> None:
        import faiss

        faiss.omp_set_num_threads(1)  # one query at a time; the other core serves the rest
        self.centre = matrix.mean(axis=0).astype(np.float32)
        self.index = faiss.IndexBinaryFlat(matrix.shape[1])
        # Counting instead of a heap: picking thousands of candidates is then ~2x faster.
        self.index.use_heap = False
        self.index.add(self._codes(matrix))

    def _codes(self, vectors: np.ndarray) -> np.ndarray:
        return np.packbits(vectors - self.centre > 0, axis=-1)

    def candidates(self, query: np.ndarray, depth: int, mask: np.ndarray | None) -> np.ndarray:
        """Rows of the `depth` nearest by Hamming distance that `mask` lets through."""
        import faiss

        params = None
        if mask is not None:
            bitmap = np.packbits(mask, bitorder="little")
            params = faiss.SearchParameters(sel=faiss.IDSelectorBitmap(bitmap))
        depth = min(depth, self.index.ntotal)
        _, rows = self.index.search(self._codes(query.reshape(1, -1)), depth, params=params)
        found = rows[0]
        return found[found >= 0]


def query_terms(query: str) -> list[str]:
    return _query_terms(query)


class DocFreqCache:
    """Document frequencies of query terms, for choosing which terms a query keeps (never
    for scoring: FTS5's bm25 reads its own). Reading one from the FTS5 vocabulary reads the
    term's whole posting list: ~0.5 ms for a common term, 20 ms for a long question at 100k
    rows, more than the search itself. A known term's count is reused for up to `max_age_s`
    (it only decides whether a very common term is left out); a term not in the index is
    asked again after any write, so a new word is searchable at once."""

    def __init__(self, max_terms: int = 200_000, max_age_s: float = 300.0) -> None:
        self.max_terms, self.max_age_s = max_terms, max_age_s
        self._seen: dict[str, tuple[int, object, float]] = {}  # term -> (count, version, at)
        self._lock = threading.Lock()

    def get(
        self,
        terms: Sequence[str],
        version: object,
        read: Callable[[list[str]], Mapping[str, int]],
    ) -> dict[str, int]:
        now = time.monotonic()
        out: dict[str, int] = {}
        missing: list[str] = []
        for term in dict.fromkeys(terms):
            seen = self._seen.get(term)
            fresh = seen is not None and now - seen[2] <= self.max_age_s
            if fresh and (seen[0] > 0 or seen[1] == version):  # type: ignore[index]
                out[term] = seen[0]  # type: ignore[index]
            else:
                missing.append(term)
        if missing:
            counts = read(missing)
            with self._lock:
                if len(self._seen) + len(missing) > self.max_terms:
                    self._seen.clear()
                for term in missing:
                    out[term] = int(counts.get(term, 0))
                    self._seen[term] = (out[term], version, now)
        return out


def fts_match(terms: Sequence[str], doc_freq: Mapping[str, int], total_docs: int) -> str:
    """The FTS5 MATCH string: known terms, each quoted (no FTS5 syntax is ever interpreted),
    OR-ed; in a large index the very common ones are left out, keeping the rarest few."""
    known = sorted((t for t in terms if doc_freq.get(t)), key=lambda t: doc_freq[t])
    if total_docs >= MIN_DOCS_FOR_PRUNING:
        limit = COMMON_TERM_SHARE * total_docs
        known = [t for t in known if doc_freq[t] <= limit] or known[:MIN_TERMS]
        kept, postings = [], 0
        for term in known:  # the rarest first, while the postings to score stay bounded
            postings += doc_freq[term]
            if postings > MAX_POSTINGS and kept:
                break
            kept.append(term)
        known = kept
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in known)

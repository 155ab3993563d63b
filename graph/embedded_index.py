"""In-memory search helpers of the embedded store: the vector matrix and the FTS5 query.

Why a matrix scan: at 100k x 384 float32 one matrix-vector product is ~15 ms on this kind of
machine (memory bound) and exact; no approximate index to build, tune or keep in sync.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from graph.model import Label
from graph.store import FILTER_FIELDS, SearchFilter
from graph.text import query_terms as _query_terms

__all__ = ["COMMON_TERM_SHARE", "MIN_DOCS_FOR_PRUNING", "VectorIndex", "fts_match"]

LABEL_CODES = {label: code for code, label in enumerate(Label)}
# A term in more than this share of documents adds almost nothing to BM25 but makes FTS5
# score most of the index ("的", "i", "my"): leave it out of the query.
COMMON_TERM_SHARE = 0.05
MIN_DOCS_FOR_PRUNING = 2000
MIN_TERMS = 3


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

    def with_changes(self, version: object, changed: Mapping[str, list[str]]) -> VectorIndex:
        """The same vectors with some rows' filterable fields replaced (after decisions): no
        matrix reload. `changed` maps an id to its values in FILTER_FIELDS order."""
        clone = object.__new__(VectorIndex)
        clone.version, clone.ids, clone.labels, clone.matrix = (
            version,
            self.ids,
            self.labels,
            self.matrix,
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
            expires = self.meta["expires_at"]
            mask &= (expires == "") | (expires > now)
        return mask

    def top(
        self,
        vector: Sequence[float],
        k: int,
        labels: Sequence[Label] | None = None,
        filters: SearchFilter | None = None,
        now: str = "",
    ) -> list[tuple[str, float]]:
        """(id, cosine) of the k nearest that pass the labels and filters, best first."""
        if not self.ids:
            return []
        query = np.asarray(vector, dtype=np.float32)
        if query.shape[0] != self.matrix.shape[1]:
            raise ValueError(
                f"query vector has {query.shape[0]} dimensions, the store holds "
                f"{self.matrix.shape[1]}: was the embedding model changed?"
            )
        scores = self.matrix @ query
        if labels:
            allowed = np.isin(self.labels, [LABEL_CODES[label] for label in labels])
            scores = np.where(allowed, scores, -np.inf)
        if filters is not None and filters.active:
            scores = np.where(self.allowed(filters, now), scores, -np.inf)
        k = min(k, len(scores))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.ids[i], float(scores[i])) for i in top if np.isfinite(scores[i])]


def query_terms(query: str) -> list[str]:
    return _query_terms(query)


def fts_match(terms: Sequence[str], doc_freq: Mapping[str, int], total_docs: int) -> str:
    """The FTS5 MATCH string: known terms, each quoted (no FTS5 syntax is ever interpreted),
    OR-ed; in a large index the very common ones are left out, keeping the rarest few."""
    known = sorted((t for t in terms if doc_freq.get(t)), key=lambda t: doc_freq[t])
    if total_docs >= MIN_DOCS_FOR_PRUNING:
        limit = COMMON_TERM_SHARE * total_docs
        known = [t for t in known if doc_freq[t] <= limit] or known[:MIN_TERMS]
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in known)

"""The one storage interface. Every backend implements `GraphStore` and passes the same
contract suite (tests/contract); nothing outside graph/ knows which backend it talks to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import networkx as nx
from pydantic import BaseModel, Field

from graph.model import Label, Link, LinkType, Node

__all__ = [
    "GraphStore",
    "Hit",
    "Neighbour",
    "StoreStats",
    "StoreUnavailable",
    "WriteBatch",
    "WriteResult",
    "hit_from_record",
]


class StoreUnavailable(RuntimeError):
    """The store cannot be reached or opened; the message says which setting to check."""


class WriteBatch(BaseModel):
    """Everything one source contributes, written in one transaction.

    `replace_sources` are deleted first (with what hangs only on them), so a changed file
    swaps its old chunks for new ones atomically: readers see the old or the new, never half.
    """

    replace_sources: list[str] = Field(default_factory=list)
    nodes: list[Node] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)


class WriteResult(BaseModel):
    nodes_written: int = 0
    links_written: int = 0
    nodes_deleted: int = 0
    links_deleted: int = 0


class Hit(BaseModel):
    """A search result: the node's id, label, text, score and the file it came from."""

    id: str
    label: Label
    text: str
    score: float
    uri: str = ""
    title: str = ""
    source_id: str = ""


def hit_from_record(record: dict[str, Any], score: float) -> Hit:
    """A Hit from a node's flat record (both backends return records)."""
    return Hit(
        id=record["id"],
        label=Label(record["label"]),
        text=record.get("text") or record.get("name") or "",
        score=score,
        uri=record.get("uri") or "",
        title=record.get("title") or "",
        source_id=record.get("source_id") or "",
    )


class Neighbour(BaseModel):
    link: Link
    node: Node
    direction: Literal["out", "in"]


class StoreStats(BaseModel):
    nodes: dict[str, int] = Field(default_factory=dict)
    links: dict[str, int] = Field(default_factory=dict)

    @property
    def total_nodes(self) -> int:
        return sum(self.nodes.values())

    @property
    def total_links(self) -> int:
        return sum(self.links.values())


@runtime_checkable
class GraphStore(Protocol):
    """A knowledge graph store. Writes are idempotent: writing the same nodes and links again
    changes nothing and reports zero written."""

    def write(self, batch: WriteBatch) -> WriteResult:
        """Apply one batch atomically (delete `replace_sources`, then upsert nodes, links)."""
        ...

    def upsert_nodes(self, nodes: Sequence[Node]) -> int: ...

    def upsert_links(self, links: Sequence[Link]) -> int: ...

    def get_node(self, node_id: str) -> Node | None: ...

    def get_nodes(self, label: Label, limit: int = 1000) -> list[Node]: ...

    def neighbours(
        self,
        node_id: str,
        link_types: Sequence[LinkType] | None = None,
        direction: Literal["out", "in", "both"] = "both",
    ) -> list[Neighbour]: ...

    def delete_source(self, source_id: str) -> WriteResult:
        """Delete a source, the nodes it owns, its links, and nodes left orphaned by that
        (unless pinned)."""
        ...

    def source_hash(self, source_id: str) -> str | None:
        """The content hash stored for a source, to skip unchanged input."""
        ...

    def lexical_search(
        self, query: str, k: int = 10, labels: Sequence[Label] | None = None
    ) -> list[Hit]: ...

    def vector_search(
        self, vector: Sequence[float], k: int = 10, labels: Sequence[Label] | None = None
    ) -> list[Hit]: ...

    def stats(self) -> StoreStats: ...

    def projection(self, link_types: Sequence[LinkType] | None = None) -> nx.MultiDiGraph:
        """The graph (ids, labels, typed links with weights) as networkx, for algorithms."""
        ...

    def clear(self) -> None:
        """Delete everything (tests and `spiral demo --fresh`)."""
        ...

    def close(self) -> None: ...

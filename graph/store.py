"""The one storage interface. Every backend implements `GraphStore` and passes the same
contract suite (tests/contract); nothing outside graph/ knows which backend it talks to."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

import networkx as nx
from pydantic import BaseModel, Field, field_validator

from graph.changes import Conflict, Event, EventDraft, NotFound, Op, summary_event
from graph.context import HitContext
from graph.model import Label, Link, LinkType, Node

__all__ = [
    "FILTER_FIELDS",
    "Conflict",
    "GraphStore",
    "Hit",
    "Neighbour",
    "NodePage",
    "NodeQuery",
    "NotFound",
    "SearchFilter",
    "StoreBusy",
    "StoreStats",
    "StoreUnavailable",
    "WriteBatch",
    "WriteResult",
    "batch_event",
    "filter_values",
    "hit_from_record",
    "iter_events",
    "iter_nodes",
]

# Node fields both stores index for filtered queries and search filters.
FILTER_FIELDS = ("status", "kind", "owner", "team", "expires_at")


class StoreUnavailable(RuntimeError):
    """The store cannot be reached or opened; the message says which setting to check."""


class StoreBusy(RuntimeError):
    """Another writer held the store longer than the busy timeout; nothing was written."""


def _iso(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC) if value else None


def filter_values(record: dict[str, Any]) -> dict[str, str]:
    """The filterable fields of a flat node record, as the stores index them ('' = unset)."""
    return {name: str(record.get(name) or "") for name in FILTER_FIELDS}


class NodeQuery(BaseModel):
    """Nodes of one label with property filters, sorted, one page at a time (index-backed on
    both stores: no full scans)."""

    label: Label
    status: str | None = None
    kind: str | None = None
    owner: str | None = None
    team: str | None = None
    pinned: bool | None = None
    expires_before: datetime | None = None
    updated_since: datetime | None = None
    order_by: Literal["id", "updated_at", "expires_at"] = "id"
    descending: bool = False
    limit: int = Field(default=100, ge=1, le=10_000)
    cursor: str | None = None  # next_cursor of the previous page

    _utc = field_validator("expires_before", "updated_since")(_iso)

    def equalities(self) -> dict[str, str]:
        return {
            name: value
            for name in ("status", "kind", "owner", "team")
            if (value := getattr(self, name)) is not None
        }


class NodePage(BaseModel):
    nodes: list[Node]
    next_cursor: str | None = None


class SearchFilter(BaseModel):
    """Applied before ranking: a node is left out when it has a value for a filtered field
    that is not allowed. Nodes without the field (chunks, messages have no status or team)
    pass: unscoped material is shared."""

    status: list[str] | None = None
    kind: list[str] | None = None
    team: list[str] | None = None
    not_expired: bool = False

    @property
    def active(self) -> bool:
        return any(getattr(self, n) is not None for n in ("status", "kind", "team")) or (
            self.not_expired
        )


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


def batch_event(batch: WriteBatch, result: WriteResult, actor: str) -> EventDraft:
    """The one summary event of a write: per source for ingest ("source.write"), or a bulk
    "upsert" naming what it wrote. Not undoable: re-ingest or forget the source instead."""
    if batch.replace_sources:
        uris = [getattr(n, "uri", "") for n in batch.nodes if n.id in batch.replace_sources]
        after = {"uri": uris[0] if uris else "", **result.model_dump()}
        return summary_event(actor, "source.write", batch.replace_sources, after)
    ends = [end for link in batch.links for end in (link.src, link.dst)]
    ids = [n.id for n in batch.nodes] + ends
    return summary_event(actor, "upsert", list(dict.fromkeys(ids))[:1000], result.model_dump())


class Hit(BaseModel):
    """A search result: the node's id, label, text, score and the file it came from."""

    id: str
    label: Label
    text: str
    score: float
    uri: str = ""
    title: str = ""
    source_id: str = ""
    # A sentence hit names its chunk; search hands the chunk back with the best sentence
    # (`matched`: the line that matched, shown to people as why).
    parent: str = ""
    matched: str = ""


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
        parent=record.get("chunk_id") or "",
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

    # Whether a hybrid search runs the lexical search while the query is embedded (True) or
    # beside the vector search once the vector is known (graph.search.search_sides).
    lexical_beside_model: bool
    # How many asks a serving process makes against the store once it is ready, so that the
    # first employees' asks do not pay for the store's own warm-up (api.runtime).
    warm_up_asks: int

    def write(self, batch: WriteBatch, actor: str = "ingest") -> WriteResult:
        """Apply one batch atomically (delete `replace_sources`, then upsert nodes, links),
        and log one summary event for it in the same transaction. Decided fields of the nodes
        written are kept (overlaid on what the batch observed)."""
        ...

    def write_many(self, batches: Sequence[WriteBatch], actor: str = "ingest") -> list[WriteResult]:
        """Apply batches in order, each as `write` would (its own event; a later batch sees
        the earlier ones), and each whole or not at all. Both stores commit them together (a
        commit costs more than a small file's rows), so a ValueError leaves none written:
        write them one by one to find whose it was."""
        ...

    def upsert_nodes(self, nodes: Sequence[Node]) -> int: ...

    def upsert_links(self, links: Sequence[Link]) -> int: ...

    def get_node(self, node_id: str) -> Node | None: ...

    def get_observed(self, node_id: str) -> Node | None:
        """The node without people's decisions laid over it: what ingest merges with, so a
        decision is never written back as if it had been observed."""
        ...

    def get_observed_many(self, node_ids: Sequence[str]) -> dict[str, Node]:
        """`get_observed` of each node, in one call (one round trip on Neo4j); ids that do
        not exist are left out."""
        ...

    def get_nodes(self, label: Label, limit: int = 1000) -> list[Node]: ...

    def hit_contexts(self, ids: Sequence[str]) -> dict[str, HitContext]:
        """What suggestions need about each hit (graph.context), for all hits in one call;
        ids that do not exist are left out."""
        ...

    def neighbours(
        self,
        node_id: str,
        link_types: Sequence[LinkType] | None = None,
        direction: Literal["out", "in", "both"] = "both",
        limit: int | None = None,
        labels: Sequence[Label] | None = None,
    ) -> list[Neighbour]:
        """Linked nodes, out-links then in-links, each side in (link type, node id) order;
        with `limit`, at most that many per side (a hub's thousands are never all read); with
        `labels`, only nodes of those labels (filtered before the limit)."""
        ...

    def neighbours_of(
        self,
        node_ids: Sequence[str],
        link_types: Sequence[LinkType] | None = None,
        direction: Literal["out", "in", "both"] = "both",
    ) -> dict[str, list[Neighbour]]:
        """`neighbours` of each node (no limit: for a few nodes of modest degree, e.g. a
        conversation's messages), in one call: one round trip on Neo4j, not one per node.
        Every id is a key; one that does not exist has no neighbours."""
        ...

    def delete_source(self, source_id: str, actor: str = "ingest") -> WriteResult:
        """Delete a source, the nodes it owns, its links, and nodes left orphaned by that
        (unless pinned or decided on); decisions are kept for when it comes back."""
        ...

    def source_hash(self, source_id: str) -> str | None:
        """The content hash stored for a source, to skip unchanged input."""
        ...

    def source_hashes(self, source_ids: Sequence[str]) -> dict[str, str]:
        """`source_hash` of several sources at once (those stored with one), for an import
        of many files: on Neo4j one round trip, not one per file."""
        ...

    def lexical_search(
        self,
        query: str,
        k: int = 10,
        labels: Sequence[Label] | None = None,
        filters: SearchFilter | None = None,
    ) -> list[Hit]: ...

    def vector_search(
        self,
        vector: Sequence[float],
        k: int = 10,
        labels: Sequence[Label] | None = None,
        filters: SearchFilter | None = None,
    ) -> list[Hit]: ...

    def vector_search_views(
        self,
        vector: Sequence[float],
        k: int,
        views: Sequence[Sequence[Label] | None],
        filters: SearchFilter | None = None,
    ) -> list[list[Hit]]:
        """`vector_search` once per label set in `views`, in one go where the store can
        (one scan, one query)."""
        ...

    def query_nodes(self, query: NodeQuery) -> NodePage:
        """Filtered, sorted, paged nodes (without embeddings)."""
        ...

    def apply(self, ops: Sequence[Op], actor: str, action: str, reason: str = "") -> Event:
        """One unit of work: the operations and their event commit together or not at all.
        Raises Conflict (stale version), NotFound, or ValueError (invalid change)."""
        ...

    def log(self, actor: str, action: str, after: dict[str, Any], reason: str = "") -> Event:
        """Append an event that changes no knowledge: a pipeline's run marker (e.g. how far
        incremental mining has read the log), not undoable."""
        ...

    def undo(self, seq: int, actor: str, reason: str = "") -> Event:
        """Append the inverse of event `seq`; Conflict when later changes stand in the way."""
        ...

    def events(
        self,
        since: int = 0,
        limit: int = 1000,
        actions: Sequence[str] | None = None,
        node_id: str | None = None,
    ) -> list[Event]:
        """The log after sequence number `since`, oldest first (the change feed)."""
        ...

    def stats(self) -> StoreStats: ...

    def projection(self, link_types: Sequence[LinkType] | None = None) -> nx.MultiDiGraph:
        """The graph (ids, labels, typed links with weights) as networkx, for algorithms."""
        ...

    def clear(self) -> None:
        """Delete everything (tests and `spiral demo --fresh`)."""
        ...

    def tidy(self) -> None:
        """After a large write (a bulk ingest): fold what the full-text index wrote in many
        small pieces, so a search reads fewer of them. Changes no data; may take seconds."""
        ...

    def close(self) -> None: ...


def iter_nodes(store: GraphStore, query: NodeQuery) -> Iterator[Node]:
    """Every node a query matches, one index-backed page at a time."""
    while True:
        page = store.query_nodes(query)
        yield from page.nodes
        if not page.next_cursor:
            return
        query = query.model_copy(update={"cursor": page.next_cursor})


def last_cursor(store: GraphStore, run_action: str) -> int:
    """The `cursor` the last event of a run marker action logged (0 before the first run):
    where an incremental job that reads the log picks up."""
    cursor = 0
    for run in iter_events(store, actions=[run_action]):
        cursor = int(run.after.get("cursor", 0))
    return cursor


def iter_events(
    store: GraphStore,
    since: int = 0,
    actions: Sequence[str] | None = None,
    node_id: str | None = None,
) -> Iterator[Event]:
    """The log after `since`, oldest first, read one page at a time."""
    while batch := store.events(since=since, limit=1000, actions=actions, node_id=node_id):
        yield from batch
        since = batch[-1].seq

"""The Neo4j backend: native full-text (cjk analyzer) and vector indexes, batched writes.

Why this shape: every write is a handful of constant-shape UNWIND queries (one per label or
relationship type, chunks of at most 5000 rows) inside one managed transaction, so a batch
is atomic and fast; each node and link carries a `_digest` of its record, so re-writing the
same content changes nothing and reports zero. All Cypher lives in `graph.cypher`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import networkx as nx
from neo4j import Driver, GraphDatabase, ManagedTransaction, RoutingControl
from neo4j.exceptions import AuthError, DriverError, Neo4jError

from graph import cypher
from graph.model import Label, Link, LinkType, Node, node_from_record, record_digest
from graph.store import (
    Hit,
    Neighbour,
    StoreStats,
    StoreUnavailable,
    WriteBatch,
    WriteResult,
    hit_from_record,
)
from graph.text import search_tokens, segment_for_index

__all__ = ["Neo4jStore"]

_CHUNK = 5000  # rows per UNWIND query
_MAX_TERMS = 500  # stay well under Lucene's 1024-clause limit
_HELPER_PROPS = ("search_text", "_digest")

LinkKey = tuple[str, str, str, str]


def _chunks(rows: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _node_row(node: Node) -> dict[str, Any]:
    """Node properties as stored: the flat record plus the indexed text and the digest."""
    record = node.to_record()
    text = node.search_text()
    props = {**record, "_digest": record_digest(record)}
    if text.strip():
        props["search_text"] = segment_for_index(text)
    return {"id": node.id, "searchable": bool(text.strip()), "props": props}


def _link_row(link: Link) -> dict[str, Any]:
    record = link.to_record()
    props = {**record, "_digest": record_digest(record)}
    return {"src": link.src, "dst": link.dst, "source_id": link.source_id, "props": props}


def _node(props: dict[str, Any]) -> Node:
    return node_from_record({k: v for k, v in props.items() if k not in _HELPER_PROPS})


def _lucene_query(query: str) -> str:
    """Each search token as a quoted, escaped phrase, OR-ed: never parsed as Lucene syntax."""
    tokens = list(dict.fromkeys(search_tokens(query)))[:_MAX_TERMS]
    quoted = ('"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"' for t in tokens)
    return " OR ".join(quoted)


def _label_values(labels: Sequence[Label] | None) -> list[str] | None:
    return [Label(label).value for label in labels] if labels else None


@dataclass
class _Deletion:
    """What a deletion removed, and the far ends whose links went with it."""

    nodes: int = 0
    links: int = 0
    touched: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)


class Neo4jStore:
    """GraphStore on a Neo4j 5 server (labels `:Node:<Label>`, plus `:Searchable`)."""

    def __init__(self, driver: Driver, database: str = "neo4j") -> None:
        self._driver = driver
        self._database = database
        self._closed = False

    @classmethod
    def connect(
        cls, uri: str, auth: tuple[str, str] | None = None, database: str = "neo4j"
    ) -> Neo4jStore:
        """Open a driver, check the server answers, and create the schema if missing."""
        try:
            driver = GraphDatabase.driver(uri, auth=auth, connection_timeout=10.0)
        except (DriverError, ValueError) as exc:
            raise StoreUnavailable(f"invalid Neo4j URI {uri!r} (NEO4J_URI): {exc}") from exc
        try:
            driver.verify_connectivity()
            store = cls(driver, database)
            store._ensure_schema()
        except AuthError as exc:
            driver.close()
            raise StoreUnavailable(
                f"Neo4j at {uri} (NEO4J_URI) refused the credentials "
                f"(NEO4J_USER / NEO4J_PASSWORD): {exc.message}"
            ) from exc
        except (DriverError, Neo4jError, OSError) as exc:
            driver.close()
            reason = " ".join(str(exc).split())
            raise StoreUnavailable(f"cannot reach Neo4j at {uri} (NEO4J_URI): {reason}") from exc
        return store

    # -- plumbing -----------------------------------------------------------------------

    def _run(self, query: str, /, write_: bool = False, **params: Any) -> list[dict[str, Any]]:
        """One auto-retried transaction with one query; records as plain dicts."""
        records, _, _ = self._driver.execute_query(
            query,
            params,
            database_=self._database,
            routing_=RoutingControl.WRITE if write_ else RoutingControl.READ,
        )
        return [record.data() for record in records]

    def _write_tx(self, work: Any) -> Any:
        """Run `work(tx)` in one managed write transaction (rolled back if it raises)."""
        with self._driver.session(database=self._database) as session:
            return session.execute_write(work)

    def _ensure_schema(self) -> None:
        existing = {row["name"] for row in self._run(cypher.SHOW_SCHEMA_NAMES)}
        missing = [stmt for name, stmt in cypher.SCHEMA.items() if name not in existing]
        for statement in missing:
            self._run(statement, write_=True)
        if missing:
            self._run(cypher.AWAIT_INDEXES)

    def _vector_dimensions(self) -> int | None:
        rows = self._run(cypher.SHOW_VECTOR_INDEX, name=cypher.VECTOR_INDEX)
        return int(rows[0]["dimensions"]) if rows else None

    def _ensure_vector_index(self, nodes: Sequence[Node]) -> None:
        """Create the vector index on the first embeddings seen; refuse a different size.

        Schema changes cannot share a transaction with data, so this runs before the write.
        """
        dims = {len(n.embedding) for n in nodes if n.embedding}
        if not dims:
            return
        if len(dims) > 1:
            raise ValueError(f"embeddings in one write differ in size: {sorted(dims)}")
        (dim,) = dims
        existing = self._vector_dimensions()
        if existing is None:
            self._run(cypher.CREATE_VECTOR_INDEX, write_=True, dimensions=dim)
            self._run(cypher.AWAIT_INDEXES)
            existing = self._vector_dimensions()
        if existing != dim:
            raise ValueError(
                f"the Neo4j vector index {cypher.VECTOR_INDEX!r} holds {existing}-dimensional "
                f"embeddings but this write has {dim}: was the embedding model changed? "
                "Clear the store (or re-embed) before switching models."
            )

    # -- writes -------------------------------------------------------------------------

    def write(self, batch: WriteBatch) -> WriteResult:
        """Replace sources by difference: only what the batch no longer has is deleted and
        only what changed is written, so the same batch twice writes nothing."""
        self._ensure_vector_index(batch.nodes)
        node_rows = [_node_row(n) for n in batch.nodes]
        return self._write_tx(lambda tx: self._write_batch(tx, batch, node_rows))

    def _write_batch(
        self, tx: ManagedTransaction, batch: WriteBatch, node_rows: list[dict[str, Any]]
    ) -> WriteResult:
        keep_nodes = {n.id for n in batch.nodes}
        gone = _Deletion()
        if batch.replace_sources:
            keep_links = {link.key for link in batch.links}
            gone = self._delete_sources(tx, batch.replace_sources, keep_nodes, keep_links)
        written = self._upsert_node_rows(tx, batch.nodes, node_rows)
        linked = self._upsert_links(tx, batch.links)
        orphans = self._delete_orphans(tx, gone.touched - gone.removed - keep_nodes)
        return WriteResult(
            nodes_written=written,
            links_written=linked,
            nodes_deleted=gone.nodes + orphans,
            links_deleted=gone.links,
        )

    def upsert_nodes(self, nodes: Sequence[Node]) -> int:
        self._ensure_vector_index(nodes)
        rows = [_node_row(n) for n in nodes]
        return self._write_tx(lambda tx: self._upsert_node_rows(tx, nodes, rows))

    def upsert_links(self, links: Sequence[Link]) -> int:
        return self._write_tx(lambda tx: self._upsert_links(tx, links))

    def delete_source(self, source_id: str) -> WriteResult:
        def work(tx: ManagedTransaction) -> WriteResult:
            gone = self._delete_sources(tx, [source_id], set(), set())
            orphans = self._delete_orphans(tx, gone.touched - gone.removed)
            return WriteResult(nodes_deleted=gone.nodes + orphans, links_deleted=gone.links)

        return self._write_tx(work)

    @staticmethod
    def _upsert_node_rows(
        tx: ManagedTransaction, nodes: Sequence[Node], rows: list[dict[str, Any]]
    ) -> int:
        by_label: dict[Label, dict[str, dict[str, Any]]] = defaultdict(dict)
        for node, row in zip(nodes, rows, strict=True):
            by_label[node.label][node.id] = row  # last write of an id in one batch wins
        written = 0
        for label, by_id in by_label.items():
            for part in _chunks(list(by_id.values())):
                written += tx.run(cypher.UPSERT_NODES[label], rows=part).single(strict=True)[0]
        return written

    @staticmethod
    def _upsert_links(tx: ManagedTransaction, links: Sequence[Link]) -> int:
        if not links:
            return 0
        ends = sorted({end for link in links for end in (link.src, link.dst)})
        missing = [m for part in _chunks(ends) for m in _missing(tx, part)]
        if missing:
            shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise ValueError(f"links point at nodes that do not exist: {shown}")
        by_type: dict[LinkType, dict[LinkKey, dict[str, Any]]] = defaultdict(dict)
        for link in links:
            by_type[link.type][link.key] = _link_row(link)
        written = 0
        for link_type, by_key in by_type.items():
            for part in _chunks(list(by_key.values())):
                written += tx.run(cypher.UPSERT_LINKS[link_type], rows=part).single(strict=True)[0]
        return written

    @staticmethod
    def _delete_sources(
        tx: ManagedTransaction, sources: Sequence[str], keep_nodes: set[str], keep_links: set[LinkKey]
    ) -> _Deletion:
        """Delete the sources' links and owned nodes, except what is kept (a re-write)."""
        gone = _Deletion()
        stale = []
        for row in tx.run(cypher.SOURCE_LINKS, sources=list(sources)).data():
            if (row["src"], row["type"], row["dst"], row["source_id"]) not in keep_links:
                stale.append(row["eid"])
                gone.touched.update((row["src"], row["dst"]))
        for part in _chunks(stale):
            gone.links += tx.run(cypher.DELETE_LINKS, eids=part).single(strict=True)[0]
        owned = [r["id"] for r in tx.run(cypher.OWNED_NODES, sources=list(sources)).data()]
        doomed = [node_id for node_id in owned if node_id not in keep_nodes]
        for part in _chunks(doomed):
            row = tx.run(cypher.DETACH_DELETE_NODES, ids=part).single(strict=True)
            gone.nodes += row["nodes"]
            gone.links += row["links"]
            gone.touched.update(row["touched"])
        gone.removed.update(doomed)
        return gone

    @staticmethod
    def _delete_orphans(tx: ManagedTransaction, candidates: Iterable[str]) -> int:
        ids = sorted(candidates)
        return sum(
            tx.run(cypher.DELETE_ORPHANS, ids=part).single(strict=True)[0] for part in _chunks(ids)
        )

    # -- reads --------------------------------------------------------------------------

    def get_node(self, node_id: str) -> Node | None:
        rows = self._run(cypher.GET_NODE, id=node_id)
        return _node(rows[0]["props"]) if rows else None

    def get_nodes(self, label: Label, limit: int = 1000) -> list[Node]:
        rows = self._run(cypher.GET_NODES[Label(label)], limit=limit)
        return [_node(row["props"]) for row in rows]

    def neighbours(
        self,
        node_id: str,
        link_types: Sequence[LinkType] | None = None,
        direction: Literal["out", "in", "both"] = "both",
    ) -> list[Neighbour]:
        types = [LinkType(t).value for t in link_types] if link_types else None
        sides: list[tuple[Literal["out", "in"], str]] = []
        if direction in ("out", "both"):
            sides.append(("out", cypher.NEIGHBOURS_OUT))
        if direction in ("in", "both"):
            sides.append(("in", cypher.NEIGHBOURS_IN))
        result = []
        for side, query in sides:
            for row in self._run(query, id=node_id, types=types):
                link = Link.from_record(row["src"], row["type"], row["dst"], row["link"])
                result.append(Neighbour(link=link, node=_node(row["node"]), direction=side))
        return result

    def source_hash(self, source_id: str) -> str | None:
        rows = self._run(cypher.SOURCE_HASH, id=source_id)
        return rows[0]["hash"] if rows else None

    def lexical_search(
        self, query: str, k: int = 10, labels: Sequence[Label] | None = None
    ) -> list[Hit]:
        lucene = _lucene_query(query)
        if not lucene or k <= 0:
            return []
        wanted = _label_values(labels)
        # With a label filter the index cannot cut at k, so let Cypher's LIMIT do it.
        options = {} if wanted else {"limit": k}
        rows = self._run(cypher.LEXICAL_SEARCH, query=lucene, options=options, labels=wanted, k=k)
        return [hit_from_record(row["record"], row["score"]) for row in rows]

    def vector_search(
        self, vector: Sequence[float], k: int = 10, labels: Sequence[Label] | None = None
    ) -> list[Hit]:
        dimensions = self._vector_dimensions()
        if dimensions is None or k <= 0:
            return []
        if len(vector) != dimensions:
            raise ValueError(
                f"query vector has {len(vector)} dimensions, the store holds {dimensions}: "
                "was the embedding model changed?"
            )
        wanted = _label_values(labels)
        candidates = max(k * 10, 100) if wanted else k
        rows = self._run(
            cypher.VECTOR_SEARCH,
            candidates=candidates,
            vector=[float(x) for x in vector],
            labels=wanted,
            k=k,
        )
        return [hit_from_record(row["record"], row["score"]) for row in rows]

    def stats(self) -> StoreStats:
        nodes = {r["name"]: r["count"] for r in self._run(cypher.COUNT_NODES) if r["count"]}
        links = {r["name"]: r["count"] for r in self._run(cypher.COUNT_LINKS) if r["count"]}
        return StoreStats(nodes=nodes, links=links)

    def projection(self, link_types: Sequence[LinkType] | None = None) -> nx.MultiDiGraph:
        graph = nx.MultiDiGraph()
        for row in self._run(cypher.PROJECTION_NODES):
            graph.add_node(row["id"], label=row["label"])
        types = [LinkType(t).value for t in link_types] if link_types else None
        for row in self._run(cypher.PROJECTION_LINKS, types=types):
            weight = 1.0 if row["weight"] is None else row["weight"]
            graph.add_edge(row["src"], row["dst"], key=row["type"], type=row["type"], weight=weight)
        return graph

    def clear(self) -> None:
        """Delete every node, and the vector index (its size belongs to the old model)."""
        with self._driver.session(database=self._database) as session:
            session.run(cypher.DELETE_ALL_NODES).consume()
        self._run(cypher.DROP_VECTOR_INDEX, write_=True)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._driver.close()


def _missing(tx: ManagedTransaction, ids: Sequence[str]) -> list[str]:
    return list(tx.run(cypher.MISSING_IDS, ids=list(ids)).single(strict=True)["missing"])

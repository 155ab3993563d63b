"""The Neo4j backend: native full-text (cjk analyzer) and vector indexes, batched writes.

Why this shape: every write is a handful of constant-shape UNWIND queries (one per label or
relationship type, chunks of at most 5000 rows) inside one managed transaction, so a batch
is atomic and fast; each node and link carries a `_digest` of its record, so re-writing the
same content changes nothing and reports zero. All Cypher lives in `graph.cypher`.

Write speed (benchmarks/neo4j_write_bench.py, ingest's own source graphs): per source, one
transaction of about a dozen round trips (the source's old contents, decisions, one UNWIND
per label and per link type, the event) and a commit. Two things made it faster:
- write statements keep their first plan (`CYPHER replan=skip`, see graph.cypher): a graph
  growing from empty had each re-planned as its counts drifted, up to a second each on a busy
  box, and the source-contents query (a UNION over every link type) most of all;
- the parameter rows (records, digests, jieba index terms: the client's CPU) are built on a
  helper thread while the transaction waits on the server, label by label, links last.
Tried and not kept: `db.create.setNodeVectorProperty` in the same UNWIND (float32 storage):
more server CPU than a plain `SET n.embedding`, not less.

The limit is the server's CPU per node and link, none of which batching removes: a unique
index seek (MERGE on :Node(id)) and its lock, the record and property writes, label changes,
for each link two locking seeks, an Expand(Into) to find an existing one and the relationship
chain updates at both ends, and at commit the index updates: the range indexes, the full-text
(Lucene, cjk analyzer) index of every searchable node, and the HNSW insert of every embedding
(a graph search over the vectors already there for each new one; with the vectors themselves,
the largest single part). Measured on ingest's graphs: ~0.6 ms of server CPU per node+link
(0.86 before), and one transaction runs on one server thread, so one writer tops out near
1.6k nodes+links/s per core of that speed whatever the client sends; 10k/s would take about
six sources written at once on a server with cores to spare. Sources are not written in
parallel transactions: they share entities (MERGE locks them: waits and deadlock retries),
and the event counter serialises commits by design.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import threading
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import networkx as nx
from neo4j import (
    READ_ACCESS,
    Driver,
    GraphDatabase,
    ManagedTransaction,
    NotificationDisabledClassification,
    Record,
    RoutingControl,
)
from neo4j.exceptions import AuthError, ClientError, DriverError, Neo4jError

from graph import cypher
from graph.changes import (
    CreateNode,
    Event,
    EventDraft,
    LinkKey,
    NodeState,
    Observe,
    Op,
    StoredEvent,
    apply_ops,
    decode_cursor,
    encode_cursor,
    now_iso,
    overlay,
    summary_event,
    undo_event,
)
from graph.context import HitContext
from graph.model import (
    KnowledgeItem,
    Label,
    Link,
    LinkType,
    Message,
    Node,
    node_from_record,
    record_digest,
)
from graph.store import (
    Hit,
    Neighbour,
    NodePage,
    NodeQuery,
    SearchFilter,
    StoreStats,
    StoreUnavailable,
    WriteBatch,
    WriteResult,
    batch_event,
    hit_from_record,
)
from graph.text import INDEX_TERMS_VERSION, query_terms

__all__ = ["Neo4jStore"]

_CHUNK = 5000  # rows per UNWIND query
_CANDIDATE_FACTOR = 3  # candidates per hit asked for, when filtering
_MAX_CANDIDATES = 10_000  # the widest a filtered vector search looks
# A view short of hits among the union's: its own query asks for margin x what its share of
# the union says k of its hits need, at most _VIEW_CANDIDATES at first.
_VIEW_MARGIN = 1.5
_VIEW_CANDIDATES = 2400
_OVERFETCH = 4  # a filtered lexical search over several labels reads k * this first
_READ_TRIES = 3  # a read is tried again after a retryable error (a dropped connection)
_READ_BACKOFF = 0.05  # seconds before the second try, doubled before each next
_MAX_TERMS = 500  # stay well under Lucene's 1024-clause limit
_HELPER_PROPS = ("search_text", "_digest")
_STATE_PROPS = (*_HELPER_PROPS, "embedding", "version", "updated_at")

# The optional Rust packer (package neo4j-rust-ext) makes sending float lists cheap.
_RUST_PACKER = importlib.util.find_spec("neo4j._rust") is not None

T = TypeVar("T")
_Rows = dict[Label, "Future[list[dict[str, Any]]]"]
_LinkRows = dict[LinkType, list[dict[str, Any]]]
_Prepared = tuple[WriteBatch, _Rows, "Future[_LinkRows]"]

# Builds parameter rows (pure Python) while the writing thread waits on the server.
_PREP = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spiral-neo4j-prep")
# Runs a read's independent part (chunks' vector view) on the server's other core while the
# caller runs the rest: the views took 17 -> 13 ms p50 at 100k.
_BESIDE = ThreadPoolExecutor(max_workers=4, thread_name_prefix="spiral-neo4j-read")


class _Quiet(list):  # type: ignore[type-arg]
    """A query parameter (rows, ids, a vector) that the driver does not spell out. Before
    each query it formats the parameters for its debug log (`" ".join(map(repr, fields))` in
    `Bolt5x0.run`) whether or not debug logging is on: in an import of 994 chat files that
    was 3.4 s of the writer thread's CPU, with the GIL held, most of it the vectors' floats.
    Packed as the list it is."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} values>"


def _chunks(rows: Sequence[Any], size: int = _CHUNK) -> Iterator[_Quiet]:
    for start in range(0, len(rows), size):
        yield _Quiet(rows[start : start + size])


def _vector_fields(node_id: str, embedding: Sequence[float] | None) -> dict[str, Any]:
    """The embedding as sent (see cypher.UPSERT_NODES).

    Without the Rust packer, a list of floats is packed value by value in Python (several
    times slower than formatting it), so it travels as exact hex floats in one string.
    """
    if not embedding:
        return {"vector": None, "vector_text": None}
    values = array("d", embedding)
    if not all(map(math.isfinite, values)):
        raise ValueError(f"embedding of node {node_id!r} has NaN or infinite values")
    return {
        "vector": values.tolist() if _RUST_PACKER else None,
        "vector_text": None if _RUST_PACKER else " ".join(map(float.hex, values)),
    }


def _node_row(node: Node) -> dict[str, Any]:
    """Node properties as stored: the flat record plus the indexed text and the digest."""
    props = node.to_record()
    embedding = props.pop("embedding", None)
    vector = _vector_fields(node.id, embedding)
    props["_digest"] = record_digest({**props, "embedding": embedding})
    terms = node.index_text()
    if terms:
        props["search_text"] = terms
    searchable = bool(node.search_text().strip())
    return {"id": node.id, "searchable": searchable, "props": props, **vector}


def _overlay(row: dict[str, Any], decided: dict[str, Any]) -> dict[str, Any]:
    """A node row with people's decisions laid over what ingest observed."""
    props, observed = overlay(
        {k: v for k, v in row["props"].items() if k != "search_text"}, decided
    )
    record = {k: v for k, v in props.items() if k not in _HELPER_PROPS}
    node = node_from_record(record)
    terms = node.index_text()
    if terms:
        props["search_text"] = terms
    searchable = bool(node.search_text().strip())
    return {**row, "props": props, "searchable": searchable, "observed": observed}


def _overlaid(
    rows: list[dict[str, Any]], decided: dict[str, dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows with the decisions about them laid over, and the observed values they hide
    (rows for cypher.SET_OBSERVED)."""
    if not decided:
        return rows, []
    rows = [_overlay(row, decided[row["id"]]) if row["id"] in decided else row for row in rows]
    shadows = [
        {"id": row["id"], "observed": json.dumps(row["observed"], ensure_ascii=False)}
        for row in rows
        if "observed" in row
    ]
    return rows, shadows


def _rounds(
    rows: list[dict[str, Any]], written: list[int]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Node rows of several batches as two statements' rows, for one statement must not
    hold an id twice (its MERGEs all run before its digest checks: both rows would count as
    written). First, each id's first row, which the server compares with the store. Then,
    for an id that later batches write again, its last row, with `bump`, the number of those
    rows that changed it: each differs from the row before it, and counts for its batch in
    `written` here, as the server would have counted it in order."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_id.setdefault(row["id"], []).append(row)
    first: list[dict[str, Any]] = []
    again: list[dict[str, Any]] = []
    for same in by_id.values():
        first.append(same[0])
        bump = 0
        for before, row in itertools.pairwise(same):
            if row["props"]["_digest"] != before["props"]["_digest"]:
                written[row["at"]] += 1
                bump += 1
        if bump:
            again.append({**same[-1], "bump": bump})
    return first, again


def _independent(batches: Sequence[WriteBatch]) -> bool:
    """Whether writing the batches at once is writing them in order: no batch writes a node
    or a link of a source that another replaces (in order, the later one's replacing would
    see it), no id is written under two labels (in order, the last label wins), no link
    needs a node that only a later batch writes (in order, it would fail), and no link is in
    two batches (one statement must not hold it twice: see `_rounds`)."""
    owner: dict[str, int] = {}
    for i, batch in enumerate(batches):
        for source in batch.replace_sources:
            if owner.setdefault(source, i) != i:
                return False
    labels: dict[str, Label] = {}
    first: dict[str, int] = {}
    keys: set[LinkKey] = set()
    for i, batch in enumerate(batches):
        for node in batch.nodes:
            first.setdefault(node.id, i)
            if labels.setdefault(node.id, node.label) is not node.label:
                return False
    for i, batch in enumerate(batches):
        for node in batch.nodes:
            if owner.get(node.id, i) != i or owner.get(getattr(node, "source_id", ""), i) != i:
                return False
        mine = {link.key for link in batch.links}
        if keys & mine:
            return False
        keys |= mine
        for link in batch.links:
            if owner.get(link.source_id, i) != i:
                return False
            if first.get(link.src, i) > i or first.get(link.dst, i) > i:
                return False
    return True


def _event_params(draft: EventDraft) -> dict[str, Any]:
    """An event's properties as cypher.APPEND_EVENT(S) take them."""
    return {
        "at": draft.at,
        "actor": draft.actor,
        "action": draft.action,
        "ids": draft.ids,
        "before": _dumps(draft.before),
        "after": _dumps(draft.after),
        "reason": draft.reason,
        "states": _dumps(draft.states) if draft.states is not None else None,
    }


def _node_rows(nodes: Sequence[Node]) -> dict[Label, list[dict[str, Any]]]:
    """Rows grouped by label (one constant-shape query each)."""
    by_label: dict[Label, dict[str, dict[str, Any]]] = defaultdict(dict)
    for node in nodes:
        by_label[node.label][node.id] = _node_row(node)  # the last of an id wins
    return {label: list(rows.values()) for label, rows in by_label.items()}


def _prepare_node_rows(nodes: Sequence[Node]) -> _Rows:
    """Each label's rows, built on the helper thread in the order they are sent (labels in
    order of first appearance, as before): the server writes one label while the next is
    prepared."""
    by_label: dict[Label, dict[str, Node]] = defaultdict(dict)
    for node in nodes:
        by_label[node.label][node.id] = node  # the last of an id wins
    return {
        label: _PREP.submit(lambda group=group: [_node_row(n) for n in group.values()])
        for label, group in by_label.items()
    }


def _link_rows(links: Sequence[Link]) -> _LinkRows:
    by_type: dict[LinkType, dict[LinkKey, dict[str, Any]]] = defaultdict(dict)
    for link in links:
        by_type[link.type][link.key] = _link_row(link)  # last one of a key wins
    return {link_type: list(by_key.values()) for link_type, by_key in by_type.items()}


def _link_row(link: Link) -> dict[str, Any]:
    record = link.to_record()
    props = {**record, "_digest": record_digest(record)}
    return {"src": link.src, "dst": link.dst, "source_id": link.source_id, "props": props}


def _node(props: dict[str, Any]) -> Node:
    return node_from_record({k: v for k, v in props.items() if k not in _HELPER_PROPS})


def _lucene_query(query: str) -> str:
    """Each search token as a quoted, escaped phrase, OR-ed: never parsed as Lucene syntax."""
    tokens = query_terms(query)[:_MAX_TERMS]
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

    # The server's lexical query, and reading its answer, took the cores the query's model
    # needs (the model ran 11 ms in an ask against 5 alone); beside the vector search, the
    # longer of the two here, both queries run on the server while the client waits: ask p50
    # 54 -> 43 ms at 100k (benchmarks/assist_latency.py).
    lexical_beside_model = False
    # A just-started server compiles its hot code (the JVM's JIT) over its first few hundred
    # queries, on the cores the queries need: ask p50 47.5 ms over the first 100 asks, 29 after
    # 300 (benchmarks/README.md, stop 30). `spiral serve` makes these asks in the background.
    warm_up_asks = 300

    def __init__(self, driver: Driver, database: str = "neo4j", uri: str = "") -> None:
        self.uri = uri
        self._driver = driver
        self._database = database
        self._closed = False
        # Size of the vector index as last seen; saves searches a round trip.
        self._dimensions: int | None = None
        # Whether chunks' own vector index (cypher.CHUNK_VECTOR_INDEX) is online beside it.
        self._chunk_index = False
        # Write transactions committed here, and how many of them the full-text index (which
        # is eventually consistent) was last seen to hold: a search waits for the rest, so
        # it finds what this process just wrote. Starts behind: another process may have.
        self._commits = 1
        self._indexed = 0
        self._commits_lock = threading.Lock()  # writers on several threads

    @classmethod
    def connect(
        cls, uri: str, auth: tuple[str, str] | None = None, database: str = "neo4j"
    ) -> Neo4jStore:
        """Open a driver, check the server answers, and create the schema if missing."""
        try:
            driver = GraphDatabase.driver(
                uri,
                auth=auth,
                connection_timeout=10.0,
                # Counting a label that no node has yet is fine; don't log it as a warning.
                notifications_disabled_classifications=[
                    NotificationDisabledClassification.UNRECOGNIZED
                ],
            )
        except (DriverError, ValueError) as exc:
            raise StoreUnavailable(f"invalid Neo4j URI {uri!r} (NEO4J_URI): {exc}") from exc
        try:
            driver.verify_connectivity()
            store = cls(driver, database, uri)
            store._ensure_schema()
            store._reindex_terms()
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

    def _run(
        self, query: str, /, write_: bool = False, plain_: bool = False, **params: Any
    ) -> list[dict[str, Any]]:
        """One query in a transaction of its own; records as plain dicts. `plain_`: the query
        returns only maps, lists and scalars (no Node or Relationship values), so the driver's
        recursive conversion (`Record.data`, ~8 ms of an ask) is skipped.

        No bookmarks: on one server a committed write is visible to every later transaction,
        and passing the driver's bookmarks cost ~1 ms a query. A read runs as an auto-commit
        query: one round trip instead of BEGIN, RUN and COMMIT's two (1.0 against 1.8 ms for
        `RETURN 1`; an ask makes three or four), tried again on a retryable error as the
        driver's managed transactions are."""
        if write_:
            records, _, _ = self._driver.execute_query(
                query,
                params,
                database_=self._database,
                routing_=RoutingControl.WRITE,
                bookmark_manager_=None,
            )
        else:
            records = self._read(query, params)
        if plain_:
            return [dict(zip(record.keys(), record, strict=True)) for record in records]
        return [record.data() for record in records]

    def _collected(self, query: str, /, **params: Any) -> list[dict[str, Any]]:
        """The rows of a query that returns them collected into one record (`rows`)."""
        records = self._run(query, plain_=True, **params)
        return list(records[0]["rows"]) if records else []

    def _read(self, query: str, params: dict[str, Any]) -> list[Record]:
        attempt = 0
        while True:
            try:
                with self._driver.session(
                    database=self._database, default_access_mode=READ_ACCESS
                ) as session:
                    return list(session.run(query, params))
            except (DriverError, Neo4jError) as error:
                attempt += 1
                if attempt == _READ_TRIES or not error.is_retryable():
                    raise
            time.sleep(_READ_BACKOFF * 2 ** (attempt - 1))

    def _write_tx(self, work: Callable[[ManagedTransaction], T]) -> T:
        """Run `work(tx)` in one managed write transaction (rolled back if it raises)."""
        try:
            with self._driver.session(database=self._database) as session:
                return session.execute_write(work)
        finally:
            self._committed()

    def _committed(self) -> None:
        with self._commits_lock:
            self._commits += 1

    def _await_fulltext(self) -> None:
        """Wait until the full-text index holds every write committed here so far."""
        commits = self._commits
        if self._indexed < commits:
            self._run(cypher.AWAIT_FULLTEXT)
            with self._commits_lock:
                self._indexed = max(self._indexed, commits)

    def _ensure_schema(self) -> None:
        existing = {row["name"] for row in self._run(cypher.SHOW_SCHEMA_NAMES)}
        if cypher.FULLTEXT_INDEX in existing and not self._fulltext_is_eventual():
            # Made by an older Spiral: rebuilt once (db.awaitIndexes below waits for it).
            self._run(cypher.DROP_FULLTEXT_INDEX, write_=True)
            existing.discard(cypher.FULLTEXT_INDEX)
        missing = [stmt for name, stmt in cypher.SCHEMA.items() if name not in existing]
        for statement in missing:
            self._run(statement, write_=True)
        if cypher.VECTOR_INDEX in existing and cypher.CHUNK_VECTOR_INDEX not in existing:
            # Made before chunks had a vector index of their own: filled once, here.
            dimensions = self._vector_dimensions()
            self._run(cypher.CREATE_CHUNK_VECTOR_INDEX, write_=True, dimensions=dimensions)
            missing.append(cypher.CREATE_CHUNK_VECTOR_INDEX)
        if missing:
            self._run(cypher.AWAIT_INDEXES)
            self._vector_dimensions()

    def _fulltext_is_eventual(self) -> bool:
        rows = self._run(cypher.FULLTEXT_CONSISTENCY, name=cypher.FULLTEXT_INDEX)
        return bool(rows) and str(rows[0]["eventual"]).lower() == "true"

    def _reindex_terms(self) -> None:
        """Recompute every node's indexed terms once after graph.text changed what they are
        (a store written by an older Spiral would otherwise keep the old terms)."""
        rows = self._run(cypher.INDEX_TERMS_VERSION)
        if rows and (rows[0]["value"] or 0) >= INDEX_TERMS_VERSION:
            return
        after = ""
        while True:
            page = self._run(cypher.SEARCHABLE_PAGE, after=after, limit=2000)
            if not page:
                break
            updates = []
            for row in page:
                props = {k: v for k, v in row["props"].items() if v is not None}
                node = _node(props)
                updates.append({"id": node.id, "terms": node.index_text()})
            self._run(cypher.SET_SEARCH_TEXT, write_=True, rows=updates)
            after = page[-1]["props"]["id"]
        self._run(cypher.SET_INDEX_TERMS_VERSION, write_=True, value=INDEX_TERMS_VERSION)

    def _vector_dimensions(self) -> int | None:
        """The vector index's size (None: no index yet); notes whether chunks' index is
        online beside it, of the same size."""
        rows = {row["name"]: row for row in self._run(cypher.SHOW_VECTOR_INDEXES)}
        main, chunks = rows.get(cypher.VECTOR_INDEX), rows.get(cypher.CHUNK_VECTOR_INDEX)
        self._dimensions = int(main["dimensions"]) if main else None
        self._chunk_index = bool(
            main
            and chunks
            and chunks["state"] == "ONLINE"
            and chunks["dimensions"] == main["dimensions"]
        )
        return self._dimensions

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
        # Asked every time (one cheap round trip): another client's clear() may have dropped it.
        existing = self._vector_dimensions()
        if existing is None:
            self._run(cypher.CREATE_VECTOR_INDEX, write_=True, dimensions=dim)
            self._run(cypher.CREATE_CHUNK_VECTOR_INDEX, write_=True, dimensions=dim)
            self._run(cypher.AWAIT_INDEXES)
            existing = self._vector_dimensions()
        if existing != dim:
            raise ValueError(
                f"the Neo4j vector index {cypher.VECTOR_INDEX!r} holds {existing}-dimensional "
                f"embeddings but this write has {dim}: was the embedding model changed? "
                "Clear the store (or re-embed) before switching models."
            )

    # -- writes -------------------------------------------------------------------------

    def write(self, batch: WriteBatch, actor: str = "ingest") -> WriteResult:
        """Replace sources by difference: only what the batch no longer has is deleted and
        only what changed is written, so the same batch twice writes nothing."""
        return self.write_many([batch], actor)[0]

    def write_many(self, batches: Sequence[WriteBatch], actor: str = "ingest") -> list[WriteResult]:
        """Several batches in one transaction, each applied as `write` would, in order, with
        its own event."""
        prepared = [
            (b, _prepare_node_rows(b.nodes), _PREP.submit(_link_rows, b.links)) for b in batches
        ]
        try:
            self._ensure_vector_index([n for b in batches for n in b.nodes])
            return self._write_tx(lambda tx: self._write_group(tx, prepared, actor))
        finally:
            for _, rows, link_rows in prepared:
                for pending in (*rows.values(), link_rows):
                    pending.cancel()

    def _write_group(
        self, tx: ManagedTransaction, prepared: Sequence[_Prepared], actor: str
    ) -> list[WriteResult]:
        """The batches in order, each as `write` would; when they only add (new sources, as
        an import of many files is), in one set of statements for all of them: a statement
        per label and link type, and one for the events, not a dozen per batch (the server's
        CPU per file was most of a chat import's write; each batch keeps its own counts and
        event)."""
        batches = [b for b, _, _ in prepared]
        if len(prepared) > 1 and _independent(batches):
            sources = [s for b in batches for s in b.replace_sources]
            found = tx.run(cypher.SOURCE_CONTENTS, sources=sources).single(strict=True)
            if not found["owned"] and not found["links"]:
                return self._write_new(tx, prepared, actor)
        return [self._write_batch(tx, b, r, lr, actor) for b, r, lr in prepared]

    def _write_new(
        self, tx: ManagedTransaction, prepared: Sequence[_Prepared], actor: str
    ) -> list[WriteResult]:
        """`_write_group` for batches that delete nothing: every row tagged with its batch
        (`at`), the statements return which rows they wrote."""
        nodes_written = [0] * len(prepared)
        links_written = [0] * len(prepared)
        node_rows: dict[Label, list[dict[str, Any]]] = defaultdict(list)
        link_rows: dict[LinkType, list[dict[str, Any]]] = defaultdict(list)
        for at, (_, rows, pending_links) in enumerate(prepared):
            for label, pending in rows.items():
                node_rows[label] += [{**row, "at": at} for row in pending.result()]
            for link_type, part in pending_links.result().items():
                link_rows[link_type] += [{**row, "at": at} for row in part]
        ids = list(dict.fromkeys(row["id"] for rows in node_rows.values() for row in rows))
        decided = self._decisions(tx, ids)
        now = now_iso()
        shadows: list[dict[str, Any]] = []
        for label, label_rows in node_rows.items():
            label_rows, observed = _overlaid(label_rows, decided)
            shadows += observed
            first, again = _rounds(label_rows, nodes_written)
            for part in _chunks(first):
                found = tx.run(cypher.UPSERT_NODES_EACH[label], rows=part, now=now)
                for at in found.single(strict=True)["written"]:
                    nodes_written[at] += 1
            for part in _chunks(again):
                tx.run(cypher.UPSERT_NODES_AGAIN[label], rows=part, now=now).consume()
        shadows = list({row["id"]: row for row in shadows}.values())  # the last of an id
        for part in _chunks(shadows):
            tx.run(cypher.SET_OBSERVED, rows=part).consume()
        for link_type, type_rows in link_rows.items():
            for part in _chunks(type_rows):
                row = tx.run(cypher.UPSERT_LINKS_EACH[link_type], rows=part).single(strict=True)
                if row["matched"] < len(part):
                    _raise_missing(tx, [link for b, _, _ in prepared for link in b.links])
                for at in row["written"]:
                    links_written[at] += 1
        results = [
            WriteResult(nodes_written=n, links_written=k)
            for n, k in zip(nodes_written, links_written, strict=True)
        ]
        events = [
            batch_event(batch, result, actor)
            for (batch, _, _), result in zip(prepared, results, strict=True)
            if result != WriteResult()
        ]
        for part in _chunks(events):
            tx.run(cypher.APPEND_EVENTS, events=_Quiet(_event_params(e) for e in part)).consume()
        return results

    @staticmethod
    def _decisions(tx: ManagedTransaction, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """What people decided about these nodes (read in this transaction)."""
        decided: dict[str, dict[str, Any]] = {}
        for part in _chunks(ids):
            for found in tx.run(cypher.DECISIONS, ids=part):
                decided[found["id"]] = json.loads(found["decided"])
        return decided

    def _write_batch(
        self,
        tx: ManagedTransaction,
        batch: WriteBatch,
        rows: _Rows,
        link_rows: Future[_LinkRows],
        actor: str,
    ) -> WriteResult:
        keep_nodes = {n.id for n in batch.nodes}
        gone = _Deletion()
        if batch.replace_sources:
            keep_links = {link.key for link in batch.links}
            gone = self._delete_sources(tx, batch.replace_sources, keep_nodes, keep_links)
        written = self._upsert_node_rows(tx, rows, batch.nodes)
        linked = self._upsert_links(tx, link_rows.result(), batch.links)
        orphans = self._delete_orphans(tx, gone.touched - gone.removed - keep_nodes)
        result = WriteResult(
            nodes_written=written,
            links_written=linked,
            nodes_deleted=gone.nodes + orphans,
            links_deleted=gone.links,
        )
        if result != WriteResult():
            _Tx(self, tx).append_event(batch_event(batch, result, actor))
        return result

    def upsert_nodes(self, nodes: Sequence[Node]) -> int:
        return self.write(WriteBatch(nodes=list(nodes))).nodes_written

    def upsert_links(self, links: Sequence[Link]) -> int:
        return self.write(WriteBatch(links=list(links))).links_written

    def delete_source(self, source_id: str, actor: str = "ingest") -> WriteResult:
        def work(tx: ManagedTransaction) -> WriteResult:
            gone = self._delete_sources(tx, [source_id], set(), set())
            orphans = self._delete_orphans(tx, gone.touched - gone.removed)
            result = WriteResult(nodes_deleted=gone.nodes + orphans, links_deleted=gone.links)
            if result != WriteResult():
                event = summary_event(actor, "source.forget", [source_id], result.model_dump())
                _Tx(self, tx).append_event(event)
            return result

        return self._write_tx(work)

    def log(self, actor: str, action: str, after: dict[str, Any], reason: str = "") -> Event:
        draft = summary_event(actor, action, [], after)
        draft.reason = reason
        return self._write_tx(lambda tx: _Tx(self, tx).append_event(draft))

    def apply(self, ops: Sequence[Op], actor: str, action: str, reason: str = "") -> Event:
        created = [op.node for op in ops if isinstance(op, CreateNode | Observe)]
        self._ensure_vector_index(created)
        return self._write_tx(lambda tx: apply_ops(_Tx(self, tx), ops, actor, action, reason))

    def undo(self, seq: int, actor: str, reason: str = "") -> Event:
        return self._write_tx(lambda tx: undo_event(_Tx(self, tx), seq, actor, reason))

    @staticmethod
    def _upsert_node_rows(tx: ManagedTransaction, rows: _Rows, nodes: Sequence[Node]) -> int:
        """Upsert by digest; decisions about these nodes (read in this transaction) are laid
        over what was observed, and the observed values they hide are kept beside them."""
        ids = list(dict.fromkeys(n.id for n in nodes))
        decided = Neo4jStore._decisions(tx, ids)
        shadows: list[dict[str, Any]] = []
        now = now_iso()
        written = 0
        for label, pending in rows.items():
            # raises what preparing it raised (a bad vector)
            label_rows, observed = _overlaid(pending.result(), decided)
            shadows += observed
            for part in _chunks(label_rows):
                query = cypher.UPSERT_NODES[label]
                written += tx.run(query, rows=part, now=now).single(strict=True)[0]
        for part in _chunks(shadows):
            tx.run(cypher.SET_OBSERVED, rows=part).consume()
        return written

    @staticmethod
    def _upsert_links(tx: ManagedTransaction, by_type: _LinkRows, links: Sequence[Link]) -> int:
        """Upsert links; any missing endpoint raises ValueError, rolling the whole tx back."""
        written = 0
        for link_type, rows in by_type.items():
            for part in _chunks(rows):
                row = tx.run(cypher.UPSERT_LINKS[link_type], rows=part).single(strict=True)
                if row["matched"] < len(part):
                    _raise_missing(tx, links)
                written += row["written"]
        return written

    @staticmethod
    def _delete_sources(
        tx: ManagedTransaction,
        sources: Sequence[str],
        keep_nodes: set[str],
        keep_links: set[LinkKey],
    ) -> _Deletion:
        """Delete the sources' links and owned nodes, except what is kept (a re-write)."""
        gone = _Deletion()
        found = tx.run(cypher.SOURCE_CONTENTS, sources=list(sources)).single(strict=True)
        stale: dict[LinkType, list[dict[str, str]]] = defaultdict(list)
        for src, type_, dst, source_id in found["links"]:
            if (src, type_, dst, source_id) not in keep_links:
                stale[LinkType(type_)].append({"src": src, "dst": dst, "source_id": source_id})
                gone.touched.update((src, dst))
        for link_type, rows in stale.items():
            for part in _chunks(rows):
                query = cypher.DELETE_LINKS[link_type]
                gone.links += tx.run(query, rows=part).single(strict=True)[0]
        doomed = [node_id for node_id in found["owned"] if node_id not in keep_nodes]
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

    def hit_contexts(self, ids: Sequence[str]) -> dict[str, HitContext]:
        """One query for all hits (cypher.HIT_CONTEXTS): the same answer as
        graph.context.walk_contexts, without a round trip per hit and neighbour."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        rows = {row["id"]: row for row in self._collected(cypher.HIT_CONTEXTS, ids=wanted)}
        out: dict[str, HitContext] = {}
        for node_id in wanted:
            row = rows.get(node_id)
            if row is None:
                continue
            node = _node(row["node"])
            conversation = _node(row["conversation"]) if row["conversation"] else None
            turn = [_node(props) for props in row["turn"]]
            if turn and isinstance(node, Message) and node.role == "employee":
                turn[0] = node  # the turn starts at the hit itself, read as get_node reads it
            items = sorted((_node(props) for props in row["items"]), key=lambda i: i.id)
            out[node_id] = HitContext(
                node=node,
                conversation=conversation,
                turn=turn,
                items=items,
                entities=sorted(node.entities)
                if isinstance(node, KnowledgeItem)
                else row["entities"],
            )
        return out

    def get_observed(self, node_id: str) -> Node | None:
        with self._driver.session(database=self._database) as session:
            state = session.execute_read(lambda tx: _Tx(self, tx).node_state(node_id))
        return state.observed_node() if state else None

    def get_observed_many(self, node_ids: Sequence[str]) -> dict[str, Node]:
        wanted = list(dict.fromkeys(node_ids))
        if not wanted:
            return {}
        rows = [
            row
            for part in _chunks(wanted)
            for row in self._run(cypher.NODE_STATES, plain_=True, ids=part)
        ]
        return {row["id"]: _state(row).observed_node() for row in rows}

    def query_nodes(self, query: NodeQuery) -> NodePage:
        equalities = query.equalities()
        params: dict[str, Any] = {"label": query.label.value, "limit": query.limit + 1}
        params.update(equalities)
        if query.pinned is not None:
            params["pinned"] = query.pinned
        if query.expires_before is not None:
            params["expires_before"] = query.expires_before.isoformat()
        if query.updated_since is not None:
            params["updated_since"] = query.updated_since.isoformat()
        if query.cursor:
            params["after_value"], params["after_id"] = decode_cursor(query.cursor)
        statement = cypher.query_nodes(
            list(equalities),
            pinned=query.pinned is not None,
            expires=query.expires_before is not None,
            updated=query.updated_since is not None,
            sort=query.order_by,
            cursor=bool(query.cursor),
            descending=query.descending,
        )
        rows = self._run(statement, **params)
        nodes = [_node(row["props"]) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        cursor = encode_cursor(rows[query.limit - 1]["sort"], nodes[-1].id) if more else None
        return NodePage(nodes=nodes, next_cursor=cursor)

    def events(
        self,
        since: int = 0,
        limit: int = 1000,
        actions: Sequence[str] | None = None,
        node_id: str | None = None,
    ) -> list[Event]:
        params = {"since": since, "limit": limit, "actions": list(actions) if actions else None}
        if node_id is None:
            rows = self._run(cypher.EVENTS, **params)
        else:
            rows = self._run(cypher.EVENTS_FOR_ID, id=node_id, **params)
        return [_event(row["event"]).public() for row in rows]

    def get_nodes(self, label: Label, limit: int = 1000) -> list[Node]:
        rows = self._run(cypher.GET_NODES[Label(label)], limit=limit)
        return [_node(row["props"]) for row in rows]

    def neighbours(
        self,
        node_id: str,
        link_types: Sequence[LinkType] | None = None,
        direction: Literal["out", "in", "both"] = "both",
        limit: int | None = None,
        labels: Sequence[Label] | None = None,
    ) -> list[Neighbour]:
        types = [LinkType(t).value for t in link_types] if link_types else None
        kinds = [Label(label).value for label in labels] if labels is not None else None
        most = cypher.NO_LIMIT if limit is None else limit
        queries = (cypher.NEIGHBOURS_OUT, cypher.NEIGHBOURS_IN)
        return [
            _neighbour(row, side)
            for side, query in _sides(direction, *queries)
            for row in self._run(query, id=node_id, types=types, labels=kinds, limit=most)
        ]

    def neighbours_of(
        self,
        node_ids: Sequence[str],
        link_types: Sequence[LinkType] | None = None,
        direction: Literal["out", "in", "both"] = "both",
    ) -> dict[str, list[Neighbour]]:
        wanted = list(dict.fromkeys(node_ids))
        out: dict[str, list[Neighbour]] = {i: [] for i in wanted}
        if not wanted:
            return out
        types = [LinkType(t).value for t in link_types] if link_types else None
        queries = (cypher.NEIGHBOURS_OUT_OF, cypher.NEIGHBOURS_IN_OF)
        for side, query in _sides(direction, *queries):  # each side as `neighbours` orders it
            for row in self._run(query, ids=wanted, types=types, labels=None):
                out[row["at"]].append(_neighbour(row, side))
        return out

    def source_hash(self, source_id: str) -> str | None:
        rows = self._run(cypher.SOURCE_HASH, id=source_id)
        return rows[0]["hash"] if rows else None

    def source_hashes(self, source_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for part in _chunks(list(dict.fromkeys(source_ids))):
            for row in self._run(cypher.SOURCE_HASHES, plain_=True, ids=part):
                if row["hash"]:
                    found[row["id"]] = row["hash"]
        return found

    def lexical_search(
        self,
        query: str,
        k: int = 10,
        labels: Sequence[Label] | None = None,
        filters: SearchFilter | None = None,
    ) -> list[Hit]:
        lucene = _lucene_query(query)
        if not lucene or k <= 0:
            return []
        self._await_fulltext()
        wanted = _label_values(labels)
        params = _filter_params(filters)
        # With a filter the index cannot cut at k, so Cypher's LIMIT does. A search over
        # several labels (an ask's) finds k that pass among the best k * _OVERFETCH nearly
        # always, and reading every match of a common word costs 3x more: over-fetch, and read
        # them all only when too few passed. One label can be rare in the index (entities):
        # read them all at once.
        filtered = wanted or (filters is not None and filters.active)
        if not filtered:
            options: dict[str, int] = {"limit": k}
        elif wanted is None or len(wanted) > 1:
            options = {"limit": k * _OVERFETCH}
        else:
            options = {}
        rows = self._collected(
            cypher.LEXICAL_SEARCH,
            query=lucene,
            options=options,
            labels=wanted,
            k=k,
            **params,
        )
        if filtered and options and len(rows) < k:
            rows = self._collected(
                cypher.LEXICAL_SEARCH,
                query=lucene,
                options={},
                labels=wanted,
                k=k,
                **params,
            )
        return [hit_from_record(row["record"], row["score"]) for row in rows]

    def vector_search(
        self,
        vector: Sequence[float],
        k: int = 10,
        labels: Sequence[Label] | None = None,
        filters: SearchFilter | None = None,
    ) -> list[Hit]:
        return self._vector_search(vector, k, labels, filters)

    def _vector_search(
        self,
        vector: Sequence[float],
        k: int,
        labels: Sequence[Label] | None,
        filters: SearchFilter | None,
        candidates: int = 0,
    ) -> list[Hit]:
        """`vector_search`, the index asked for `candidates` first when more than the
        default are known to be needed."""
        dimensions = self._dimensions
        if dimensions is None or len(vector) != dimensions:
            dimensions = self._vector_dimensions()
        if dimensions is None or k <= 0:
            return []
        if len(vector) != dimensions:
            raise ValueError(
                f"query vector has {len(vector)} dimensions, the store holds {dimensions}: "
                "was the embedding model changed?"
            )
        # Chunks alone are read from their own index, where no label is filtered out.
        own = self._chunks_only(labels)
        wanted = None if own else _label_values(labels)
        filtered = bool(wanted) or (filters is not None and filters.active)
        # The index ranks `candidates` and the filter applies after. At 100k vectors an ask's
        # top 50 from 150 candidates is 99.8 % the top 50 from 500, at 13 against 21 ms p50
        # (benchmarks/assist_latency.py); when too few pass, the loop below widens. Chunks
        # carry no status, so an ask's filter passes them all: k candidates are enough.
        if filtered and not own:
            candidates = max(candidates, k * _CANDIDATE_FACTOR, 100)
        else:
            candidates = max(candidates, k)
        query, count = (
            (cypher.CHUNK_VECTOR_SEARCH, cypher.COUNT_CHUNKS)
            if own
            else (cypher.VECTOR_SEARCH, cypher.COUNT_SEARCHABLE)
        )
        params = {"vector": _Quiet(float(x) for x in vector), "labels": wanted, "k": k}
        params.update(_filter_params(filters))
        try:
            rows = self._collected(query, candidates=candidates, **params)
            # The index filters after it ranks: widen until k pass or the index is exhausted.
            total: int | None = None
            while filtered and len(rows) < k and candidates < _MAX_CANDIDATES:
                if total is None:
                    total = self._run(count)[0]["count"]
                if candidates >= total:
                    break
                candidates = min(candidates * 8, _MAX_CANDIDATES)
                rows = self._collected(query, candidates=candidates, **params)
        except ClientError:
            if self._vector_dimensions() is None:  # dropped by another client's clear()
                return []
            raise
        # Neo4j's cosine index scores (1 + cos) / 2; hits carry the cosine, as on the embedded
        # store, so a threshold on a vector hit's score means the same on both.
        return [hit_from_record(row["record"], 2.0 * row["score"] - 1.0) for row in rows]

    def _chunks_only(self, labels: Sequence[Label] | None) -> bool:
        """Whether a search of `labels` is answered by chunks' own index."""
        return self._chunk_index and labels is not None and set(labels) == {Label.CHUNK}

    def vector_search_views(
        self,
        vector: Sequence[float],
        k: int,
        views: Sequence[Sequence[Label] | None],
        filters: SearchFilter | None = None,
    ) -> list[list[Hit]]:
        """Chunks' view from chunks' own index, when it is online; the other views from one
        index query for their union, split here: each view's best k are among the union's
        best k * len(views) once that many of them are the view's; a view with fewer gets a
        query of its own, asking the index for as many candidates as the view's share of the
        union says it needs."""
        if k <= 0:
            return [[] for _ in views]
        if self._dimensions is None:
            self._vector_dimensions()
        chunks = [self._chunks_only(v) for v in views]
        if any(chunks):
            beside = _BESIDE.submit(self._vector_search, vector, k, [Label.CHUNK], filters)
            rest = iter(
                self.vector_search_views(
                    vector, k, [v for v, c in zip(views, chunks, strict=True) if not c], filters
                )
            )
            own = beside.result()
            return [list(own) if c else next(rest) for c in chunks]
        if len(views) < 2:
            return [self.vector_search(vector, k, labels, filters) for labels in views]
        union = None if any(not v for v in views) else sorted({x for v in views for x in v})
        found = self.vector_search(vector, k * len(views), union, filters)
        out = []
        for labels in views:
            mine = [h for h in found if not labels or h.label in labels]
            if len(mine) < k and len(found) == k * len(views):
                share = max(len(mine), 1) / len(found)
                wanted = min(math.ceil(k * _VIEW_MARGIN / share), _VIEW_CANDIDATES)
                mine = self._vector_search(vector, k, labels, filters, wanted)
            out.append(mine[:k])
        return out

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
            session.run(cypher.DELETE_ALL_LINKS).consume()
            session.run(cypher.DELETE_ALL_NODES).consume()
        self._committed()
        for statement in cypher.DROP_VECTOR_INDEXES:
            self._run(statement, write_=True)
        self._dimensions = None
        self._chunk_index = False

    def tidy(self) -> None:
        """Nothing to do: Neo4j's full-text and vector indexes merge their own segments."""

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._driver.close()


def _raise_missing(tx: ManagedTransaction, links: Sequence[Link]) -> None:
    """Name the link endpoints that do not exist (checked only once a link failed to match)."""
    ends = sorted({end for link in links for end in (link.src, link.dst)})
    missing: list[str] = []
    for part in _chunks(ends):
        missing += tx.run(cypher.MISSING_IDS, ids=part).single(strict=True)["missing"]
    shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
    raise ValueError(f"links point at nodes that do not exist: {shown}")


def _filter_params(filters: SearchFilter | None) -> dict[str, Any]:
    f = filters or SearchFilter()
    return {
        "status": f.status,
        "kind": f.kind,
        "team": f.team,
        "now": now_iso() if f.not_expired else None,
    }


def _event(data: dict[str, Any]) -> StoredEvent:
    names = ("seq", "at", "actor", "action", "ids", "before", "after", "reason", "states")
    return StoredEvent.from_stored(*(data.get(name) for name in names))


def _sides(
    direction: Literal["out", "in", "both"], out_query: str, in_query: str
) -> list[tuple[Literal["out", "in"], str]]:
    """The queries a direction takes, out-links first."""
    sides: list[tuple[Literal["out", "in"], str]] = []
    if direction in ("out", "both"):
        sides.append(("out", out_query))
    if direction in ("in", "both"):
        sides.append(("in", in_query))
    return sides


def _neighbour(row: Any, side: Literal["out", "in"]) -> Neighbour:
    """A neighbour from a NEIGHBOURS_* row."""
    link = Link.from_record(row["src"], row["type"], row["dst"], row["link"])
    return Neighbour(link=link, node=_node(row["node"]), direction=side)


def _state(row: Any) -> NodeState:
    """A node's state from a NODE_STATE(S) row: its properties and its decision."""
    props = dict(row["props"])
    embedding = props.get("embedding")
    return NodeState(
        label=Label(props["label"]),
        record={k: v for k, v in props.items() if k not in _STATE_PROPS},
        decided=json.loads(row["decided"]) if row["decided"] else {},
        observed=json.loads(row["observed"]) if row["observed"] else {},
        embedding=list(embedding) if embedding else None,
        version=props.get("version") or 0,
        updated_at=props.get("updated_at") or "",
        digest=props.get("_digest") or "",
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class _Tx:
    """The unit-of-work primitives (graph.changes.TxPort) on an open Neo4j transaction."""

    def __init__(self, store: Neo4jStore, tx: ManagedTransaction) -> None:
        self.store, self.tx = store, tx

    def node_state(self, node_id: str) -> NodeState | None:
        row = self.tx.run(cypher.NODE_STATE, id=node_id).single()
        return None if row is None else _state(row)

    def put_node_state(self, node_id: str, state: NodeState | None) -> None:
        if state is None:
            self.tx.run(cypher.DELETE_NODE, id=node_id).consume()
            return
        props = {**state.record, "label": state.label.value, "_digest": state.digest}
        props.update(version=state.version, updated_at=state.updated_at)
        node = state.node()
        terms = node.index_text()
        if terms:
            props["search_text"] = terms
        self.tx.run(
            cypher.PUT_NODE[state.label],
            id=node_id,
            props=props,
            vector=state.embedding,
            searchable=bool(node.search_text().strip()),
        ).consume()
        if state.decided:
            self.tx.run(
                cypher.PUT_DECISION,
                id=node_id,
                decided=_dumps(state.decided),
                observed=_dumps(state.observed),
            ).consume()
        else:
            self.tx.run(cypher.DELETE_DECISION, id=node_id).consume()

    def links_at(self, node_id: str) -> list[tuple[LinkKey, dict[str, Any]]]:
        found: dict[LinkKey, dict[str, Any]] = {}
        for row in self.tx.run(cypher.LINKS_AT, id=node_id):
            props = {k: v for k, v in row["props"].items() if k != "_digest"}
            found[(row["src"], row["type"], row["dst"], props.get("source_id", ""))] = props
        return list(found.items())

    def link_state(self, key: LinkKey) -> dict[str, Any] | None:
        src, type_, dst, source_id = key
        row = self.tx.run(
            cypher.LINK_STATE[LinkType(type_)], src=src, dst=dst, source_id=source_id
        ).single()
        return {k: v for k, v in row["props"].items() if k != "_digest"} if row else None

    def put_link_state(self, key: LinkKey, record: dict[str, Any] | None) -> None:
        src, type_, dst, source_id = key
        link_type = LinkType(type_)
        row = {"src": src, "dst": dst, "source_id": source_id}
        if record is None:
            self.tx.run(cypher.DELETE_LINKS[link_type], rows=[row]).consume()
            return
        props = {**record, "_digest": record_digest(record)}
        found = self.tx.run(cypher.UPSERT_LINKS[link_type], rows=[{**row, "props": props}])
        if found.single(strict=True)["matched"] < 1:
            raise ValueError(f"links point at nodes that do not exist: {src}, {dst}")

    def append_event(self, draft: EventDraft) -> Event:
        seq = self.tx.run(cypher.APPEND_EVENT, **_event_params(draft)).single(strict=True)["seq"]
        return Event(seq=seq, **draft.model_dump(exclude={"states"}))

    def stored_event(self, seq: int) -> StoredEvent | None:
        row = self.tx.run(cypher.EVENT_BY_SEQ, seq=seq).single()
        return _event(row["event"]) if row else None

    def first_event_touching(self, node_id: str, after_seq: int) -> Event | None:
        row = self.tx.run(
            cypher.EVENTS_FOR_ID, id=node_id, since=after_seq, actions=None, limit=1
        ).single()
        return _event(row["event"]) if row else None

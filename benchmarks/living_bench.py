"""Figures for the living knowledge base: filtered queries, the event log's cost on ingest, and
ask latency while a large write is in progress, on each store.

Sections (per store, `--stores embedded,neo4j`, each on an emptied store):

1. query: `store.query_nodes` over --items KnowledgeItems (default 100,000; no embeddings),
   written with `store.write` in batches of 1000. Each item: status draft/approved/retired,
   one of 20 teams, one of 200 owners, 30 % with an `expires_at` (-90..+365 days). Query
   types (limit 50): status+team; expires_before (by expires_at and by id); updated_since
   sorted by updated_at (desc, and asc as a change feed reads it); 5 pages walked with the
   cursor (status+team by id; status by updated_at desc). p50 / p99 in ms per query (per
   walk of 5 pages for the cursor rows), --query-reps per type or --query-budget seconds;
   every answer is checked against the generated data. If the build runs over
   --build-budget seconds it stops and the queries run at the size written (printed).
2. events: the event log's cost on ingest-like writes (one WriteBatch per source: a Document,
   --chunks Chunks with 384-dim random unit vectors, PART_OF links, replace_sources=[doc id]),
   with the event versus without it: "without" replaces `_Tx.append_event` and the
   `batch_event` draft in the store's module with no-ops, inside this process only. Per
   repetition a fresh store and --sources pairs of writes (one with, one without, back to
   back, order alternating); overhead = median over repetitions of median(with) /
   median(without) - 1. Also timed directly: the draft + append inside the real writes.
   Goal: <= 5 %. A second row does the same for bulk upserts of 1000 KnowledgeItems (whose
   "upsert" event names up to 1000 ids).
3. ask: `hybrid_search` (real model, query embedding included, filter status
   draft/approved) over a store of --base-chunks chunks + 2000 KnowledgeItems (with vectors)
   + one --live-chunks document; --asks queries idle (half before, half after), then queries
   while a thread rewrites that document (every chunk's text and vector change; two
   variants alternating, back to back); only queries that started and ended inside one
   `store.write` call count. Split into the query embedding and the rest (the store).
   Goal: p99 under write <= 2x idle. Torch keeps its default threads (as Spiral runs)
   unless --torch-threads is given.

    .venv/bin/python benchmarks/living_bench.py [--stores embedded,neo4j] [--items 100000]

Neo4j: NEO4J_URI if set (must be empty unless --clear-existing), else a throw-away local
server (tests.neo4j_server.LocalNeo4j), as benchmarks/run.py does. JSON:
benchmarks/results/living.json.
"""

from __future__ import annotations

import argparse
import bisect
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from common import RESULTS, latency_summary, machine_info, table, write_json
from run import (
    Bench,
    Corpus,
    TimedEmbedder,
    add_document,
    embedded_store,
    neo4j_store,
    unit_vectors,
)

from graph.changes import Event, EventDraft, SetFields
from graph.embeddings import get_embedder
from graph.model import (
    Document,
    ItemKind,
    ItemStatus,
    KnowledgeItem,
    Label,
    make_id,
)
from graph.search import hybrid_search
from graph.settings import Settings
from graph.store import GraphStore, NodePage, NodeQuery, SearchFilter, WriteBatch

KI = Label.KNOWLEDGE_ITEM
STATUSES = [s.value for s in ItemStatus]
KINDS = [k.value for k in ItemKind]
TEAMS = [f"team-{i:02d}" for i in range(20)]
OWNERS = [f"owner-{i:03d}" for i in range(200)]
EXPIRING_SHARE = 0.3
LIMIT = 50
PAGES = 5
GOAL_EVENT_OVERHEAD = 0.05
GOAL_ASK_RATIO = 2.0
ASK_FILTER = SearchFilter(status=["draft", "approved"])
STORES = {"embedded": embedded_store, "neo4j": neo4j_store}


def log(message: str) -> None:
    print(message, flush=True)


# -- data -----------------------------------------------------------------------------------


def source_batch(corpus: Corpus, uris: Sequence[str], n_chunks: int, seed: int) -> WriteBatch:
    """Documents of n_chunks Chunks each (random unit vectors) and their PART_OF links,
    replacing those documents, as ingest writes a source. `seed` picks text and vectors."""
    rng = np.random.default_rng(seed)
    texts = corpus.texts(rng, n_chunks * len(uris))
    vectors = unit_vectors(rng, n_chunks * len(uris))
    batch = WriteBatch()
    for i, uri in enumerate(uris):
        doc_id = make_id(Label.DOCUMENT, uri)
        document = Document(id=doc_id, uri=uri, title=uri, content_hash=f"{uri}#{seed}")
        part = slice(i * n_chunks, (i + 1) * n_chunks)
        add_document(batch, document, texts[part], vectors[part])
    return batch


def knowledge_items(
    corpus: Corpus, first: int, n: int, seed: int, now: datetime, vectors: bool = False
) -> list[KnowledgeItem]:
    """n KnowledgeItems numbered from `first`, with random status/team/owner/kind/expiry."""
    rng = np.random.default_rng([seed, first])
    texts = corpus.texts(rng, n)
    status = rng.integers(0, len(STATUSES), n)
    team = rng.integers(0, len(TEAMS), n)
    owner = rng.integers(0, len(OWNERS), n)
    kind = rng.integers(0, len(KINDS), n)
    expiring = rng.random(n) < EXPIRING_SHARE
    days = rng.integers(-90, 365, n)
    seconds = rng.integers(0, 86_400, n)
    vecs = unit_vectors(rng, n) if vectors else None
    items = []
    for j in range(n):
        i = first + j
        expires = (
            (now + timedelta(days=int(days[j]), seconds=int(seconds[j]))).isoformat()
            if expiring[j]
            else ""
        )
        items.append(
            KnowledgeItem(
                id=make_id(KI, f"bench-item-{i:07d}"),
                kind=KINDS[kind[j]],
                status=STATUSES[status[j]],
                title=f"item {i}",
                text=texts[j],
                owner=OWNERS[owner[j]],
                team=TEAMS[team[j]],
                expires_at=expires,
                embedding=vecs[j].tolist() if vecs is not None else None,
            )
        )
    return items


# -- 1. filtered queries --------------------------------------------------------------------


class Truth:
    """What the generated items say each query must return."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str, str, int]] = []  # id, status, team, expires, batch
        self.batch_starts: list[datetime] = []  # wall time before each batch was written

    def add(self, items: Sequence[KnowledgeItem], batch: int) -> None:
        self.items += [(n.id, n.status.value, n.team, n.expires_at, batch) for n in items]

    def finish(self) -> None:
        self.by_status_team: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.by_status: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for node_id, status, team, _, batch in self.items:
            self.by_status_team[(status, team)].append(node_id)
            self.by_status[status].append((batch, node_id))
        for ids in self.by_status_team.values():
            ids.sort()
        for rows in self.by_status.values():
            rows.sort(reverse=True)  # newest batch first, then id descending
        expiring = [(exp, node_id) for node_id, _, _, exp, _ in self.items if exp]
        self.by_expiry = sorted(expiring)
        self.expiry_keys = [exp for exp, _ in self.by_expiry]
        self.by_batch: dict[int, list[str]] = defaultdict(list)
        for node_id, *_, batch in self.items:
            self.by_batch[batch].append(node_id)
        for ids in self.by_batch.values():
            ids.sort()
        self.last_batch = max(self.by_batch)

    def expiring_before(self, cutoff: str) -> list[tuple[str, str]]:
        return self.by_expiry[: bisect.bisect_left(self.expiry_keys, cutoff)]


def build_items(
    store: GraphStore, corpus: Corpus, args: argparse.Namespace, now: datetime
) -> tuple[Truth, dict[str, Any]]:
    truth = Truth()
    times: list[float] = []
    started = time.perf_counter()
    stopped = ""
    for batch_no, first in enumerate(range(0, args.items, args.batch)):
        items = knowledge_items(corpus, first, min(args.batch, args.items - first), args.seed, now)
        truth.batch_starts.append(datetime.now(UTC))
        t0 = time.perf_counter()
        store.write(WriteBatch(nodes=items))
        times.append(time.perf_counter() - t0)
        truth.add(items, batch_no)
        written = len(truth.items)
        over = args.build_budget and time.perf_counter() - started > args.build_budget
        if over and written < args.items:
            stopped = (
                f"build stopped at {written:,} of {args.items:,} items: over "
                f"--build-budget {args.build_budget:g}s"
            )
            break
    truth.finish()
    write_s = sum(times)
    return truth, {
        "items": len(truth.items),
        "requested": args.items,
        "batches": len(times),
        "write_s": round(write_s, 1),
        "wall_s": round(time.perf_counter() - started, 1),
        "items_per_s": round(len(truth.items) / write_s, 1),
        "batch": latency_summary(times),
        "stopped": stopped,
        "embeddings": False,
    }


def _ids(page: NodePage) -> list[str]:
    return [n.id for n in page.nodes]


def _walk(store: GraphStore, query: NodeQuery, pages: int) -> list[NodePage]:
    out = [store.query_nodes(query)]
    while len(out) < pages and out[-1].next_cursor:
        out.append(store.query_nodes(query.model_copy(update={"cursor": out[-1].next_cursor})))
    return out


def query_cases(truth: Truth, rng: np.random.Generator, now: datetime, n: int) -> list[dict]:
    """Each query type: a label, n (call, check) pairs; check(result) -> '' or a problem."""
    cases = []

    def status_team() -> tuple[str, str]:
        return STATUSES[rng.integers(len(STATUSES))], TEAMS[rng.integers(len(TEAMS))]

    def cutoff() -> str:
        return (now + timedelta(days=int(rng.integers(1, 60)))).isoformat()

    # status + team, by id
    calls = []
    for _ in range(n):
        s, t = status_team()
        want = truth.by_status_team[(s, t)]
        q = NodeQuery(label=KI, status=s, team=t, limit=LIMIT)
        calls.append((q, lambda p, want=want: _same(_ids(p), want[:LIMIT], p, len(want) > LIMIT)))
    cases.append({"name": "status+team", "calls": calls})

    # expires_before, by expires_at and by id
    for order in ("expires_at", "id"):
        calls = []
        for _ in range(n):
            cut = cutoff()
            rows = truth.expiring_before(cut)
            want = [i for _, i in rows] if order == "expires_at" else sorted(i for _, i in rows)
            q = NodeQuery(
                label=KI, expires_before=datetime.fromisoformat(cut), order_by=order, limit=LIMIT
            )
            calls.append(
                (q, lambda p, want=want: _same(_ids(p), want[:LIMIT], p, len(want) > LIMIT))
            )
        cases.append({"name": f"expires_before, by {order}", "calls": calls})

    # updated_since, by updated_at desc (the newest first) and asc (a change feed)
    batches = len(truth.batch_starts)
    for descending in (True, False):
        calls = []
        for _ in range(n):
            k = int(rng.integers(batches // 10, max(batches // 10 + 1, batches * 9 // 10)))
            since = truth.batch_starts[k]
            if descending:
                want = sorted(truth.by_batch[truth.last_batch], reverse=True)
            else:
                want = truth.by_batch[k]
            q = NodeQuery(
                label=KI,
                updated_since=since,
                order_by="updated_at",
                descending=descending,
                limit=LIMIT,
            )
            calls.append((q, lambda p, want=want: _same(_ids(p), want[:LIMIT], p, True)))
        name = "updated_since, updated_at " + ("desc" if descending else "asc")
        cases.append({"name": name, "calls": calls})

    # 5 pages with the cursor
    calls = []
    for _ in range(n):
        s, t = status_team()
        want = truth.by_status_team[(s, t)][: LIMIT * PAGES]
        q = NodeQuery(label=KI, status=s, team=t, limit=LIMIT)
        calls.append((q, lambda pages, want=want: _same_pages(pages, want)))
    cases.append({"name": f"{PAGES} pages: status+team, by id", "calls": calls, "pages": True})
    calls = []
    for _ in range(n):
        s = STATUSES[rng.integers(len(STATUSES))]
        want = [i for _, i in truth.by_status[s][: LIMIT * PAGES]]
        q = NodeQuery(label=KI, status=s, order_by="updated_at", descending=True, limit=LIMIT)
        calls.append((q, lambda pages, want=want: _same_pages(pages, want)))
    cases.append({"name": f"{PAGES} pages: status, updated_at desc", "calls": calls, "pages": True})
    return cases


def _same(got: list[str], want: list[str], page: NodePage, more: bool) -> str:
    if got != want:
        extra = len(set(got) - set(want))
        return f"{len(got)} ids, {extra} not expected (first got {got[:1]}, want {want[:1]})"
    if more and page.next_cursor is None:
        return "no next_cursor although more match"
    if not more and page.next_cursor is not None and len(got) < LIMIT:
        return "next_cursor on a short last page"
    return ""


def _same_pages(pages: list[NodePage], want: list[str]) -> str:
    got = [i for p in pages for i in _ids(p)]
    if len(got) != len(set(got)):
        return f"duplicate ids across pages ({len(got) - len(set(got))})"
    if got != want:
        extra = len(set(got) - set(want))
        return f"{len(got)} ids over {len(pages)} pages, {extra} not expected"
    return ""


def section_query(store: GraphStore, corpus: Corpus, args: argparse.Namespace) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    truth, build = build_items(store, corpus, args, now)
    log(
        f"  query: built {build['items']:,} KnowledgeItems (no embeddings) in "
        f"{build['write_s']:.0f}s = {build['items_per_s']:,.0f}/s"
        + (f" -- {build['stopped'].upper()}" if build["stopped"] else "")
    )
    rng = np.random.default_rng(args.seed + 3)
    results: dict[str, Any] = {"build": build, "queries": {}}
    for case in query_cases(truth, rng, now, args.query_reps):
        pages = case.get("pages", False)
        run = (lambda q: _walk(store, q, PAGES)) if pages else store.query_nodes
        for q, _ in case["calls"][:3]:  # warm-up (plans, caches)
            run(q)
        times, problems = [], []
        started = time.perf_counter()
        for q, check in case["calls"]:
            t0 = time.perf_counter()
            out = run(q)
            times.append(time.perf_counter() - t0)
            if problem := check(out):
                problems.append(problem)
            if time.perf_counter() - started > args.query_budget:
                break
        summary = latency_summary(times)
        summary["wrong"] = len(problems)
        summary["first_problem"] = problems[0] if problems else ""
        if pages:
            summary["per_page_p50_ms"] = round(summary["p50_ms"] / PAGES, 3)
        results["queries"][case["name"]] = summary
        log(
            f"  query {case['name']}: p50 {summary['p50_ms']:.2f} ms, p99 "
            f"{summary['p99_ms']:.2f} ms (n={summary['n']})"
            + (f"; WRONG {len(problems)}: {problems[0]}" if problems else "")
        )
    return results


# -- 2. event-log overhead ------------------------------------------------------------------

_NO_EVENT = Event(seq=0, at="", actor="bench", action="none")
_NO_DRAFT = EventDraft(at="", actor="bench", action="none")


def _store_module(store: GraphStore) -> ModuleType:
    return sys.modules[type(store).__module__]


@contextmanager
def without_events(module: ModuleType) -> Iterator[None]:
    """No event: the store module's `_Tx.append_event` and `batch_event` become no-ops."""
    tx, append, draft = module._Tx, module._Tx.append_event, module.batch_event
    tx.append_event = lambda self, d: _NO_EVENT
    module.batch_event = lambda batch, result, actor: _NO_DRAFT
    try:
        yield
    finally:
        tx.append_event, module.batch_event = append, draft


@contextmanager
def timed_events(module: ModuleType, sink: list[float]) -> Iterator[None]:
    """The real event code, each call's time added to `sink`."""
    tx, append, draft = module._Tx, module._Tx.append_event, module.batch_event

    def timed_append(self: Any, d: EventDraft) -> Event:
        t0 = time.perf_counter()
        try:
            return append(self, d)
        finally:
            sink.append(time.perf_counter() - t0)

    def timed_draft(*a: Any, **k: Any) -> EventDraft:
        t0 = time.perf_counter()
        try:
            return draft(*a, **k)
        finally:
            sink.append(time.perf_counter() - t0)

    tx.append_event, module.batch_event = timed_append, timed_draft
    try:
        yield
    finally:
        tx.append_event, module.batch_event = append, draft


def _overhead_rows(
    fresh: Callable[[], GraphStore],
    warm: WriteBatch,
    pairs: Sequence[tuple[WriteBatch, WriteBatch]],
    reps: int,
) -> dict[str, Any]:
    """Per repetition a fresh store; for each pair one write with the event and one without,
    back to back in alternating order (load drifts alike on both), the two batches of a pair
    swapping roles every repetition (content alike on both). Per-write times."""
    writes: dict[str, list[float]] = {"with": [], "without": []}
    event_s: list[float] = []
    ratios, paired = [], []
    for rep in range(reps):
        store = fresh()
        module = _store_module(store)
        store.write(warm)  # untimed: schema, vector index, caches
        sink: list[float] = []
        mine: dict[str, list[float]] = {"with": [], "without": []}
        for i, (a, b) in enumerate(pairs):
            batch = {"with": a, "without": b} if rep % 2 == 0 else {"with": b, "without": a}
            order = ("with", "without") if (rep + i) % 2 == 0 else ("without", "with")
            for mode in order:
                ctx = timed_events(module, sink) if mode == "with" else without_events(module)
                with ctx:
                    before = len(sink)
                    t0 = time.perf_counter()
                    store.write(batch[mode])
                    mine[mode].append(time.perf_counter() - t0)
                    if mode == "with":
                        event_s.append(sum(sink[before:]))
            paired.append(mine["with"][-1] / mine["without"][-1])
        ratios.append(float(np.median(mine["with"]) / np.median(mine["without"])) - 1.0)
        for mode in writes:
            writes[mode] += mine[mode]
    with_ms = float(np.median(writes["with"])) * 1000
    event_ms = float(np.median(event_s)) * 1000
    return {
        "pairs_per_rep": len(pairs),
        "reps": reps,
        "with": latency_summary(writes["with"]),
        "without": latency_summary(writes["without"]),
        "overhead": float(np.median(ratios)),
        "overhead_per_rep": [round(r, 4) for r in ratios],
        "overhead_paired": float(np.median(paired)) - 1.0,
        "overhead_pooled": with_ms / (float(np.median(writes["without"])) * 1000) - 1.0,
        "event": latency_summary(event_s),
        "event_share": event_ms / with_ms,
    }


def section_events(
    fresh: Callable[[], GraphStore], corpus: Corpus, args: argparse.Namespace
) -> dict[str, Any]:
    warm = source_batch(corpus, ["bench/warm.md"], args.chunks, args.seed)
    pairs = [
        tuple(
            source_batch(
                corpus, [f"bench/src-{i:04d}{side}.md"], args.chunks, args.seed + 2 * i + j
            )
            for j, side in enumerate("ab")
        )
        for i in range(args.sources)
    ]
    out: dict[str, Any] = {}
    out["ingest"] = _overhead_rows(fresh, warm, pairs, args.reps)  # type: ignore[arg-type]
    out["ingest"]["what"] = f"source: 1 Document + {args.chunks} Chunks + {args.chunks} links"
    _log_overhead("ingest", out["ingest"])
    if args.bulk_pairs:
        now = datetime.now(UTC).replace(microsecond=0)
        warm_items = WriteBatch(nodes=knowledge_items(corpus, 10**6, 50, args.seed, now))
        bulk = [
            tuple(
                WriteBatch(nodes=knowledge_items(corpus, (2 * i + j) * 1000, 1000, args.seed, now))
                for j in range(2)
            )
            for i in range(args.bulk_pairs)
        ]
        out["bulk"] = _overhead_rows(fresh, warm_items, bulk, max(2, args.reps // 2))  # type: ignore[arg-type]
        out["bulk"]["what"] = "bulk upsert: 1000 KnowledgeItems (event names 1000 ids)"
        _log_overhead("bulk", out["bulk"])
    return out


def _log_overhead(name: str, row: dict[str, Any]) -> None:
    log(
        f"  events {name}: write p50 {row['with']['p50_ms']:.2f} ms with the event, "
        f"{row['without']['p50_ms']:.2f} ms without: {row['overhead']:+.1%} (per rep "
        f"{', '.join(f'{r:+.1%}' for r in row['overhead_per_rep'])}; paired "
        f"{row['overhead_paired']:+.1%}); the event itself "
        f"{row['event']['p50_ms']:.3f} ms = {row['event_share']:.1%} of the write"
    )


# -- 3. ask latency during a large write ----------------------------------------------------


class TimedSearches:
    """The store, with each lexical_search / vector_search call's time kept (the last of
    each belongs to the last hybrid_search: queries run one at a time)."""

    def __init__(self, store: GraphStore) -> None:
        self._store = store
        self.lexical: list[float] = []
        self.vector: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def lexical_search(self, *a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self._store.lexical_search(*a, **k)
        finally:
            self.lexical.append(time.perf_counter() - t0)

    def vector_search(self, *a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self._store.vector_search(*a, **k)
        finally:
            self.vector.append(time.perf_counter() - t0)


def section_ask(
    store: GraphStore, corpus: Corpus, embedder: Any, settings: Settings, args: argparse.Namespace
) -> dict[str, Any]:
    t0 = time.perf_counter()
    docs = args.base_chunks // 10
    for first in range(0, docs, 100):  # 100 documents of 10 chunks per write
        uris = [f"bench/base-{d:06d}.md" for d in range(first, min(first + 100, docs))]
        store.write(source_batch(corpus, uris, 10, args.seed + 100 + first))
    now = datetime.now(UTC).replace(microsecond=0)
    for first in range(0, 2000, 1000):
        items = knowledge_items(corpus, first, 1000, args.seed + 7, now, vectors=True)
        store.write(WriteBatch(nodes=items))
    live = [
        source_batch(corpus, ["bench/live.md"], args.live_chunks, args.seed + 1000 + v)
        for v in range(2)
    ]
    w0 = time.perf_counter()
    store.write(live[0])  # the store now holds what it will hold during the writes
    first_write_s = time.perf_counter() - w0
    stats = store.stats()
    build_s = time.perf_counter() - t0
    log(
        f"  ask: store of {stats.nodes.get('Chunk', 0):,} chunks, "
        f"{stats.nodes.get('KnowledgeItem', 0):,} items built in {build_s:.0f}s "
        f"(first {args.live_chunks:,}-chunk write {first_write_s:.1f}s)"
    )
    timed = TimedEmbedder(embedder)
    searches = TimedSearches(store)
    fusion, weight = settings.fusion, settings.fusion_dense_weight

    def ask(q: str) -> list[Any]:
        return hybrid_search(
            searches,  # type: ignore[arg-type]
            timed,
            q,
            k=5,
            fusion=fusion,
            dense_weight=weight,
            filters=ASK_FILTER,
        )

    def parts() -> tuple[float, float, float]:
        return timed.times[-1], searches.lexical[-1], searches.vector[-1]

    queries = list(corpus.queries)
    for q in queries[:5]:
        ask(q)  # warm-up; the embedded store loads its vector matrix here

    def idle_run(qs: Sequence[str]) -> list[tuple[float, ...]]:
        out = []
        for q in qs:
            t = time.perf_counter()
            ask(q)
            out.append((time.perf_counter() - t, *parts()))
        return out

    idle_before = idle_run(queries[: args.asks - args.asks // 2])

    # One decision (apply: approve / back to draft one item), then one ask, a few times: what
    # the first ask after any change pays.
    applied, after_apply = [], []
    for n in range(args.decisions):
        node_id = make_id(KI, f"bench-item-{(n * 37) % 2000:07d}")
        status = "approved" if n % 2 == 0 else "draft"
        t = time.perf_counter()
        store.apply([SetFields(id=node_id, fields={"status": status})], "bench", "approve")
        applied.append(time.perf_counter() - t)
        after_apply += idle_run(queries[n % len(queries) : n % len(queries) + 1])

    # Under write: a thread rewrites the live document (variants alternating, every chunk
    # changes), back to back; queries run meanwhile in this thread.
    intervals: list[list[float]] = []  # [start, end] of each store.write call (end inf: running)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        n = 1
        while not stop.is_set() and len(intervals) < args.max_writes:
            span = [time.perf_counter(), float("inf")]
            intervals.append(span)
            try:
                store.write(live[n % 2])
            except BaseException as exc:  # re-raised below
                errors.append(exc)
                return
            finally:
                span[1] = time.perf_counter()
            n += 1

    thread = threading.Thread(target=writer, name="bench-writer", daemon=True)
    spans: list[tuple[float, ...]] = []  # start, end, embedding, lexical, vector times
    started = time.perf_counter()
    thread.start()
    while not intervals:
        time.sleep(0.001)
    i = 0
    while thread.is_alive() and time.perf_counter() - started < args.ask_budget:
        if len(_inside(spans, intervals)[0]) >= args.asks:
            break
        q = queries[i % len(queries)]
        i += 1
        s = time.perf_counter()
        ask(q)
        spans.append((s, time.perf_counter(), *parts()))
    stop.set()
    thread.join()
    if errors:
        raise errors[0]
    busy, outside = _inside(spans, intervals)
    idle_after = idle_run(queries[: args.asks // 2])
    idle = idle_before + idle_after
    writes = [b - a for a, b in intervals]
    result = {
        "chunks": stats.nodes.get("Chunk", 0),
        "items": stats.nodes.get("KnowledgeItem", 0),
        "build_s": round(build_s, 1),
        "live_chunks": args.live_chunks,
        "filter": ASK_FILTER.model_dump(exclude_none=True),
        "idle_before_p50_ms": latency_summary([r[0] for r in idle_before])["p50_ms"],
        "idle_after_p50_ms": latency_summary([r[0] for r in idle_after])["p50_ms"],
        "asked_under_write": len(spans),
        "not_counted": len(outside),
        "not_counted_max_ms": round(max(outside, default=0.0) * 1000, 1),
        "writes": len(writes),
        "write": latency_summary(writes),
        "first_write_s": round(first_write_s, 2),
    }
    result["apply"] = latency_summary(applied)
    for state, rows in (("idle", idle), ("under_write", busy), ("after_apply", after_apply)):
        for key, values in (
            ("", [r[0] for r in rows]),
            ("_query_embedding", [r[1] for r in rows]),
            ("_without_embedding", [r[0] - r[1] for r in rows]),
            ("_lexical", [r[2] for r in rows]),
            ("_vector", [r[3] for r in rows]),
        ):
            result[state + key] = latency_summary(values)
            result[state + key]["max_ms"] = round(max(values) * 1000, 1) if values else None
    for p in ("p50", "p99"):
        result[f"{p}_ratio"] = result["under_write"][f"{p}_ms"] / result["idle"][f"{p}_ms"]
        result[f"{p}_ratio_without_embedding"] = (
            result["under_write_without_embedding"][f"{p}_ms"]
            / result["idle_without_embedding"][f"{p}_ms"]
        )
    log(
        f"  ask: idle p50 {result['idle']['p50_ms']:.1f} / p99 {result['idle']['p99_ms']:.1f} ms "
        f"(p50 before {result['idle_before_p50_ms']:.1f}, after "
        f"{result['idle_after_p50_ms']:.1f}); "
        f"under write p50 {result['under_write']['p50_ms']:.1f} / p99 "
        f"{result['under_write']['p99_ms']:.1f} ms ({len(busy)} counted of {len(spans)}, "
        f"{len(writes)} writes of {result['write']['p50_ms'] / 1000:.1f}s p50); "
        f"p99 ratio {result['p99_ratio']:.2f}x; without the query embedding: idle p50/p99 "
        f"{result['idle_without_embedding']['p50_ms']:.1f}/"
        f"{result['idle_without_embedding']['p99_ms']:.1f}, under write "
        f"{result['under_write_without_embedding']['p50_ms']:.1f}/"
        f"{result['under_write_without_embedding']['p99_ms']:.1f} ms"
    )
    return result


WRITE_GAP_S = 0.05  # writes closer than this are one stretch of writing (back to back)


def _inside(
    spans: Sequence[tuple[float, ...]], intervals: Sequence[Sequence[float]]
) -> tuple[list[tuple[float, ...]], list[float]]:
    """(latency, embedding, lexical, vector) of the queries that started and ended while a
    write was in progress (a running write counts as open-ended; back-to-back writes as one
    stretch, so a query held up by one write's commit and ending in the next one counts);
    and the latencies of those that did not."""
    merged: list[list[float]] = []
    for a, b in sorted((a, b) for a, b in intervals):
        if merged and a - merged[-1][1] <= WRITE_GAP_S:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    busy: list[tuple[float, ...]] = []
    outside: list[float] = []
    for s, e, *rest in spans:
        if any(a <= s and e <= b for a, b in merged):
            busy.append((e - s, *rest))
        else:
            outside.append(e - s)
    return busy, outside


# -- report ---------------------------------------------------------------------------------


def report(results: dict[str, Any], stores: Sequence[str]) -> list[dict[str, Any]]:
    per = results["stores"]
    goals: list[dict[str, Any]] = []
    ran = [s for s in stores if "skipped" not in per.get(s, {"skipped": 1})]
    for name in stores:
        if "skipped" in per.get(name, {}):
            print(f"\n{name}: SKIPPED ({per[name]['skipped']})")

    with_query = [s for s in ran if "query" in per[s]]
    if with_query:
        print("\n1. Filtered queries (query_nodes, limit 50; ms; cursor rows: the walk of 5 pages)")
        sizes = ", ".join(
            f"{s} {per[s]['query']['build']['items']:,} items"
            + (" (build stopped by --build-budget)" if per[s]["query"]["build"]["stopped"] else "")
            for s in with_query
        )
        print(f"   KnowledgeItems without embeddings: {sizes}")
        headers = ["query"]
        for s in with_query:
            headers += [f"{s} p50", f"{s} p99", "ok"]
        if len(with_query) == 2:
            headers += [f"{with_query[1]}/{with_query[0]} p50"]
        rows = []
        names = list(per[with_query[0]]["query"]["queries"])
        for qn in names:
            row: list[Any] = [qn]
            p50s = []
            for s in with_query:
                r = per[s]["query"]["queries"].get(qn)
                row += [
                    f"{r['p50_ms']:.2f}",
                    f"{r['p99_ms']:.2f}",
                    "ok" if not r["wrong"] else f"WRONG {r['wrong']}/{r['n']}",
                ]
                p50s.append(r["p50_ms"])
            if len(with_query) == 2:
                row.append(f"{p50s[1] / p50s[0]:.1f}x")
            rows.append(row)
        print(table(headers, rows))
        for s in with_query:
            b = per[s]["query"]["build"]
            print(
                f"   {s}: build {b['items']:,} items in {b['write_s']:.0f}s "
                f"({b['items_per_s']:,.0f}/s, "
                f"batch of 1000 p50 {b['batch']['p50_ms']:.0f} ms)"
            )
            for qn, r in per[s]["query"]["queries"].items():
                if r["wrong"]:
                    print(f"   {s} {qn}: {r['wrong']} wrong answers, e.g. {r['first_problem']}")

    with_events = [s for s in ran if "events" in per[s]]
    if with_events:
        print(
            "\n2. Event-log cost per write (ms; with = the real store, without = append_event and "
            "batch_event patched to no-ops)"
        )
        headers = ["store", "write", "with p50", "without p50", "overhead", "paired",
                   "event p50", "event share", f"goal <={GOAL_EVENT_OVERHEAD:.0%}"]  # fmt: skip
        rows = []
        for s in with_events:
            for kind in ("ingest", "bulk"):
                r = per[s]["events"].get(kind)
                if r is None:
                    continue
                met = r["overhead"] <= GOAL_EVENT_OVERHEAD
                if kind == "ingest":
                    goals.append(
                        {
                            "goal": f"{s}: event log adds <= {GOAL_EVENT_OVERHEAD:.0%} to an "
                            "ingest write",
                            "value": f"{r['overhead']:+.1%} (event itself {r['event_share']:.1%})",
                            "status": "MET" if met else "MISSED",
                        }
                    )
                rows.append(
                    [
                        s,
                        r["what"],
                        f"{r['with']['p50_ms']:.2f}",
                        f"{r['without']['p50_ms']:.2f}",
                        f"{r['overhead']:+.1%}",
                        f"{r['overhead_paired']:+.1%}",
                        f"{r['event']['p50_ms']:.3f}",
                        f"{r['event_share']:.1%}",
                        ("met" if met else "MISSED") if kind == "ingest" else "(info)",
                    ]
                )
        print(table(headers, rows, align="llrrrrrrl"))
        r0 = per[with_events[0]]["events"]["ingest"]
        print(
            f"   {r0['pairs_per_rep']} pairs of writes (one with, one without the event, back to "
            f"back, order alternating) per repetition, {r0['reps']} repetitions on a fresh store "
            "each; overhead = median over repetitions of median(with) / median(without) - 1; "
            "paired = median over all pairs of with / without - 1; event = batch_event + "
            "append_event timed inside the real writes; share = event p50 / with p50"
        )

    with_ask = [s for s in ran if "ask" in per[s]]
    if with_ask:
        print(
            "\n3. Ask latency (hybrid_search, real model, filter status draft/approved) idle vs "
            f"while a {per[with_ask[0]]['ask']['live_chunks']:,}-chunk write runs (ms)"
        )
        headers = ["store", "latency", "idle p50", "idle p99", "idle max", "write p50",
                   "write p99", "write max", "p50 x", "p99 x",
                   f"goal p99 <={GOAL_ASK_RATIO:g}x"]  # fmt: skip
        rows = []
        for s in with_ask:
            r = per[s]["ask"]
            met = r["p99_ratio"] <= GOAL_ASK_RATIO
            goals.append(
                {
                    "goal": f"{s}: ask p99 during a {r['live_chunks']:,}-chunk write <= "
                    f"{GOAL_ASK_RATIO:g}x idle",
                    "value": f"{r['p99_ratio']:.2f}x ({r['idle']['p99_ms']:.1f} -> "
                    f"{r['under_write']['p99_ms']:.1f} ms)",
                    "status": "MET" if met else "MISSED",
                }
            )
            for part, key, goal in (
                ("hybrid_search", "", "met" if met else "MISSED"),
                ("  query embedding", "_query_embedding", ""),
                ("  the rest (store)", "_without_embedding", ""),
                ("  lexical_search", "_lexical", ""),
                ("  vector_search", "_vector", ""),
            ):
                idle, busy = r["idle" + key], r["under_write" + key]
                rows.append(
                    [
                        s if not key else "",
                        part,
                        f"{idle['p50_ms']:.1f}",
                        f"{idle['p99_ms']:.1f}",
                        f"{idle['max_ms']:.1f}",
                        f"{busy['p50_ms']:.1f}",
                        f"{busy['p99_ms']:.1f}",
                        f"{busy['max_ms']:.1f}",
                        f"{busy['p50_ms'] / idle['p50_ms']:.2f}",
                        f"{busy['p99_ms'] / idle['p99_ms']:.2f}",
                        goal,
                    ]
                )
        print(table(headers, rows, align="llrrrrrrrrl"))
        for s in with_ask:
            r = per[s]["ask"]
            print(
                f"   {s}: {r['chunks']:,} chunks + {r['items']:,} items; {r['under_write']['n']} "
                f"queries counted of {r['asked_under_write']} asked while {r['writes']} writes of "
                f"{r['live_chunks']:,} chunks ran ({r['write']['p50_ms'] / 1000:.1f}s p50 each; "
                f"the longest query not counted {r['not_counted_max_ms']:.0f} ms); "
                f"idle = {r['idle']['n']} queries before and after (p50 "
                f"{r['idle_before_p50_ms']:.1f} / {r['idle_after_p50_ms']:.1f} ms)"
            )
        for s in with_ask:
            r = per[s]["ask"]
            if r.get("after_apply", {}).get("n"):
                a, i = r["after_apply"], r["idle"]
                print(
                    f"   {s}: the first ask after one apply() (status of one item, "
                    f"{a['n']} times): hybrid_search p50 {a['p50_ms']:.1f} / p99 "
                    f"{a['p99_ms']:.1f} ms (idle {i['p50_ms']:.1f} / {i['p99_ms']:.1f}), of "
                    f"which vector_search p50 {r['after_apply_vector']['p50_ms']:.1f} ms (idle "
                    f"{r['idle_vector']['p50_ms']:.1f}); apply() itself p50 "
                    f"{r['apply']['p50_ms']:.1f} ms"
                )
        print(
            "   counted: queries that started and ended while a write ran (back-to-back writes "
            f"{WRITE_GAP_S * 1000:.0f} ms apart or less taken as one stretch); the rest "
            "(store) = hybrid_search minus its query embedding; lexical_search runs in a worker "
            "thread beside the embedding, vector_search after it"
        )

    if goals:
        print()
        for g in goals:
            print(f"GOAL {g['goal']}: {g['value']} -> {g['status']}")
    return goals


# -- main -----------------------------------------------------------------------------------


def run_store(
    name: str, bench: Bench, args: argparse.Namespace, sections: Sequence[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        with STORES[name](bench) as fresh:
            if "query" in sections:
                t0 = time.perf_counter()
                out["query"] = section_query(fresh(), bench.corpus, args)
                out["query"]["section_s"] = round(time.perf_counter() - t0, 1)
            if "events" in sections:
                t0 = time.perf_counter()
                out["events"] = section_events(fresh, bench.corpus, args)
                out["events"]["section_s"] = round(time.perf_counter() - t0, 1)  # type: ignore
            if "ask" in sections:
                t0 = time.perf_counter()
                out["ask"] = section_ask(
                    fresh(), bench.corpus, bench.embedder, bench.settings, args
                )
                out["ask"]["section_s"] = round(time.perf_counter() - t0, 1)
            fresh()  # leave it empty
    except Exception as exc:  # a missing server is reported, not fatal
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"
        log(f"{name}: SKIPPED ({reason})")
        out["skipped"] = reason
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="embedded,neo4j", help="embedded,neo4j")
    parser.add_argument("--sections", default="query,events,ask", help="query,events,ask")
    parser.add_argument("--items", type=int, default=100_000, help="KnowledgeItems (section 1)")
    parser.add_argument("--batch", type=int, default=1000, help="items per write (section 1)")
    parser.add_argument(
        "--build-budget", type=float, default=150.0,
        help="seconds the section-1 build may take before it stops (0 = no limit)",
    )  # fmt: skip
    parser.add_argument("--query-reps", type=int, default=100, help="queries per query type")
    parser.add_argument("--query-budget", type=float, default=10.0, help="seconds per query type")
    parser.add_argument("--sources", type=int, default=30, help="write pairs per repetition (2)")
    parser.add_argument("--chunks", type=int, default=20, help="chunks per source (2)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions, fresh store each (2)")
    parser.add_argument("--bulk-pairs", type=int, default=2, help="1000-item upsert pairs (2)")
    parser.add_argument("--base-chunks", type=int, default=20_000, help="chunks in the store (3)")
    parser.add_argument("--live-chunks", type=int, default=10_000, help="chunks per write (3)")
    parser.add_argument(
        "--asks",
        type=int,
        default=100,
        help="queries idle (half before, half after) and under write",
    )
    parser.add_argument("--max-writes", type=int, default=4, help="writes at most (3)")
    parser.add_argument(
        "--decisions", type=int, default=10, help="asks right after one apply() each (3)"
    )
    parser.add_argument("--ask-budget", type=float, default=60.0, help="seconds under write (3)")
    parser.add_argument("--clear-existing", action="store_true", help="allow clearing NEO4J_URI")
    parser.add_argument(
        "--torch-threads", type=int, default=0, help="torch intra-op threads (0: torch's default)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default=str(RESULTS / "living.json"))
    args = parser.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in stores if s not in STORES] + [
        s for s in sections if s not in ("query", "events", "ask")
    ]
    if unknown:
        parser.error(f"unknown store or section: {unknown}")

    started = time.perf_counter()
    load_before = os.getloadavg()
    settings = Settings()
    embedder = None
    if "ask" in sections:
        embedder = get_embedder(
            settings.embedding_model, settings.embedding_batch_size, settings.query_encoder
        )
        import torch

        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
        results_threads = torch.get_num_threads()
    else:
        results_threads = 0
    corpus = Corpus.load(max(args.asks, 10), args.seed)
    bench = Bench(args, corpus, embedder, settings)
    log(
        f"corpus: {corpus.name}; stores {stores}; sections {sections}; torch threads "
        f"{results_threads}; load average "
        f"{load_before[0]:.1f} on {os.cpu_count()} CPUs"
    )
    results: dict[str, Any] = {
        "config": vars(args)
        | {
            "stores": stores,
            "sections": sections,
            "corpus": corpus.name,
            "torch_threads": results_threads,
        },
        "machine": machine_info() | {"loadavg_start": [round(x, 2) for x in load_before]},
        "stores": {},
    }
    for name in stores:
        t0 = time.perf_counter()
        log(f"{name}:")
        results["stores"][name] = run_store(name, bench, args, sections)
        results["stores"][name]["seconds"] = round(time.perf_counter() - t0, 1)
        log(f"{name}: {results['stores'][name]['seconds']:.0f}s")
    results["goals"] = report(results, stores)
    results["seconds"] = round(time.perf_counter() - started, 1)
    load_after = os.getloadavg()
    results["machine"]["loadavg_end"] = [round(x, 2) for x in load_after]
    write_json(Path(args.out), results)
    print(
        f"total {results['seconds']:.0f}s; load average {load_before[0]:.1f} at start, "
        f"{load_after[0]:.1f} at end ({os.cpu_count()} CPUs); wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

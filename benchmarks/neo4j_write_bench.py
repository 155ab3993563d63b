"""Neo4j write throughput, and where the time goes (`store.write`, the path ingest takes).

Source graphs are built by ingest itself (`Ingestor.ingest_loaded`: segmenting, entity
extraction and resolution, links) from the bundled sample corpus (`examples/`) and the first
N sessions of the JDDC chats, split into sources of K sessions each (one file per K
conversations, as an export folder would hold them). The model is replaced by random unit
vectors (384-dim, seeded by the text), so only the store is measured. The WriteBatches ingest
hands to `store.write` are captured once and then replayed, in order, into an emptied store:

- figure: nodes + links per second of `store.write` over all sources (median of --repeats),
  on Neo4j and, as the baseline, on the embedded store, for the same batches in the same run;
- breakdown (Neo4j): client-side preparation (building the parameter rows: records, digests,
  index terms), Python CPU during the writes (preparation + Bolt packing + reading replies),
  time per statement kind inside the transaction (a wrapper times each query to its last
  record) and the commit, and ablations: the same writes without the vector index, without
  embeddings at all, and without the event log; also a re-write of the unchanged batches
  (must write and log nothing).

    .venv/bin/python benchmarks/neo4j_write_bench.py [--neo4j-uri bolt://...] \
        [--jddc-sessions 300] [--sessions-per-source 10] [--repeats 3]

Without --neo4j-uri (or NEO4J_URI) a throw-away local server from neo4j-local/ is started
(tests.neo4j_server.LocalNeo4j). A server given by URI is cleared: it must hold nothing else.
Results: printed, and JSON in benchmarks/results/neo4j_write.json.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import RESULTS, ROOT, data_dir, machine_info, table, write_json

import graph.cypher as cypher_module
from graph.embedded import EmbeddedStore
from graph.settings import Settings
from graph.store import GraphStore, WriteBatch, WriteResult
from ingest.loaders import iter_files, load, load_jddc
from ingest.pipeline import Ingestor
from ingest.records import LoadedTranscript

DIM = 384
PREVIOUS = "1.5–1.8k"  # nodes+links/s before this change (benchmarks/run.py, 2-core box)
GOAL = 10_000.0


# -- the source graphs ----------------------------------------------------------------------


class RandomEmbedder:
    """Unit vectors seeded by the text: the same text always gets the same vector."""

    dim = DIM
    name = "random-unit-384"
    batch_size = 256

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
            v = np.random.default_rng(seed).standard_normal(DIM, dtype=np.float32)
            out[row] = v / np.linalg.norm(v)
        return out


class _Capture:
    """An embedded store that keeps a copy of every WriteBatch ingest writes through it."""

    def __init__(self, store: GraphStore) -> None:
        self._store = store
        self.batches: list[WriteBatch] = []

    def write(self, batch: WriteBatch, actor: str = "ingest") -> WriteResult:
        self.batches.append(copy.deepcopy(batch))
        return self._store.write(batch, actor)

    def write_many(self, batches: Sequence[WriteBatch], actor: str = "ingest") -> list[WriteResult]:
        return [self.write(batch, actor) for batch in batches]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def load_sources(jddc: Path | None, sessions: int, per_source: int) -> list[Any]:
    examples = ROOT / "examples"
    folders = [examples / "docs", examples / "notes", examples / "transcripts"]
    loaded: list[Any] = [load(p, uri=str(p.relative_to(ROOT))) for p in iter_files(folders)]
    if jddc is not None and jddc.exists() and sessions > 0:
        whole = load_jddc(jddc, uri="jddc2019/chat_0.1per.txt", limit_sessions=sessions)
        convs = whole.conversations
        for start in range(0, len(convs), per_source):
            part = convs[start : start + per_source]
            loaded.append(
                LoadedTranscript(
                    uri=f"jddc2019/sessions-{start:05d}.jddc",
                    format="jddc",
                    conversations=part,
                    raw_hash=hashlib.sha256(f"{whole.raw_hash}:{start}".encode()).hexdigest(),
                )
            )
    return loaded


def build_batches(loaded: Sequence[Any]) -> list[WriteBatch]:
    """What ingest writes for each source, in order (later sources see earlier entities)."""
    with tempfile.TemporaryDirectory() as tmp:
        capture = _Capture(EmbeddedStore.open(Path(tmp) / "capture.sqlite"))
        ingestor = Ingestor(capture, RandomEmbedder(), Settings(deid_key="bench"))  # type: ignore[arg-type]
        for item in loaded:
            report = ingestor.ingest_loaded(item)
            if report.status != "ingested":
                print(f"  skipped {item.uri}: {report.status} {report.reason}", file=sys.stderr)
        capture.close()
        return capture.batches


def size(batches: Sequence[WriteBatch]) -> int:
    return sum(len(b.nodes) + len(b.links) for b in batches)


def without_vectors(batches: Sequence[WriteBatch]) -> list[WriteBatch]:
    out = []
    for b in batches:
        nodes = [n.model_copy(update={"embedding": None}) for n in b.nodes]
        out.append(b.model_copy(update={"nodes": nodes}))
    return out


# -- the stores -------------------------------------------------------------------------------


class ServerCpu:
    """CPU seconds the Neo4j process has used (user + system), when its pid is known: on a
    shared box the steadiest measure of what the server does per node and link."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid

    def __call__(self) -> float | None:
        if not self.pid:
            return None
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SERVER_CPU = ServerCpu(None)


@contextlib.contextmanager
def neo4j(uri: str | None) -> Iterator[Any]:
    from graph.neo4j_store import Neo4jStore

    server = None
    uri = uri or os.environ.get("NEO4J_URI")
    if not uri:
        from tests.neo4j_server import LocalNeo4j

        server = LocalNeo4j()
        started = time.perf_counter()
        uri = server.start()
        SERVER_CPU.pid = server.proc.pid if server.proc else None
        print(f"neo4j: local server {uri} started in {time.perf_counter() - started:.0f}s")
    password = os.environ.get("NEO4J_PASSWORD")
    auth = (os.environ.get("NEO4J_USER", "neo4j"), password) if password else None
    store = Neo4jStore.connect(uri, auth=auth)
    try:
        yield store
    finally:
        store.close()
        if server is not None:
            server.stop()


class Tracer:
    """Times each statement of a write by kind (to its last record) and each commit."""

    def __init__(self) -> None:
        self.names = _statement_names()
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] += seconds
        self.calls[name] += 1

    def install(self, store: Any) -> Callable[[], None]:
        original = type(store)._write_tx
        tracer = self

        def write_tx(self_: Any, work: Callable[[Any], Any]) -> Any:
            inside = 0.0

            def traced(tx: Any) -> Any:
                nonlocal inside
                started = time.perf_counter()
                try:
                    return work(_TimedTx(tx, tracer))
                finally:
                    inside = time.perf_counter() - started

            started = time.perf_counter()
            result = original(self_, traced)
            tracer.add("commit", time.perf_counter() - started - inside)
            return result

        store._write_tx = write_tx.__get__(store)
        return lambda: delattr(store, "_write_tx")


def _statement_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for name, value in vars(cypher_module).items():
        if name.startswith("_") or not name.isupper():
            continue
        if isinstance(value, str):
            names[value] = name
        elif isinstance(value, dict):
            for statement in value.values():
                if isinstance(statement, str):
                    names[statement] = name
    return names


class _Buffered:
    """A result read to the end (so its time is the query's), used as the store uses one."""

    def __init__(self, records: list[Any]) -> None:
        self._records = records

    def single(self, strict: bool = False) -> Any:
        if strict and len(self._records) != 1:
            raise RuntimeError(f"expected one record, got {len(self._records)}")
        return self._records[0] if self._records else None

    def consume(self) -> None:
        return None

    def __iter__(self) -> Iterator[Any]:
        return iter(self._records)


class _TimedTx:
    def __init__(self, tx: Any, tracer: Tracer) -> None:
        self._tx, self._tracer = tx, tracer

    def run(self, query: str, parameters: dict[str, Any] | None = None, **kw: Any) -> _Buffered:
        started = time.perf_counter()
        records = list(self._tx.run(query, parameters, **kw))
        self._tracer.add(self._tracer.names.get(query, "other"), time.perf_counter() - started)
        return _Buffered(records)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)


# -- measuring --------------------------------------------------------------------------------


def replay(store: Any, batches: Sequence[WriteBatch], group: int = 1) -> dict[str, Any]:
    """Write every batch once (`group` > 1: that many per `write_many`, as ingest does);
    wall time, Python CPU time, and what was written."""
    totals = WriteResult()
    wall = cpu = 0.0
    server0 = SERVER_CPU()
    for start in range(0, len(batches), group):
        part = batches[start : start + group]
        w0, c0 = time.perf_counter(), time.process_time()
        results = store.write_many(part) if group > 1 else [store.write(part[0])]
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        for result in results:
            totals = WriteResult(
                **{f: getattr(totals, f) + getattr(result, f) for f in WriteResult.model_fields}
            )
    server1 = SERVER_CPU()
    server = None if server0 is None or server1 is None else server1 - server0
    return {"wall": wall, "cpu": cpu, "server_cpu": server, "result": totals}


def median_run(
    fresh: Callable[[], Any],
    batches: Sequence[WriteBatch],
    repeats: int,
    rewrite: bool = False,
    group: int = 1,
) -> dict[str, Any]:
    """Median (by wall time) of `repeats` replays into an emptied store; with `rewrite`, the
    last source written a second time, unchanged (must write and log nothing)."""
    runs, rewrites = [], []
    for _ in range(repeats):
        store = fresh()
        runs.append(replay(store, batches, group))
        if rewrite:
            before = len(store.events(limit=100_000))
            again = replay(store, batches[-1:])
            again["events"] = len(store.events(limit=100_000)) - before
            rewrites.append(again)
    walls = [r["wall"] for r in runs]
    mid = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
    out = {
        **mid,
        "walls": [round(w, 3) for w in walls],
        "rate": size(batches) / statistics.median(walls),
    }
    if rewrites:
        out["rewrite"] = sorted(rewrites, key=lambda r: r["wall"])[len(rewrites) // 2]
    return out


def client_prep(batches: Sequence[WriteBatch]) -> float:
    """CPU seconds to build every parameter row (records, digests, index terms)."""
    from graph import neo4j_store as ns

    started = time.process_time()
    for batch in batches:
        ns._node_rows(batch.nodes)
        ns._link_rows(batch.links)
    return time.process_time() - started


@contextlib.contextmanager
def patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neo4j-uri", default=None, help="default: NEO4J_URI, else a local one")
    parser.add_argument(
        "--jddc",
        type=Path,
        default=data_dir() / "jddc2019" / "chat_0.1per.txt",
        help="JDDC chat file (default: the eval data's)",
    )
    parser.add_argument("--jddc-sessions", type=int, default=100, help="0: sample corpus only")
    parser.add_argument("--sessions-per-source", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--group", type=int, default=100, help="sources per write_many in the grouped replay"
    )
    parser.add_argument("--ablation-repeats", type=int, default=1)
    parser.add_argument(
        "--server-pid", type=int, default=None, help="with --neo4j-uri: its pid, for server CPU"
    )
    parser.add_argument("--no-ablations", action="store_true", help="only the figures")
    parser.add_argument("--out", type=Path, default=RESULTS / "neo4j_write.json")
    args = parser.parse_args(argv)
    SERVER_CPU.pid = args.server_pid

    started = time.perf_counter()
    loaded = load_sources(args.jddc, args.jddc_sessions, args.sessions_per_source)
    batches = build_batches(loaded)
    nodes = sum(len(b.nodes) for b in batches)
    links = sum(len(b.links) for b in batches)
    by_label: dict[str, int] = defaultdict(int)
    for b in batches:
        for n in b.nodes:
            by_label[n.label.value] += 1
    print(
        f"{len(batches)} sources from {len(loaded)} inputs: {nodes:,} nodes + {links:,} links "
        f"(largest source {max(len(b.nodes) + len(b.links) for b in batches):,}); "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(by_label.items()))
        + f"; built in {time.perf_counter() - started:.0f}s"
    )
    results: dict[str, Any] = {
        "machine": machine_info(),
        "sources": len(batches),
        "nodes": nodes,
        "links": links,
        "by_label": dict(by_label),
    }

    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(1_000_000))
        opened: list[EmbeddedStore] = []

        def fresh_embedded() -> EmbeddedStore:
            for s in opened:
                s.close()
            opened[:] = [EmbeddedStore.open(Path(tmp) / f"e{next(counter)}.sqlite")]
            return opened[0]

        emb = median_run(fresh_embedded, batches, args.repeats, rewrite=True)
        for s in opened:
            s.close()
    print(
        f"embedded: {emb['rate']:,.0f} nodes+links/s (walls {emb['walls']}); re-write of the "
        f"last source: {emb['rewrite']['result'].model_dump()}, {emb['rewrite']['events']} events"
    )
    results["embedded"] = {"rate": emb["rate"], "walls": emb["walls"]}

    with neo4j(args.neo4j_uri) as store:

        def fresh() -> Any:
            store.clear()
            return store

        median_run(fresh, batches, 1)  # warm-up: the server plans each statement once
        full = median_run(fresh, batches, args.repeats, rewrite=True)
        again = full["rewrite"]
        rate = full["rate"]
        print(
            f"neo4j:    {rate:,.0f} nodes+links/s (walls {full['walls']}); "
            f"previously {PREVIOUS}/s; goal {GOAL:,.0f}/s"
        )
        print(
            f"re-write of the last source, unchanged: {again['wall']:.2f}s, wrote "
            f"{again['result'].model_dump()}, {again['events']} events"
        )
        grouped = median_run(fresh, batches, args.repeats, group=args.group)
        print(
            f"neo4j, {args.group} sources per transaction (write_many, as ingest groups "
            f"files): {grouped['rate']:,.0f} nodes+links/s (walls {grouped['walls']}); "
            f"server CPU {grouped['server_cpu'] or 0:.1f}s against {full['server_cpu'] or 0:.1f}s"
        )
        results["neo4j_grouped"] = {
            "group": args.group,
            "rate": grouped["rate"],
            "walls": grouped["walls"],
            "server_cpu": grouped["server_cpu"],
        }
        results["neo4j"] = {
            "rate": rate,
            "walls": full["walls"],
            "client_cpu": full["cpu"],
            "server_cpu": full["server_cpu"],
            "rewrite_seconds": again["wall"],
            "rewrite_result": again["result"].model_dump(),
            "rewrite_events": again["events"],
        }
        if args.no_ablations:
            write_json(args.out, results)
            return 0

        # Per statement: one traced replay (the wrapper adds a little per query).
        tracer = Tracer()
        undo = tracer.install(store)
        traced = median_run(fresh, batches, 1)
        undo()
        prep = client_prep(batches)

        variants: dict[str, dict[str, Any]] = {}
        from graph import neo4j_store as ns

        def no_event(self: Any, draft: Any) -> Any:
            return None

        with patched(ns._Tx, "append_event", no_event):
            variants["no event log"] = median_run(fresh, batches, args.ablation_repeats)

        def no_index(*_: Any, **__: Any) -> None:
            return None

        with patched(store, "_ensure_vector_index", no_index):
            variants["no vector index (vectors stored)"] = median_run(
                fresh, batches, args.ablation_repeats
            )
        variants["no embeddings at all"] = median_run(
            fresh, without_vectors(batches), args.ablation_repeats
        )
        store.clear()

    total = full["wall"]
    rows = [
        ["all of store.write (median)", f"{total:.2f}", "100 %", f"{rate:,.0f}"],
        ["  client preparation, CPU (rows, digests, terms)", f"{prep:.2f}", _pct(prep, total), ""],
        [
            "  Python CPU in all (prep + Bolt packing + replies)",
            f"{full['cpu']:.2f}",
            _pct(full["cpu"], total),
            "",
        ],
        [
            "  server + wire (wall - Python CPU)",
            f"{total - full['cpu']:.2f}",
            _pct(total - full["cpu"], total),
            "",
        ],
    ]
    if full["server_cpu"] is not None:
        server = full["server_cpu"]
        rows.append(
            [
                f"  Neo4j process CPU ({size(batches) / server:,.0f} nodes+links per CPU s)",
                f"{server:.2f}",
                _pct(server, total),
                "",
            ]
        )
    traced_total = traced["wall"]
    for name, seconds in sorted(tracer.seconds.items(), key=lambda kv: -kv[1]):
        rows.append(
            [
                f"  traced: {name} ({tracer.calls[name]} calls)",
                f"{seconds:.2f}",
                _pct(seconds, traced_total),
                "",
            ]
        )
    for name, run in variants.items():
        saved = total - run["wall"]
        cpu_saved = (
            f", server CPU {run['server_cpu'] - full['server_cpu']:+.2f}s"
            if run["server_cpu"] is not None and full["server_cpu"] is not None
            else ""
        )
        rows.append(
            [
                f"  without: {name} (wall {-saved:+.2f}s{cpu_saved})",
                f"{run['wall']:.2f}",
                _pct(saved, total) + " saved",
                f"{run['rate']:,.0f}",
            ]
        )
    print()
    print(table(["neo4j write", "seconds", "share", "nodes+links/s"], rows, "lrrr"))
    print(
        f"\nembedded baseline {emb['rate']:,.0f}/s; neo4j {rate:,.0f}/s "
        f"(previously {PREVIOUS}/s); {time.perf_counter() - started:.0f}s in all"
    )
    results["breakdown"] = {
        "client_prep_seconds": prep,
        "traced_seconds": dict(tracer.seconds),
        "traced_calls": dict(tracer.calls),
        "traced_wall": traced_total,
        "variants": {
            k: {"seconds": v["wall"], "rate": v["rate"], "server_cpu": v["server_cpu"]}
            for k, v in variants.items()
        },
    }
    write_json(args.out, results)
    return 0


def _pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.0f} %" if whole else "-"


if __name__ == "__main__":
    raise SystemExit(main())

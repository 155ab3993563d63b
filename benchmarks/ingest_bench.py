"""Ingest throughput against the embedding-only ceiling, on each store, in one run.

The ceiling is the packaged model encoding exactly the texts the pipeline embeds (chunks and
messages), in the same batches; ingest can be no faster. Goal: ingest ≥ 80 % of the ceiling.
Inputs: the bundled sample corpus and the first N sessions of the real JDDC chats (read in
place from ../shared/eval/data, converted in memory, never copied).

    .venv/bin/python benchmarks/ingest_bench.py [--jddc-sessions 150] [--stores embedded,neo4j]
    .venv/bin/python benchmarks/ingest_bench.py --jddc-sessions 0 --stores embedded   # all 994

Large-file mode: generate one text (Markdown) or transcript (JSON) file of each size in a temp
folder, ingest it through `Ingestor.ingest` (the CLI's path, raised file limit) in a fresh
process each, and print wall time, MB/s, peak RSS and where the time went (load, build =
segmenting, extract, embed, write):

    .venv/bin/python benchmarks/ingest_bench.py --large-file 0.25,1 [--large-kind text|transcript]

Sizes over the limits (settings max_file_mb, MAX_TEXT_BYTES) are refused as a user would see
it, and the time to refuse is what is measured; `--raise-limits` lifts them to measure
throughput at any size.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    RESULTS,
    ROOT,
    cpu_spent_s,
    data_dir,
    machine_info,
    server_cpu_ms,
    table,
    write_json,
)

from graph.embedded import EmbeddedStore
from graph.embeddings import get_embedder
from graph.model import Label
from graph.settings import Settings
from graph.store import GraphStore
from ingest.loaders import load, load_jddc
from ingest.pipeline import Ingestor
from ingest.records import LoadedDocument, LoadedNote, LoadedTranscript

EXAMPLES = ROOT / "examples"
GOAL = 0.8

Loaded = LoadedDocument | LoadedTranscript | LoadedNote


def inputs(jddc_sessions: int) -> list[Loaded]:
    """The sample corpus files and the JDDC sessions, loaded once (loading is not timed)."""
    from ingest.loaders import iter_files

    folders = [EXAMPLES / "docs", EXAMPLES / "notes", EXAMPLES / "transcripts"]
    loaded: list[Loaded] = [load(p, uri=str(p.relative_to(ROOT))) for p in iter_files(folders)]
    jddc = data_dir() / "jddc2019" / "chat_0.1per.txt"
    if jddc.exists():
        limit = jddc_sessions or None
        loaded.append(load_jddc(jddc, uri="jddc2019/chat_0.1per.txt", limit_sessions=limit))
    return loaded


def texts_to_embed(ingestor: Ingestor, loaded: Sequence[Loaded]) -> list[str]:
    """What the pipeline would embed: built with its own steps, so the ceiling is like for like."""
    texts: list[str] = []
    for item in loaded:
        graph, _, _ = ingestor.preparer.build(item, "bench")
        texts += [n.search_text() for n in graph.text_nodes]
    return texts


def ceiling(texts: Sequence[str], sliced: bool = False) -> dict[str, Any]:
    """The model alone on every text (repeats included) in one call, which sorts them by
    length across the corpus into full batches: the fastest way it embeds them.

    `sliced`: also the ceiling used up to December 5 (stop 33), slices of 256 texts in file
    order, which pad more and run more part-full batches (49-52 against 39 s for 994 JDDC
    sessions): kept beside it so earlier shares can be compared."""
    embedder = get_embedder()
    embedder.encode(texts[:32])  # warm-up
    start = time.perf_counter()
    embedder.encode(texts)
    seconds = time.perf_counter() - start
    found = {"texts": len(texts), "seconds": round(seconds, 2), "texts_per_s": len(texts) / seconds}
    if sliced:
        start = time.perf_counter()
        for i in range(0, len(texts), 256):
            embedder.encode(texts[i : i + 256])
        found["sliced_seconds"] = round(time.perf_counter() - start, 2)
    return found


@contextlib.contextmanager
def open_store(name: str) -> Iterator[GraphStore]:
    if name == "embedded":
        with tempfile.TemporaryDirectory() as tmp:
            store = EmbeddedStore.open(Path(tmp) / "bench.sqlite")
            yield store
            store.close()
        return

    from graph.neo4j_store import Neo4jStore
    from tests.neo4j_server import LocalNeo4j

    server = None if os.environ.get("NEO4J_URI") else LocalNeo4j()
    uri = server.start() if server else os.environ["NEO4J_URI"]
    SERVER["pid"] = server.proc.pid if server and server.proc else None
    store = Neo4jStore.connect(uri)
    store.clear()
    try:
        yield store
    finally:
        store.close()
        SERVER["pid"] = None
        if server:
            server.stop()


SERVER: dict[str, int | None] = {"pid": None}  # the local Neo4j launcher, while it runs


def ingest_run(name: str, loaded: Sequence[Loaded]) -> dict[str, Any]:
    with open_store(name) as store:
        ingestor = Ingestor(store, get_embedder(), Settings(store=name, deid_key="bench"))
        start = time.perf_counter()
        reports = [ingestor.ingest_loaded(item) for item in loaded]
        seconds = time.perf_counter() - start
        failed = [r.uri for r in reports if r.status != "ingested"]
        chunks = sum(r.chunks for r in reports)
        messages = sum(r.messages for r in reports)
        jddc = next((r for r in reports if r.uri.startswith("jddc")), None)
        stats = store.stats()
        return {
            "seconds": round(seconds, 2),
            "chunks": chunks,
            "messages": messages,
            "chunks_per_s": chunks / seconds,
            "messages_per_s": messages / seconds,
            "texts_per_s": (chunks + messages) / seconds,
            "entities": stats.nodes.get(Label.ENTITY.value, 0),
            "links": stats.total_links,
            "failed": failed,
            "jddc": jddc.model_dump() if jddc else None,
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jddc-sessions", type=int, default=150, help="0 = all 994 sessions")
    parser.add_argument("--stores", default="embedded,neo4j")
    parser.add_argument("--large-file", help="sizes in MB, e.g. 0.25,1,5: large-file mode")
    parser.add_argument("--large-kind", choices=("text", "transcript"), default="text")
    parser.add_argument("--raise-limits", action="store_true", help="ingest over the limits")
    parser.add_argument("--one-large", type=float, help=argparse.SUPPRESS)  # the child process
    parser.add_argument(
        "--files",
        action="store_true",
        help="files mode: JDDC sessions as one JSON file each through `Ingestor.ingest`",
    )
    parser.add_argument("--replay", type=int, default=1, help="files mode: copies with new ids")
    parser.add_argument("--no-docs", action="store_true", help="files mode: JDDC only")
    parser.add_argument(
        "--vectors-at-hand",
        metavar="FOLDER",
        help="the pipeline's own floor: FOLDER imported with the model's vectors replayed",
    )
    parser.add_argument(
        "--floor", action="store_true", help="files mode: also --vectors-at-hand on the sessions"
    )
    parser.add_argument("--one-corpus", help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--store", default="embedded", help=argparse.SUPPRESS)
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--warm-server",
        action="store_true",
        help="files mode: also a Neo4j leg on a server that has imported (and cleared) "
        f"{WARM_FILES} of the files first",
    )
    args = parser.parse_args(argv)
    if args.one_corpus:
        print(json.dumps(corpus_run(args.one_corpus, args.store, args.warm)))
        return 0
    if args.vectors_at_hand:
        return vectors_at_hand(Path(args.vectors_at_hand))
    if args.files:
        stores = [s for s in args.stores.split(",") if s]
        return files_mode(
            args.jddc_sessions,
            args.replay,
            stores,
            not args.no_docs,
            args.warm_server,
            args.floor,
        )
    if args.one_large:
        print(json.dumps(large_file_run(args.one_large, args.large_kind, args.raise_limits)))
        return 0
    if args.large_file:
        sizes = [float(mb) for mb in args.large_file.split(",")]
        return large_files(sizes, args.large_kind, args.raise_limits)
    loaded = inputs(args.jddc_sessions)
    probe = Ingestor(
        EmbeddedStore.open(Path(tempfile.mkdtemp()) / "p.sqlite"),
        get_embedder(),
        Settings(deid_key="bench"),
    )
    texts = texts_to_embed(probe, loaded)
    ceil = ceiling(texts)
    print(f"embedding-only ceiling: {ceil['texts_per_s']:.1f} texts/s ({ceil['texts']} texts)")
    runs = {name: ingest_run(name, loaded) for name in args.stores.split(",") if name}
    after = ceiling(texts)  # again after the runs: the faster of the two is the ceiling
    print(f"embedding-only ceiling after the runs: {after['texts_per_s']:.1f} texts/s")
    ceil = max(ceil, after, key=lambda c: c["texts_per_s"])
    rows = []
    for name, run in runs.items():
        ratio = run["texts_per_s"] / ceil["texts_per_s"]
        rows.append(
            [
                name,
                run["chunks"],
                run["messages"],
                f"{run['seconds']:.1f}",
                f"{run['chunks_per_s']:.1f}",
                f"{run['messages_per_s']:.1f}",
                f"{run['texts_per_s']:.1f}",
                f"{ratio:.0%}",
                "PASS" if ratio >= GOAL else "MISS",
            ]
        )
        run["ratio_to_ceiling"] = ratio
    print(
        table(
            [
                "store",
                "chunks",
                "messages",
                "s",
                "chunks/s",
                "messages/s",
                "texts/s",
                "of ceiling",
                f"goal ≥{GOAL:.0%}",
            ],
            rows,
        )
    )
    for name, run in runs.items():
        if run["jddc"]:
            j = run["jddc"]
            print(
                f"{name}: JDDC {args.jddc_sessions or 'all'} sessions → {j['messages']} messages, "
                f"{j['entities']} entities, {j['links']} links in this source"
            )
        if run["failed"]:
            print(f"{name}: not ingested: {run['failed']}")
    write_json(
        RESULTS / "ingest.json",
        {
            "machine": machine_info(),
            "ceiling": ceil,
            "runs": runs,
            "jddc_sessions": args.jddc_sessions,
        },
    )
    return 0


# --- large-file mode -------------------------------------------------------------------------


def _sentences() -> list[str]:
    """Sentences of the bundled documents: realistic Chinese and English to repeat."""
    found = []
    for path in sorted((EXAMPLES / "docs").glob("*")):
        if path.suffix in (".md", ".txt"):
            for part in re.split(r"(?<=[。！？.!?])", path.read_text(encoding="utf-8")):
                part = part.strip().lstrip("#").strip()
                if len(part) > 6:
                    found.append(part)
    return found


def make_large_file(folder: Path, mb: float, kind: str, seed: int = 0) -> Path:
    """A `mb` MB Markdown document (a heading every 40 sentences) or canonical transcript JSON
    (conversations of 12 turns), from shuffled sample sentences with serial numbers so that
    no two chunks are the same."""
    rng, sentences = random.Random(seed), _sentences()
    target, size, n = int(mb * 1024 * 1024), 0, 0
    path = folder / (f"large-{mb:g}mb.md" if kind == "text" else f"large-{mb:g}mb.json")
    with path.open("w", encoding="utf-8") as out:
        out.write("[" if kind == "transcript" else "")
        while size < target:
            if kind == "text":
                piece = f"\n## 第{n // 40}节\n" if n % 40 == 0 else ""
                piece += f"{rng.choice(sentences)} 编号{n}。" + ("\n" if rng.random() < 0.2 else "")
            else:
                turns = [
                    {"role": ("customer", "employee")[i % 2], "text": rng.choice(sentences)}
                    for i in range(12)
                ]
                conv = {"id": f"c{n}", "employee": "王丽", "messages": turns}
                piece = ("," if n else "") + json.dumps(conv, ensure_ascii=False)
            out.write(piece)
            size += len(piece.encode("utf-8"))
            n += 1
        out.write("]" if kind == "transcript" else "")
    return path


def large_file_run(mb: float, kind: str, raise_limits: bool = False) -> dict[str, Any]:
    """Ingest one generated file in this process; the phases are timed by wrapping the
    ingestor's steps, the RSS is this process's peak (the model included)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = make_large_file(Path(tmp), mb, kind)
        size_mb = path.stat().st_size / 1024 / 1024
        store = EmbeddedStore.open(Path(tmp) / "bench.sqlite")
        embedder = get_embedder()
        embedder.encode(["warm-up"])
        settings = Settings(deid_key="bench", data_dir=Path(tmp))
        if raise_limits:
            settings = Settings(
                deid_key="bench", data_dir=Path(tmp), max_file_mb=mb + 1, max_text_mb=mb + 1
            )
        ingestor = Ingestor(store, embedder, settings)
        phases: dict[str, float] = {}
        _time_steps(ingestor, store, phases)
        rss_before = _peak_rss_mb()
        start, cpu_start = time.perf_counter(), time.process_time()
        report = ingestor.ingest([path])
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        store.close()
    file_report = report.files[0]
    return {
        "kind": kind,
        "mb": round(size_mb, 3),
        "seconds": round(seconds, 1),
        "mb_per_s": size_mb / seconds,
        # CPU seconds over all threads: what the machine's load average does not change
        "cpu_s": round(cpu, 1),
        "load_average": round(os.getloadavg()[0], 1),
        "peak_rss_mb": round(_peak_rss_mb()),
        "rss_after_model_mb": round(rss_before),
        "status": file_report.status,
        "reason": file_report.reason,
        "chunks": file_report.chunks,
        "messages": file_report.messages,
        "phases_s": {name: round(value, 1) for name, value in phases.items()},
    }


def _time_steps(ingestor: Ingestor, store: GraphStore, phases: dict[str, float]) -> None:
    import ingest.prepare as prepare

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - start

        return wrapper

    prepare.load = timed("load", prepare.load)  # type: ignore[attr-defined]
    ingestor.preparer.build = timed("build", ingestor.preparer.build)  # type: ignore[method-assign]
    for step, name in (("_link", "link"), ("_embed", "embed")):
        setattr(ingestor, step, timed(name, getattr(ingestor, step)))
    # The new names are found here and encoded in the texts' run ("embed").
    for step, name in (("names_to_encode", "names"), ("resolve", "resolve")):
        setattr(ingestor.resolver, step, timed(name, getattr(ingestor.resolver, step)))
    # Ingest commits through write_many (the embedded store's calls write: time one of them).
    store.write_many = timed("write", store.write_many)  # type: ignore[method-assign]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def large_files(sizes: Sequence[float], kind: str, raise_limits: bool) -> int:
    """Each size in a fresh process, so that each peak RSS is its own."""
    runs = []
    for mb in sizes:
        command = [sys.executable, __file__, "--one-large", str(mb), "--large-kind", kind]
        command += ["--raise-limits"] if raise_limits else []
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr[-2000:])
            return 1
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(runs[-1], ensure_ascii=False))
    rows = [
        [
            r["kind"],
            f"{r['mb']:g}",
            f"{r['seconds']:.0f}",
            f"{r['cpu_s']:.0f}",
            f"{r['load_average']:.1f}",
            f"{r['mb_per_s'] * 1024:.1f}",
            r["peak_rss_mb"],
            r["chunks"] + r["messages"],
            " ".join(f"{k} {v:g}" for k, v in r["phases_s"].items()),
            r["status"] + (f": {r['reason']}" if r["reason"] else ""),
        ]
        for r in runs
    ]
    headers = ["kind", "MB", "s", "CPU s", "load", "KB/s", "peak RSS MB", "texts", "phases (s)"]
    headers.append("status")
    print(table(headers, rows))
    write_json(RESULTS / f"ingest_large_{kind}.json", {"machine": machine_info(), "runs": runs})
    return 0


# --- files mode: a user's export, one canonical JSON file per conversation ---------------------

# What issue 13 measured before batching across files (994 JDDC sessions, embedded store).
BEFORE = {"seconds": 178.0, "ratio": 0.22, "peak_rss_mb": 1950}


def session_files(folder: Path, sessions: int, replay: int = 1) -> list[Path]:
    """The first `sessions` JDDC sessions (0: all), one canonical transcript JSON file each,
    as a WeCom or chat-desk export gives them; `replay` > 1 adds copies with new ids (a larger
    corpus of the same shape). Written to a temp folder, never into the repository."""
    source = data_dir() / "jddc2019" / "chat_0.1per.txt"
    loaded = load_jddc(source, limit_sessions=sessions or None)
    paths = []
    for copy in range(replay):
        for conv in loaded.conversations:
            record = conv.model_dump(mode="json", exclude={"files", "cards"})
            record["id"] = f"{conv.id}-r{copy}" if copy else conv.id
            path = folder / f"{record['id']}.json"
            path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
            paths.append(path)
    return paths


def corpus_texts(paths: Sequence[Path]) -> list[str]:
    """Every text the pipeline embeds for these files (chunks, sentences, messages), built
    with its own steps: the ceiling encodes exactly these."""
    probe = Ingestor(
        EmbeddedStore.open(Path(tempfile.mkdtemp()) / "p.sqlite"),
        get_embedder(),
        Settings(deid_key="bench", data_dir=Path(tempfile.mkdtemp())),
    )
    texts: list[str] = []
    for path in paths:
        graph, _, _ = probe.preparer.build(load(path, uri=str(path)), "bench")
        texts += [n.search_text() for n in graph.embedded_nodes]
    return texts


def last_seq(store: GraphStore) -> int:
    """The log's last sequence number, read a page at a time: the whole log of a large corpus
    held at once would be part of the peak memory this run reports."""
    seq = 0
    while page := store.events(since=seq, limit=1000):
        seq = page[-1].seq
    return seq


class _Replayed:
    """The model's vectors, computed once and then looked up: what is left of an import is
    the pipeline's own work (preparing, resolving, writing), what bounds it on hardware whose
    model runs far faster than these 2 cores' (a GPU, many cores)."""

    def __init__(self, model: Any) -> None:
        self.model, self.dim, self.known = model, model.dim, dict[str, np.ndarray]()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self.known]
        if new:
            self.known.update(zip(new, np.asarray(self.model.encode(new), np.float32), strict=True))
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([self.known[t] for t in texts])


def vectors_at_hand(folder: Path, runs: int = 3) -> int:
    """`folder` imported into fresh embedded stores with every vector at hand (a first run
    computes them): the median import, and of it the writer thread's time and CPU."""
    embedder = _Replayed(get_embedder())
    write_s, write_cpu = [0.0], [0.0]
    real = Ingestor._write_all

    def timed(self: Ingestor, ready: Any) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return real(self, ready)
        finally:
            write_s[0] += time.perf_counter() - start
            write_cpu[0] += time.thread_time() - cpu

    Ingestor._write_all = timed  # type: ignore[method-assign]
    rows = []
    for run in range(runs + 1):
        write_s[0] = write_cpu[0] = 0.0
        with tempfile.TemporaryDirectory() as tmp:
            store = EmbeddedStore.open(Path(tmp) / "s.sqlite")
            settings = Settings(deid_key="bench", data_dir=Path(tmp))
            start, cpu = time.perf_counter(), time.process_time()
            report = Ingestor(store, embedder, settings).ingest([folder])
            seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu
            store.close()
        what = "with the model (vectors kept)" if run == 0 else f"vectors at hand, run {run}"
        rows.append(
            [
                what,
                len(report.files),
                f"{seconds:.1f}",
                f"{cpu_s:.1f}",
                f"{write_s[0]:.1f}",
                f"{write_cpu[0]:.1f}",
            ]
        )
    Ingestor._write_all = real  # type: ignore[method-assign]
    print(table(["import", "files", "s", "CPU s", "writer s", "writer CPU s"], rows))
    median = statistics.median(float(r[2]) for r in rows[1:])
    print(
        f"median with vectors at hand: {median:.1f} s ({float(rows[0][2]) / median:.1f}x "
        "faster than with the model)"
    )
    return 0


FLOOR_BEFORE_S = (19.8, 18.0)  # --vectors-at-hand, 994 sessions: stop 36's two make bench runs
WARM_FILES = 300  # --warm-server: files imported (then cleared) before the timed run


def corpus_run(folder: str, store_name: str, warm: bool = False) -> dict[str, Any]:
    """In a fresh process (its peak RSS is the run's): the CLI's path, `Ingestor.ingest` over
    the folder, model start-up included, on an empty store and an empty name cache.

    `warm`: the server has imported WARM_FILES of the files before, cleared since, as one
    that has run a while. A just-started Neo4j compiles its own code as it first runs it
    (the JIT): 37 s of the server's 65 s of CPU in a 100 s import of the 994 sessions."""
    with tempfile.TemporaryDirectory() as tmp, open_store(store_name) as store:
        if warm:
            _warm_up(store, store_name, Path(folder), Path(tmp))
        start = time.perf_counter()
        pid = SERVER["pid"]
        cpu_before, jit_before = server_cpu_ms(pid), server_cpu_ms(pid, compiler_only=True)
        # The store named, so that its defaults apply (the group size differs).
        settings = Settings(store=store_name, deid_key="bench", data_dir=Path(tmp))
        ingestor = Ingestor(store, get_embedder(), settings)
        report = ingestor.ingest([Path(folder)])
        seconds = time.perf_counter() - start
        server_cpu = cpu_spent_s(cpu_before, server_cpu_ms(pid))
        compiler_cpu = cpu_spent_s(jit_before, server_cpu_ms(pid, compiler_only=True))
        logged = last_seq(store)
        again = time.perf_counter()
        rerun = ingestor.ingest([Path(folder)])  # unchanged input: must write nothing
        rerun_s = time.perf_counter() - again
        rerun_events = len(store.events(since=logged))
        stats = store.stats()
    return {
        "seconds": round(seconds, 1),
        "files": len(report.files),
        "failed": report.failed,
        "nodes": stats.total_nodes,
        "links": stats.total_links,
        "entities": stats.nodes.get(Label.ENTITY.value, 0),
        "peak_rss_mb": round(_peak_rss_mb()),
        "server_cpu_s": server_cpu,  # a local Neo4j's CPU during the import
        "server_compiler_cpu_s": compiler_cpu,  # of it, the JVM's JIT compiler threads
        "rerun_s": round(rerun_s, 1),
        "rerun_unchanged": sum(f.status == "unchanged" for f in rerun.files),
        "rerun_events": rerun_events,
    }


def _warm_up(store: GraphStore, store_name: str, folder: Path, tmp: Path) -> None:
    warm = tmp / "warm"
    warm.mkdir()
    for path in sorted(folder.iterdir())[:WARM_FILES]:
        (warm / path.name).write_bytes(path.read_bytes())
    settings = Settings(store=store_name, deid_key="bench", data_dir=tmp / "warm-data")
    Ingestor(store, get_embedder(), settings).ingest([warm])
    store.clear()


def files_mode(
    sessions: int,
    replay: int,
    stores: Sequence[str],
    docs: bool,
    warm: bool = False,
    floor: bool = False,
) -> int:
    corpora: dict[str, list[Path]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        jddc = Path(tmp) / "jddc"
        jddc.mkdir()
        corpora[f"JDDC {sessions or 'all'} sessions x{replay}"] = session_files(
            jddc, sessions, replay
        )
        if docs:
            corpora["documents and notes"] = [
                p for p in sorted((EXAMPLES / "docs").iterdir()) if p.is_file()
            ] + [p for p in sorted((EXAMPLES / "notes").iterdir()) if p.is_file()]
        rows = []
        results: dict[str, Any] = {"machine": machine_info(), "before": BEFORE, "runs": []}
        for name, paths in corpora.items():
            texts = corpus_texts(paths)
            ceil = ceiling(texts, sliced=True)
            folder = paths[0].parent if name.startswith("JDDC") else None
            legs = [(s, False) for s in stores]
            legs += [("neo4j", True)] if warm and "neo4j" in stores else []
            for store_name, warmed in legs:
                if folder is None:  # documents: copy them to one folder (the CLI takes folders)
                    docs_dir = Path(tmp) / "docs"
                    docs_dir.mkdir(exist_ok=True)
                    for p in paths:
                        (docs_dir / p.name).write_bytes(p.read_bytes())
                    folder = docs_dir
                command = [sys.executable, __file__, "--one-corpus", str(folder)]
                command += ["--store", store_name] + (["--warm"] if warmed else [])
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    print(done.stderr[-3000:])
                    return 1
                try:
                    run = json.loads(done.stdout.strip().splitlines()[-1])
                except (IndexError, json.JSONDecodeError):
                    print(f"no figures from {store_name}:\n{done.stdout[-2000:]}")
                    print(done.stderr[-2000:])
                    return 1
                run.update(corpus=name, store=store_name, texts=len(texts), ceiling=ceil)
                run["warm_server"] = warmed
                run["texts_per_s"] = len(texts) / run["seconds"]
                run["ratio"] = run["texts_per_s"] / ceil["texts_per_s"]
                results["runs"].append(run)
                goal = 0.8 if store_name == "embedded" else 0.6
                rows.append(
                    [
                        name,
                        f"{store_name}, server warm" if warmed else store_name,
                        len(paths),
                        len(texts),
                        f"{run['seconds']:.0f}",
                        f"{run['texts_per_s']:.0f}",
                        f"{ceil['texts_per_s']:.0f}",
                        f"{run['ratio']:.0%}",
                        f"{ceil['sliced_seconds'] / run['seconds']:.0%}",
                        "PASS" if run["ratio"] >= goal else "MISS",
                        run["peak_rss_mb"],
                        ""
                        if run["server_cpu_s"] is None
                        else f"{run['server_cpu_s']:.0f} ({run['server_compiler_cpu_s']:.0f})",
                        f"{run['rerun_s']:.1f} ({run['rerun_unchanged']}/{run['files']}, "
                        f"{run['rerun_events']} events)",
                    ]
                )
        if floor:  # the pipeline's own floor, on the same session files
            jddc_dir = str(next(iter(corpora.values()))[0].parent)
            command = [sys.executable, __file__, "--vectors-at-hand", jddc_dir]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            print(done.stdout.strip() if done.returncode == 0 else done.stderr[-3000:])
            before = " and ".join(f"{s} s" for s in FLOOR_BEFORE_S)
            print(f"(stop 36: median {before} with vectors at hand, 994 sessions, in two runs)")
    print(
        table(
            [
                "corpus",
                "store",
                "files",
                "texts",
                "s",
                "texts/s",
                "ceiling/s",
                "of ceiling",
                "of stop-33 ceiling",
                "goal (80 % / 60 %)",
                "peak RSS MB",
                "server CPU s (JIT)",
                "rerun s (unchanged, events)",
            ],
            rows,
        )
    )
    print(
        f"before (issue 13): 994 sessions {BEFORE['seconds']:.0f} s, "
        f"{BEFORE['ratio']:.0%} of the ceiling, {BEFORE['peak_rss_mb']} MB peak RSS; "
        "goals: under 60 s, ≥ 80 % (embedded) / ≥ 60 % (Neo4j), ≤ 1 GB"
    )
    print(
        "ceiling: every text in one model call (sorted by length across the corpus); the "
        "stop-33 ceiling encoded slices of 256 in file order, as the pipeline did then"
    )
    write_json(RESULTS / f"ingest_files_x{replay}.json", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

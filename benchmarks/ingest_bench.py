"""Ingest throughput against the embedding-only ceiling, on each store, in one run.

The ceiling is the packaged model encoding exactly the texts the pipeline embeds (chunks and
messages), in the same batches; ingest can be no faster. Goal: ingest ≥ 80 % of the ceiling.
Inputs: the bundled sample corpus and the first N sessions of the real JDDC chats (read in
place from ../shared/eval/data, converted in memory, never copied).

    .venv/bin/python benchmarks/ingest_bench.py [--jddc-sessions 150] [--stores embedded,neo4j]
    .venv/bin/python benchmarks/ingest_bench.py --jddc-sessions 0 --stores embedded   # all 994
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from common import RESULTS, ROOT, data_dir, machine_info, table, write_json

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
        graph, _ = ingestor._build(item, "bench")
        texts += [n.search_text() for n in graph.text_nodes]
    return texts


def ceiling(texts: Sequence[str]) -> dict[str, Any]:
    embedder = get_embedder()
    embedder.encode(texts[:32])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(texts), 256):  # the pipeline's slice size
        embedder.encode(texts[i : i + 256])
    seconds = time.perf_counter() - start
    return {"texts": len(texts), "seconds": round(seconds, 2), "texts_per_s": len(texts) / seconds}


@contextlib.contextmanager
def open_store(name: str) -> Iterator[GraphStore]:
    if name == "embedded":
        with tempfile.TemporaryDirectory() as tmp:
            store = EmbeddedStore.open(Path(tmp) / "bench.sqlite")
            yield store
            store.close()
        return
    import os

    from graph.neo4j_store import Neo4jStore
    from tests.neo4j_server import LocalNeo4j

    server = None if os.environ.get("NEO4J_URI") else LocalNeo4j()
    uri = server.start() if server else os.environ["NEO4J_URI"]
    store = Neo4jStore.connect(uri)
    store.clear()
    try:
        yield store
    finally:
        store.close()
        if server:
            server.stop()


def ingest_run(name: str, loaded: Sequence[Loaded]) -> dict[str, Any]:
    with open_store(name) as store:
        ingestor = Ingestor(store, get_embedder(), Settings(deid_key="bench"))
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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    raise SystemExit(main())

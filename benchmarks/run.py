"""Speed figures for Spiral's stores and the embedding model (`make bench`).

For each store (embedded; Neo4j) and each size (default 10k and 100k chunks):
- upsert: Documents with their Chunks (random unit vectors, dim 384) and PART_OF links,
  written as WriteBatches of --batch chunks each, the way ingest writes them (each batch
  replaces its documents); figure: nodes+links written per second of `store.write`;
- search: latency p50 / p99 over --queries queries of `lexical_search` and `vector_search`
  (50 candidates each, as hybrid search asks) and of the full `hybrid_search`, including the
  real model embedding the query.
And once: the real model's encoding throughput on realistic short texts (the ceiling for
ingest) and its single-query latency.

Chunk text is bilingual and realistic: sentences of banking77 (English) and JDDC (Chinese
customer-service chat) read at run time from SPIRAL_EVAL_DATA (default ../shared/eval/data),
two per chunk; queries are held-out sentences. Without that data a built-in bilingual
vocabulary makes synthetic sentences instead (printed as the corpus in use).

Neo4j: NEO4J_URI (with NEO4J_USER / NEO4J_PASSWORD) if set, else a throw-away local server
from neo4j-local/ (tests.neo4j_server.LocalNeo4j); when neither works it is skipped with the
reason printed. A server given by NEO4J_URI must hold an empty database (the benchmark clears
it) unless --clear-existing is passed.

Sections are plain functions so more can be added (see GLOBAL_SECTIONS / STORE_SECTIONS).
Results: printed tables and goals, and JSON in benchmarks/results/bench.json.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    RESULTS,
    data_dir,
    latency_summary,
    machine_info,
    read_banking77,
    read_jddc,
    table,
    write_json,
)

from graph.embeddings import get_embedder
from graph.model import Chunk, Document, Label, Link, LinkType, make_id
from graph.search import DEFAULT_LABELS, hybrid_search
from graph.settings import Settings
from graph.store import GraphStore, WriteBatch

DIM = 384
CANDIDATES = 50  # per side, as hybrid_search asks its store
GOAL_HYBRID_P50_MS = 30.0  # embedded, at 100k chunks, query embedding included
GOAL_HYBRID_SIZE = 100_000
GOAL_NEO4J_WRITES = 10_000.0  # nodes + links per second


# -- corpus -------------------------------------------------------------------------------

_CJK = re.compile(r"[\u4e00-\u9fff]")
_VOCAB_ZH = (
    "退款 订单 发货 快递 地址 修改 发票 售后 保修 退货 换货 优惠券 价格 会员 积分 支付 银行卡",
    "账户 密码 登录 客服 物流 签收 安装 维修 配件 型号 库存 活动 满减 保价 赔偿 投诉 延迟",
    "到货 申请 审核 取消 确认 您好 请问 可以 帮我 查询 一下 什么 时候 为什么 怎么 需要",
)
_VOCAB_EN = (
    "refund order delivery card account transfer payment fee charge balance top-up cash",
    "withdrawal pin password exchange rate limit verify identity blocked lost stolen pending",
    "declined arrived contactless virtual physical app support cancel change address how why",
    "when can my the is not still please help need want",
)


@dataclass
class Corpus:
    """Sentences to build chunk texts from, and held-out sentences to ask with."""

    name: str
    zh: list[str]
    en: list[str]
    queries: list[str]

    @classmethod
    def load(cls, n_queries: int, seed: int) -> Corpus:
        rng = random.Random(seed)
        try:
            en = sorted({t for t, _ in read_banking77() if t})
            jddc = [(" ".join(t.replace(";", " ").split()), agent) for t, agent in read_jddc()]
            zh = sorted({t for t, _ in jddc if len(_CJK.findall(t)) >= 4})
            # Customer turns that read like a question: some Chinese, not a pasted form.
            asked = sorted(
                {t for t, agent in jddc if not agent and len(_CJK.findall(t)) >= 6 and len(t) <= 60}
            )
            name = f"banking77 + JDDC sentences from {data_dir()}"
        except OSError:
            en = [_synthetic(rng, _VOCAB_EN, " ", 6, 16) for _ in range(5000)]
            zh = [_synthetic(rng, _VOCAB_ZH, "", 4, 12) for _ in range(5000)]
            asked = zh
            name = "synthetic bilingual vocabulary (eval data not found)"
        # Hold out the query sentences: half customer turns of JDDC, half banking77.
        held = set(rng.sample(asked, n_queries // 2)) | set(
            rng.sample(en, n_queries - n_queries // 2)
        )
        queries = sorted(held)
        rng.shuffle(queries)
        zh = [t for t in zh if t not in held]
        en = [t for t in en if t not in held]
        return cls(name, zh, en, queries)

    def texts(self, rng: np.random.Generator, n: int) -> list[str]:
        """n chunk texts of two sentences: 50% Chinese, 30% English, 20% mixed."""
        kinds = rng.random(n)
        zh_i = rng.integers(0, len(self.zh), size=(n, 2))
        en_i = rng.integers(0, len(self.en), size=(n, 2))
        out = []
        for kind, (z1, z2), (e1, e2) in zip(kinds, zh_i, en_i, strict=True):
            if kind < 0.5:
                out.append(f"{self.zh[z1]} {self.zh[z2]}")
            elif kind < 0.8:
                out.append(f"{self.en[e1]} {self.en[e2]}")
            else:
                out.append(f"{self.zh[z1]} {self.en[e1]}")
        return out


def _synthetic(rng: random.Random, vocab: Sequence[str], sep: str, low: int, high: int) -> str:
    """A made-up sentence of low..high words drawn from `vocab` (lines of words)."""
    words = [w for line in vocab for w in line.split()]
    return sep.join(rng.choice(words) for _ in range(rng.randint(low, high)))


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


# -- the run's shared state ---------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    corpus: Corpus
    embedder: Any
    settings: Settings
    results: dict[str, Any] = field(default_factory=dict)

    def log(self, message: str) -> None:
        print(message, flush=True)


# -- sections -----------------------------------------------------------------------------


def section_embedding(bench: Bench) -> dict[str, Any]:
    """The real model: texts/second encoding realistic short texts in batches, and the
    latency of encoding one query (what hybrid_search pays per call)."""
    rng = np.random.default_rng(bench.args.seed + 1)
    texts = bench.corpus.texts(rng, bench.args.embed_texts)
    embedder = bench.embedder
    embedder.encode(texts[:64])  # warm-up
    started = time.perf_counter()
    vectors = embedder.encode(texts)
    elapsed = time.perf_counter() - started
    singles = []
    for query in bench.corpus.queries:
        t0 = time.perf_counter()
        embedder.encode([query])
        singles.append(time.perf_counter() - t0)
    result = {
        "model": embedder.name,
        "texts": len(texts),
        "batch_size": embedder.batch_size,
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        "seconds": round(elapsed, 2),
        "texts_per_s": round(len(texts) / elapsed, 1),
        "dim": int(vectors.shape[1]),
        "query_encode": latency_summary(singles),
    }
    q = result["query_encode"]
    bench.log(
        f"embedding: {result['texts_per_s']:,.0f} texts/s ({len(texts)} texts, mean "
        f"{result['mean_chars']} chars, batch {embedder.batch_size}, {elapsed:.1f}s); one query: "
        f"p50 {q['p50_ms']:.1f} ms, p99 {q['p99_ms']:.1f} ms"
    )
    return result


def _batches(bench: Bench, size: int) -> Iterator[WriteBatch]:
    """Deterministic WriteBatches: documents of --chunks-per-doc chunks, --batch chunks each."""
    per_doc = bench.args.chunks_per_doc
    docs_per_batch = max(1, bench.args.batch // per_doc)
    n_docs = -(-size // per_doc)
    for first in range(0, n_docs, docs_per_batch):
        rng = np.random.default_rng([bench.args.seed, first])
        doc_ids = range(first, min(first + docs_per_batch, n_docs))
        counts = [min(per_doc, size - d * per_doc) for d in doc_ids]
        texts = bench.corpus.texts(rng, sum(counts))
        vectors = unit_vectors(rng, len(texts))
        batch = WriteBatch()
        row = 0
        for d, count in zip(doc_ids, counts, strict=True):
            uri = f"bench/doc-{d:06d}.md"
            doc_id = make_id(Label.DOCUMENT, uri)
            document = Document(id=doc_id, uri=uri, title=f"doc {d}", content_hash=uri)
            add_document(batch, document, texts[row : row + count], vectors[row : row + count])
            row += count
        yield batch


def add_document(
    batch: WriteBatch, document: Document, texts: Sequence[str], vectors: np.ndarray
) -> None:
    """A document, its chunks (one per text, with the given vectors) and their PART_OF links,
    replacing the document as ingest writes a source."""
    batch.replace_sources.append(document.id)
    batch.nodes.append(document)
    for position, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
        chunk = Chunk(
            id=make_id(Label.CHUNK, document.id, str(position)),
            text=text,
            uri=document.uri,
            source_id=document.id,
            position=position,
            embedding=vector.tolist(),
        )
        batch.nodes.append(chunk)
        batch.links.append(
            Link(src=chunk.id, dst=document.id, type=LinkType.PART_OF, source_id=document.id)
        )


def section_upsert(bench: Bench, store: GraphStore, size: int) -> dict[str, Any]:
    """Write `size` chunks (with their documents and PART_OF links) into an empty store;
    only `store.write` is timed. Then re-write the first batches unchanged (idempotent)."""
    budget = bench.args.write_budget
    times: list[float] = []
    items = written = chunks = 0
    started = time.perf_counter()
    stopped = ""
    for batch in _batches(bench, size):
        t0 = time.perf_counter()
        result = store.write(batch)
        times.append(time.perf_counter() - t0)
        items += len(batch.nodes) + len(batch.links)
        written += result.nodes_written + result.links_written
        chunks += sum(1 for n in batch.nodes if n.label is Label.CHUNK)
        if budget and time.perf_counter() - started > budget and chunks < size:
            stopped = f"stopped at {chunks:,} of {size:,} chunks: over --write-budget {budget}s"
            break
    write_s = sum(times)
    rewrite_times = []
    rewrite_items = rewritten = 0
    for n, batch in enumerate(_batches(bench, min(size, chunks))):
        if n >= bench.args.rewrite_batches:
            break
        t0 = time.perf_counter()
        result = store.write(batch)
        rewrite_times.append(time.perf_counter() - t0)
        rewrite_items += len(batch.nodes) + len(batch.links)
        rewritten += result.nodes_written + result.links_written
    return {
        "chunks": chunks,
        "items": items,
        "written": written,
        "batches": len(times),
        "write_s": round(write_s, 2),
        "wall_s": round(time.perf_counter() - started, 2),
        "items_per_s": round(items / write_s, 1) if write_s else None,
        "chunks_per_s": round(chunks / write_s, 1) if write_s else None,
        "batch": latency_summary(times),
        "rewrite_items_per_s": round(rewrite_items / sum(rewrite_times), 1)
        if rewrite_times
        else None,
        "rewrite_written": rewritten,
        "stopped": stopped,
    }


def _timed(calls: Sequence[Callable[[], Any]], warmup: int) -> tuple[list[float], list[Any]]:
    for call in calls[:warmup]:
        call()
    times, outputs = [], []
    for call in calls:
        t0 = time.perf_counter()
        outputs.append(call())
        times.append(time.perf_counter() - t0)
    return times, outputs


class TimedEmbedder:
    """The real embedder, timing each encode call (to split hybrid_search's latency)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.dim, self.times = inner, inner.dim, []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return self.inner.encode(texts)
        finally:
            self.times.append(time.perf_counter() - t0)


def section_search(bench: Bench, store: GraphStore, size: int) -> dict[str, Any]:
    """Latency of lexical, vector and full hybrid search (query embedding included)."""
    queries = bench.corpus.queries
    vectors = unit_vectors(np.random.default_rng(bench.args.seed + 2), len(queries))
    labels = DEFAULT_LABELS
    t0 = time.perf_counter()
    store.vector_search(vectors[0].tolist(), CANDIDATES, labels)  # embedded: builds the matrix
    cold_ms = (time.perf_counter() - t0) * 1000
    lex_t, lex_hits = _timed(
        [lambda q=q: store.lexical_search(q, CANDIDATES, labels) for q in queries], warmup=5
    )
    vec_t, _ = _timed(
        [lambda v=v: store.vector_search(v.tolist(), CANDIDATES, labels) for v in vectors], warmup=5
    )
    fusion, weight = bench.settings.fusion, bench.settings.fusion_dense_weight
    embedder = TimedEmbedder(bench.embedder)
    hyb_t, hyb_hits = _timed(
        [
            lambda q=q: hybrid_search(store, embedder, q, k=5, fusion=fusion, dense_weight=weight)
            for q in queries
        ],
        warmup=5,
    )
    encode_t = embedder.times[-len(queries) :]  # the timed calls, warm-up left out
    rest_t = [h - e for h, e in zip(hyb_t, encode_t, strict=True)]
    return {
        "queries": len(queries),
        "vector_first_query_ms": round(cold_ms, 1),
        "lexical": latency_summary(lex_t),
        "vector": latency_summary(vec_t),
        "hybrid": latency_summary(hyb_t),
        "hybrid_query_embedding": latency_summary(encode_t),
        "hybrid_without_embedding": latency_summary(rest_t),
        "fusion": fusion if fusion != "weighted" else f"weighted w={weight}",
        "lexical_mean_hits": round(float(np.mean([len(h) for h in lex_hits])), 1),
        "hybrid_empty": sum(1 for h in hyb_hits if not h),
    }


# Sections run once per benchmark run: name -> function(bench) -> JSON-able dict.
# An ingest-throughput section (files through the ingest pipeline: files/s, chunks/s,
# split into parse / segment / embed / write) belongs here as `section_ingest(bench)`.
GLOBAL_SECTIONS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "embedding": section_embedding,
}
# Sections run per store and size, in order, on a store emptied first:
# name -> function(bench, store, size) -> JSON-able dict. "search" needs "upsert" before it.
STORE_SECTIONS: dict[str, Callable[[Bench, GraphStore, int], dict[str, Any]]] = {
    "upsert": section_upsert,
    "search": section_search,
}


# -- stores -------------------------------------------------------------------------------


@contextmanager
def embedded_store(bench: Bench) -> Iterator[Callable[[], GraphStore]]:
    """A factory of fresh embedded stores (a new SQLite file each) in a temp directory."""
    from graph.embedded import EmbeddedStore

    with tempfile.TemporaryDirectory(prefix="spiral-bench-") as tmp:
        opened: list[GraphStore] = []
        counter = iter(range(1_000_000))

        def fresh() -> GraphStore:
            for store in opened:
                store.close()
            opened.clear()
            opened.append(EmbeddedStore.open(Path(tmp) / f"bench-{next(counter)}.sqlite"))
            return opened[0]

        try:
            yield fresh
        finally:
            for store in opened:
                store.close()


@contextmanager
def neo4j_store(bench: Bench) -> Iterator[Callable[[], GraphStore]]:
    """A factory that empties and returns one Neo4j store (NEO4J_URI or a local server)."""
    from graph.neo4j_store import Neo4jStore

    server = None
    uri = os.environ.get("NEO4J_URI")
    password = os.environ.get("NEO4J_PASSWORD")
    auth = (os.environ.get("NEO4J_USER", "neo4j"), password) if password else None
    if not uri:
        from tests.neo4j_server import LocalNeo4j

        server = LocalNeo4j()
        t0 = time.perf_counter()
        uri = server.start()
        bench.log(f"neo4j: local server on {uri} started in {time.perf_counter() - t0:.0f}s")
    store = None
    try:
        store = Neo4jStore.connect(uri, auth=auth)
        if server is None and store.stats().total_nodes and not bench.args.clear_existing:
            raise RuntimeError(
                f"the database at {uri} (NEO4J_URI) is not empty; the benchmark clears it: "
                "pass --clear-existing to allow that"
            )

        def fresh() -> GraphStore:
            store.clear()
            return store

        yield fresh
    finally:
        if store is not None:
            store.close()
        if server is not None:
            server.stop()


STORES = {"embedded": embedded_store, "neo4j": neo4j_store}


def warm_up(bench: Bench, store: GraphStore) -> None:
    """A few writes and searches first, so no figure pays for a cold server or cold caches
    (JIT, page cache, jieba's dictionary); the store is emptied again before measuring."""
    for n, batch in enumerate(_batches(bench, 2 * bench.args.batch)):
        store.write(batch)
        if n == 0:
            store.write(batch)  # the unchanged path too
    vector = unit_vectors(np.random.default_rng(0), 1)[0].tolist()
    for query in bench.corpus.queries[:5]:
        store.lexical_search(query, CANDIDATES, DEFAULT_LABELS)
        store.vector_search(vector, CANDIDATES, DEFAULT_LABELS)


def run_store(bench: Bench, name: str, sizes: Sequence[int], sections: Sequence[str]) -> dict:
    out: dict[str, Any] = {}
    try:
        with STORES[name](bench) as fresh:
            warm_up(bench, fresh())
            for size in sizes:
                store = fresh()
                row: dict[str, Any] = {}
                for section in sections:
                    t0 = time.perf_counter()
                    row[section] = STORE_SECTIONS[section](bench, store, size)
                    row[section]["section_s"] = round(time.perf_counter() - t0, 1)
                out[str(size)] = row
                bench.log(f"{name} {size:,}: " + _store_line(row))
    except Exception as exc:  # a missing server is reported, not fatal
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"
        bench.log(f"{name}: SKIPPED ({reason})")
        out["skipped"] = reason
    return out


def _store_line(row: dict[str, Any]) -> str:
    parts = []
    if up := row.get("upsert"):
        parts.append(f"write {up['items_per_s']:,.0f} nodes+links/s ({up['write_s']}s)")
        if up["stopped"]:
            parts.append(up["stopped"].upper())
    if s := row.get("search"):
        parts.append(
            f"hybrid p50 {s['hybrid']['p50_ms']:.1f} ms, lexical p50 {s['lexical']['p50_ms']:.1f} "
            f"ms, vector p50 {s['vector']['p50_ms']:.1f} ms"
        )
    return "; ".join(parts)


# -- report -------------------------------------------------------------------------------


def report(bench: Bench, sizes: Sequence[int]) -> list[dict[str, Any]]:
    stores = bench.results["stores"]
    emb = bench.results.get("embedding")
    print()
    if emb:
        q = emb["query_encode"]
        print(
            f"Embedding model {emb['model']} on CPU: {emb['texts_per_s']:,.0f} texts/s "
            f"({emb['texts']} texts of {emb['mean_chars']} chars on average, batch "
            f"{emb['batch_size']}); one query {q['p50_ms']:.1f} ms p50, {q['p99_ms']:.1f} ms p99"
        )
    headers = [
        "store", "chunks", "write/s", "batch p50", "batch p99", "rewrite/s",
        "lex p50", "lex p99", "vec p50", "vec p99", "hyb p50", "hyb p99", "emb p50",
        "h-e p50", "vec 1st",
    ]  # fmt: skip
    rows = []
    for name, per_size in stores.items():
        if "skipped" in per_size:
            rows.append([name, "skipped", *[""] * (len(headers) - 2)])
            continue
        for size, row in per_size.items():
            up, s = row.get("upsert", {}), row.get("search", {})
            chunks = f"{up.get('chunks', int(size)):,}" + ("*" if up.get("stopped") else "")
            rows.append(
                [
                    name,
                    chunks,
                    _num(up.get("items_per_s")),
                    _ms(up.get("batch", {}).get("p50_ms")),
                    _ms(up.get("batch", {}).get("p99_ms")),
                    _num(up.get("rewrite_items_per_s")),
                    *(
                        _ms(s.get(kind, {}).get(p))
                        for kind in ("lexical", "vector", "hybrid")
                        for p in ("p50_ms", "p99_ms")
                    ),
                    _ms(s.get("hybrid_query_embedding", {}).get("p50_ms")),
                    _ms(s.get("hybrid_without_embedding", {}).get("p50_ms")),
                    _ms(s.get("vector_first_query_ms")),
                ]
            )
    print(table(headers, rows))
    print(
        "write/s = nodes+links per second of store.write (batches of "
        f"{bench.args.batch} chunks in documents of {bench.args.chunks_per_doc}); rewrite/s = "
        "the same batches again, unchanged; latencies in ms over "
        f"{len(bench.corpus.queries)} queries, {CANDIDATES} candidates per side; hybrid = "
        "hybrid_search incl. embedding the query, split into emb (the query embedding inside "
        "it) and h-e (what the searches + fusion add on top of it); vec 1st = first vector "
        "query after writing (embedded: loads the vector matrix)"
    )
    if any(r[1].endswith("*") for r in rows):
        print("* = upsert stopped early by --write-budget; search ran on what was written")

    ratios = _ratios(bench, stores, sizes)
    if ratios:
        print()
        print("Ratios")
        for line in ratios:
            print(f"  {line}")

    goals = _goals(stores, sizes)
    print()
    for goal in goals:
        print(f"GOAL {goal['goal']}: {goal['value']} -> {goal['status']}")
    return goals


def _ratios(bench: Bench, stores: dict[str, Any], sizes: Sequence[int]) -> list[str]:
    lines = []
    emb = bench.results.get("embedding")
    embedded = stores.get("embedded", {})
    neo = stores.get("neo4j", {})
    for size in map(str, sizes):
        e, n = embedded.get(size), neo.get(size)
        if e and n and "upsert" in e and "upsert" in n and "search" in e and "search" in n:
            es, ns = e["search"], n["search"]
            parts = ", ".join(
                f"{kind} p50 {ns[kind]['p50_ms'] / es[kind]['p50_ms']:.2f}x"
                for kind in ("hybrid", "lexical", "vector")
            )
            write = n["upsert"]["items_per_s"] / e["upsert"]["items_per_s"]
            lines.append(
                f"{int(size):,} chunks, neo4j/embedded: write throughput {write:.2f}x; {parts}"
            )
    for name, per_size in stores.items():
        done = [s for s in map(str, sizes) if s in per_size and "search" in per_size[s]]
        if len(done) >= 2:
            a, b = per_size[done[0]]["search"], per_size[done[-1]]["search"]
            lines.append(
                f"{name} {int(done[-1]):,} vs {int(done[0]):,} chunks: hybrid p50 "
                f"{b['hybrid']['p50_ms'] / a['hybrid']['p50_ms']:.2f}x, lexical p50 "
                f"{b['lexical']['p50_ms'] / a['lexical']['p50_ms']:.2f}x, vector p50 "
                f"{b['vector']['p50_ms'] / a['vector']['p50_ms']:.2f}x"
            )
        for size in done:
            s = per_size[size]["search"]
            q, h = s["hybrid_query_embedding"]["p50_ms"], s["hybrid"]["p50_ms"]
            lines.append(
                f"{name} {int(size):,}: the query embedding is {q / h:.0%} of hybrid p50 "
                f"({q:.1f} of {h:.1f} ms); without it hybrid p50 is "
                f"{s['hybrid_without_embedding']['p50_ms']:.1f} ms"
            )
        if emb:
            for size in map(str, sizes):
                up = per_size.get(size, {}).get("upsert")
                if up and up.get("chunks_per_s"):
                    lines.append(
                        f"{name} {int(size):,}: store writes {up['chunks_per_s']:,.0f} chunks/s "
                        f"= {up['chunks_per_s'] / emb['texts_per_s']:.1f}x the model's "
                        f"{emb['texts_per_s']:,.0f} texts/s (embedding bounds ingest)"
                    )
    return lines


def _goals(stores: dict[str, Any], sizes: Sequence[int]) -> list[dict[str, Any]]:
    goals = []
    label = (
        f"embedded hybrid_search p50 <= {GOAL_HYBRID_P50_MS:.0f} ms at {GOAL_HYBRID_SIZE:,} "
        "chunks (incl. query embedding)"
    )
    row = stores.get("embedded", {}).get(str(GOAL_HYBRID_SIZE), {}).get("search")
    if row:
        p50 = row["hybrid"]["p50_ms"]
        status = "PASS" if p50 <= GOAL_HYBRID_P50_MS else "MISS"
        detail = (
            f"{p50:.1f} ms (query embedding {row['hybrid_query_embedding']['p50_ms']:.1f} ms, "
            f"the rest {row['hybrid_without_embedding']['p50_ms']:.1f} ms)"
        )
        goals.append({"goal": label, "value": detail, "status": status, "p50_ms": p50})
    else:
        goals.append({"goal": label, "value": "not measured", "status": "NOT RUN"})
    label = f"neo4j writes >= {GOAL_NEO4J_WRITES:,.0f} nodes+links/s"
    neo = stores.get("neo4j", {})
    measured = [(s, neo[str(s)]["upsert"]) for s in sizes if "upsert" in neo.get(str(s), {})]
    for size, up in measured:
        rate = up["items_per_s"]
        goals.append(
            {
                "goal": f"{label} ({size:,} chunks)",
                "value": f"{rate:,.0f}/s" + (f" ({up['stopped']})" if up["stopped"] else ""),
                "status": "PASS" if rate >= GOAL_NEO4J_WRITES else "MISS",
                "items_per_s": rate,
            }
        )
    if not measured:
        reason = neo.get("skipped", "not run")
        goals.append({"goal": label, "value": f"not measured ({reason})", "status": "NOT RUN"})
    return goals


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


# -- main ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="chunks per store, comma-separated")
    parser.add_argument("--stores", default="embedded,neo4j", help="embedded,neo4j")
    parser.add_argument(
        "--sections",
        default=",".join([*GLOBAL_SECTIONS, *STORE_SECTIONS]),
        help="which sections to run (default: all)",
    )
    parser.add_argument("--queries", type=int, default=200, help="search queries per store/size")
    parser.add_argument("--batch", type=int, default=1000, help="chunks per WriteBatch")
    parser.add_argument("--chunks-per-doc", type=int, default=10)
    parser.add_argument("--embed-texts", type=int, default=2000, help="texts to encode")
    parser.add_argument(
        "--write-budget",
        type=float,
        default=240.0,
        help="seconds one upsert may take before it stops early (reported; 0 = no limit)",
    )
    parser.add_argument("--rewrite-batches", type=int, default=5, help="batches re-written")
    parser.add_argument("--clear-existing", action="store_true", help="allow clearing NEO4J_URI")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="torch intra-op threads for the model (0 = torch's default, as Spiral runs)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS / "bench.json")
    args = parser.parse_args(argv)

    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in stores if s not in STORES] + [
        s for s in sections if s not in GLOBAL_SECTIONS and s not in STORE_SECTIONS
    ]
    if unknown:
        parser.error(f"unknown store or section: {unknown}")
    if "search" in sections and "upsert" not in sections:
        sections.append("upsert")  # search needs a filled store
    store_sections = [s for s in STORE_SECTIONS if s in sections]

    started = time.perf_counter()
    load_before = os.getloadavg()
    settings = Settings()
    embedder = get_embedder(
        settings.embedding_model, settings.embedding_batch_size, settings.query_encoder
    )
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    if embedder.dim != DIM:
        print(f"note: the model has {embedder.dim} dimensions; the store vectors use {DIM}")
    corpus = Corpus.load(args.queries, args.seed)
    bench = Bench(args, corpus, embedder, settings)
    bench.log(
        f"corpus: {corpus.name} ({len(corpus.zh):,} zh, {len(corpus.en):,} en sentences; "
        f"{len(corpus.queries)} held-out queries); sizes {sizes}; stores {stores}; "
        f"torch threads {torch.get_num_threads()}; load average {load_before[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    bench.results = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        | {
            "sizes": sizes,
            "stores": stores,
            "dim": DIM,
            "corpus": corpus.name,
            "torch_threads": torch.get_num_threads(),
            "fusion": settings.fusion,
            "fusion_dense_weight": settings.fusion_dense_weight,
        },
        "machine": machine_info() | {"loadavg_start": [round(x, 2) for x in load_before]},
        "stores": {},
    }
    for name, section in GLOBAL_SECTIONS.items():
        if name in sections:
            bench.results[name] = section(bench)
    if store_sections:
        for name in stores:
            bench.results["stores"][name] = run_store(bench, name, sizes, store_sections)
    bench.results["goals"] = report(bench, sizes) if store_sections else []
    bench.results["seconds"] = round(time.perf_counter() - started, 1)
    load_after = os.getloadavg()
    bench.results["machine"]["loadavg_end"] = [round(x, 2) for x in load_after]
    write_json(args.out, bench.results)
    print(
        f"total {bench.results['seconds']:.0f}s; load average {load_before[0]:.1f} at start, "
        f"{load_after[0]:.1f} at end ({os.cpu_count()} CPUs); wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

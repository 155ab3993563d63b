"""Ask latency at 100k searchable nodes, end to end and piece by piece, on each store.

What is timed: `seci.assist.suggest(store, embedder, AskRequest(query=...), top_k=5)` with
the real packaged model embedding the query, over --queries realistic questions (half
Chinese customer turns of JDDC, half English banking77 questions, all held out of the
store), after --warmup untimed asks with other questions (sentences of the store). Goals
(issue: "Latency in benchmarks, at 100k items including the query embedding"): p50 <= 30 ms
and p99 <= 80 ms embedded, p50 <= 50 ms and p99 <= 150 ms on Neo4j.

Warm-up: a just-started Neo4j server compiles its hot code (the JVM's JIT) over its first
few hundred queries, and on two cores the compiler takes the CPU the queries need: at stop 30
the compiler threads used 73 ms of CPU per ask over the first 100 asks, 15 over asks 200-300
and about 2 after 1,000, while the ask's p50 fell from 47 to 28 ms. A serving process is
past that within minutes, so the timed asks come after 400 untimed ones (--warmup), and the
report shows the first 100 of those (cold) beside them, and, for a local server, the
compiler's CPU per timed ask.

Breakdown, two ways:
- inside the ask: the store is wrapped so every call it gets (lexical_search, vector_search,
  hit_contexts, ...) is timed where it happens, and the embedder so every encode is. The
  lexical searches run in worker threads while the query is embedded, so the parts overlap;
- alone: each recorded call replayed by itself, one at a time (the query embedding, each
  lexical search, each vector search, each hit_contexts call), so what the pieces cost
  without company shows next to what they cost together. On Neo4j also the reference walk
  (graph.context.walk_contexts: a round trip per hit and neighbour) on the same ids.

The store (built once, then reused from --data-dir while its recipe and the code that
decides the stored form are unchanged; --rebuild forces it), by default:
- 45,000 chunks (4,500 documents of 10), each of 2-4 sentences; 5,000 of them with a
  Sentence node per sentence (about 15,000, PART_OF the chunk), as ingest makes for FAQs;
- 30,000 messages in 3,000 conversations (customer and employee turns, NEXT, REPLIES_TO to
  the last customer message, PART_OF, SAID_BY; WITH_CUSTOMER, HANDLED_BY; outcomes);
- 10,000 talk tracks (55 % draft, 35 % approved, 10 % retired) DERIVED_FROM a customer
  message, its reply and the conversation, some with an avoid list naming another reply;
- ~80 entities (MENTIONS from the texts that name them), 50 employees, 1,000 customers.
That is about 100,000 searchable nodes. Texts are real sentences (JDDC customer and agent
turns, banking77, a few English agent replies). Vectors: embedding 100k texts with the real
model takes 20-60 min on 2 cores, so --vectors composed (the default) embeds the distinct
sentences once with the real model (--pool of them, cached) and gives each node the
normalised sum of its sentences' vectors plus small noise (--noise); --vectors real embeds
every node's text. The output says which.

    .venv/bin/python benchmarks/assist_latency.py [--stores embedded,neo4j] [--queries 200]
        [--data-dir DIR] [--rebuild] [--neo4j-uri URI] [--torch-threads N]

Neo4j: --neo4j-uri (or NEO4J_URI) if given; its database must be empty or hold this
benchmark's store unless --clear-existing. Otherwise a local server (neo4j-local/, as
benchmarks/run.py and the tests start it) whose data lives in --data-dir, so it is reused
too. JSON: benchmarks/results/assist_latency.json.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import inspect
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    RESULTS,
    ROOT,
    latency_summary,
    machine_info,
    read_jddc,
    server_cpu_ms,
    table,
    write_json,
)
from run import _CJK, _VOCAB_EN, _VOCAB_ZH, Corpus

from api.runtime import one_blas_thread
from graph.context import walk_contexts
from graph.embeddings import get_embedder
from graph.model import (
    Chunk,
    Conversation,
    Customer,
    Document,
    Employee,
    Entity,
    EntityKind,
    ItemStatus,
    KnowledgeItem,
    Label,
    Link,
    LinkType,
    Message,
    ResponseStat,
    Sentence,
    make_id,
)
from graph.settings import Settings
from graph.store import GraphStore, WriteBatch

GOALS = {"embedded": (30.0, 80.0), "neo4j": (50.0, 150.0)}  # p50, p99 in ms
BUILD_ACTION = "bench.assist.build"
RECIPE_VERSION = 1  # bump when the generated store changes shape

# English agent replies (banking77 has only customers' questions).
_EN_REPLIES = [
    "I'm sorry for the trouble, let me check that for you right away.",
    "Your refund has been issued and should arrive within 3 to 5 business days.",
    "Could you confirm the last four digits of the card, please?",
    "Transfers usually arrive within one business day; weekends can add a day.",
    "I have frozen the card, and a replacement will be sent to your address.",
    "There is no fee for your first top-up each month; after that it is 0.5%.",
    "You can change your PIN in the app under Card settings.",
    "The exchange rate is set when the payment is made, not when it is posted.",
    "A pending payment is released automatically if the merchant does not claim it.",
    "Please verify your identity with a photo ID so we can lift the limit.",
    "Cash withdrawals above the monthly allowance cost 2% of the amount.",
    "I understand, and I have raised it with the team; you will hear back today.",
    "Virtual cards work for online payments straight away; physical ones take a week.",
    "Contactless payments are limited to 50 per payment for your security.",
    "If the charge is not yours, we will open a dispute and refund it meanwhile.",
    "Your account is verified now, so you can add money by bank transfer.",
    "We can waive the fee this time since the delay was on our side.",
    "The card was declined because the merchant blocked online payments.",
    "Compared with other banks, our transfer fee is lower and there is no monthly charge.",
    "I can offer you a discount on the premium plan for the first three months.",
    "Thanks for waiting; everything is sorted on our side now.",
    "Is there anything else I can help you with today?",
]
_OUTCOMES = ["resolved", "converted", "lost", "escalated", ""]
_ENTITY_KINDS = [EntityKind.PRODUCT, EntityKind.POLICY, EntityKind.OBJECTION, EntityKind.TOPIC]


def log(message: str) -> None:
    print(message, flush=True)


# -- the corpus and its vectors ------------------------------------------------------------


@dataclass
class Pool:
    """The distinct sentences node texts are made of, each with the real model's vector."""

    zh_customer: list[str]
    zh_agent: list[str]
    en_customer: list[str]
    en_agent: list[str]
    vectors: dict[str, np.ndarray]

    def vector(self, texts: Sequence[str], rng: np.random.Generator, noise: float) -> list[float]:
        v = np.sum([self.vectors[t] for t in texts], axis=0)
        v = v / (np.linalg.norm(v) or 1.0)
        if noise:
            v = v + rng.standard_normal(v.shape[0]).astype(np.float32) * (noise / v.shape[0] ** 0.5)
            v = v / (np.linalg.norm(v) or 1.0)
        return v.astype(np.float32).tolist()


def load_pool(args: argparse.Namespace, corpus: Corpus, embedder: Any) -> Pool:
    """Sentences for the store (held-out queries excluded), embedded once and cached."""
    rng = np.random.default_rng(args.seed)
    held = set(corpus.queries)
    try:
        jddc = [(" ".join(t.replace(";", " ").split()), agent) for t, agent in read_jddc()]
    except OSError:
        jddc = [(t, i % 2 == 1) for i, t in enumerate(corpus.zh)]
    zh_c = sorted({t for t, a in jddc if not a and len(_CJK.findall(t)) >= 4 and t not in held})
    zh_a = sorted({t for t, a in jddc if a and len(_CJK.findall(t)) >= 4 and t not in held})
    quarter = args.pool // 4

    def pick(values: Sequence[str], n: int) -> list[str]:
        idx = rng.choice(len(values), size=min(n, len(values)), replace=False)
        return [values[i] for i in sorted(idx)]

    pool = Pool(
        zh_customer=pick(zh_c, quarter),
        zh_agent=pick(zh_a, quarter),
        en_customer=pick(corpus.en, args.pool - 3 * quarter),
        en_agent=list(_EN_REPLIES),
        vectors={},
    )
    texts = sorted({*pool.zh_customer, *pool.zh_agent, *pool.en_customer, *pool.en_agent})
    digest = hashlib.sha256(
        json.dumps([getattr(embedder, "name", ""), texts], ensure_ascii=False).encode()
    ).hexdigest()[:16]
    cache = args.data_dir / f"pool-{digest}.npy"
    if cache.exists():
        matrix = np.load(cache)
        log(f"pool: {len(texts):,} sentences, vectors reused from {cache}")
    else:
        t0 = time.perf_counter()
        matrix = embedder.encode(texts)
        np.save(cache, matrix)
        log(
            f"pool: {len(texts):,} sentences embedded with the real model in "
            f"{time.perf_counter() - t0:.0f}s (cached in {cache})"
        )
    pool.vectors = dict(zip(texts, matrix, strict=True))
    return pool


# -- the store ------------------------------------------------------------------------------


@dataclass
class Recipe:
    args: argparse.Namespace
    pool: Pool
    embedder: Any

    def signature(self, store_name: str) -> str:
        """What decides the stored data: the recipe and the code of its stored form."""
        a = self.args
        parts: dict[str, Any] = {
            "version": RECIPE_VERSION,
            "counts": [a.chunks, a.sentence_chunks, a.messages, a.items],
            "seed": a.seed,
            "pool": a.pool,
            "noise": a.noise,
            "vectors": a.vectors,
            "model": getattr(self.embedder, "name", ""),
        }
        files = ["graph/text.py", "graph/model.py"]
        if store_name == "embedded":
            files += ["graph/embedded.py", "graph/embedded_index.py"]
        for name in files:
            parts[name] = _digest((ROOT / name).read_text(encoding="utf-8"))
        if store_name == "neo4j":
            from graph import cypher, neo4j_store

            parts["stored_form"] = _digest(
                json.dumps([cypher.SCHEMA, list(cypher.UPSERT_NODES.values())])
                + inspect.getsource(neo4j_store._node_row)
            )
        return _digest(json.dumps(parts, sort_keys=True))

    def _vec(self, rng: np.random.Generator, texts: Sequence[str]) -> list[float]:
        return self.pool.vector(texts, rng, self.args.noise)

    def batches(self) -> Iterator[tuple[str, WriteBatch]]:
        """The whole store as WriteBatches, deterministic for a seed."""
        a = self.args
        entities = _entities()
        people = [
            Employee(
                id=make_id(Label.EMPLOYEE, f"bench-emp-{i}"), name=f"员工{i}", team=f"t{i % 5}"
            )
            for i in range(50)
        ]
        customers = [
            Customer(id=make_id(Label.CUSTOMER, f"bench-cust-{i}"), name=f"客户{i}")
            for i in range(1000)
        ]
        yield "people", WriteBatch(nodes=[*entities, *people, *customers])
        finder = _EntityFinder(entities)
        per_doc = 10
        n_docs = -(-a.chunks // per_doc)
        sentence_every = a.chunks / a.sentence_chunks if a.sentence_chunks else 0
        for first in range(0, n_docs, 100):
            rng = np.random.default_rng([a.seed, 1, first])
            batch = WriteBatch()
            for d in range(first, min(first + 100, n_docs)):
                self._document(batch, rng, d, per_doc, sentence_every, finder)
            yield "documents", batch
        n_convs = -(-a.messages // 10)
        situations: list[tuple[str, str, str, str, str]] = []  # (conv, customer, reply, texts)
        for first in range(0, n_convs, 100):
            rng = np.random.default_rng([a.seed, 2, first])
            batch = WriteBatch()
            for c in range(first, min(first + 100, n_convs)):
                situations += self._conversation(batch, rng, c, people, customers, finder)
            yield "conversations", batch
        rng = np.random.default_rng([a.seed, 3])
        order = rng.permutation(len(situations))
        for first in range(0, a.items, 1000):
            batch = WriteBatch()
            for i in range(first, min(first + 1000, a.items)):
                situation = situations[int(order[i % len(order)])]
                other = situations[int(order[(i * 7 + 3) % len(order)])]
                self._item(batch, rng, i, situation, other, finder)
            yield "items", batch

    def _document(
        self,
        batch: WriteBatch,
        rng: np.random.Generator,
        d: int,
        per_doc: int,
        sentence_every: float,
        finder: _EntityFinder,
    ) -> None:
        p = self.pool
        uri = f"bench/assist/doc-{d:06d}.md"
        doc_id = make_id(Label.DOCUMENT, uri)
        batch.replace_sources.append(doc_id)
        batch.nodes.append(Document(id=doc_id, uri=uri, title=f"手册 {d}", content_hash=uri))
        for position in range(per_doc):
            n = d * per_doc + position
            if n >= self.args.chunks:
                break
            kind = rng.random()
            count = int(rng.integers(2, 5))
            if kind < 0.5:
                sentences = _pick(rng, p.zh_customer + p.zh_agent, count)
            elif kind < 0.8:
                sentences = _pick(rng, p.en_customer + p.en_agent, count)
            else:
                sentences = _pick(rng, p.zh_agent, count - 1) + _pick(rng, p.en_customer, 1)
            chunk = Chunk(
                id=make_id(Label.CHUNK, doc_id, str(position)),
                text="\n".join(sentences),
                uri=uri,
                title=f"手册 {d}",
                source_id=doc_id,
                position=position,
                embedding=self._vec(rng, sentences),
            )
            batch.nodes.append(chunk)
            batch.links.append(_link(chunk.id, LinkType.PART_OF, doc_id, doc_id))
            for entity in finder.named(chunk.text):
                batch.links.append(_link(chunk.id, LinkType.MENTIONS, entity, doc_id))
            if sentence_every and n % sentence_every < 1:
                for i, text in enumerate(dict.fromkeys(sentences)):
                    sentence = Sentence(
                        id=f"{chunk.id}#s{i}",
                        text=text,
                        chunk_id=chunk.id,
                        uri=uri,
                        position=i,
                        source_id=doc_id,
                        embedding=self._vec(rng, [text]),
                    )
                    batch.nodes.append(sentence)
                    batch.links.append(_link(sentence.id, LinkType.PART_OF, chunk.id, doc_id))

    def _conversation(
        self,
        batch: WriteBatch,
        rng: np.random.Generator,
        c: int,
        people: Sequence[Employee],
        customers: Sequence[Customer],
        finder: _EntityFinder,
    ) -> list[tuple[str, str, str, str, str]]:
        p = self.pool
        zh = rng.random() < 0.7
        asks, answers = (p.zh_customer, p.zh_agent) if zh else (p.en_customer, p.en_agent)
        uri = f"bench/assist/chat-{c:06d}.txt"
        conv_id = make_id(Label.CONVERSATION, uri)
        employee = people[int(rng.integers(len(people)))]
        customer = customers[int(rng.integers(len(customers)))]
        batch.replace_sources.append(conv_id)
        batch.nodes.append(
            Conversation(
                id=conv_id,
                uri=uri,
                title=f"会话 {c}" if zh else f"chat {c}",
                channel="wecom" if zh else "web",
                employee=employee.id,
                customer=customer.id,
                outcome=_OUTCOMES[int(rng.integers(len(_OUTCOMES)))],
                content_hash=uri,
            )
        )
        batch.links.append(_link(conv_id, LinkType.WITH_CUSTOMER, customer.id, conv_id))
        batch.links.append(_link(conv_id, LinkType.HANDLED_BY, employee.id, conv_id))
        roles: list[str] = []
        while len(roles) < 10:
            roles += ["customer"] * int(rng.integers(1, 3))
            roles += ["employee"] * int(rng.integers(1, 4))
        roles = roles[:10]
        ids: list[str] = []
        texts: list[str] = []
        last_customer: int | None = None
        found: list[tuple[str, str, str, str, str]] = []
        for position, role in enumerate(roles):
            text = _pick(rng, asks if role == "customer" else answers, 1)[0]
            message = Message(
                id=make_id(Label.MESSAGE, conv_id, str(position)),
                text=text,
                uri=uri,
                role=role,  # type: ignore[arg-type]
                speaker=employee.name if role == "employee" else customer.name,
                position=position,
                source_id=conv_id,
                embedding=self._vec(rng, [text]),
            )
            batch.nodes.append(message)
            ids.append(message.id)
            texts.append(text)
            batch.links.append(_link(message.id, LinkType.PART_OF, conv_id, conv_id))
            speaker = employee.id if role == "employee" else customer.id
            batch.links.append(_link(message.id, LinkType.SAID_BY, speaker, conv_id))
            if position:
                batch.links.append(_link(ids[-2], LinkType.NEXT, message.id, conv_id))
            for entity in finder.named(text):
                batch.links.append(_link(message.id, LinkType.MENTIONS, entity, conv_id))
            if role == "customer":
                last_customer = position
            elif last_customer is not None:
                batch.links.append(
                    _link(message.id, LinkType.REPLIES_TO, ids[last_customer], conv_id)
                )
                if roles[position - 1] == "customer":  # the first reply: a situation
                    found.append((conv_id, ids[last_customer], message.id, texts[-2], text))
        return found

    def _item(
        self,
        batch: WriteBatch,
        rng: np.random.Generator,
        i: int,
        situation: tuple[str, str, str, str, str],
        other: tuple[str, str, str, str, str],
        finder: _EntityFinder,
    ) -> None:
        conv_id, asked_id, reply_id, asked, reply = situation
        draw = rng.random()
        status = (
            ItemStatus.DRAFT
            if draw < 0.55
            else ItemStatus.APPROVED
            if draw < 0.9
            else ItemStatus.RETIRED
        )
        named = finder.named(asked)
        trials = int(rng.integers(0, 12))
        item = KnowledgeItem(
            id=make_id(Label.KNOWLEDGE_ITEM, "talk_track", f"bench-{i}"),
            status=status,
            title=asked[:20],
            text=reply,
            situation=asked,
            uri=f"bench/assist/chat-{i}.txt",
            responses=[
                ResponseStat(
                    text=reply,
                    successes=int(rng.integers(0, trials + 1)),
                    trials=trials,
                    evidence=trials + 1,
                    message_ids=[reply_id],
                )
            ],
            avoid=[ResponseStat(text=other[4], trials=2, evidence=2, message_ids=[other[2]])]
            if rng.random() < 0.1
            else [],
            evidence=int(rng.integers(2, 20)),
            successes=int(rng.integers(0, trials + 1)),
            trials=trials,
            entities={e: 1 for e in named},
            externalized_by="seci.externalize",
            embedding=self._vec(rng, [asked, reply]),
        )
        batch.nodes.append(item)
        for target in (asked_id, reply_id, conv_id):
            batch.links.append(_link(item.id, LinkType.DERIVED_FROM, target, ""))
        batch.links += [_link(item.id, LinkType.MENTIONS, e, "") for e in named]
        if item.avoid:
            batch.links.append(_link(item.id, LinkType.DERIVED_FROM, other[2], ""))


class _EntityFinder:
    def __init__(self, entities: Sequence[Entity]) -> None:
        self.names = [(e.name.lower(), e.id) for e in entities]

    def named(self, text: str) -> list[str]:
        low = text.lower()
        return sorted({eid for name, eid in self.names if name in low})[:3]


def _entities() -> list[Entity]:
    """Products, policies, objections and topics named in the texts (the service nouns of
    benchmarks/run.py's vocabulary)."""
    words = [w for line in _VOCAB_ZH[:2] for w in line.split()]
    words += [w for line in _VOCAB_EN[:2] for w in line.split() if len(w) > 4]
    return [
        Entity(
            id=make_id(Label.ENTITY, word),
            name=word,
            kind=_ENTITY_KINDS[n % len(_ENTITY_KINDS)],
            pinned=True,
        )
        for n, word in enumerate(dict.fromkeys(words))
    ]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _pick(rng: np.random.Generator, values: Sequence[str], n: int) -> list[str]:
    return [values[int(i)] for i in rng.integers(0, len(values), size=n)]


def _link(src: str, type_: LinkType, dst: str, source_id: str) -> Link:
    return Link(src=src, dst=dst, type=type_, source_id=source_id)


def _embed_all(batch: WriteBatch, embedder: Any) -> None:
    """--vectors real: every text node embedded with the model itself."""
    nodes = [n for n in batch.nodes if n.search_text().strip()]
    for node, vector in zip(nodes, embedder.encode([n.search_text() for n in nodes]), strict=True):
        node.embedding = vector.tolist()


def build(store: GraphStore, recipe: Recipe, signature: str) -> dict[str, Any]:
    store.clear()
    t0 = time.perf_counter()
    written = 0
    for n, (kind, batch) in enumerate(recipe.batches()):
        if recipe.args.vectors == "real":
            _embed_all(batch, recipe.embedder)
        result = store.write(batch, actor="bench")
        written += result.nodes_written + result.links_written
        if n % 20 == 0:
            log(f"  build: {kind}, {written:,} nodes+links ({time.perf_counter() - t0:.0f}s)")
    stats = store.stats()
    info = {
        "signature": signature,
        "build_s": round(time.perf_counter() - t0, 1),
        "nodes": stats.nodes,
        "links": stats.links,
    }
    store.log("bench", BUILD_ACTION, info)
    return info


def built(store: GraphStore) -> dict[str, Any] | None:
    events = store.events(actions=[BUILD_ACTION], limit=1000)
    return events[-1].after if events else None


# -- stores ---------------------------------------------------------------------------------


@contextmanager
def open_embedded(args: argparse.Namespace) -> Iterator[GraphStore]:
    from graph.embedded import EmbeddedStore

    store = EmbeddedStore.open(args.data_dir / "embedded.sqlite")
    try:
        yield store
    finally:
        store.close()


@contextmanager
def open_neo4j(args: argparse.Namespace) -> Iterator[GraphStore]:
    from graph.neo4j_store import Neo4jStore
    from tests.neo4j_server import LocalNeo4j

    uri = args.neo4j_uri or os.environ.get("NEO4J_URI")
    password = os.environ.get("NEO4J_PASSWORD")
    auth = (os.environ.get("NEO4J_USER", "neo4j"), password) if password else None
    server = None
    if not uri:

        class KeptNeo4j(LocalNeo4j):
            """The repo's local server with its data in --data-dir (kept for the next run)."""

            def __init__(self, home: Path) -> None:
                super().__init__()
                shutil.rmtree(self.home, ignore_errors=True)
                self.home = home
                self.home.mkdir(parents=True, exist_ok=True)
                self.log = home / "launcher.log"

            def stop(self) -> None:
                if self.proc and self.proc.poll() is None:
                    self.proc.terminate()  # the launcher's shutdown hook closes the store
                    self.proc.wait(60)

        server = KeptNeo4j(args.data_dir / "neo4j-home")
        t0 = time.perf_counter()
        uri = server.start()
        SERVER["pid"] = server.proc.pid if server.proc else None
        log(f"neo4j: local server on {uri} started in {time.perf_counter() - t0:.0f}s")
    store = Neo4jStore.connect(uri, auth=auth)
    try:
        yield store
    finally:
        store.close()
        SERVER["pid"] = None
        if server is not None:
            server.stop()


SERVER: dict[str, int | None] = {"pid": None}  # the local Neo4j launcher, while it runs


STORES: dict[str, Callable[[argparse.Namespace], Any]] = {
    "embedded": open_embedded,
    "neo4j": open_neo4j,
}


# -- timing ---------------------------------------------------------------------------------


class TimedEmbedder:
    """The real embedder, each encode call timed."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.dim = inner, inner.dim
        self.calls: list[tuple[list[str], float]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return self.inner.encode(texts)
        finally:
            self.calls.append((list(texts), time.perf_counter() - t0))


class TimedStore:
    """The store with every method call timed and recorded (name, args, kwargs, seconds);
    calls may come from the search worker threads."""

    def __init__(self, store: GraphStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any], float]] = []

    def __getattr__(self, name: str) -> Any:
        inner = getattr(self._store, name)
        if not callable(inner):
            return inner

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                with self._lock:
                    self.calls.append((name, args, kwargs, elapsed))

        return timed


def _ask_function() -> tuple[Callable[[GraphStore, Any, str], Any], str]:
    """suggest() as it stands: with an AskRequest if seci.assist has one, else a string."""
    from seci import assist

    settings = Settings()
    request = getattr(assist, "AskRequest", None)
    options_cls = getattr(assist, "AskOptions", None)
    params = inspect.signature(assist.suggest).parameters
    kwargs: dict[str, Any] = {}
    if options_cls is not None and "options" in params:
        kwargs["options"] = options_cls(
            fusion=settings.fusion,
            dense_weight=settings.fusion_dense_weight,
            dense_weight_cjk=settings.fusion_dense_weight_cjk,
        )
    if request is not None:

        def ask(store: GraphStore, embedder: Any, query: str) -> Any:
            return assist.suggest(store, embedder, request(query=query), top_k=5, **kwargs)

        return ask, "suggest(store, embedder, AskRequest(query=q), top_k=5)"

    def ask_text(store: GraphStore, embedder: Any, query: str) -> Any:
        return assist.suggest(store, embedder, query, 5, **kwargs)

    return ask_text, "suggest(store, embedder, q, 5)"


def measure(
    store: GraphStore,
    embedder: Any,
    queries: Sequence[str],
    warm_up: Sequence[str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    ask, how = _ask_function()
    timed_store = TimedStore(store)
    timed_embedder = TimedEmbedder(embedder)
    cold: list[float] = []
    t0 = time.perf_counter()
    for q in warm_up:
        t = time.perf_counter()
        ask(timed_store, timed_embedder, q)  # type: ignore[arg-type]
        cold.append(time.perf_counter() - t)
    warm_s = time.perf_counter() - t0
    compiler_before = server_cpu_ms(SERVER["pid"], compiler_only=True)
    gc.freeze()  # as `spiral serve` does once warm (api.runtime): collections skip the model
    timed_store.calls.clear()
    timed_embedder.calls.clear()
    total: list[float] = []
    parts: dict[str, list[float]] = {}
    recorded: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    encodes: list[list[str]] = []
    empty = 0
    for q in queries:
        timed_store.calls.clear()
        timed_embedder.calls.clear()
        t = time.perf_counter()
        result = ask(timed_store, timed_embedder, q)  # type: ignore[arg-type]
        total.append(time.perf_counter() - t)
        empty += not getattr(result, "suggestions", None)
        sums: dict[str, float] = {"query embedding": sum(s for _, s in timed_embedder.calls)}
        for name, a, k, seconds in timed_store.calls:
            key = _key(name, a, k)
            sums[key] = sums.get(key, 0.0) + seconds
            recorded.append((name, a, k))
        sums["calls to the store"] = float(len(timed_store.calls))
        for name, value in sums.items():
            parts.setdefault(name, []).append(value)
        encodes += [texts for texts, _ in timed_embedder.calls]
    compiler_after = server_cpu_ms(SERVER["pid"], compiler_only=True)
    # Each piece alone: the recorded calls replayed one at a time.
    alone: dict[str, list[float]] = {}
    for texts in encodes:
        if hasattr(embedder, "forget_recent"):
            embedder.forget_recent()  # else the texts encoded in the asks come back cached
        t = time.perf_counter()
        embedder.encode(texts)
        alone.setdefault("query embedding", []).append(time.perf_counter() - t)
    walk = args.walk and type(store).__name__ == "Neo4jStore"
    for name, a, k in recorded:
        if name not in ("lexical_search", "vector_search", "vector_search_views", "hit_contexts"):
            continue
        key = _key(name, a, k)
        t = time.perf_counter()
        getattr(store, name)(*a, **k)
        alone.setdefault(key, []).append(time.perf_counter() - t)
        if walk and key == "hit_contexts":  # the round trips it replaced, on the same ids
            t = time.perf_counter()
            walk_contexts(store, *a, **k)
            alone.setdefault(f"{key} by walking (the reference)", []).append(
                time.perf_counter() - t
            )
    calls = parts.pop("calls to the store")
    return {
        "how": how,
        "queries": len(queries),
        "warmup": len(warm_up),
        "warmup_s": round(warm_s, 1),
        "cold": latency_summary(cold[:COLD_ASKS]),
        "compiler_ms_per_ask": None
        if compiler_before is None or compiler_after is None
        else round((compiler_after - compiler_before) / len(queries), 1),
        "no_suggestions": empty,
        "store_calls_per_ask": round(float(np.mean(calls)), 1),
        "ask": latency_summary(total),
        "in_ask": {name: latency_summary(values) for name, values in parts.items()},
        "alone": {name: latency_summary(values) for name, values in alone.items()},
        "alone_calls": {name: len(values) for name, values in alone.items()},
    }


COLD_ASKS = 100  # the warm-up asks reported as "cold"


def warm_up_questions(corpus: Corpus, n: int, seed: int) -> list[str]:
    """n questions other than the timed ones, half Chinese and half English: sentences of
    the store, so the timed questions stay the held-out ones of the stores' recipe."""
    rng = random.Random(seed + 1)
    zh = rng.sample(corpus.zh, min(n // 2, len(corpus.zh)))
    en = rng.sample(corpus.en, min(n - len(zh), len(corpus.en)))
    out = [q for pair in zip(zh, en, strict=False) for q in pair]
    return out + zh[len(en) :] + en[len(zh) :]


def _key(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """A store call's name, marked when it looks up entities (seci.recognize) rather than
    answers (the search for the question and the contexts of its hits)."""
    if name in ("lexical_search", "vector_search"):
        labels = kwargs.get("labels", args[2] if len(args) > 2 else None)
        if labels and list(labels) == [Label.ENTITY]:
            return f"{name} (entities)"
    if name == "hit_contexts":
        ids = kwargs.get("ids", args[0] if args else [])
        if not ids:
            return f"{name} (no ids)"
        if all(str(i).startswith("entity:") for i in ids):
            return f"{name} (entities)"
    return name


def run_store(
    name: str, recipe: Recipe, queries: Sequence[str], warm_up: Sequence[str]
) -> dict[str, Any]:
    args = recipe.args
    signature = recipe.signature(name)
    with STORES[name](args) as store:
        info = None if args.rebuild else built(store)
        if info and info.get("signature") == signature:
            log(f"{name}: reusing the store built earlier ({info['build_s']}s to build)")
            reused = True
        else:
            if (
                name == "neo4j"
                and (args.neo4j_uri or os.environ.get("NEO4J_URI"))
                and store.stats().total_nodes
                and not args.clear_existing
            ):
                raise RuntimeError(
                    "the Neo4j database is not empty and holds no store of this benchmark; "
                    "pass --clear-existing to let it be cleared"
                )
            log(f"{name}: building the store")
            info = build(store, recipe, signature)
            reused = False
        searchable = sum(
            info["nodes"].get(label.value, 0)
            for label in (Label.CHUNK, Label.SENTENCE, Label.MESSAGE, Label.KNOWLEDGE_ITEM)
        )
        log(
            f"{name}: {searchable:,} searchable nodes ({_counts(info['nodes'])}), "
            f"{sum(info['links'].values()):,} links"
        )
        result = measure(store, recipe.embedder, queries, warm_up, args)
    result.update(
        store={"reused": reused, "searchable": searchable, **info},
    )
    return result


def _counts(nodes: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(nodes.items(), key=lambda kv: -kv[1]))


# -- report ---------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> list[dict[str, Any]]:
    goals = []
    for name, r in results["stores"].items():
        if "skipped" in r:
            print(f"\n{name}: SKIPPED ({r['skipped']})")
            continue
        print(
            f"\n{name}: {r['store']['searchable']:,} searchable nodes; {r['queries']} asks "
            f"after {r['warmup']} warm-up; {r['how']}; {r['store_calls_per_ask']} store calls "
            f"per ask; {r['no_suggestions']} asks without suggestions"
        )
        rows = [["ask, end to end", *_lat(r["ask"]), ""]]
        if r["cold"]["n"]:
            rows.append(
                [f"  cold: the first {r['cold']['n']} warm-up asks", *_lat(r["cold"]), "untimed"]
            )
        for part, lat in r["in_ask"].items():
            rows.append([f"  in the ask: {part}", *_lat(lat), "summed per ask"])
        for part, lat in r["alone"].items():
            rows.append([f"  alone: {part}", *_lat(lat), f"{r['alone_calls'][part]} calls"])
        print(table(["", "p50 ms", "p99 ms", "mean ms", ""], rows, "lrrrl"))
        if r["compiler_ms_per_ask"] is not None:
            print(f"the server's JIT compiler: {r['compiler_ms_per_ask']} ms CPU per timed ask")
        p50_goal, p99_goal = GOALS[name]
        p50, p99 = r["ask"]["p50_ms"], r["ask"]["p99_ms"]
        for what, value, goal in (("p50", p50, p50_goal), ("p99", p99, p99_goal)):
            goals.append(
                {
                    "store": name,
                    "goal": f"{name} ask {what} <= {goal:.0f} ms at 100k",
                    "value_ms": value,
                    "status": "met" if value <= goal else "missed",
                }
            )
    print()
    print(
        table(
            ["goal", "measured", ""],
            [[g["goal"], f"{g['value_ms']:.1f} ms", g["status"]] for g in goals],
            "lrl",
        )
    )
    return goals


def _lat(lat: dict[str, float]) -> list[str]:
    return [f"{lat['p50_ms']:.1f}", f"{lat['p99_ms']:.1f}", f"{lat['mean_ms']:.1f}"]


# -- main -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="embedded,neo4j", help="embedded,neo4j")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--warmup", type=int, default=400, help="untimed asks first, with other questions"
    )
    parser.add_argument("--chunks", type=int, default=45_000)
    parser.add_argument("--sentence-chunks", type=int, default=5_000, help="chunks with Sentences")
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--vectors", choices=["composed", "real"], default="composed")
    parser.add_argument("--pool", type=int, default=4_000, help="distinct sentences embedded")
    parser.add_argument("--noise", type=float, default=0.2, help="noise norm on reused vectors")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "spiral-assist-latency",
        help="where the built stores (and the local Neo4j's data) are kept for the next run",
    )
    parser.add_argument("--rebuild", action="store_true", help="build the stores again")
    parser.add_argument("--neo4j-uri", default="", help="a running Neo4j (else a local one)")
    parser.add_argument("--clear-existing", action="store_true", help="allow clearing it")
    parser.add_argument(
        "--no-walk", dest="walk", action="store_false", help="skip the walk_contexts row"
    )
    parser.add_argument(
        "--torch-threads", type=int, default=0, help="torch intra-op threads (0: as Spiral runs)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS / "assist_latency.json")
    args = parser.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if unknown := [s for s in stores if s not in STORES]:
        parser.error(f"unknown store: {unknown}")
    args.data_dir.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    load_before = os.getloadavg()
    one_blas_thread()  # as `spiral serve` runs: numpy's products on one thread (api.runtime)
    settings = Settings()
    embedder = get_embedder(
        settings.embedding_model, settings.embedding_batch_size, settings.query_encoder
    )
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    corpus = Corpus.load(args.queries, args.seed)
    warm_up = warm_up_questions(corpus, args.warmup, args.seed)
    pool = load_pool(args, corpus, embedder)
    recipe = Recipe(args, pool, embedder)
    vectors = (
        "every node embedded with the real model"
        if args.vectors == "real"
        else f"{len(pool.vectors):,} distinct sentences embedded with the real model, node "
        f"vectors = normalised sum of their sentences' vectors + noise {args.noise}"
    )
    log(
        f"corpus: {corpus.name}; {len(corpus.queries)} held-out queries; vectors: {vectors}; "
        f"torch threads {torch.get_num_threads()}; load average {load_before[0]:.1f} on "
        f"{os.cpu_count()} CPUs"
    )
    results: dict[str, Any] = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        | {"torch_threads": torch.get_num_threads(), "vectors_note": vectors},
        "machine": machine_info() | {"loadavg_start": [round(x, 2) for x in load_before]},
        "stores": {},
    }
    for name in stores:
        try:
            results["stores"][name] = run_store(name, recipe, corpus.queries, warm_up)
        except Exception as exc:  # a missing server is reported, not fatal
            reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"
            log(f"{name}: SKIPPED ({reason})")
            results["stores"][name] = {"skipped": reason}
    results["goals"] = report(results)
    load_after = os.getloadavg()
    results["machine"]["loadavg_end"] = [round(x, 2) for x in load_after]
    results["seconds"] = round(time.perf_counter() - started, 1)
    write_json(args.out, results)
    print(
        f"total {results['seconds']:.0f}s; load average {load_before[0]:.1f} at start, "
        f"{load_after[0]:.1f} at end ({os.cpu_count()} CPUs); wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

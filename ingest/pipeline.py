"""The ingest pipeline: load → de-identify → segment → extract → link → embed → write.

Files are written a group at a time, one transaction per group and each file its own
event: a run killed part-way leaves every file either fully written or not at all, and a
rerun completes the rest (unchanged files are skipped by their content hash, before the
model is even loaded). Preparing a file (reading to mentions) is `ingest/prepare.py`.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from graph.embeddings import Embedder
from graph.ids import content_hash
from graph.model import Chunk, Customer, Employee, Entity, Label, Message, Node, Sentence, make_id
from graph.recent import Recent
from graph.settings import Settings
from graph.store import (
    GraphStore,
    NodeQuery,
    WriteBatch,
    WriteResult,
    iter_nodes,
)
from ingest.build import (
    SourceGraph,
    add_mentions,
    source_id_for,
)
from ingest.deidentify import Deidentifier
from ingest.extract import Mention
from ingest.fewer_collections import fewer_collections
from ingest.gazetteer import (
    GazetteerEntry,
    gazetteer_file,
    load_gazetteer,
    merge,
)
from ingest.loaders import iter_files
from ingest.name_cache import NameVectorCache
from ingest.prepare import (
    PIPELINE_VERSION,
    FileReport,
    FileSource,
    Loaded,
    OnProgress,
    Prepared,
    Preparer,
    Source,
    per_file,
)
from ingest.resolve import Resolution, Resolver
from ingest.untrusted import safe_uri

__all__ = [
    "PIPELINE_VERSION",
    "FileReport",
    "IngestReport",
    "Ingestor",
    "OnProgress",
    "customer_node_id",
]

_log = logging.getLogger(__name__)

# Texts per encode call: the progress step of one long file (~3 s of the model here). Each
# call ends with one of the model's two threads waiting for the other's last batch (in one
# import, 6.0 s of a thread's time within calls of 256, 4.1 s within calls of 1,024): the
# 994-file import took 49.5-50.7 s in slices of 256, 47.6-49.8 s in slices of 1,024
# (interleaved, three each).
EMBED_SLICE = 1024
RECENT_TEXTS = 20_000  # vectors of recently embedded texts kept (~30 MB at 384 dimensions)
# An ingest that wrote this many chunks and messages tidies the store's search index after
# (GraphStore.tidy): a freshly built index is in many small pieces, and searches slower.
TIDY_AFTER_TEXTS = 2_000
# Files whose stored content hashes are read in one query when many are ingested.
HASHES_AHEAD = 64
# A last group of this many texts is embedded and written as two (`_last_in_two`).
SPLIT_LAST_TEXTS = 512

Observed = Callable[[str], Node | None]
"""A node as stored, or as an earlier file of the same group will have written it."""


class IngestReport(BaseModel):
    files: list[FileReport] = Field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(f.status == "failed" for f in self.files)

    def totals(self) -> dict[str, int]:
        t = {"files": len(self.files), "ingested": 0, "unchanged": 0, "failed": 0}
        for f in self.files:
            t[f.status] += 1
        for key in ("chunks", "messages", "entities", "links"):
            t[key] = sum(getattr(f, key) for f in self.files)
        t["row_errors"] = sum(len(f.row_errors) for f in self.files)
        return t


@dataclass
class _Built:
    """One file's batch, merged and ready to write, and how many entities it names."""

    batch: WriteBatch
    entities: int


class Ingestor:
    """Holds what is expensive to build (gazetteer patterns, the model) across files."""

    def __init__(
        self,
        store: GraphStore,
        embedder: Embedder,
        settings: Settings,
        gazetteer: Sequence[GazetteerEntry] | None = None,
    ) -> None:
        self.store, self.embedder, self.settings = store, embedder, settings
        self.on_embedded: Callable[[int, int], None] | None = None
        entries = list(gazetteer) if gazetteer is not None else self._gazetteer()
        self.preparer = Preparer(settings, entries)
        self.deid, self.extractor = self.preparer.deid, self.preparer.extractor
        # Vectors of texts embedded lately: a live conversation is re-ingested whole at each
        # message (api/live.py), and its earlier messages need not be encoded again.
        self._vectors: Recent[str, np.ndarray] = Recent(RECENT_TEXTS)  # float32: 1.5 KB each
        # One `_embed` at a time: the model's thread may have the next group's run queued
        # when this thread embeds a group's files one by one after a refused text.
        self._embedding_lock = threading.Lock()
        names = NameVectorCache(settings.data_dir / "cache" / "names.sqlite")
        self.resolver = Resolver(entries, embedder=embedder, cache=names)

    def _gazetteer(self) -> list[GazetteerEntry]:
        """The gazetteer file (the bundled one unless configured), extended by the pinned
        (curated) entities in the graph. Raises GazetteerError when it cannot be read."""
        entries = load_gazetteer(gazetteer_file(self.settings.gazetteer_path))
        return merge(entries, self._curated())  # type: ignore[arg-type]

    def _curated(self) -> list[Entity]:
        """Pinned entities, one indexed page at a time (never every entity to find a flag)."""
        query = NodeQuery(label=Label.ENTITY, pinned=True, limit=1000)
        return [n for n in iter_nodes(self.store, query) if isinstance(n, Entity)]

    # -- public -------------------------------------------------------------------------

    def ingest(
        self, paths: Sequence[Path], kind: str | None = None, progress: bool = False
    ) -> IngestReport:
        start = time.perf_counter()
        report = IngestReport()
        files, unreadable = _expand(paths)
        report.files += unreadable
        sources = (FileSource(path, safe_uri(str(path)), kind) for path in files)
        with _progress(self, len(files), progress) as settled:
            for done in self.ingest_many(sources):
                report.files.append(done)
                settled(done)
        totals = report.totals()
        if totals["chunks"] + totals["messages"] >= TIDY_AFTER_TEXTS:
            self.store.tidy()
        report.seconds = time.perf_counter() - start
        return report

    def ingest_many(self, sources: Iterable[Source]) -> Iterator[FileReport]:
        """Ingest sources (files still to read, loaded ones, or a FileReport standing for one
        that failed to load) with their texts embedded together across files, in groups of
        about `ingest_group_texts`: the model runs full batches however small each file is,
        and memory holds three groups (written, embedded, prepared), not the corpus. The files
        of a group are committed together (`_write_all`), in order, each whole or not at all:
        a failure costs that file only, and a run killed part-way leaves whole sources (at
        most one group's work to redo).

        While the model embeds one group (on a thread of its own), this thread resolves the
        group before it, and a second thread writes that one and then prepares the next
        (whose run is queued behind the model's current one, so the model goes on from one
        run to the next without waiting for this thread to take its vectors):
        resolving, writing and preparing are Python and share one core (the GIL), the model's
        native code takes what is left. Done in turn, as before, the model waited for each
        next group with one core idle (994 chat files: 56 s, then 52 s). The
        next group's entities are resolved against the gazetteer and names only, never
        against what the store holds, so it may go ahead; what a file shares with stored
        sources (people, customers, entity aliases) is merged when its group is written,
        after every earlier file's. Reports come as each file is settled (a failed load when
        the group after it is ready, the others when their group is written)."""
        stop = threading.Event()  # a failure: the model's run of the next group ends early
        with (
            fewer_collections(),  # the collector walked the import's objects again and again
            ThreadPoolExecutor(1, thread_name_prefix="spiral-ingest-beside") as beside,
            ThreadPoolExecutor(1, thread_name_prefix="spiral-ingest-model") as model,
        ):
            groups = self._groups(sources)
            failed, group = _next_group(groups)  # the first group: nothing to overlap yet
            yield from failed
            embedding = self._embedding(group, model, stop) if group else None
            upcoming = beside.submit(_next_group, groups)
            writing: Future[list[FileReport]] | None = None
            try:
                while embedding is not None:
                    unloaded, group = upcoming.result()
                    # The next group's run, queued before this one's vectors are taken: the
                    # model's idle time between runs was 0.06-0.35 s a group (994 chat files:
                    # ~1 s with one core idle). Its names may repeat this group's, not yet
                    # learned: those are found among the texts embedded lately.
                    following = self._embedding(group, model, stop) if group else None
                    failed, embedded = self._learned(*embedding)
                    yield from failed
                    yield from unloaded
                    failed, ready = self._resolved(embedded)
                    yield from failed
                    if writing is not None:
                        yield from writing.result()
                    writing = beside.submit(self._write_all, ready)
                    upcoming = beside.submit(_next_group, groups)  # after that write
                    embedding = following
            finally:
                upcoming.cancel()  # when something failed: prepare no more (a write ends)
                stop.set()
            if writing is not None:
                yield from writing.result()

    def _groups(self, sources: Iterable[Source]) -> Iterator[list[Prepared] | FileReport]:
        """Prepared files in groups of about `ingest_group_texts` texts; failures one by one."""
        group: list[Prepared] = []
        texts = 0
        for prepared in self._prepared(sources):
            if isinstance(prepared, FileReport):
                yield prepared
                continue
            group.append(prepared)
            texts += len(prepared.graph.embedded_nodes)
            if texts >= self.settings.group_texts:
                yield group
                group, texts = [], 0
        yield from _last_in_two(group)

    def _prepared(self, sources: Iterable[Source]) -> Iterator[Prepared | FileReport]:
        """Each source prepared (or its report), in the order given. Whether a file changed is
        read for HASHES_AHEAD files at once, before they are read: on Neo4j checking each file
        was a round trip of its own, 13 s of waiting in a 100 s ingest of 994 chat files."""
        ahead = iter(sources)
        while chunk := list(itertools.islice(ahead, HASHES_AHEAD)):
            ids = [
                None if isinstance(s, FileReport) else self.preparer.source_id(s.uri) for s in chunk
            ]
            stored = self.store.source_hashes([i for i in ids if i]) if any(ids) else {}
            for source, source_id in zip(chunk, ids, strict=True):
                yield self.preparer.source(source, stored.get(source_id) if source_id else None)

    def ingest_file(
        self,
        path: Path,
        uri: str,
        kind: str | None = None,
        progress: OnProgress | None = None,
    ) -> FileReport:
        """Ingest one file; any failure is reported, never raised, and writes nothing. Only
        what fails every file alike (the store, the model) is raised, to be said once.
        `progress` is told each phase (`OnProgress`)."""
        if progress:
            progress("read", 0, 0)
        loaded = self.preparer.read(path, uri, kind)
        if isinstance(loaded, FileReport):
            return loaded
        return self.ingest_loaded(loaded, progress)

    def ingest_loaded(self, loaded: Loaded, progress: OnProgress | None = None) -> FileReport:
        """Ingest an already loaded source (e.g. a converted export) as one transaction."""
        stored = self.store.source_hash(self.preparer.source_id(loaded.uri))
        prepared = self.preparer.prepare(loaded, stored, progress)
        if isinstance(prepared, FileReport):
            return prepared
        return next(iter(self._finish([prepared])))

    # -- one group of files: prepare each, then extract, embed and write them together -----

    def _finish(self, group: list[Prepared]) -> Iterator[FileReport]:
        """Embed (texts and new names), resolve and write one group, here and now."""
        failed, ready = self._ready(group)
        yield from failed
        yield from self._write_all(ready)

    def _ready(
        self, group: list[Prepared]
    ) -> tuple[list[FileReport], list[tuple[Prepared, Resolution]]]:
        """Every file's texts and the group's new entity names embedded in one run of full
        batches, then each file's entities resolved; with the files that failed. One run: the
        names alone were a run of small batches (1 s per group of 2,000 texts, on 1.4 cores)."""
        if not group:
            return [], []
        failed, embedded = self._learned(*self._embedding(group))
        more, resolved = self._resolved(embedded)
        return failed + more, resolved

    def _names_to_encode(self, group: list[Prepared]) -> list[str]:
        with per_file(""):  # a failure shows again, and is reported, in its own file's resolve
            return self.resolver.names_to_encode([m for p in group for m in p.all_mentions()])
        return []

    def _embedding(
        self,
        group: list[Prepared],
        model: ThreadPoolExecutor | None = None,
        stop: threading.Event | None = None,
    ) -> tuple[list[Prepared], list[str], Callable[[], np.ndarray]]:
        """The group, its new names, and the run that embeds its texts with them: done when
        called, or already under way on the `model` thread, while this one resolves the
        group before (`ingest_many`: the model waited ~0.3 s for each, on one core). The
        resolver stays on this thread; the names come from it before the run."""
        names = self._names_to_encode(group)
        graphs = [p.graph for p in group]
        if model is None:
            return group, names, functools.partial(self._embed, graphs, _progress_of(group), names)
        run = model.submit(self._embed, graphs, _progress_of(group), names, stop)
        return group, names, run.result

    def _learned(
        self, group: list[Prepared], names: list[str], vectors: Callable[[], np.ndarray]
    ) -> tuple[list[FileReport], list[Prepared]]:
        """The group's run (`vectors`: done here, or awaited) and its names' vectors handed
        to the resolver; should the model refuse a text, the files embedded again one by one,
        to fail only its own."""
        failed: list[FileReport] = []
        with per_file("") as together:
            self.resolver.learn(names, vectors())
        if not together.report:
            return failed, group
        embedded = []
        for p in group:
            with per_file(p.uri) as alone:
                self._embed([p.graph], p.progress)
            if alone.report:
                failed.append(alone.report)
            else:
                embedded.append(p)
        return failed, embedded

    def _resolved(
        self, embedded: list[Prepared]
    ) -> tuple[list[FileReport], list[tuple[Prepared, Resolution]]]:
        """Each embedded file's entities resolved, or its failure."""
        failed: list[FileReport] = []
        resolved: list[tuple[Prepared, Resolution]] = []
        for p in embedded:
            with per_file(p.uri) as outcome:
                resolved.append((p, self.resolver.resolve(p.all_mentions())))
            if outcome.report:
                failed.append(outcome.report)
        return failed, resolved

    def _write_all(self, ready: list[tuple[Prepared, Resolution]]) -> list[FileReport]:
        """The group's files committed together (`GraphStore.write_many`: one transaction,
        each file its own event; every file whole or none), each merged with
        what the store and the earlier files of the group hold. Should that fail for one
        file's sake, each file is written again on its own, so a failure stays that file's."""
        reports: list[FileReport] = []
        written: list[tuple[Prepared, Resolution, _Built]] = []
        seen: dict[str, Node] = {}  # what earlier files of the group will have written
        # What the store holds of the nodes the files share with other sources, read for the
        # whole group at once: nothing of the group is written before its files are built, so
        # each file would read the same (on Neo4j a round trip per file was 16 s of a 100 s
        # import of 994 chat files).
        stored: dict[str, Node] | None = None  # None: each file reads its own
        with per_file(""):  # a failure shows again, and is reported, in its own file's build
            stored = self.store.get_observed_many([i for p, r in ready for i in _shared(p, r)])
        for p, resolution in ready:
            with per_file(p.uri) as outcome:
                built = self._batch(p, resolution, seen, stored)
                seen.update((n.id, n) for n in built.batch.nodes)
                written.append((p, resolution, built))
            if outcome.report:
                reports.append(outcome.report)
        if not written:
            return reports
        for p, _, _ in written:
            if p.progress:
                p.progress("write", 0, 0)
        try:
            self.store.write_many([built.batch for _, _, built in written])
        except ValueError as exc:
            if len(written) == 1:
                return [*reports, _not_written(written[0][0], exc)]
            _log.debug("group write failed; writing its files one by one", exc_info=True)
            return [*reports, *self._write_each([(p, r) for p, r, _ in written])]
        return [*reports, *(self._ingested(p, built) for p, _, built in written)]

    def _write_each(self, ready: list[tuple[Prepared, Resolution]]) -> list[FileReport]:
        reports = []
        for p, resolution in ready:
            with per_file(p.uri) as outcome:
                outcome.report = self._write(p, resolution)
            assert outcome.report is not None
            reports.append(outcome.report)
        return reports

    def _write(self, p: Prepared, resolution: Resolution) -> FileReport:
        """One file in its own transaction, merged with what the store holds now."""
        built = self._batch(p, resolution, {})
        try:
            self.store.write(built.batch)
        except ValueError as exc:
            return _not_written(p, exc)
        return self._ingested(p, built)

    def _batch(
        self,
        p: Prepared,
        resolution: Resolution,
        seen: dict[str, Node],
        stored: dict[str, Node] | None = None,
    ) -> _Built:
        """What this file writes: its graph with what other sources share (people,
        customers, entities) merged with what is stored or `seen` earlier in the group.
        `stored`: what the store holds of them, read for the group (`_write_all`); else read
        here, at once (on Neo4j one round trip, not one per customer, employee and entity).
        The prepared graph itself is left as it was, so a file can be built again."""
        graph = SourceGraph(
            source_id=p.graph.source_id, nodes=[*p.graph.nodes], links=[*p.graph.links]
        )
        shared = _shared(p, resolution)
        if stored is None:
            stored = self.store.get_observed_many([i for i in shared if i not in seen])
        named = set(shared)

        def observed(node_id: str) -> Node | None:
            if node_id in seen:
                return seen[node_id]
            if node_id in stored:
                return stored[node_id]
            return None if node_id in named else self.store.get_observed(node_id)

        for customer in self._merge_customers(p.uri, p.customers, observed):
            graph.add(customer)
        self._merge_people(graph, observed)
        entities = self._link(graph, p.mentions, resolution, observed)
        batch = WriteBatch(replace_sources=p.replace, nodes=graph.nodes, links=graph.links)
        return _Built(batch, entities)

    @staticmethod
    def _ingested(p: Prepared, built: _Built) -> FileReport:
        nodes = built.batch.nodes
        return FileReport(
            uri=p.uri,
            status="ingested",
            kind=p.kind,
            chunks=sum(n.label is Label.CHUNK for n in nodes),
            messages=sum(isinstance(n, Message) for n in nodes),
            entities=built.entities,
            links=len(built.batch.links),
            row_errors=p.row_errors,
        )

    def forget(self, path: Path) -> WriteResult:
        """The source stored for `path` (under its de-identified uri), and one an older version
        stored under the raw uri."""
        raw = safe_uri(str(path))
        uris = {self.preparer.uri(raw), raw}
        results = [self.store.delete_source(source_id_for(u)) for u in uris]
        totals = {f: sum(getattr(r, f) for r in results) for f in WriteResult.model_fields}
        return WriteResult(**totals)

    # -- steps --------------------------------------------------------------------------

    def _merge_customers(
        self, uri: str, customers: Sequence[Customer], observed: Observed
    ) -> list[Customer]:
        """One Customer per id, each field the newest non-empty value seen: over this file's
        conversations and what the store holds from other sources. What the store holds from
        this same file is dropped first, as this file is now what it says."""
        merged: dict[str, Customer] = {}
        for customer in customers:
            if customer.id not in merged:
                merged[customer.id] = _stored_fields(customer, uri, observed)
            merged[customer.id] = _newest_fields(merged[customer.id], customer)
        return list(merged.values())

    def _merge_people(self, graph: SourceGraph, observed: Observed) -> None:
        """Employees are shared by every source that names them: keep the display name the
        store already has and every other name seen as an alias, instead of overwriting them
        with this source's view. Other fields (a team) are decisions the store keeps itself."""
        for position, node in enumerate(graph.nodes):
            if not isinstance(node, Employee):
                continue
            stored = observed(node.id)
            if not isinstance(stored, Employee):
                continue
            name = stored.name or node.name
            names = [*stored.aliases, node.name, *node.aliases]
            aliases = sorted({n for n in names if n and n != name})
            external_id = node.external_id or stored.external_id
            update = {"name": name, "aliases": aliases, "external_id": external_id}
            graph.nodes[position] = node.model_copy(update=update)

    def _link(
        self,
        graph: SourceGraph,
        mentions: dict[str, list[Mention]],
        resolution: Resolution,
        observed: Observed,
    ) -> int:
        """The resolved entities (aliases merged with what the graph already holds), linked
        from the chunks and messages that mention them."""
        entities: dict[str, Entity] = {}
        for resolved in resolution.entities:
            entities[resolved.id] = _entity(resolved, graph.source_id, observed(resolved.id))
        links = {
            node_id: [resolution.entity_id(m) for m in ms if resolution.entity_id(m)]
            for node_id, ms in mentions.items()
        }
        add_mentions(graph, links, entities)  # type: ignore[arg-type]
        return len(entities)

    def _embed(
        self,
        graphs: Sequence[SourceGraph],
        progress: OnProgress | None = None,
        extra: Sequence[str] = (),
        stop: threading.Event | None = None,
    ) -> np.ndarray:
        """Embed every chunk, sentence and message of the graphs together, in slices so a
        long file shows its progress; the model batches each slice in full batches. A text
        is encoded once however often it recurs (chats repeat 好的, 您好, 谢谢: about a
        quarter of JDDC's messages), and not at all when embedded lately. `extra` texts (new
        entity names) are encoded in the same run; their vectors are returned, in order.
        `stop` set: no further slice is begun (the import failed elsewhere)."""
        with self._embedding_lock:
            return self._embed_now(graphs, progress, extra, stop)

    def _embed_now(
        self,
        graphs: Sequence[SourceGraph],
        progress: OnProgress | None,
        extra: Sequence[str],
        stop: threading.Event | None,
    ) -> np.ndarray:
        waiting: dict[str, list[Chunk | Message | Sentence]] = {}  # text → who takes its vector
        wanted, found = set(extra), dict[str, np.ndarray]()
        for text in extra:
            known = None if text in waiting else self._vectors.get(text)
            if known is None:
                waiting.setdefault(text, [])
            else:
                found[text] = known
        for node in (n for graph in graphs for n in graph.embedded_nodes):
            text = node.search_text()
            known = None if text in waiting else self._vectors.get(text)
            if known is None:
                waiting.setdefault(text, []).append(node)
            else:
                node.embedding = known.tolist()
        # Longest first, so each slice holds texts of like length and its model batches pad
        # little and run full (the model sorts within a call, not across them): the 12,136
        # texts of 994 JDDC sessions took 39.4 s in one call, 39.5 s in sorted slices of 256
        # and 49-52 s in slices in file order; the 994-file import 68-70 → 61-64 s.
        texts = sorted(waiting, key=len, reverse=True)
        if progress:
            progress("embed", 0, len(texts))
        for start in range(0, len(texts), EMBED_SLICE):
            if stop is not None and stop.is_set():
                raise IngestStopped("the import stopped; this group was not embedded")
            part = texts[start : start + EMBED_SLICE]
            vectors = self.embedder.encode(part)
            for text, vector in zip(part, vectors, strict=True):
                values = vector.tolist()
                for node in waiting[text]:
                    node.embedding = values
                kept = np.asarray(vector, np.float32)
                self._vectors.put(text, kept)
                if text in wanted:
                    found[text] = kept
            if self.on_embedded:
                self.on_embedded(start + len(part), len(texts))
            if progress:
                progress("embed", start + len(part), len(texts))
        if not extra:
            return np.zeros((0, self.embedder.dim), np.float32)
        return np.stack([found[text] for text in extra])


def _progress_of(group: list[Prepared]) -> OnProgress | None:
    return next((p.progress for p in group if p.progress), None)


class IngestStopped(Exception):
    """A group's run ended early: the import had already failed for another reason."""


def _next_group(
    groups: Iterator[list[Prepared] | FileReport],
) -> tuple[list[FileReport], list[Prepared] | None]:
    """The files that failed to load before the next group, and that group (None: no more)."""
    failed: list[FileReport] = []
    for item in groups:
        if isinstance(item, FileReport):
            failed.append(item)
        else:
            return failed, item
    return failed, None


def _last_in_two(group: list[Prepared]) -> Iterator[list[Prepared]]:
    """The last group as two, its last quarter of texts apart: the first part is written
    while that quarter is embedded, so the import does not end on one long write alone (the
    last of 994 chat files' groups took 1.7-2.6 s to write, with one core idle)."""
    texts = [len(p.graph.embedded_nodes) for p in group]
    total, done, cut = sum(texts), 0, 0
    if total >= SPLIT_LAST_TEXTS:  # else a few files: one call, one commit
        while cut < len(group) - 1 and done + texts[cut] <= total * 3 // 4:
            done += texts[cut]
            cut += 1
    yield from (part for part in (group[:cut], group[cut:]) if part)


def _shared(p: Prepared, resolution: Resolution) -> list[str]:
    """The ids of the nodes a file shares with other sources: its customers, employees and
    the entities it names."""
    shared = [c.id for c in p.customers]
    shared += [n.id for n in p.graph.nodes if isinstance(n, Employee)]
    return shared + [e.id for e in resolution.entities]


def _not_written(p: Prepared, exc: ValueError) -> FileReport:
    """The report of a file the store refused (a link to a node that does not exist, ...)."""
    return FileReport(uri=p.uri, status="failed", reason=f"could not write: {exc}")


def _stored_fields(customer: Customer, uri: str, observed: Observed) -> Customer:
    """`customer` carrying the fields the store already holds for it from other sources."""
    stored = observed(customer.id)
    if not isinstance(stored, Customer):
        return customer.model_copy(update={"fields": {}, "field_sources": {}})
    keep = {
        name: value
        for name, value in stored.fields.items()
        if _source_uri(stored.field_sources.get(name, "")) != uri
    }
    sources = {name: stored.field_sources.get(name, "") for name in keep}
    return customer.model_copy(update={"fields": keep, "field_sources": sources})


def _entity(resolved, source_id: str, existing: Node | None) -> Entity:  # type: ignore[no-untyped-def]
    """The resolved entity, keeping the aliases and the pin of the one stored under its id."""
    aliases = list(dict.fromkeys([*resolved.aliases, *(getattr(existing, "aliases", []) or [])]))
    return Entity(
        id=resolved.id,
        name=resolved.name,
        kind=resolved.kind,
        aliases=sorted(aliases),
        normalized=resolved.normalized,
        pinned=resolved.pinned or bool(existing and existing.pinned),
        provenance=resolved.provenance(source_id),
    )


def customer_node_id(settings: Settings, raw: str) -> str:
    """The node id ingest gives the customer known in the source as `raw` (their id in the
    source system, or their name): how a live ask names the customer."""
    value = raw.strip()
    if settings.deidentify:
        key = Deidentifier(settings.deid_key.get_secret_value()).key_hash_text(value)
    else:
        key = content_hash(value)
    return make_id(Label.CUSTOMER, key)


def _source_uri(source: str) -> str:
    return source.rpartition("@")[0] if "@" in source else source


def _source_time(source: str) -> datetime | None:
    """The time of a `URI@TIME` field source; None when absent or unreadable (such a value
    loses to any timed one). A time without a zone is read as UTC."""
    text = source.rpartition("@")[2] if "@" in source else ""
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _newest_fields(current: Customer, seen: Customer) -> Customer:
    """`current` with each non-empty field of `seen` that is at least as new (by conversation
    time; a value with a time beats one without; a tie goes to `seen`, the later processed)."""
    fields, sources = dict(current.fields), dict(current.field_sources)
    for name, value in seen.fields.items():
        source = seen.field_sources.get(name, "")
        new, old = _source_time(source), _source_time(sources.get(name, ""))
        newer = old is None if new is None else old is None or new >= old
        if value and (not fields.get(name) or newer):
            fields[name], sources[name] = value, source
    return seen.model_copy(update={"fields": fields, "field_sources": sources})


def _expand(paths: Iterable[Path]) -> tuple[list[Path], list[FileReport]]:
    """The files to ingest, and a failed report for each path that names nothing and each
    folder that cannot be listed. A link that leads nowhere (dangling, a loop) is a file
    that `load` reports."""
    failed: list[FileReport] = []

    def unreadable(path: Path, reason: str) -> None:
        failed.append(FileReport(uri=safe_uri(str(path)), status="failed", reason=reason))

    existing = []
    for path in paths:
        if _lexists(path):
            existing.append(path)
        else:
            unreadable(path, "no such file or folder")
    return list(iter_files(existing, on_error=unreadable)), failed


def _lexists(path: Path) -> bool:
    try:
        return os.path.lexists(path)
    except ValueError:  # a NUL in the name names nothing
        return False


@contextmanager
def _progress(ingestor: Ingestor, files: int, show: bool) -> Iterator[Callable[[FileReport], None]]:
    """A bar over files, advanced as each is settled (written, unchanged or failed), and one
    over the texts being embedded when they are many (a long file, a group of chats)."""
    if not show:
        yield lambda _report: None
        return
    columns: list[Callable[..., object] | object] = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[name]}"),
    ]
    with Progress(*columns, transient=True) as bar:  # type: ignore[arg-type]
        task = bar.add_task("files", total=files, name="")
        texts = bar.add_task("embedding", total=None, name="", visible=False)

        def on_embedded(done: int, total: int) -> None:
            shown = total > EMBED_SLICE and done < total  # many texts, still going
            bar.update(texts, completed=done, total=total, visible=shown)

        def settled(report: FileReport) -> None:
            name = escape(safe_uri(Path(report.uri).name))  # rich reads "[x]" as markup
            bar.update(task, advance=1, name=name)

        ingestor.on_embedded = on_embedded
        try:
            yield settled
        finally:
            ingestor.on_embedded = None

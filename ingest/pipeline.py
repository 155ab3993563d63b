"""The ingest pipeline: load → de-identify → segment → extract → link → embed → write.

One transaction per source file: a run killed part-way leaves every file either fully
written or not at all, and a rerun completes the rest (unchanged files are skipped by their
content hash, before the model is even loaded).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from graph.embeddings import Embedder
from graph.ids import content_hash
from graph.model import Customer, Entity, Label, Message, make_id
from graph.settings import Settings
from graph.store import GraphStore, WriteBatch, WriteResult
from ingest.build import (
    SourceGraph,
    add_mentions,
    build_document,
    build_note,
    build_transcript,
    source_id_for,
)
from ingest.contacts import customer_fields
from ingest.deidentify import Deidentifier
from ingest.extract import Extractor
from ingest.gazetteer import GazetteerEntry, gazetteer_digest, load_gazetteer, merge
from ingest.loaders import iter_files, load
from ingest.records import (
    LoadedDocument,
    LoadedNote,
    LoadedTranscript,
    LoadError,
    TranscriptConversation,
)
from ingest.resolve import Resolver

__all__ = ["PIPELINE_VERSION", "FileReport", "IngestReport", "Ingestor"]

# Bump when the pipeline's output changes, so unchanged files are re-processed once.
PIPELINE_VERSION = "1"
EMBED_SLICE = 256  # texts per encode call: the progress granularity of one long file


class FileReport(BaseModel):
    uri: str
    status: Literal["ingested", "unchanged", "failed"]
    kind: str = ""
    chunks: int = 0
    messages: int = 0
    entities: int = 0
    links: int = 0
    reason: str = ""
    row_errors: list[str] = Field(default_factory=list)


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
        self.deid = (
            Deidentifier(settings.deid_key.get_secret_value()) if settings.deidentify else None
        )
        entries = list(gazetteer) if gazetteer is not None else self._gazetteer()
        self.extractor = Extractor(entries)
        self.resolver = Resolver(entries, embedder=embedder)
        # What else decides the output: a change of any of these re-processes every file.
        self.config_hash = content_hash(
            PIPELINE_VERSION,
            str(settings.deidentify),
            settings.deid_key.get_secret_value(),
            settings.embedding_model,
            gazetteer_digest(entries),
        )

    def _gazetteer(self) -> list[GazetteerEntry]:
        """The gazetteer file, extended by the pinned (curated) entities in the graph."""
        path = self.settings.gazetteer_path
        entries = load_gazetteer(path) if path and path.exists() else []
        curated = [n for n in self.store.get_nodes(Label.ENTITY, limit=100_000) if n.pinned]
        return merge(entries, curated)  # type: ignore[arg-type]

    # -- public -------------------------------------------------------------------------

    def ingest(
        self, paths: Sequence[Path], kind: str | None = None, progress: bool = False
    ) -> IngestReport:
        start = time.perf_counter()
        report = IngestReport()
        files, missing = _expand(paths)
        report.files += [
            FileReport(uri=p, status="failed", reason="no such file or folder") for p in missing
        ]
        for path in _progress(self, files, progress):
            report.files.append(self.ingest_file(path, str(path), kind))
        report.seconds = time.perf_counter() - start
        return report

    def ingest_file(self, path: Path, uri: str, kind: str | None = None) -> FileReport:
        """Ingest one file; any failure is reported, never raised, and writes nothing."""
        max_bytes = int(self.settings.max_file_mb * 1024 * 1024)
        try:
            loaded = load(path, uri=uri, kind=kind, max_bytes=max_bytes)
        except LoadError as exc:
            return FileReport(uri=uri, status="failed", reason=exc.reason)
        return self.ingest_loaded(loaded)

    def ingest_loaded(self, loaded: LoadedDocument | LoadedTranscript | LoadedNote) -> FileReport:
        """Ingest an already loaded source (e.g. a converted export) as one transaction."""
        uri = loaded.uri
        digest = content_hash(loaded.raw_hash, self.config_hash)
        row_errors = loaded.row_errors if isinstance(loaded, LoadedTranscript) else []
        if self.store.source_hash(source_id_for(uri)) == digest:
            return FileReport(uri=uri, status="unchanged", row_errors=row_errors)
        graph, kind_name = self._build(loaded, digest)
        entities = self._extract(graph)
        self._embed(graph)
        batch = WriteBatch(replace_sources=[graph.source_id], nodes=graph.nodes, links=graph.links)
        try:
            self.store.write(batch)
        except ValueError as exc:
            return FileReport(uri=uri, status="failed", reason=f"could not write: {exc}")
        return FileReport(
            uri=uri,
            status="ingested",
            kind=kind_name,
            chunks=sum(n.label is Label.CHUNK for n in graph.nodes),
            messages=sum(isinstance(n, Message) for n in graph.nodes),
            entities=entities,
            links=len(graph.links),
            row_errors=row_errors,
        )

    def forget(self, path: Path) -> WriteResult:
        return self.store.delete_source(source_id_for(str(path)))

    # -- steps --------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return self.deid.redact(text).text if self.deid else text

    def _build(
        self, loaded: LoadedDocument | LoadedTranscript | LoadedNote, digest: str
    ) -> tuple[SourceGraph, str]:
        if isinstance(loaded, LoadedDocument):
            doc = loaded.model_copy(update={"text": self._redact(loaded.text)})
            return build_document(doc, digest), loaded.kind
        if isinstance(loaded, LoadedNote):
            note = loaded.model_copy(update={"text": self._redact(loaded.text)})
            return build_note(note, digest), "note"
        conversations = [self._deidentify_conversation(c) for c in loaded.conversations]
        customers = [self._customer(loaded.uri, i, c) for i, c in enumerate(loaded.conversations)]
        clean = loaded.model_copy(update={"conversations": conversations})
        graph = build_transcript(clean, digest, [c.id for c in customers])
        for customer in {c.id: c for c in customers}.values():
            graph.add(customer)
        return graph, f"transcript:{loaded.format}"

    def _deidentify_conversation(self, conv: TranscriptConversation) -> TranscriptConversation:
        messages = [m.model_copy(update={"text": self._redact(m.text)}) for m in conv.messages]
        return conv.model_copy(update={"messages": messages, "customer": "", "cards": []})

    def _customer(self, uri: str, index: int, conv: TranscriptConversation) -> Customer:
        """The customer as a keyed hash of their identifier: the same person links across
        conversations, and no raw identifier is stored."""
        raw = conv.customer or f"{uri}#{conv.id or index}"
        key = self.deid.key_hash_text(raw) if self.deid else content_hash(raw)
        fields = customer_fields(conv, self.deid) if self.deid else {}
        return Customer(
            id=make_id(Label.CUSTOMER, key), name=f"customer-{key[:8]}", key_hash=key, fields=fields
        )

    def _extract(self, graph: SourceGraph) -> int:
        """Find entity mentions in every chunk and message, resolve them to canonical
        entities (merging aliases with what the graph already holds), link them."""
        mentions_by_node = {n.id: self.extractor.extract(n.text) for n in graph.text_nodes}
        resolution = self.resolver.resolve([m for ms in mentions_by_node.values() for m in ms])
        entities: dict[str, Entity] = {}
        for resolved in resolution.entities:
            entities[resolved.id] = self._entity(resolved, graph.source_id)
        links = {
            node_id: [resolution.entity_id(m) for m in ms if resolution.entity_id(m)]
            for node_id, ms in mentions_by_node.items()
        }
        add_mentions(graph, links, entities)  # type: ignore[arg-type]
        return len(entities)

    def _entity(self, resolved, source_id: str) -> Entity:  # type: ignore[no-untyped-def]
        existing = self.store.get_node(resolved.id)
        aliases = list(
            dict.fromkeys([*resolved.aliases, *(getattr(existing, "aliases", []) or [])])
        )
        return Entity(
            id=resolved.id,
            name=resolved.name,
            kind=resolved.kind,
            aliases=sorted(aliases),
            normalized=resolved.normalized,
            pinned=resolved.pinned or bool(existing and existing.pinned),
            provenance=resolved.provenance(source_id),
        )

    def _embed(self, graph: SourceGraph) -> None:
        """Embed every chunk and message, in slices so a long file shows its progress."""
        nodes = graph.text_nodes
        for start in range(0, len(nodes), EMBED_SLICE):
            part = nodes[start : start + EMBED_SLICE]
            vectors = self.embedder.encode([n.search_text() for n in part])
            for node, vector in zip(part, vectors, strict=True):
                node.embedding = vector.tolist()
            if self.on_embedded:
                self.on_embedded(start + len(part), len(nodes))


def _expand(paths: Iterable[Path]) -> tuple[list[Path], list[str]]:
    existing = [p for p in paths if p.exists()]
    return list(iter_files(existing)), [str(p) for p in paths if not p.exists()]


def _progress(ingestor: Ingestor, files: list[Path], show: bool) -> Iterable[Path]:
    """A bar over files, and one over the texts of the current file while it is embedded."""
    if not show:
        yield from files
        return
    columns: list[Callable[..., object] | object] = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[name]}"),
    ]
    with Progress(*columns, transient=True) as bar:  # type: ignore[arg-type]
        task = bar.add_task("files", total=len(files), name="")
        texts = bar.add_task("embedding", total=None, name="", visible=False)

        def on_embedded(done: int, total: int) -> None:
            bar.update(texts, completed=done, total=total, visible=total > EMBED_SLICE)

        ingestor.on_embedded = on_embedded
        try:
            for path in files:
                bar.update(task, name=path.name)
                yield path
                bar.advance(task)
                bar.update(texts, visible=False)
        finally:
            ingestor.on_embedded = None

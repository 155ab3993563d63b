"""A source file made ready to embed and write: read, de-identified, segmented, its mentions
found. It needs nothing of the store or the model: what the store holds of it (its content
hash) is given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from graph.embeddings import ModelError
from graph.ids import content_hash
from graph.model import Customer, Label, make_id
from graph.recent import Recent
from graph.settings import Settings
from graph.store import StoreBusy, StoreUnavailable
from ingest.build import (
    SourceGraph,
    build_document,
    build_note,
    build_transcript,
    message_employee,
    source_id_for,
)
from ingest.contacts import customer_fields
from ingest.deidentify import Deidentifier, PiiKind
from ingest.extract import Extractor, Mention
from ingest.gazetteer import GazetteerEntry, gazetteer_digest
from ingest.loaders import load
from ingest.records import (
    LoadedDocument,
    LoadedNote,
    LoadedTranscript,
    LoadError,
    TranscriptConversation,
)
from ingest.untrusted import safe_uri

# Bump when the pipeline's output changes, so unchanged files are re-processed once.
# 2: employees keyed by source-system ids; customer fields merged per field with sources.
# 3: sentences of chunks get their own vectors.
# 4: names, WeChat/QQ/passport/plate de-identified; uris and titles de-identified too.
PIPELINE_VERSION = "4"
URIS_KEPT = 256  # de-identified file paths kept: each is asked for twice, close together

# Failures of the store or the model, not of a file: raised to be said once (the CLI turns
# them into one line), as every later file would fail the same way.
BATCH_ERRORS: tuple[type[Exception], ...] = (StoreBusy, StoreUnavailable, ModelError)
_log = logging.getLogger(__name__)

Loaded = LoadedDocument | LoadedTranscript | LoadedNote

OnProgress = Callable[[str, int, int], None]
"""Told (phase, done, total) as one file goes through: "read", "extract", "embed" (texts
embedded of all, once per EMBED_SLICE), "write". It must not raise."""


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


@dataclass(frozen=True)
class FileSource:
    """A file still to be read: read when it is prepared, after its stored hash is known, so
    files are not held in memory while they wait."""

    path: Path
    uri: str  # as given (`safe_uri`), before de-identification
    kind: str | None = None


Source = Loaded | FileSource | FileReport
"""What ingest takes: a file to read, a loaded source, or the report of one that failed."""


@dataclass
class Prepared:
    """One source between reading and writing: its graph (people, customers and entities
    not merged with the store's yet), the mentions found in its texts, what it replaces."""

    uri: str
    kind: str
    graph: SourceGraph
    customers: list[Customer]
    mentions: dict[str, list[Mention]]
    replace: list[str]
    row_errors: list[str]
    progress: OnProgress | None = None

    def all_mentions(self) -> list[Mention]:
        return [m for found in self.mentions.values() for m in found]


@dataclass
class Outcome:
    report: FileReport | None = None


@contextmanager
def per_file(uri: str) -> Iterator[Outcome]:
    """Any failure in the block costs this file only: it becomes the outcome's report. What
    fails every file alike (the store, the model) is raised, to be said once."""
    outcome = Outcome()
    try:
        yield outcome
    except LoadError as exc:
        outcome.report = FileReport(uri=uri, status="failed", reason=exc.reason)
    except BATCH_ERRORS:
        raise
    except Exception as exc:  # a bug must cost one file, not the batch
        _log.debug("ingest of %s failed", uri, exc_info=True)
        reason = safe_uri(" ".join(str(exc).split())[:200]) or "no message"
        outcome.report = FileReport(
            uri=uri, status="failed", reason=f"{type(exc).__name__}: {reason}"
        )


class Preparer:
    """What preparing a file needs (the de-identification key, the gazetteer's patterns) and
    what it learns on the way (which names are personal data), kept across files."""

    def __init__(self, settings: Settings, entries: Sequence[GazetteerEntry]) -> None:
        self.settings = settings
        self.entries = list(entries)
        self.deid = (
            Deidentifier(settings.deid_key.get_secret_value()) if settings.deidentify else None
        )
        self.extractor = Extractor(self.entries, keywords=settings.keyword_topics)
        self._pii_kinds: dict[str, str] = {}  # name or id → what personal data it is
        self._uris: Recent[str, str] = Recent(URIS_KEPT)  # file path → de-identified
        # What else decides the output: a change of any of these re-processes every file.
        self.config_hash = content_hash(
            PIPELINE_VERSION,
            str(settings.deidentify),
            *([] if settings.keyword_topics else ["no-topics"]),
            settings.deid_key.get_secret_value(),
            settings.embedding_model,
            # int8 vectors differ a little from the float model's: switching re-embeds every
            # file (torch and onnx agree to 1e-6, so switching between them changes nothing).
            *(["int8"] if settings.embedding_backend == "onnx-int8" else []),
            gazetteer_digest(self.entries),
        )

    def source(self, source: Source, stored: str | None) -> Prepared | FileReport:
        """`source` read when it is a file, then prepared; a failure is its report. `stored`:
        the content hash the store holds for it (`source_id`), None when none."""
        if isinstance(source, FileSource):
            source = self.read(source.path, source.uri, source.kind)
        if isinstance(source, FileReport):
            return source
        return self.prepare(source, stored)

    def read(self, path: Path, uri: str, kind: str | None = None) -> Loaded | FileReport:
        """The file loaded, or a failed report saying why (never raised)."""
        max_bytes = int(self.settings.max_file_mb * 1024 * 1024)
        max_text = int(self.settings.max_text_mb * 1024 * 1024)
        uri = safe_uri(uri)
        with per_file(uri) as outcome:
            return load(path, uri=uri, kind=kind, max_bytes=max_bytes, max_text_bytes=max_text)
        assert outcome.report is not None
        return outcome.report

    def prepare(
        self, loaded: Loaded, stored: str | None, progress: OnProgress | None = None
    ) -> Prepared | FileReport:
        """De-identified and segmented, its mentions found; unchanged (its content hash is
        `stored`, the one the store holds for it) or failed: its report."""
        with per_file(safe_uri(loaded.uri)) as outcome:
            return self._prepare(loaded, stored, progress)
        assert outcome.report is not None
        return outcome.report

    def _prepare(
        self, loaded: Loaded, stored: str | None, progress: OnProgress | None
    ) -> Prepared | FileReport:
        raw_uri = loaded.uri
        loaded = self._deidentify_metadata(loaded)
        uri = loaded.uri
        digest = content_hash(loaded.raw_hash, self.config_hash)
        row_errors = loaded.row_errors if isinstance(loaded, LoadedTranscript) else []
        if stored == digest:
            return FileReport(uri=uri, status="unchanged", row_errors=row_errors)
        if progress:
            progress("extract", 0, 0)
        graph, kind_name, customers = self.build(loaded, digest)
        mentions = {n.id: self.extractor.extract(n.text) for n in graph.text_nodes}
        # A source an older version stored under the raw (not de-identified) uri goes too.
        replace = list(dict.fromkeys([graph.source_id, source_id_for(raw_uri)]))
        return Prepared(uri, kind_name, graph, customers, mentions, replace, row_errors, progress)

    def source_id(self, uri: str) -> str:
        """The id a file's source is stored under: that of its de-identified uri."""
        return source_id_for(self.uri(uri))

    def uri(self, value: str, known: Iterable[str] = ()) -> str:
        """A file path or id, de-identified and still unique (`Deidentifier.redact_identifier`).
        A file's own path is kept a while: it is asked for when its stored hash is read ahead
        and again when it is prepared (~0.4 ms each, 994 chat files)."""
        if not (self.deid and value):
            return value
        names = tuple(known)
        if names:
            return self.deid.redact_identifier(value, names)
        found = self._uris.get(value)
        if found is None:
            found = self.deid.redact_identifier(value)
            self._uris.put(value, found)
        return found

    def build(self, loaded: Loaded, digest: str) -> tuple[SourceGraph, str, list[Customer]]:
        """The source's own graph; the customers it names are kept aside, to be merged with
        the store's view of them when the file is written."""
        if isinstance(loaded, LoadedDocument):
            doc = loaded.model_copy(update={"text": self._redact(loaded.text)})
            return build_document(doc, digest), loaded.kind, []
        if isinstance(loaded, LoadedNote):
            author, author_id = self._person(loaded.author, loaded.author_id)
            note = loaded.model_copy(
                update={
                    "text": self._redact(loaded.text, keep=[loaded.author]),  # an employee
                    "author": author,
                    "author_id": author_id,
                }
            )
            return build_note(note, digest), "note", []
        conversations = [self._deidentify_conversation(c) for c in loaded.conversations]
        customers = [self._customer(loaded.uri, i, c) for i, c in enumerate(loaded.conversations)]
        clean = loaded.model_copy(update={"conversations": conversations})
        graph = build_transcript(clean, digest, [c.id for c in customers])
        return graph, f"transcript:{loaded.format}", customers

    def _redact(self, text: str, known: Iterable[str] = (), keep: Iterable[str] = ()) -> str:
        return self.deid.redact(text, known, keep).text if self.deid else text

    def _deidentify_metadata(self, loaded: Loaded) -> Loaded:
        """The uri (the file name) and the title go through the same de-identification as the
        text: they are stored in nodes and returned as every suggestion's source."""
        update = {"uri": self.uri(loaded.uri)}
        if not isinstance(loaded, LoadedTranscript):
            title = loaded.title  # the file's stem when the file names no title itself
            update["title"] = self.deid.redact(title, identifier=True).text if self.deid else title
        return loaded.model_copy(update=update)

    def _deidentify_conversation(self, conv: TranscriptConversation) -> TranscriptConversation:
        """Texts, the conversation id and shared files de-identified; the customer's names (as
        the source gives them) are replaced wherever they occur, employees' names are kept."""
        employee, employee_id = self._person(conv.employee, conv.employee_id)
        known, keep = _conversation_names(conv)
        messages = []
        for m in conv.messages:
            update = {"text": self._redact(m.text, known, keep)}
            if who := message_employee(conv, m):  # resolved on the raw names, then hashed
                update["speaker"], update["speaker_id"] = self._person(*who)
            messages.append(m.model_copy(update=update))
        files = [
            f.model_copy(
                update={
                    "filename": self.uri(f.filename, known),
                    "sender": self._redact(f.sender, known, keep),
                }
            )
            for f in conv.files
        ]
        update = {"messages": messages, "customer": "", "customer_id": "", "cards": []}
        update |= {"employee": employee, "employee_id": employee_id}
        update |= {"id": self.uri(conv.id, known), "files": files}
        return conv.model_copy(update=update)

    def _person(self, name: str, external_id: str) -> tuple[str, str]:
        """An employee's (name, source id) as stored. An id or a name holding personal data (an
        e-mail address, a phone) is replaced by its keyed hash: the hash is then the person's id
        (`email:HASH`), and the name becomes `employee-HASH8`, so no raw address is stored."""
        if self.deid is None:
            return name, external_id
        if external_id and (kind := self._pii_kind(external_id)):
            external_id = f"{kind}:{self.deid.key_hash_text(external_id)}"
        if name and (kind := self._pii_kind(name)):
            hashed = self.deid.key_hash_text(name)
            external_id = external_id or f"{kind}:{hashed}"
            name = f"employee-{hashed[:8]}"
        return name, external_id

    def _pii_kind(self, value: str) -> str:
        """'email', 'phone', ... when `value` is exactly one such value; 'pii' when it holds
        personal data among other text; '' when it holds none (or de-identification is off)."""
        text = value.strip()
        if text in self._pii_kinds:  # the same few names recur on every message
            return self._pii_kinds[text]
        findings = self.deid.redact(text).findings if self.deid else []
        findings = [f for f in findings if f.kind is not PiiKind.NAME]  # employees keep names
        kind = ""
        if findings:
            whole = len(findings) == 1 and (findings[0].start, findings[0].end) == (0, len(text))
            kind = findings[0].kind.value.lower() if whole else "pii"
        self._pii_kinds[text] = kind
        return kind

    def _customer(self, uri: str, index: int, conv: TranscriptConversation) -> Customer:
        """The customer as a keyed hash of their identifier (the source system's customer id
        when given, else the name): the same person links across conversations, and no raw
        identifier is stored. Each field records where it was seen (`URI@TIME`)."""
        raw = conv.customer_id or conv.customer or f"{uri}#{conv.id or index}"
        key = self.deid.key_hash_text(raw) if self.deid else content_hash(raw)
        fields = customer_fields(conv, self.deid) if self.deid else {}
        seen = f"{uri}@{conversation_time(conv)}"
        return Customer(
            id=make_id(Label.CUSTOMER, key),
            name=f"customer-{key[:8]}",
            key_hash=key,
            fields=fields,
            field_sources=dict.fromkeys(fields, seen),
        )


def _conversation_names(conv: TranscriptConversation) -> tuple[frozenset[str], frozenset[str]]:
    """(customer names, employee names) the source gives: the conversation's customer, the
    speakers of customer messages and the names on shared cards; the employee and speakers of
    employee messages."""
    known = {conv.customer, *(c.name for c in conv.cards)}
    known |= {m.speaker for m in conv.messages if m.role == "customer"}
    keep = {conv.employee, *(m.speaker for m in conv.messages if m.role == "employee")}
    return frozenset(known - keep - {""}), frozenset(keep - {""})


def conversation_time(conv: TranscriptConversation) -> str:
    """When the conversation started: the first message time it gives ('' when none does)."""
    return next((m.time for m in conv.messages if m.time), "")

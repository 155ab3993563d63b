"""Pydantic records passed between ingest steps (load → de-identify → segment → extract →
link → embed → write). Only the writer turns them into graph nodes and touches the store."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ingest.untrusted import safe_uri

__all__ = [
    "ContactCard",
    "LoadError",
    "Loaded",
    "LoadedDocument",
    "LoadedNote",
    "LoadedTranscript",
    "SharedFile",
    "SourceKind",
    "TranscriptConversation",
    "TranscriptMessage",
]

SourceKind = Literal["document", "transcript", "note"]


class LoadError(Exception):
    """A file (or a row in it) cannot be read; the message names the reason in one line."""

    def __init__(self, uri: str, reason: str, row: int | None = None) -> None:
        # Both may quote what a user gave (a file name, a byte): printable, one line.
        self.uri, self.reason, self.row = safe_uri(uri), safe_uri(reason), row
        uri = self.uri
        where = f"{uri} (row {row})" if row is not None else uri
        super().__init__(f"{where}: {reason}")


class LoadedDocument(BaseModel):
    uri: str  # the path as given to `spiral ingest`
    kind: Literal["markdown", "text", "html", "pdf", "docx"]
    title: str = ""
    text: str  # full plain text; headings kept as lines
    raw_hash: str  # sha256 of the file bytes (idempotency)


class ContactCard(BaseModel):
    """Contact or company details a customer shared (a WeCom card, a signature)."""

    name: str = ""
    company: str = ""
    title: str = ""
    phone: str = ""
    email: str = ""
    address: str = ""
    userid: str = ""


class SharedFile(BaseModel):
    """A file sent in a chat (WeCom `file` message): archived as a Document linked to it."""

    filename: str
    fileext: str = ""
    filesize: int = 0
    md5sum: str = ""
    time: str = ""
    sender: str = ""


class TranscriptMessage(BaseModel):
    role: Literal["customer", "employee", "system"]
    text: str
    speaker: str = ""
    # The speaker's id in the source system (employees only); empty when only a name is known.
    speaker_id: str = ""
    time: str = ""  # ISO-8601 when known


class TranscriptConversation(BaseModel):
    id: str = ""  # from the file when present; otherwise derived from uri + position
    channel: str = ""
    employee: str = ""
    customer: str = ""
    # Source-system ids of the people (DESIGN.md): they identify a person where the display name
    # cannot (two people may share a name); empty when only names are known.
    employee_id: str = ""
    customer_id: str = ""
    outcome: str = ""  # resolved, converted, escalated, lost, ...
    satisfaction: float | None = None
    messages: list[TranscriptMessage] = Field(default_factory=list)
    cards: list[ContactCard] = Field(default_factory=list)
    files: list[SharedFile] = Field(default_factory=list)
    # Messages kept out of `messages` because they carry no text (WeCom image, voice, ...),
    # counted by type so reports can still say what a conversation contained.
    omitted: dict[str, int] = Field(default_factory=dict)


class LoadedTranscript(BaseModel):
    uri: str
    format: Literal["json", "csv", "log", "wecom", "jddc"]
    conversations: list[TranscriptConversation]
    raw_hash: str
    # Rows that could not be read; the rest of the file still loads.
    row_errors: list[str] = Field(default_factory=list)


class LoadedNote(BaseModel):
    """Free text an employee wrote (tacit knowledge on its way to explicit)."""

    uri: str
    text: str
    author: str = ""
    author_id: str = ""  # the author's source-system id, when known (else known by name)
    title: str = ""
    raw_hash: str


Loaded = LoadedDocument | LoadedTranscript | LoadedNote

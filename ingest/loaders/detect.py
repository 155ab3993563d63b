"""Which loader reads a file: from its content first (magic bytes, JSON shape, line shapes),
then its suffix. What was decoded or parsed while looking is handed on, so a large JSON file
is not parsed twice."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from ingest.loaders.notes import note_author
from ingest.loaders.text_io import decode_text
from ingest.loaders.transcript_common import parse_json_payload
from ingest.loaders.transcripts import (
    csv_columns,
    looks_like_canonical,
    looks_like_jddc,
    looks_like_log,
    looks_like_wecom,
)
from ingest.records import LoadError

__all__ = ["DOCUMENT_FORMATS", "KINDS", "TRANSCRIPT_FORMATS", "Sniffed", "normalize_kind", "sniff"]

DOCUMENT_FORMATS = ("markdown", "text", "html", "pdf", "docx")
TRANSCRIPT_FORMATS = ("json", "csv", "log", "wecom", "jddc")
KINDS = ("document", "transcript", "note", *DOCUMENT_FORMATS, *TRANSCRIPT_FORMATS)
_ALIASES = {"md": "markdown", "txt": "text", "htm": "html", "chat": "log"}

MARKDOWN_SUFFIXES = (".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
_LEGACY_OFFICE = {".doc": ".docx", ".xls": ".xlsx", ".ppt": ".pptx"}


@dataclass(frozen=True)
class Sniffed:
    """The chosen format plus what was already decoded (`text`) or parsed (`payload`)."""

    fmt: str
    text: str | None = None
    payload: Any = None
    has_payload: bool = False


def normalize_kind(kind: str | None, uri: str) -> str | None:
    """`--kind` value in canonical form; LoadError naming the choices when unknown."""
    if kind is None:
        return None
    value = _ALIASES.get(kind.strip().lower(), kind.strip().lower())
    if value not in KINDS:
        raise LoadError(uri, f"unknown kind {kind!r}; use one of: {', '.join(KINDS)}")
    return value


def sniff(data: bytes, uri: str, kind: str | None = None) -> Sniffed:
    """The format to load `data` as; `kind` (normalised) forces a family or a format."""
    if kind in DOCUMENT_FORMATS or kind in TRANSCRIPT_FORMATS or kind == "note":
        return Sniffed(kind)
    suffix = PurePath(uri).suffix.lower()
    if binary := _binary_format(data, uri, suffix):
        if kind == "transcript":
            raise LoadError(uri, f"a {binary.upper()} file is a document, not a transcript")
        return Sniffed(binary)
    text = decode_text(data, uri)
    if kind == "document":
        return Sniffed(_document_format(text, suffix), text)
    if _looks_like_html(text, suffix):
        return Sniffed("html", text)
    if suffix in JSON_SUFFIXES or text.lstrip()[:1] in ("{", "["):
        json_sniffed = _sniff_json(text, uri, strict=suffix in JSON_SUFFIXES or kind is not None)
        if json_sniffed is not None:
            return json_sniffed
    if suffix == ".csv" or (kind == "transcript" and _has_csv_header(text)):
        return Sniffed("csv", text)
    if suffix == ".tsv":
        return Sniffed("jddc" if looks_like_jddc(text) else "csv", text)
    if looks_like_jddc(text):
        return Sniffed("jddc", text)
    if kind == "transcript":
        return Sniffed("log", text)
    if note_author(text) is not None:
        return Sniffed("note", text)
    if suffix not in MARKDOWN_SUFFIXES and looks_like_log(text):
        return Sniffed("log", text)
    return Sniffed(_document_format(text, suffix), text)


def _binary_format(data: bytes, uri: str, suffix: str) -> str | None:
    if data.startswith(b"%PDF-") or suffix == ".pdf":
        return "pdf"
    if data.startswith(b"PK\x03\x04") or suffix == ".docx":
        if suffix == ".docx" or b"word/document.xml" in data:
            return "docx"
        raise LoadError(uri, "a ZIP archive, not a DOCX document")
    if suffix in _LEGACY_OFFICE:
        modern = _LEGACY_OFFICE[suffix]
        raise LoadError(
            uri, f"the old binary {suffix} format is not supported; save it as {modern}"
        )
    return None


def _looks_like_html(text: str, suffix: str) -> bool:
    if suffix in HTML_SUFFIXES:
        return True
    head = text.lstrip()[:200].lower()
    return head.startswith(("<!doctype html", "<html"))


def _document_format(text: str, suffix: str) -> str:
    if _looks_like_html(text, suffix):
        return "html"
    return "markdown" if suffix in MARKDOWN_SUFFIXES else "text"


def _sniff_json(text: str, uri: str, strict: bool) -> Sniffed | None:
    """wecom or json by shape. Not JSON at all: an error when the suffix (or a forced
    transcript kind) promised JSON, else None so the text is looked at as text."""
    try:
        payload = parse_json_payload(text, uri)
    except LoadError:
        if strict:
            raise
        return None
    if looks_like_wecom(payload):
        return Sniffed("wecom", text, payload, True)
    if looks_like_canonical(payload):
        return Sniffed("json", text, payload, True)
    if strict:
        raise LoadError(
            uri,
            "JSON is neither a transcript (no 'messages') nor a WeCom archive (no 'msgid')",
        )
    return None


def _has_csv_header(text: str) -> bool:
    first = next((line for line in text.splitlines() if line.strip()), "")
    for delimiter in (",", "\t", ";", "|"):
        if delimiter in first:
            cols = csv_columns(first.split(delimiter))
            if "text" in cols and ("role" in cols or "is_agent" in cols):
                return True
    return False

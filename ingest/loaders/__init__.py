"""File loaders: one call turns a path into a LoadedDocument, LoadedTranscript or LoadedNote
(ingest/records.py), or raises LoadError with a one-line reason. Formats are detected from
content and suffix (see detect.py) unless `kind` forces a family or a format."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ingest.loaders.detect import KINDS, normalize_kind, sniff
from ingest.loaders.documents import (
    load_docx,
    load_html,
    load_pdf,
    markdown_from_text,
    text_from_text,
)
from ingest.loaders.jddc import load_jddc, parse_jddc
from ingest.loaders.notes import note_from_text
from ingest.loaders.text_io import MAX_BYTES, decode_text, read_bytes, sha256_hex
from ingest.loaders.transcript_common import parse_json_payload
from ingest.loaders.transcript_csv import transcript_from_csv
from ingest.loaders.transcript_json import transcript_from_json
from ingest.loaders.transcript_log import transcript_from_log
from ingest.loaders.wecom import transcript_from_wecom
from ingest.records import Loaded, LoadError

__all__ = [
    "KINDS",
    "MAX_BYTES",
    "SUPPORTED_SUFFIXES",
    "iter_files",
    "load",
    "load_bytes",
    "load_jddc",
]

SUPPORTED_SUFFIXES = frozenset(
    {".md", ".markdown", ".txt", ".text", ".log", ".html", ".htm", ".xhtml", ".pdf", ".docx",
     ".json", ".jsonl", ".ndjson", ".csv", ".tsv"}
)  # fmt: skip

_FROM_BYTES: dict[str, Callable[[bytes, str], Loaded]] = {
    "pdf": load_pdf,
    "docx": load_docx,
    "html": load_html,
    "jddc": parse_jddc,
}
_FROM_TEXT: dict[str, Callable[[str, str, str], Loaded]] = {
    "markdown": markdown_from_text,
    "text": text_from_text,
    "note": note_from_text,
    "csv": transcript_from_csv,
    "log": transcript_from_log,
}
_FROM_JSON = {"json": transcript_from_json, "wecom": transcript_from_wecom}


def load(
    path: Path, uri: str | None = None, kind: str | None = None, max_bytes: int = MAX_BYTES
) -> Loaded:
    """Load one file. `uri` is what the records carry (default: the path as given); `kind` is
    'document', 'transcript', 'note' or a format (markdown, text, html, pdf, docx, json, csv,
    log, wecom, jddc)."""
    uri = uri if uri is not None else str(path)
    kind = normalize_kind(kind, uri)
    return load_bytes(read_bytes(Path(path), uri, max_bytes), uri, kind)


def load_bytes(data: bytes, uri: str, kind: str | None = None) -> Loaded:
    """`load` without the file system: pure over the bytes and the uri (whose suffix counts)."""
    if not data:
        raise LoadError(uri, "empty file")
    sniffed = sniff(data, uri, normalize_kind(kind, uri))
    if sniffed.fmt in _FROM_BYTES:
        return _FROM_BYTES[sniffed.fmt](data, uri)
    raw_hash = sha256_hex(data)
    text = sniffed.text if sniffed.text is not None else decode_text(data, uri)
    if sniffed.fmt in _FROM_JSON:
        payload = sniffed.payload if sniffed.has_payload else parse_json_payload(text, uri)
        return _FROM_JSON[sniffed.fmt](payload, uri, raw_hash)
    return _FROM_TEXT[sniffed.fmt](text, uri, raw_hash)


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files to ingest: a file named explicitly is yielded as is (even a missing one, so that
    `load` reports it); a folder is walked in sorted order, skipping hidden files and folders,
    Office lock files (`~$…`) and suffixes outside SUPPORTED_SUFFIXES. Each file once."""
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        for candidate in _walk(path) if path.is_dir() else [path]:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                yield candidate


def _walk(root: Path) -> list[Path]:
    found = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith((".", "~$")):
                continue
            if Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                found.append(Path(folder) / name)
    return sorted(found, key=lambda p: p.relative_to(root).parts)

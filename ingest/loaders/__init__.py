"""File loaders: one call turns a path into a LoadedDocument, LoadedTranscript or LoadedNote
(ingest/records.py), or raises LoadError with a one-line reason. Formats are detected from
content and suffix (see detect.py) unless `kind` forces a family or a format."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePath

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
from ingest.loaders.text_io import (
    MAX_BYTES,
    MAX_TEXT_BYTES,
    decode_text,
    read_bytes,
    sha256_hex,
    text_over_limit,
)
from ingest.loaders.transcript_common import parse_json_payload
from ingest.loaders.transcript_csv import transcript_from_csv
from ingest.loaders.transcript_json import transcript_from_json
from ingest.loaders.transcript_log import transcript_from_log
from ingest.loaders.wecom import transcript_from_wecom
from ingest.records import Loaded, LoadedDocument, LoadError
from ingest.untrusted import safe_uri

__all__ = [
    "KINDS",
    "MAX_BYTES",
    "MAX_TEXT_BYTES",
    "SUPPORTED_SUFFIXES",
    "check_text_size",
    "iter_files",
    "load",
    "load_bytes",
    "load_jddc",
]

SUPPORTED_SUFFIXES = frozenset(
    {".md", ".markdown", ".txt", ".text", ".log", ".html", ".htm", ".xhtml", ".pdf", ".docx",
     ".json", ".jsonl", ".ndjson", ".csv", ".tsv"}
)  # fmt: skip

_TEXT_SUFFIXES = SUPPORTED_SUFFIXES - {".pdf", ".docx", ".html", ".htm", ".xhtml"}
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
    path: Path,
    uri: str | None = None,
    kind: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_text_bytes: int = MAX_TEXT_BYTES,
) -> Loaded:
    """Load one file. `uri` is what the records carry (default: the path as given, made
    printable by `safe_uri`); `kind` is 'document', 'transcript', 'note' or a format
    (markdown, text, html, pdf, docx, json, csv, log, wecom, jddc). `max_bytes` bounds what is
    read, `max_text_bytes` the text in it (what the pipeline embeds)."""
    uri = safe_uri(uri if uri is not None else str(path))
    kind = normalize_kind(kind, uri)
    _refuse_plainly_too_much_text(Path(path), uri, max_text_bytes)
    return load_bytes(read_bytes(Path(path), uri, max_bytes), uri, kind, max_text_bytes)


def _refuse_plainly_too_much_text(path: Path, uri: str, max_text_bytes: int) -> None:
    """A text file (by suffix) over twice the text limit is refused before it is read, with
    the text limit's reason rather than the file limit's: raising SPIRAL_MAX_FILE_MB would not
    help it. (Twice: decoding UTF-16 to UTF-8 can halve it; other encodings only grow.)"""
    if PurePath(uri).suffix.lower() not in _TEXT_SUFFIXES:
        return
    try:
        size = path.stat().st_size
    except (OSError, RuntimeError, ValueError):
        return  # read_bytes says why
    if size > 2 * max_text_bytes:
        raise LoadError(uri, text_over_limit(size, max_text_bytes))


def load_bytes(
    data: bytes, uri: str, kind: str | None = None, max_text_bytes: int = MAX_TEXT_BYTES
) -> Loaded:
    """`load` without the file system: pure over the bytes and the uri (whose suffix counts).
    Whatever the bytes and the name, the answer is a Loaded record or a LoadError."""
    uri = safe_uri(uri)
    if not data:
        raise LoadError(uri, "empty file")
    sniffed = sniff(data, uri, normalize_kind(kind, uri))
    if sniffed.fmt in _FROM_BYTES:
        if sniffed.fmt == "jddc":
            check_text_size(len(data), uri, max_text_bytes)
        loaded = _FROM_BYTES[sniffed.fmt](data, uri)
        if isinstance(loaded, LoadedDocument):
            check_text_size(len(loaded.text.encode("utf-8")), uri, max_text_bytes)
        return loaded
    raw_hash = sha256_hex(data)
    text = sniffed.text if sniffed.text is not None else decode_text(data, uri)
    check_text_size(len(text.encode("utf-8")), uri, max_text_bytes)
    if sniffed.fmt in _FROM_JSON:
        payload = sniffed.payload if sniffed.has_payload else parse_json_payload(text, uri)
        return _FROM_JSON[sniffed.fmt](payload, uri, raw_hash)
    return _FROM_TEXT[sniffed.fmt](text, uri, raw_hash)


def iter_files(
    paths: Iterable[Path], on_error: Callable[[Path, str], None] | None = None
) -> Iterator[Path]:
    """Files to ingest: a file named explicitly is yielded as is (even a missing one, so that
    `load` reports it); a folder is walked in sorted order, skipping hidden files and folders,
    Office lock files (`~$…`) and suffixes outside SUPPORTED_SUFFIXES. Each file once.

    A symlink loop or a dangling link is yielded too (`load` then says why it cannot be
    read); a folder that cannot be listed goes to `on_error(path, reason)`, and the walk
    goes on with the rest."""
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        for candidate in _walk(path, on_error) if _is_dir(path) else [path]:
            key = _identity(candidate)
            if key not in seen:
                seen.add(key)
                yield candidate


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):  # ValueError: a NUL in the name
        return False


def _identity(path: Path) -> Path:
    """The real path, so a file reached twice (a link, `a/../a`) is ingested once; the path
    as given when it cannot be resolved (a symlink loop raises RuntimeError on 3.11)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return path.absolute()


def _walk(root: Path, on_error: Callable[[Path, str], None] | None) -> list[Path]:
    def failed(exc: OSError) -> None:
        if on_error is not None:
            where = Path(exc.filename) if exc.filename else root
            on_error(where, f"cannot read folder: {exc.strerror or exc}")

    found = []
    for folder, dirnames, filenames in os.walk(root, onerror=failed):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith((".", "~$")):
                continue
            if Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                found.append(Path(folder) / name)
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def check_text_size(size: int, uri: str, limit: int = MAX_TEXT_BYTES) -> None:
    """LoadError when a file holds more text than Spiral ingests from one file, saying why:
    every sentence is embedded, and that is what takes the time (benchmarks/README.md)."""
    if size > limit:
        raise LoadError(uri, text_over_limit(size, limit))

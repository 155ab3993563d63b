"""The one place where text and names from outside are made safe before anything else sees them.

Every loader and every API route passes what users give through here: valid Unicode only (a
lone surrogate from a JSON "\\ud800" cannot be encoded, hashed or stored), no control characters
but tab and newline (they break terminals, logs and Cypher strings), one normal form (NFC, so
"é" typed two ways is one word), and a size that Spiral can handle. Names are validated, not
repaired: a name that cannot be one is refused with the reason.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

__all__ = [
    "MAX_NAME_CHARS",
    "MAX_TEXT_BYTES",
    "UnsafeName",
    "clean_payload",
    "clean_text",
    "safe_name",
    "safe_uri",
]

MAX_NAME_CHARS = 200
# The text in one file that Spiral ingests: every chunk and sentence of it is embedded and
# held in memory until the file's one transaction is written. Measured (benchmarks/README.md,
# large-file mode) on 2 CPU cores: ~140 KB of Markdown a minute idle, 20–40 KB busy, ~1 GB
# per MB; 50 MB would take about 6 hours and 51 GB. 2 MB (1.9 MB took 15 minutes, 2.8 GB)
# keeps a whole real chat export (the JDDC sample is 1.4 MB) in one file. The bytes read from
# disk have their own limit (settings max_file_mb): a PDF is large for its text.
MAX_TEXT_BYTES = 2 * 1024 * 1024
_SURROGATES = re.compile("[\ud800-\udfff]")
# C0 and C1 controls but tab and newline; DEL; BOM/zero-width no-break space; the bidi
# overrides that can make a name display as something it is not.
_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\u202a-\u202e\u2066-\u2069]")
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
REPLACEMENT = "\ufffd"


class UnsafeName(ValueError):
    """A name (file, upload, field) that cannot be used, with the reason in words."""


def clean_text(text: str) -> str:
    """Valid, NFC-normalised Unicode without control characters (tab and newline stay; a
    carriage return becomes a newline). A lone surrogate becomes U+FFFD, visibly."""
    if not text or (text.isascii() and text.isprintable()):
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _SURROGATES.sub(REPLACEMENT, text)
    text = _UNWANTED.sub("", text)
    return unicodedata.normalize("NFC", text)


def safe_name(name: str | None, what: str = "file name") -> str:
    """The last path component of `name`, cleaned; UnsafeName when nothing usable is left
    ("", ".", "..", "/", only control characters) or it is too long."""
    if name is None:
        raise UnsafeName(f"no {what} given")
    raw = clean_text(name).replace("\n", " ").replace("\t", " ").replace("\\", "/")
    base = raw.rstrip("/").rsplit("/", 1)[-1].strip()
    if not base or base in {".", ".."} or set(base) <= {".", " "}:
        raise UnsafeName(f"{what} {name!r} names no file")
    if len(base) > MAX_NAME_CHARS:
        raise UnsafeName(f"{what} is {len(base)} characters long; at most {MAX_NAME_CHARS}")
    return base


def clean_payload(value: Any) -> Any:
    """A parsed JSON value with every string in it (keys too) through `clean_text`.

    json.loads turns the escape "\\ud800" into a lone surrogate and "\\u0000" into NUL, so
    parsing is not cleaning. Lists and dicts are cleaned in place, without recursion: a
    payload nested as deeply as json.loads allows must not overflow the stack here.
    """
    if isinstance(value, str):
        return clean_text(value)
    pending = [value] if isinstance(value, list | dict) else []
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    node[index] = clean_text(item)
                elif isinstance(item, list | dict):
                    pending.append(item)
            continue
        items = list(node.items())
        node.clear()
        for key, item in items:
            if isinstance(item, str):
                item = clean_text(item)
            elif isinstance(item, list | dict):
                pending.append(item)
            node[clean_text(key) if isinstance(key, str) else key] = item
    return value


def safe_uri(uri: str) -> str:
    """A path as given, made printable and encodable without losing what tells it apart: bytes
    the file system could not decode (surrogate escapes) and control characters are written
    as `\\xNN` escapes. The same path always gives the same uri, so `spiral forget` finds
    what `spiral ingest` stored."""
    if uri.isascii() and uri.isprintable():
        return uri
    uri = _SURROGATES.sub(_escape_surrogate, uri)
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", uri)


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte the file system name could not decode
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"

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

__all__ = ["MAX_NAME_CHARS", "UnsafeName", "clean_text", "safe_name"]

MAX_NAME_CHARS = 200
_SURROGATES = re.compile("[\ud800-\udfff]")
# C0 and C1 controls but tab and newline; DEL; BOM/zero-width no-break space; the bidi
# overrides that can make a name display as something it is not.
_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\u202a-\u202e\u2066-\u2069]")
REPLACEMENT = "\ufffd"


class UnsafeName(ValueError):
    """A name (file, upload, field) that cannot be used, with the reason in words."""


def clean_text(text: str) -> str:
    """Valid, NFC-normalised Unicode without control characters (tab and newline stay; a
    carriage return becomes a newline). A lone surrogate becomes U+FFFD, visibly."""
    if not text:
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

"""Reading files safely: a size limit before anything is parsed, one content hash, and text
decoding that copes with what Chinese offices actually produce (UTF-8 with or without BOM,
GBK/GB18030 from Windows tools and Excel, the odd UTF-16 export)."""

from __future__ import annotations

import codecs
import hashlib
import unicodedata
from pathlib import Path, PurePath

from charset_normalizer import from_bytes

from ingest.records import LoadError

__all__ = ["MAX_BYTES", "decode_text", "human_size", "read_bytes", "sha256_hex", "stem_of"]

MAX_BYTES = 50 * 1024 * 1024

_MB = 1024 * 1024
# Encodings charset-normalizer may name for Chinese bytes; GB18030 is a superset of GB2312 and
# GBK, so decoding with it never loses characters the narrower guess would have read.
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "hz", "cp936"}
_CJK_LANGUAGES = {"Chinese", "Japanese", "Korean"}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_ALLOWED_CONTROLS = set("\t\n\r\f\v\x1a")  # \x1a: the DOS end-of-file mark some tools append


def human_size(n: int) -> str:
    """'3.2 MB' / '12 KB' / '80 bytes': limits in errors must read right at any scale."""
    if n >= _MB:
        value = n / _MB
        return f"{value:.0f} MB" if value >= 10 or value.is_integer() else f"{value:.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} bytes"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stem_of(uri: str) -> str:
    """File name without suffix: the fallback title when a file names none itself."""
    return PurePath(uri).stem or uri


def read_bytes(path: Path, uri: str, max_bytes: int = MAX_BYTES) -> bytes:
    """The file's bytes, refusing before reading when it is over `max_bytes` (a 2 GB export
    dropped into a folder must not be pulled into memory)."""
    try:
        if path.is_dir():
            raise LoadError(uri, "is a folder, not a file")
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(uri, _over_limit(size, max_bytes))
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise LoadError(uri, "no such file") from None
    except PermissionError:
        raise LoadError(uri, "cannot read: permission denied") from None
    except OSError as exc:
        raise LoadError(uri, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # grew while we looked
        raise LoadError(uri, _over_limit(len(data), max_bytes))
    if not data:
        raise LoadError(uri, "empty file")
    return data


def _over_limit(size: int, limit: int) -> str:
    return f"file is {human_size(size)}, over the {human_size(limit)} limit"


def decode_text(data: bytes, uri: str) -> str:
    """Decode bytes to text with newlines normalised to '\\n'.

    Order: BOM, then strict UTF-8 (the common case, and exact), then charset-normalizer's
    guess. Chinese bytes are read as GB18030 whenever the guess is some CJK encoding and
    GB18030 is among the candidates: short GBK texts are often misnamed Big5 or CP949, and
    Spiral is mainland-Chinese first.
    """
    if not data:
        raise LoadError(uri, "empty file")
    text = _decode(data, uri)
    if _looks_binary(text):
        raise LoadError(uri, "binary or unreadable content")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode(data: bytes, uri: str) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                raise LoadError(uri, "binary or unreadable content") from None
    if b"\x00" in data:
        raise LoadError(uri, "binary or unreadable content")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise LoadError(uri, "binary or unreadable content")
    chinese_candidate = any(
        m.encoding in _GB_FAMILY or _GB_FAMILY & set(m.could_be_from_charset) for m in matches
    )
    cjk_guess = best.language in _CJK_LANGUAGES or best.encoding in _GB_FAMILY
    if chinese_candidate and cjk_guess:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            pass
    return str(best)


def _looks_binary(text: str) -> bool:
    """Control characters in more than 1 % of the text: no human wrote that."""
    sample = text[:100_000]
    controls = sum(
        1 for c in sample if c not in _ALLOWED_CONTROLS and unicodedata.category(c) == "Cc"
    )
    return controls > max(2, len(sample) // 100)

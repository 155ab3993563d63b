"""Reading files safely: a size limit before anything is parsed, one content hash, and text
decoding that copes with what Chinese offices actually produce (UTF-8 with or without BOM,
GBK/GB18030 from Windows tools and Excel, the odd UTF-16 export)."""

from __future__ import annotations

import codecs
import hashlib
import re
import stat
from pathlib import Path, PurePath

from charset_normalizer import from_bytes

from ingest.records import LoadError
from ingest.untrusted import MAX_TEXT_BYTES, clean_text

__all__ = [
    "MAX_BYTES",
    "MAX_TEXT_BYTES",
    "decode_text",
    "human_size",
    "read_bytes",
    "sha256_hex",
    "stem_of",
    "text_over_limit",
    "undecodable",
]

_MB = 1024 * 1024
# What is read from disk: documents with images (PDF, DOCX) are large for little text.
MAX_BYTES = 20 * _MB
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
# Unicode's control characters (category Cc: U+0000-U+001F and U+007F-U+009F, fixed by the
# standard) less the allowed ones: one regex pass, where a category lookup per character
# was 1.5 % of importing 994 chat files.
_CONTROL = re.compile(
    "["
    + "".join(
        re.escape(chr(c))
        for c in [*range(0x20), *range(0x7F, 0xA0)]
        if chr(c) not in _ALLOWED_CONTROLS
    )
    + "]"
)
# Measured on Markdown (benchmarks/README.md, large-file mode): 0.25 MB in 107 s on an idle
# 2-core box; 1 and 1.9 MB peaking at 2.4 and 2.8 GB, the model's 1.1 GB included.
# See untrusted.MAX_TEXT_BYTES.
_TEXT_BYTES_PER_MINUTE = 140 * 1024
_GB_PER_TEXT_MB = 1.0
_ASCII = bytes(range(128))
_WIDE = re.compile("[\u0800-\ud7ff\ue000-\U0010ffff]")
_ESCAPED = re.compile("[\udc80-\udcff]")
_MOSTLY_UTF8 = 0.3
_CANNOT = "cannot decode cleanly: "
_FEW_INVALID = 0.4


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
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # opening a named pipe would wait forever
            raise LoadError(uri, "not a regular file (a pipe, socket or device)")
        size = info.st_size
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
    except (RuntimeError, ValueError) as exc:  # a symlink loop (3.11), a NUL in the name
        raise LoadError(uri, f"cannot read: {exc}") from None
    if len(data) > max_bytes:  # grew while we looked
        raise LoadError(uri, _over_limit(len(data), max_bytes))
    if not data:
        raise LoadError(uri, "empty file")
    return data


def _over_limit(size: int, limit: int) -> str:
    return f"file is {human_size(size)}, over the {human_size(limit)} limit (SPIRAL_MAX_FILE_MB)"


def text_over_limit(size: int, limit: int) -> str:
    """Why a file with too much text is refused, in words a user can act on."""
    return (
        f"holds {human_size(size)} of text, over the {human_size(limit)} Spiral ingests from "
        f"one file: every sentence is embedded and held in memory until the file is written, "
        f"about 140 KB a minute and 1 GB per MB on 2 idle CPU cores, so this would take "
        f"about {_duration(size)} and {size / _MB * _GB_PER_TEXT_MB + 1:.0f} GB of memory; "
        f"split it into files of at most {human_size(limit)}"
    )


def _duration(size: int) -> str:
    minutes = size / _TEXT_BYTES_PER_MINUTE
    return f"{minutes:.0f} minutes" if minutes < 120 else f"{minutes / 60:.0f} hours"


def decode_text(data: bytes, uri: str) -> str:
    """Decode bytes to clean text (ingest/untrusted.py: valid Unicode, newlines '\\n', NFC).

    Order: BOM, then strict UTF-8 (the common case, and exact), then charset-normalizer's
    guess. Chinese bytes are read as GB18030 whenever the guess is some CJK encoding and
    GB18030 is among the candidates: short GBK texts are often misnamed Big5 or CP949, and
    Spiral is mainland-Chinese first. Bytes that are mostly UTF-8 but not all of it (two
    files pasted together, a damaged copy) are refused with where it breaks: any legacy
    guess for them would store mojibake (退货 as Cyrillic).
    """
    if not data:
        raise LoadError(uri, "empty file")
    text = _decode(data, uri)
    if _looks_binary(text):
        raise LoadError(uri, "binary or unreadable content")
    return clean_text(text)


def _decode(data: bytes, uri: str) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise LoadError(uri, undecodable(data, exc, [encoding])) from None
    if b"\x00" in data:
        raise LoadError(uri, "binary or unreadable content")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    if _mostly_utf8(data):
        raise LoadError(uri, undecodable(data, utf8_error, ["utf-8"], mixed=True))
    matches = from_bytes(data)
    # UTF-16/32 without a BOM is a guess that turns any short Latin-1 text into CJK soup.
    best = next((m for m in matches if not m.encoding.startswith(("utf_16", "utf_32"))), None)
    if best is None:
        where = undecodable(data, utf8_error, ["utf-8", "every encoding charset-normalizer knows"])
        where = where.removeprefix(_CANNOT).split("; save it")[0]
        raise LoadError(uri, f"binary or unreadable content: {where}")
    chinese_candidate = any(
        m.encoding in _GB_FAMILY or _GB_FAMILY & set(m.could_be_from_charset) for m in matches
    )
    cjk_guess = best.language in _CJK_LANGUAGES or best.encoding in _GB_FAMILY
    if chinese_candidate and cjk_guess:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(best.encoding)
    except (LookupError, UnicodeDecodeError) as exc:
        tried = ["utf-8", *(["gb18030"] if chinese_candidate else []), best.encoding]
        if isinstance(exc, UnicodeDecodeError):
            raise LoadError(uri, undecodable(data, exc, tried)) from None
        raise LoadError(uri, "binary or unreadable content") from None


def _mostly_utf8(data: bytes) -> bool:
    """Most non-ASCII bytes form valid UTF-8 characters of three or more bytes (CJK and up)
    and few are invalid.

    Legacy text (GBK, Big5, UTF-16, Western) on the sample corpus: under 0.15 of its non-ASCII
    bytes are in such characters and over 0.55 are invalid UTF-8 (pairs of its bytes happen to
    form two-byte UTF-8 characters, hence only the wide ones count). UTF-8 with a few bad
    bytes: near 1 and near 0; half UTF-8, half GBK: 0.6 and 0.25."""
    non_ascii = len(data.translate(None, _ASCII))
    if not non_ascii:
        return False
    text = data.decode("utf-8", "surrogateescape")
    wide = sum(len(c.encode("utf-8")) for c in _WIDE.findall(text))
    invalid = len(_ESCAPED.findall(text))
    return wide >= _MOSTLY_UTF8 * non_ascii and invalid <= _FEW_INVALID * non_ascii


def undecodable(data: bytes, exc: UnicodeDecodeError, tried: list[str], mixed: bool = False) -> str:
    """'not valid UTF-8 at byte 1234 (ff fe 80), 3 bytes in all; tried utf-8': where and what,
    so the sender can find the damage."""
    start = exc.start
    shown = " ".join(f"{b:02x}" for b in data[start : start + min(8, max(1, exc.end - start))])
    bad = len(_ESCAPED.findall(data.decode(exc.encoding, "surrogateescape"))) if mixed else 0
    where = f"undecodable bytes ({shown}) at byte offset {start}"
    if mixed:
        where = f"mostly UTF-8 but {bad} invalid bytes, the first ({shown}) at byte offset {start}"
    hint = "; save it as UTF-8" + (" (a file mixing encodings, or damaged)" if mixed else "")
    return f"{_CANNOT}{where}; tried {', '.join(dict.fromkeys(tried))}{hint}"


def _looks_binary(text: str) -> bool:
    """Control characters in more than 1 % of the text: no human wrote that."""
    sample = text[:100_000]
    return len(_CONTROL.findall(sample)) > max(2, len(sample) // 100)

"""Document loaders (Markdown, plain text, HTML, PDF, DOCX): bytes in, one LoadedDocument
out. Each keeps the text whole with headings as their own lines, so later segmentation sees the
structure the author gave it."""

from __future__ import annotations

import io
import logging
import re
from html.parser import HTMLParser
from typing import Any

from ingest.loaders.text_io import decode_text, sha256_hex, stem_of
from ingest.records import LoadedDocument, LoadError
from ingest.untrusted import clean_text

__all__ = [
    "load_docx",
    "load_html",
    "load_markdown",
    "load_pdf",
    "load_text",
    "markdown_from_text",
    "markdown_title",
    "text_from_text",
]

_MD_H1 = re.compile(r"^#\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_TEXT_TITLE_MAX = 60  # a longer first line is a paragraph, not a title


def _require_text(text: str, uri: str, what: str) -> str:
    """The text cleaned (ingest/untrusted.py: what a PDF, DOCX or HTML page holds is as
    untrusted as any file) and non-empty."""
    text = clean_text(text).strip()
    if not text:
        raise LoadError(uri, f"{what} has no text")
    return text


def load_markdown(data: bytes, uri: str) -> LoadedDocument:
    return markdown_from_text(decode_text(data, uri), uri, sha256_hex(data))


def markdown_from_text(text: str, uri: str, raw_hash: str) -> LoadedDocument:
    """Title from the first `# ` heading outside code fences, else the file name."""
    text = _require_text(text, uri, "Markdown file")
    title = markdown_title(text) or stem_of(uri)
    return LoadedDocument(uri=uri, kind="markdown", title=title, text=text, raw_hash=raw_hash)


def markdown_title(text: str) -> str:
    """The first level-1 ATX heading; '' when there is none."""
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence and (m := _MD_H1.match(line)):
            return m.group(1).strip()
    return ""


def load_text(data: bytes, uri: str) -> LoadedDocument:
    return text_from_text(decode_text(data, uri), uri, sha256_hex(data))


def text_from_text(text: str, uri: str, raw_hash: str) -> LoadedDocument:
    """Title: the first line when it is short enough to be one, else the file name."""
    text = _require_text(text, uri, "text file")
    first = text.splitlines()[0].strip()
    title = first if len(first) <= _TEXT_TITLE_MAX else stem_of(uri)
    return LoadedDocument(uri=uri, kind="text", title=title, text=text, raw_hash=raw_hash)


# --- HTML -----------------------------------------------------------------------------------

# <head> is not skipped as a whole: its end tag is optional, and what it holds besides
# <title> is script/style/meta, which have no visible text or are skipped anyway.
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "iframe", "object"}
_BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody",
    "tfoot", "thead", "tr", "ul",
}  # fmt: skip
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.I)


class _HTMLText(HTMLParser):
    """Visible text with block elements on their own lines; title from <title>, else <h1>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0
        self.pre_depth = 0
        self.title = ""
        self.h1 = ""
        self._capture: str | None = None  # "title" or "h1" while inside one
        self._captured: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._capture, self._captured = "title", []
            return
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
            return
        if tag == "h1" and not self.h1:
            self._capture, self._captured = "h1", []
        if tag == "pre":
            self.pre_depth += 1
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("\t")  # cell boundary, joined as ' | ' like DOCX table rows

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            if self._capture == "title" and not self.title:
                self.title = " ".join("".join(self._captured).split())
            self._capture = None
            return
        if tag in _SKIP_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if tag == "h1" and self._capture == "h1":
            self.h1 = " ".join("".join(self._captured).split())
            self._capture = None
        if tag == "pre":
            self.pre_depth = max(0, self.pre_depth - 1)
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._capture == "title":
            self._captured.append(data)
            return
        if self.skip_depth:
            return
        if self._capture == "h1":
            self._captured.append(data)
        if self.pre_depth:  # whitespace kept; tabs would read as cell boundaries
            self.parts.append(data.replace("\t", "    "))
        else:
            self.parts.append(re.sub(r"\s+", " ", data))

    def text(self) -> str:
        lines = []
        for line in "".join(self.parts).split("\n"):
            cells = [cell.strip() for cell in line.split("\t")]
            if joined := " | ".join(cell for cell in cells if cell):
                lines.append(joined)
        return "\n".join(lines)


def _decode_html(data: bytes, uri: str) -> str:
    """A declared <meta charset> wins over guessing when the bytes are not UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        if m := _META_CHARSET.search(data[:4096]):
            declared = m.group(1).decode("ascii").lower()
            if declared in ("gb2312", "gbk"):
                declared = "gb18030"
            try:
                return data.decode(declared).replace("\r\n", "\n")
            except (LookupError, UnicodeDecodeError):
                pass
    return decode_text(data, uri)


def load_html(data: bytes, uri: str) -> LoadedDocument:
    """Scripts and styles dropped; block elements become line breaks."""
    parser = _HTMLText()
    try:
        parser.feed(_decode_html(data, uri))
        parser.close()
    except Exception as exc:  # html.parser asserts on some broken markup (`<![if`)
        raise LoadError(uri, f"not a readable HTML page ({_one_line(exc)})") from None
    text = _require_text(parser.text(), uri, "HTML page")
    title = clean_text(parser.title or parser.h1) or stem_of(uri)
    return LoadedDocument(uri=uri, kind="html", title=title, text=text, raw_hash=sha256_hex(data))


# --- PDF ------------------------------------------------------------------------------------

_PRODUCER_PREFIX = re.compile(r"^(Microsoft (Word|PowerPoint|Excel) - )")
# pypdf logs what it repairs or gives up on ("EOF marker not found") as warnings, which
# reached the CLI's output above its summary; the file's own report says what failed. Set
# once here, not per file: setting a logger's level clears every logger's level cache.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def load_pdf(data: bytes, uri: str) -> LoadedDocument:
    """Text of all pages. PDFs locked with a user password, and scans without a text layer,
    are refused: there is nothing we could index. Owner-only protection (an empty user
    password) is opened, as every PDF viewer does."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _decrypt_empty(reader):
            raise LoadError(uri, "PDF is encrypted (password protected)")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        meta_title = _pdf_title(reader)
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises many types for damaged files
        raise LoadError(uri, f"not a readable PDF ({_one_line(exc)})") from None
    text = clean_text("\n\n".join(p for p in pages if p)).strip()
    if not text:
        raise LoadError(uri, "PDF has no extractable text (scanned images?)")
    title = clean_text(meta_title) or stem_of(uri)
    return LoadedDocument(uri=uri, kind="pdf", title=title, text=text, raw_hash=sha256_hex(data))


def _decrypt_empty(reader: Any) -> bool:
    try:
        return bool(reader.decrypt(""))
    except Exception:  # e.g. AES without the optional crypto dependency
        return False


def _pdf_title(reader: Any) -> str:
    try:
        title = (reader.metadata or {}).get("/Title") or ""
    except Exception:
        return ""
    return _PRODUCER_PREFIX.sub("", str(title)).strip()


def _one_line(exc: Exception) -> str:
    message = " ".join(str(exc).split()) or type(exc).__name__
    return message[:160]


# --- DOCX -----------------------------------------------------------------------------------


def load_docx(data: bytes, uri: str) -> LoadedDocument:
    """Paragraphs and table rows in document order; a table row becomes one line with its
    cells joined by ' | ' (merged cells once). Title: core properties, else the first
    Title/Heading 1 paragraph, else the file name."""
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        lines, heading = _docx_lines(document, Table)
        core_title = document.core_properties.title or ""
    except Exception as exc:  # a damaged part surfaces anywhere while reading
        raise LoadError(uri, f"not a readable DOCX file ({_one_line(exc)})") from None
    text = _require_text("\n".join(lines), uri, "DOCX file")
    title = clean_text(core_title).strip() or heading or stem_of(uri)
    return LoadedDocument(uri=uri, kind="docx", title=title, text=text, raw_hash=sha256_hex(data))


def _docx_lines(document: Any, table_type: type) -> tuple[list[str], str]:
    """(paragraph and table lines, the first Title/Heading 1 paragraph)."""
    lines: list[str] = []
    heading = ""
    for block in document.iter_inner_content():
        if isinstance(block, table_type):
            lines.extend(_table_lines(block))
            continue
        text = block.text.strip()
        if not text:
            continue
        lines.append(text)
        text = clean_text(text)
        style = (block.style.name if block.style is not None else "") or ""
        if not heading and style in ("Title", "Heading 1"):
            heading = text
    return lines, heading


def _table_lines(table: Any) -> list[str]:
    lines = []
    for row in table.rows:
        seen: set[int] = set()
        cells = []
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is returned once per grid column
                continue
            seen.add(id(cell._tc))
            if value := " ".join(cell.text.split()):
                cells.append(value)
        if cells:
            lines.append(" | ".join(cells))
    return lines

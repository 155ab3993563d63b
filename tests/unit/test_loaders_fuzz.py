"""Loaders under whatever users feed them: any bytes under any name give a Loaded record or a
LoadError, never another exception, and what a record carries is clean text (valid Unicode, no
control characters but tab and newline). Property tests (hypothesis), kept small enough to
run in seconds; the file-system cases (odd names, links, loops) are built in tmp_path."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ingest.loaders import SUPPORTED_SUFFIXES, iter_files, load, load_bytes
from ingest.loaders.text_io import decode_text
from ingest.records import Loaded, LoadError
from ingest.untrusted import clean_payload, clean_text, safe_uri

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
SUFFIXES = [*sorted(SUPPORTED_SUFFIXES), "", ".bin", ".doc", ".TXT"]
# Characters that make trouble: surrogates, controls, bidi overrides, BOM, CJK, markup.
NASTY = st.sampled_from(
    ["\ud800", "\udfff", "\x00", "\x1b[31m", "\r", "\u202e", "\ufeff", "退货", "[/]", "é", "\t"]
)
TEXT = st.lists(st.one_of(st.text(max_size=20), NASTY), max_size=12).map("".join)


def assert_clean(value: Any) -> None:
    """Every string in a record encodes as UTF-8 and holds no control character."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert_clean(key)
            assert_clean(item)
    elif isinstance(value, list):
        for item in value:
            assert_clean(item)
    elif isinstance(value, str):
        value.encode("utf-8")  # a lone surrogate raises here
        assert not any(ord(c) < 32 and c not in "\t\n" for c in value), repr(value)


def load_or_error(data: bytes, name: str, kind: str | None = None) -> Loaded | LoadError:
    try:
        loaded = load_bytes(data, name, kind)
    except LoadError as exc:
        assert_clean([exc.uri, exc.reason, str(exc)])
        return exc
    assert_clean(loaded.model_dump())
    return loaded


@FUZZ
@given(data=st.binary(max_size=600), stem=TEXT, suffix=st.sampled_from(SUFFIXES))
def test_any_bytes_under_any_name_load_or_fail_cleanly(data: bytes, stem: str, suffix: str) -> None:
    load_or_error(data, stem + suffix)


@FUZZ
@given(
    texts=st.lists(TEXT, min_size=1, max_size=6),
    roles=st.lists(st.sampled_from(["customer", "employee", "客服", "?", ""]), min_size=6),
    suffix=st.sampled_from([".json", ".jsonl", ".csv", ".txt", ".log"]),
)
def test_transcript_shaped_text_with_nasty_strings(
    texts: list[str], roles: list[str], suffix: str
) -> None:
    """JSON escapes spell what raw bytes cannot ("\\ud800", "\\u0000"): cleaned like text."""
    messages = [{"role": r, "text": t} for r, t in zip(roles, texts, strict=False)]
    if suffix in (".json", ".jsonl"):
        body = json.dumps({"id": texts[0], "employee": texts[-1], "messages": messages})
    elif suffix == ".csv":
        body = "role,text\n" + "\n".join(f"{m['role']},{m['text']}" for m in messages)
    else:
        body = "\n".join(f"{m['role'] or 'x'}: {m['text']}" for m in messages)
    data = body.encode("utf-8", "surrogatepass")  # raw surrogates too, as a broken tool writes
    load_or_error(data, "chat" + suffix)
    load_or_error(data, "chat" + suffix, kind="transcript")


@settings(FUZZ, max_examples=60)
@given(
    records=st.lists(
        st.dictionaries(TEXT, st.one_of(TEXT, st.integers(), st.none()), max_size=5), max_size=5
    )
)
def test_wecom_records_with_nasty_fields(records: list[dict[str, Any]]) -> None:
    for record in records:
        record.setdefault("msgid", "m")
        record.setdefault("msgtype", "text")
    payload = json.dumps(records or [{"msgid": "m"}])
    load_or_error(payload.encode("utf-8"), "archive.json")


@FUZZ
@given(text=TEXT)
def test_clean_text_is_clean_and_idempotent(text: str) -> None:
    cleaned = clean_text(text)
    assert_clean(cleaned)
    assert clean_text(cleaned) == cleaned
    assert safe_uri(safe_uri(text)) == safe_uri(text)
    assert_clean(safe_uri(text).replace("\n", ""))


@FUZZ
@given(text=st.text(min_size=1))
def test_valid_utf8_decodes_to_its_clean_text(text: str) -> None:
    assume(text.strip() and "\x00" not in text)
    try:
        decoded = decode_text(text.encode("utf-8"), "x.txt")
    except LoadError as exc:  # mostly control characters: refused as binary
        assert "binary" in exc.reason
        return
    assert decoded == clean_text(text)


@FUZZ
@given(
    before=st.text(alphabet="退货政策客户说好的价格。", min_size=20, max_size=200),
    after=st.text(alphabet="退货政策客户说好的价格。", min_size=20, max_size=200),
    bad=st.sampled_from([b"\xff", b"\x80", b"\xc3", "退".encode("gbk"), b"\xe9\x80"]),
)
def test_utf8_with_bad_bytes_is_refused_saying_where(before: str, after: str, bad: bytes) -> None:
    data = before.encode() + bad + after.encode()
    offset = len(before.encode())
    with pytest.raises(LoadError, match=rf"at byte offset {offset}; tried utf-8"):
        decode_text(data, "mixed.txt")


def test_nested_json_as_deep_as_the_parser_allows() -> None:
    deep = '{"messages": [{"role": "customer", "text": "hi"}], "x": ' + "[" * 5000 + "]" * 5000
    assert isinstance(load_or_error((deep + "}").encode(), "deep.json"), Loaded | LoadError)
    nested: Any = "\ud800"
    for _ in range(20_000):
        nested = [nested]
    clean_payload(nested)  # no recursion: no RecursionError


# --- the file system --------------------------------------------------------------------------


@FUZZ
@given(name=st.binary(min_size=1, max_size=60), data=st.binary(max_size=200))
def test_any_file_name_on_disk(tmp_path: Path, name: bytes, data: bytes) -> None:
    """Names the file system allows but Python cannot decode come back as surrogate escapes:
    the uri shows them as \\xNN and the answer is a record or a LoadError."""
    raw = name.replace(b"/", b"_").replace(b"\x00", b"_")
    assume(raw not in (b".", b".."))
    path = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), raw)))
    path.write_bytes(data)
    try:
        try:
            loaded = load(path)
        except LoadError as exc:
            assert_clean([exc.uri, exc.reason])
            assert exc.uri == safe_uri(str(path))
            return
        assert_clean(loaded.model_dump())
        assert loaded.uri == safe_uri(str(path))
    finally:
        path.unlink()


def test_links_loops_and_odd_entries_in_a_folder(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    (root / "good.md").write_text("# 好\n退货。", encoding="utf-8")
    (root / "x.md").symlink_to(root / "y.md")
    (root / "y.md").symlink_to(root / "x.md")  # a loop
    (root / "dangling.txt").symlink_to(root / "gone.txt")
    (root / "self").symlink_to(root)  # a folder loop: links to folders are not followed
    (root / "folder.md").mkdir()  # a folder with a file's suffix
    os.mkfifo(root / "pipe.txt")  # opening it would wait for a writer forever
    odd = Path(os.fsdecode(os.fsencode(root) + b"/bad\xffname.md"))
    odd.write_bytes("退货".encode())
    errors: list[tuple[Path, str]] = []
    files = list(iter_files([root], on_error=lambda p, r: errors.append((p, r))))
    names = sorted(safe_uri(p.name) for p in files)
    assert names == ["bad\\xffname.md", "dangling.txt", "good.md", "pipe.txt", "x.md", "y.md"]
    reasons = {}
    for path in files:
        try:
            load(path)
        except LoadError as exc:
            reasons[path.name] = exc.reason
    assert reasons["x.md"] == reasons["y.md"] == "cannot read: Too many levels of symbolic links"
    assert reasons["dangling.txt"] == "no such file"
    assert reasons["pipe.txt"] == "not a regular file (a pipe, socket or device)"
    assert set(reasons) == {"x.md", "y.md", "dangling.txt", "pipe.txt"}


def test_a_folder_that_cannot_be_listed_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root reads every folder, so the refusal is simulated where os.walk reports it."""
    (tmp_path / "ok.md").write_text("# ok\n好。", encoding="utf-8")
    real_walk = os.walk

    def walk(top: Any, onerror: Any = None, **kwargs: Any) -> Any:
        onerror(PermissionError(13, "Permission denied", str(tmp_path / "locked")))
        return real_walk(top, onerror=onerror, **kwargs)

    monkeypatch.setattr(os, "walk", walk)
    errors: list[tuple[Path, str]] = []
    files = list(iter_files([tmp_path], on_error=lambda p, r: errors.append((p, r))))
    assert [p.name for p in files] == ["ok.md"]
    assert errors == [(tmp_path / "locked", "cannot read folder: Permission denied")]

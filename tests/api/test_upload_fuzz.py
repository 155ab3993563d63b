"""Whatever a client uploads, the API answers with what is wrong (4xx), never a 500: names that
name no file, are too long, hold NUL bytes, lone surrogates or path parts; bytes in any
encoding; unknown kinds; JSON with lone surrogates. And a good upload afterwards still ingests.

Multipart bodies are built by hand, so that names can hold bytes no HTTP client would send."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import hashed_client

pytestmark = pytest.mark.slow

BOUNDARY = "spiral-fuzz-boundary"
PREFIX = "upload/_/settings:admin-key/"  # the uris of what the test admin key uploads
DOC = "# 换货\n签收15天内可以换货，请保留发票。".encode()
GOOD = "# 保修\n电池保修两年，屏幕保修一年。".encode()
NASTY = [".", "..", "/", "\\", "\x00", "\ud800", "\udfff", "\u202e", "\ufeff", " ", "\n", "a", "é"]

# Names as text (any code point, surrogates included), as pieces that make paths, and as bytes.
names = st.one_of(
    st.sampled_from(["..", ".", "/", "", " ", "a" * 300 + ".md", "a\x00b.md", "\ud800.md"]),
    st.text(st.characters(codec=None), max_size=260).map(lambda s: s + ".md"),
    st.text(st.characters(categories=["Cs", "Cc", "Cf", "Zs"]), max_size=20),
    st.lists(st.sampled_from(NASTY), max_size=12).map("".join),
)
raw_names = st.one_of(
    names.map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.binary(max_size=300),
)
bodies = st.one_of(
    st.just(DOC),
    st.binary(max_size=2000),
    st.text(max_size=500).map(lambda s: s.encode("utf-8", "surrogatepass")),
)
kinds = st.one_of(
    st.none(),
    st.sampled_from(["document", "transcript", "note", "json", "csv", "pdf", "docx", "wecom"]),
    st.text(max_size=60),
)


def multipart(name: bytes, data: bytes, kind: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A multipart body with the name's bytes as they are (quotes escaped, line breaks kept
    out so the body stays one part: a name cannot end the header it is in)."""
    name = name.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    name = name.replace(b"\r", b"").replace(b"\n", b"")
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
    parts = [head + name + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + data + b"\r\n"]
    if kind is not None:
        field = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="kind"\r\n\r\n'
        parts.append(field.encode() + kind.encode("utf-8", "surrogatepass") + b"\r\n")
    body = b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()
    return body, {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def post_upload(client: TestClient, name: bytes, data: bytes, kind: str | None = None) -> Any:
    body, headers = multipart(name, data, kind)
    return client.post("/ingest", content=body, headers=headers, params={"wait": 60})


def assert_described(response: Any) -> None:
    """Not a server error; an error says what is wrong; the answer is valid UTF-8."""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["detail"], response.text
    response.content.decode("utf-8")


FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def test_fuzzed_uploads_are_never_a_server_error(tmp_path: Path) -> None:
    with hashed_client(tmp_path) as client:

        @FUZZ
        @given(name=raw_names, data=bodies, kind=kinds)
        def upload(name: bytes, data: bytes, kind: str | None) -> None:
            response = post_upload(client, name, data, kind)
            assert_described(response)
            if response.status_code == 200:
                job = response.json()
                assert job["status"] in ("done", "failed"), job
                assert job["status"] == "done" or job["error"], job
                uri = job["uri"]
                assert uri.startswith(PREFIX) and "\x00" not in uri
                assert "/" not in uri.removeprefix(PREFIX)

        upload()
        # the store still works: a good upload ingests, and again is unchanged
        first = post_upload(client, "保修政策.md".encode(), GOOD)
        assert first.status_code == 200, first.text
        uri = PREFIX + "保修政策.md"
        assert (first.json()["uri"], first.json()["report"]["status"]) == (uri, "ingested")
        again = post_upload(client, "保修政策.md".encode(), GOOD).json()
        assert (again["uri"], again["report"]["status"]) == (uri, "unchanged")
        hits = client.post("/assist/ask", json={"query": "电池保修多久"}).json()["suggestions"]
        assert hits[0]["sources"][0]["uri"] == uri


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("..", "names no file"),
        (".", "names no file"),
        ("/", "names no file"),
        ("a/b/..", "names no file"),
        ("\x00", "names no file"),
        ("a" * 300 + ".md", "at most 200"),
    ],
)
def test_unusable_names_are_a_422_that_says_why(tmp_path: Path, name: str, reason: str) -> None:
    with hashed_client(tmp_path) as client:
        response = post_upload(client, name.encode(), DOC)
        assert response.status_code == 422
        assert reason in response.json()["detail"]


def test_the_stored_name_is_cleaned_and_de_identified(tmp_path: Path) -> None:
    phones = ["13800000001", "13912345678"]
    with hashed_client(tmp_path) as client:
        assert post_upload(client, b"a\x00b/../c\x00d.md", DOC).json()["uri"] == PREFIX + "cd.md"
        jobs = [post_upload(client, f"{p}.md".encode(), DOC).json() for p in phones]
        uris = [job["report"]["uri"] for job in jobs]
        assert uris == [job["uri"] for job in jobs]  # the job named the stored uri from the start
        assert all(u.startswith(PREFIX + "[PHONE]_h") and u.endswith(".md") for u in uris)
        assert len(set(uris)) == 2 and not any(p in u for p in phones for u in uris)
        again = post_upload(client, f"{phones[0]}.md".encode(), DOC).json()
        assert (again["uri"], again["report"]["status"]) == (uris[0], "unchanged")


any_text = st.text(st.characters(codec=None), max_size=40)  # lone surrogates included
asks = st.fixed_dictionaries(
    {},
    optional={
        "query": any_text,
        "employee": any_text,
        "customer": any_text,
        "channel": any_text,
        "suggestion_id": any_text,
        "outcome": st.sampled_from(["used", "worked", "failed"]),
        "reason": any_text,
        "context": st.lists(
            st.fixed_dictionaries(
                {"text": any_text},
                optional={"role": st.sampled_from(["customer", "employee"]), "speaker": any_text},
            ),
            max_size=4,
        ),
    },
)


def test_json_with_lone_surrogates_is_never_a_server_error(tmp_path: Path) -> None:
    with hashed_client(tmp_path) as client:
        post_upload(client, b"policy.md", DOC)

        @FUZZ
        @given(payload=asks)
        def ask(payload: dict[str, object]) -> None:
            body = json.dumps(payload)  # ensure_ascii: a lone surrogate travels as "\\ud800"
            for path in ("/assist/ask", "/assist/feedback"):
                headers = {"content-type": "application/json"}
                assert_described(client.post(path, content=body, headers=headers))

        ask()

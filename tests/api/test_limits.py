"""Request limits: bodies over the size limit are a 413 however they arrive, and a client over
its rate is a 429 with Retry-After, counted per key, in one process or shared through Redis."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.limits import MemoryLimiter, RedisLimiter, client_key
from api.problems import BASE, PROBLEM_JSON
from tests.api.conftest import AUTH, hashed_client, issue_key

KB = 1024
ASK = {"query": "退款多久到账"}


# --- body size -------------------------------------------------------------------------------


def asgi_post(app: FastAPI, path: str, chunks: list[bytes], headers: dict[str, str]) -> Any:
    """POST straight to the ASGI app, the body in `chunks` and the headers as given (a client
    may lie about Content-Length, or send none): the status and the body of the answer."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.fixture
def small(tmp_path: Path) -> Iterator[TestClient]:
    """Bodies up to 2 KB (JSON routes), uploads up to ~10 KB."""
    with hashed_client(tmp_path, max_request_mb=2 / KB, max_file_mb=10 / KB) as client:
        yield client


def test_declared_length_over_the_limit_is_a_413(small: TestClient) -> None:
    response = small.post("/assist/ask", json={"query": "贵" * 2000})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["type"] == BASE + "too-large" and "SPIRAL_MAX_REQUEST_MB" in body["detail"]
    assert small.post("/assist/ask", json=ASK).status_code == 200


def test_chunked_and_lying_bodies_are_cut_off(small: TestClient) -> None:
    chunk = b'{"query": "' + b"x" * KB
    json_type = {"content-type": "application/json", **AUTH}
    chunked = asgi_post(small.app, "/assist/ask", [chunk] * 4 + [b'"}'], json_type)  # type: ignore[arg-type]
    lying = asgi_post(
        small.app,  # type: ignore[arg-type]
        "/assist/ask",
        [chunk] * 4 + [b'"}'],
        {**json_type, "content-length": "20"},
    )
    for status, body in (chunked, lying):
        assert status == 413 and b"too-large" in body, body
    ok = asgi_post(small.app, "/assist/ask", [b'{"query": ', b'"hi"}'], json_type)  # type: ignore[arg-type]
    assert ok[0] == 200


def test_uploads_are_limited_by_max_file_mb(small: TestClient) -> None:
    fits = ("保修两年。" * 500).encode()  # 7.5 KB: over the JSON limit, under the upload one
    ok = small.post(
        "/ingest", files={"file": ("ok.md", fits, "text/markdown")}, params={"wait": 60}
    )
    assert ok.status_code == 200 and ok.json()["report"]["status"] == "ingested", ok.text
    huge = b"x" * (200 * KB)
    refused = small.post("/ingest", files={"file": ("huge.md", huge, "text/markdown")})
    assert refused.status_code == 413 and "SPIRAL_MAX_FILE_MB" in refused.json()["detail"]


# --- rate ------------------------------------------------------------------------------------


def test_over_the_rate_is_a_429_with_retry_after(tmp_path: Path) -> None:
    with hashed_client(tmp_path, rate_limit_per_minute=3) as client:
        other_key, _ = issue_key(client)
        assert [client.get("/admin/stats").status_code for _ in range(3)] == [200] * 3
        refused = client.get("/admin/stats")
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith(PROBLEM_JSON)
        assert refused.json()["type"] == BASE + "rate-limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 20  # one request per 20 s
        # probes are exempt; another key has its own allowance
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        other = client.get("/admin/stats", headers={"authorization": f"Bearer {other_key}"})
        assert other.status_code == 200


def test_the_key_function_is_replaceable(tmp_path: Path) -> None:
    from api.app import create_app
    from graph.settings import Settings

    settings = Settings(data_dir=tmp_path, store="embedded", rate_limit_per_minute=2)
    app = create_app(settings, rate_key=lambda request: "everyone")
    with TestClient(app) as client:
        codes = [
            client.get("/admin/stats", headers={"authorization": f"Bearer {n}"}).status_code
            for n in range(3)
        ]
    assert codes == [401, 401, 429]  # three keys (unknown ones), one allowance: the limit first


def test_default_key_hashes_credentials() -> None:
    from starlette.requests import Request

    def request(headers: list[tuple[bytes, bytes]]) -> Request:
        return Request({"type": "http", "headers": headers, "client": ("10.0.0.7", 1)})

    keyed = client_key(request([(b"authorization", b"Bearer secret-token")]))
    assert keyed.startswith("auth:") and "secret" not in keyed and len(keyed) == 5 + 64
    assert client_key(request([])) == "ip:10.0.0.7"


def test_gcra_spends_a_minute_at_once_then_one_per_interval() -> None:
    now = [1000.0]
    limiter = MemoryLimiter(60, clock=lambda: now[0])

    async def hits(n: int) -> list[bool]:
        return [(await limiter.hit("k")).allowed for _ in range(n)]

    assert asyncio.run(hits(61)) == [True] * 60 + [False]
    retry = asyncio.run(limiter.hit("k")).retry_after_s
    assert math.isclose(retry, 1.0, abs_tol=0.01)
    now[0] += 1.0
    assert asyncio.run(hits(2)) == [True, False]
    assert asyncio.run(limiter.hit("other")).allowed


@pytest.mark.redis
def test_redis_limiter_is_shared_by_workers(redis_url: str) -> None:
    async def run() -> list[bool]:
        # two workers, one allowance; a fresh prefix per run keeps earlier runs out
        workers = [RedisLimiter(redis_url, 5, prefix=f"test:{id(run)}:") for _ in range(2)]
        try:
            return [(await workers[i % 2].hit("client")).allowed for i in range(7)]
        finally:
            for w in workers:
                await w.close()

    assert asyncio.run(run()) == [True] * 5 + [False, False]


@pytest.mark.redis
def test_the_app_limits_through_redis(tmp_path: Path, redis_url: str) -> None:
    with hashed_client(tmp_path, rate_limit_per_minute=2, redis_url=redis_url) as client:
        key = {"authorization": f"Bearer {issue_key(client)[0]}"}  # a new key: a new count
        codes = [client.get("/admin/stats", headers=key).status_code for _ in range(3)]
        assert codes == [200, 200, 429]


def test_an_unreachable_redis_lets_requests_through(tmp_path: Path) -> None:
    url = "redis://127.0.0.1:1/0"  # nothing listens there
    with hashed_client(tmp_path, rate_limit_per_minute=1, redis_url=url) as client:
        assert [client.get("/admin/stats").status_code for _ in range(2)] == [200, 200]

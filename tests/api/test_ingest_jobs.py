"""Uploads as background jobs (api/jobs.py, api/routes/ingest.py): 202 with a Location, progress
while it runs, done with the report or failed with the reason (writing nothing), uris namespaced
by team and uploader, jobs visible only to who may see them, `lost` when their process stopped,
and a Redis board that every replica reads."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.accounts import Principal
from api.jobs import (
    IngestJob,
    JobBoard,
    JobProgress,
    JobRunner,
    MemoryJobBoard,
    RedisJobBoard,
    _now,
)
from api.routes.ingest import upload_uri, uri_segment
from graph.embeddings import ModelError
from ingest.pipeline import FileReport, OnProgress
from tests.api.conftest import hashed_client, issue_key
from tests.conftest import HashEmbedder

DOC = "# 换货\n签收15天内可以换货，请保留发票。\n\n# 退款\n退款3到5个工作日到账。".encode()
WAIT = {"wait": 60}
ADMIN_PREFIX = "upload/_/settings:admin-key/"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def upload(
    client: TestClient, name: str = "policy.md", data: bytes = DOC, key: str = "", **params: Any
) -> Any:
    headers = bearer(key) if key else {}
    files = {"file": (name, data, "text/markdown")}
    return client.post("/ingest", files=files, params=params, headers=headers)


def until_ended(client: TestClient, location: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(location).json()
        if job["status"] in ("done", "failed", "lost"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"job at {location} did not end in {timeout} s")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with hashed_client(tmp_path) as c:
        yield c


# --- the routes ------------------------------------------------------------------------------


def test_an_upload_is_a_202_job_that_ends_done_with_the_report(client: TestClient) -> None:
    response = upload(client)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/ingest/jobs/{job['id']}"
    assert job["status"] in ("queued", "running") and job["report"] is None
    assert job["uri"] == ADMIN_PREFIX + "policy.md"
    assert job["uploader"] == "settings:admin-key" and job["team"] == ""
    ended = until_ended(client, response.headers["location"])
    assert ended["status"] == "done" and ended["error"] == "", ended
    assert ended["progress"]["phase"] == "done"
    assert ended["report"]["status"] == "ingested" and ended["report"]["chunks"] >= 1
    assert ended["report"]["uri"] == ended["uri"] == job["uri"]
    assert ended["created_at"] == job["created_at"] <= ended["updated_at"]
    # waiting for it: a 200 with the ended job (the same file again is unchanged)
    again = upload(client, **WAIT)
    assert again.status_code == 200 and again.headers["location"].endswith(again.json()["id"])
    assert (again.json()["status"], again.json()["report"]["status"]) == ("done", "unchanged")
    listed = client.get("/ingest/jobs").json()
    assert [j["id"] for j in listed] == [again.json()["id"], job["id"]]  # newest first
    assert client.get("/ingest/jobs", params={"limit": 1}).json()[0]["id"] == again.json()["id"]


def test_progress_is_told_while_it_runs(client: TestClient) -> None:
    ingestor = client.app.state.runtime.ingestor()  # type: ignore[attr-defined]
    embedded, release = threading.Event(), threading.Event()
    embed = ingestor._embed

    def held(graph: Any, progress: OnProgress | None = None) -> None:
        embed(graph, progress)
        embedded.set()
        assert release.wait(30)

    ingestor._embed = held
    try:
        response = upload(client)
        assert response.status_code == 202
        assert embedded.wait(30)
        running = client.get(response.headers["location"]).json()
        assert running["status"] == "running", running
        progress = running["progress"]
        assert progress["phase"] == "embed" and progress["done"] == progress["total"] > 0
    finally:
        release.set()
    ended = until_ended(client, response.headers["location"])
    assert ended["status"] == "done" and ended["report"]["status"] == "ingested"


class FailingEmbedder(HashEmbedder):
    def __init__(self, error: Exception) -> None:
        self.error = error

    def encode(self, texts: Any) -> np.ndarray:
        raise self.error


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (RuntimeError("the GPU caught fire"), "RuntimeError: the GPU caught fire"),
        (ModelError("no model: run spiral setup"), "no model: run spiral setup"),
    ],
)
def test_a_failing_file_fails_with_the_reason_and_writes_nothing(
    tmp_path: Path, error: Exception, reason: str
) -> None:
    with hashed_client(tmp_path) as client:
        client.app.state.runtime.embedder = FailingEmbedder(error)  # type: ignore[attr-defined]
        response = upload(client, **WAIT)
        job = response.json()
        assert response.status_code == 200 and job["status"] == "failed", job
        assert reason in job["error"] and "\n" not in job["error"]
        assert job["progress"]["phase"] in ("extract", "embed")  # where it failed
        empty = upload(client, "e.txt", b"", **WAIT).json()
        assert empty["status"] == "failed" and empty["report"]["status"] == "failed"
        assert empty["error"] == f"{ADMIN_PREFIX}e.txt: empty file"
        assert client.get("/admin/stats").json() == {"nodes": {}, "links": {}}
        workdir = client.app.state.jobs._dir  # type: ignore[attr-defined]
        assert workdir is not None and list(workdir.iterdir()) == []  # the bytes are gone


def test_the_uri_is_namespaced_by_team_and_uploader(client: TestClient) -> None:
    alice, alice_id = issue_key(client, "knowledge_manager", team="sales/east")
    bob, bob_id = issue_key(client, "knowledge_manager", team="sales/east")
    first = upload(client, key=alice, **WAIT).json()
    second = upload(client, key=bob, **WAIT).json()
    assert first["uri"] == f"upload/sales%2Feast/{alice_id}/policy.md"
    assert second["uri"] == f"upload/sales%2Feast/{bob_id}/policy.md"
    assert first["report"]["status"] == second["report"]["status"] == "ingested"  # two sources
    again = upload(client, key=alice, **WAIT).json()
    assert (again["uri"], again["report"]["status"]) == (first["uri"], "unchanged")
    assert client.get("/admin/stats").json()["nodes"]["Document"] == 2


def test_uri_segments_never_collide_nor_split() -> None:
    values = ["", "_", "%5F", "a/b", "a%2Fb", "..", ".", "销售 一组", "a\nb", "settings:admin-key"]
    segments = [uri_segment(v) for v in values]
    assert len(set(segments)) == len(values)
    assert not any(c in s for s in segments for c in "/ .\n")
    assert uri_segment("settings:admin-key") == "settings:admin-key"
    assert uri_segment("dev:admin") == "dev:admin"
    assert upload_uri("a.md", None) == "upload/_/_/a.md"


def test_a_job_is_visible_to_its_uploader_its_team_and_admins_only(client: TestClient) -> None:
    owner, _ = issue_key(client, "knowledge_manager", team="t1")
    teammate, _ = issue_key(client, "knowledge_manager", team="t1")
    stranger, _ = issue_key(client, "knowledge_manager", team="t2")
    loner, _ = issue_key(client, "knowledge_manager")
    employee, _ = issue_key(client, "employee", team="t1")
    response = upload(client, key=owner, **WAIT)
    location, job_id = response.headers["location"], response.json()["id"]
    for key in (owner, teammate, ""):  # "": the admin key
        seen = client.get(location, headers=bearer(key) if key else {})
        assert seen.status_code == 200 and seen.json()["id"] == job_id
        assert job_id in [
            j["id"] for j in client.get("/ingest/jobs", headers=bearer(key) if key else {}).json()
        ]
    for key in (stranger, loner):
        hidden = client.get(location, headers=bearer(key))
        assert hidden.status_code == 404 and job_id in hidden.json()["detail"]
        assert client.get("/ingest/jobs", headers=bearer(key)).json() == []
    assert client.get(location, headers=bearer(employee)).status_code == 403  # the role, as before
    unknown = client.get(f"/ingest/jobs/{uuid.uuid4().hex}")
    assert unknown.status_code == 404
    assert client.get("/ingest/jobs/..%2F..%2Fetc").status_code == 404
    own = upload(client, "mine.md", key=loner, **WAIT).json()  # a team-less uploader sees theirs
    assert [j["id"] for j in client.get("/ingest/jobs", headers=bearer(loner)).json()] == [
        own["id"]
    ]
    assert own["uri"] == f"upload/_/{own['uploader']}/mine.md"


def test_wait_is_bounded(client: TestClient) -> None:
    assert upload(client, wait=121).status_code == 422
    assert upload(client, wait=-1).status_code == 422


# --- boards and the runner -------------------------------------------------------------------


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make_board(request: pytest.FixtureRequest) -> Callable[..., JobBoard]:
    """Boards of one kind; Redis boards of one test share a fresh prefix (two replicas)."""
    prefix = f"spiral-test:{uuid.uuid4().hex[:10]}:jobs:"

    def _make(stale_s: float = 300.0) -> JobBoard:
        if request.param == "memory":
            return MemoryJobBoard(stale_s=stale_s)
        return RedisJobBoard(request.getfixturevalue("redis_url"), prefix=prefix, stale_s=stale_s)

    return _make


def a_job(uploader: str = "a1", team: str = "t1", **fields: Any) -> IngestJob:
    now = _now()
    job = IngestJob(
        id=uuid.uuid4().hex,
        uri=f"upload/{team}/{uploader}/x.md",
        uploader=uploader,
        team=team,
        created_at=now,
        updated_at=now,
    )
    return job.model_copy(update=fields)


def test_a_job_without_word_for_too_long_is_lost(make_board: Callable[..., JobBoard]) -> None:
    async def run() -> None:
        board = make_board(stale_s=60)
        old = _now() - timedelta(seconds=61)
        running = a_job(status="running", updated_at=old, progress=JobProgress(phase="embed"))
        done = a_job(status="done", updated_at=old)
        fresh = a_job(status="running")
        for job in (running, done, fresh):
            await board.put(job)
        lost = await board.get(running.id)
        assert lost is not None and lost.status == "lost" and "upload the file again" in lost.error
        assert lost.progress.phase == "embed"
        assert (await board.get(done.id)).status == "done"  # type: ignore[union-attr]
        assert (await board.get(fresh.id)).status == "running"  # type: ignore[union-attr]
        assert await board.get(uuid.uuid4().hex) is None
        await board.close()

    asyncio.run(run())


def test_boards_list_newest_first_by_uploader_team_or_all(
    make_board: Callable[..., JobBoard],
) -> None:
    async def run() -> None:
        board = make_board()
        jobs = [a_job("a1", "t1"), a_job("a2", "t1"), a_job("a3", "t2"), a_job("a4", "")]
        for job in jobs:
            await board.put(job)

        async def ids(**query: Any) -> list[str]:
            return [j.id for j in await board.recent(limit=10, **query)]

        newest = [j.id for j in reversed(jobs)]
        assert await ids(uploader="x", team="", everyone=True) == newest
        assert await ids(uploader="a3", team="t1", everyone=False) == [
            jobs[2].id,
            jobs[1].id,
            jobs[0].id,
        ]
        assert await ids(uploader="a4", team="", everyone=False) == [jobs[3].id]
        assert len(await board.recent(uploader="x", team="", everyone=True, limit=2)) == 2
        await board.close()

    asyncio.run(run())


@pytest.mark.redis
def test_two_redis_boards_share_jobs(redis_url: str) -> None:
    async def run() -> None:
        prefix = f"spiral-test:{uuid.uuid4().hex[:10]}:jobs:"
        one, two = RedisJobBoard(redis_url, prefix=prefix), RedisJobBoard(redis_url, prefix=prefix)
        job = a_job()
        await one.put(job)
        assert await two.get(job.id) == job
        report = FileReport(uri=job.uri, status="ingested", chunks=3)
        await two.put(job.model_copy(update={"status": "done", "report": report}))
        seen = await one.get(job.id)
        assert seen is not None and seen.status == "done" and seen.report == report
        ttl = await one.redis.ttl(one._job_key(job.id))
        assert 6 * 86400 < ttl <= 7 * 86400  # jobs expire after 7 days
        await one.close()
        await two.close()

    asyncio.run(run())


@pytest.mark.redis
def test_two_api_replicas_on_one_redis_answer_for_each_others_jobs(
    tmp_path: Path, redis_url: str
) -> None:
    with (
        hashed_client(tmp_path / "a", redis_url=redis_url) as a,
        hashed_client(tmp_path / "b", redis_url=redis_url) as b,
    ):
        response = upload(a, **WAIT)
        assert response.status_code == 200, response.text
        on_b = b.get(response.headers["location"])
        assert on_b.status_code == 200 and on_b.json() == response.json()
        assert on_b.json()["report"]["status"] == "ingested"
        assert response.json()["id"] in [j["id"] for j in b.get("/ingest/jobs").json()]


def test_a_heartbeat_keeps_a_long_job_from_being_lost() -> None:
    async def run() -> None:
        runner = JobRunner(MemoryJobBoard(stale_s=0.3), heartbeat_s=0.05)
        who = Principal(account_id="a1", role="knowledge_manager", team="t1")

        def slow(path: Path, progress: OnProgress) -> FileReport:
            progress("read", 0, 0)
            time.sleep(1.0)
            return FileReport(uri="upload/t1/a1/x.md", status="ingested")

        job = await runner.submit(
            uri="upload/t1/a1/x.md", kind="", user=who, data=b"x", suffix=".md", work=slow
        )
        await asyncio.sleep(0.7)
        during = await runner.board.get(job.id)
        assert during is not None and during.status == "running", during
        await runner.wait(job.id, 5)
        assert (await runner.board.get(job.id)).status == "done"  # type: ignore[union-attr]
        await runner.close()

    asyncio.run(run())


def test_closing_fails_the_queued_and_removes_the_bytes() -> None:
    async def run() -> None:
        runner = JobRunner(MemoryJobBoard())
        who = Principal(account_id="a1", role="admin")
        release = threading.Event()
        paths: list[Path] = []

        def held(path: Path, progress: OnProgress) -> FileReport:
            paths.append(path)
            assert path.read_bytes() == b"first"
            release.wait(10)
            return FileReport(uri="upload/_/a1/1.md", status="ingested")

        def never(path: Path, progress: OnProgress) -> FileReport:
            raise AssertionError("a queued job ran after close")

        first = await runner.submit(
            uri="upload/_/a1/1.md", kind="", user=who, data=b"first", suffix=".md", work=held
        )
        second = await runner.submit(
            uri="upload/_/a1/2.md", kind="", user=who, data=b"second", suffix="", work=never
        )
        while not paths:
            await asyncio.sleep(0.01)
        workdir = runner._dir
        assert workdir is not None and len(list(workdir.iterdir())) == 2
        closing = asyncio.create_task(runner.close(grace_s=5))
        await asyncio.sleep(0.1)
        release.set()
        await closing
        board = runner.board
        assert (await board.get(first.id)).status == "done"  # type: ignore[union-attr]
        queued = await board.get(second.id)
        assert queued is not None and queued.status == "failed" and "upload" in queued.error
        assert not workdir.exists()

    asyncio.run(run())


def test_redis_gone_is_a_503_not_a_500(tmp_path: Path) -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    with hashed_client(tmp_path, redis_url="redis://127.0.0.1:1/0") as c:
        files = {"file": ("a.md", b"# x\nhello", "text/markdown")}
        response = c.post("/ingest", files=files)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "connecting to 127.0.0.1:1" in response.json()["detail"]

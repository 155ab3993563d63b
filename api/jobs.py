"""Ingest jobs: an upload is answered at once with a job (id, status, progress); the file is
ingested in the background, and the job says how it went.

Where the work runs: in the process that accepted the upload, one job at a time (ingest is
CPU-heavy: a second file at once would only slow the first), in a worker thread, so the event
loop keeps answering. The uploaded bytes wait in a temp file (a name Spiral makes up) until
their job ends, and are deleted then, whatever the outcome.

Where jobs are kept: on a board. `MemoryJobBoard` in one process; `RedisJobBoard` when
`SPIRAL_REDIS_URL` is set, so every API replica answers for every job (a GET may reach another
replica than the POST). Jobs expire `JOB_TTL_S` after they were created.

A job the process runs is touched every `HEARTBEAT_S` while it waits or runs; one still queued
or running whose last word is older than the board's `stale_s` is read as `lost` (its process
died: an unfinished ingest writes nothing, so uploading the file again is safe).

>>> import asyncio
>>> from api.accounts import Principal
>>> async def demo() -> list[str]:
...     runner = JobRunner(MemoryJobBoard())
...     who = Principal(account_id="a1", role="knowledge_manager", team="t1")
...     def work(path: Path, progress: OnProgress) -> FileReport:
...         progress("read", 0, 0)
...         return FileReport(uri="upload/t1/a1/x.md", status="ingested", chunks=1)
...     job = await runner.submit(uri="upload/t1/a1/x.md", kind="", user=who, data=b"# x",
...                               suffix=".md", work=work)
...     await runner.wait(job.id, 5)
...     done = await runner.board.get(job.id)
...     await runner.close()
...     return [job.status, done.status, done.progress.phase]
>>> asyncio.run(demo())
['queued', 'done', 'done']
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, Field

from api.accounts import Principal
from graph.ids import content_hash
from graph.settings import Settings
from ingest.pipeline import FileReport, OnProgress

__all__ = [
    "HEARTBEAT_S",
    "JOB_TTL_S",
    "STALE_S",
    "IngestJob",
    "IngestJobPublic",
    "JobBoard",
    "JobProgress",
    "JobRunner",
    "JobsDep",
    "MemoryJobBoard",
    "OnProgress",
    "RedisJobBoard",
    "get_jobs",
    "is_job_id",
    "open_jobs",
]

log = logging.getLogger("spiral.api.jobs")
T = TypeVar("T")

JOB_TTL_S = 7 * 86400  # a job is kept this long after it was created
STALE_S = 300.0  # queued or running without a word for this long: its process died
HEARTBEAT_S = 30.0  # how often the process running a job says it is still at it
SAVE_EVERY_S = 0.5  # progress within one phase is saved at most this often
MEMORY_MAX_JOBS = 10_000  # the memory board forgets the oldest beyond this
INDEX_MAX = 10_000  # the Redis board's lists keep this many of the newest jobs each
STOP_GRACE_S = 30.0  # on shutdown, how long the job under way may take to finish

JobStatus = Literal["queued", "running", "done", "failed", "lost"]
Phase = Literal["queued", "read", "extract", "embed", "write", "settle", "done"]
ENDED: frozenset[str] = frozenset({"done", "failed", "lost"})
_JOB_ID = re.compile(r"[0-9a-f]{32}")

Work = Callable[[Path, OnProgress], FileReport]
"""Ingests the file at the path (sync, run in a worker thread), telling progress."""


class JobProgress(BaseModel):
    phase: Phase = Field(
        default="queued",
        description="queued, read, extract, embed, write, settle (outcomes of conversations "
        "that arrived), done. A failed job keeps the phase it failed in.",
    )
    done: int = Field(default=0, description="Texts embedded so far (phase embed).")
    total: int = Field(default=0, description="Texts to embed (phase embed); 0 when unknown.")


class IngestJobPublic(BaseModel):
    """One upload being ingested in the background, as the API shows it."""

    id: str
    status: JobStatus = Field(
        default="queued",
        description="queued, running, done, failed (error says why), or lost: its process "
        "stopped before it ended (nothing of it was written; upload the file again).",
    )
    uri: str = Field(description="The source's uri: upload/TEAM/UPLOADER/NAME.")
    kind: str = Field(default="", description="The kind asked for ('' to detect it).")
    uploader: str = Field(description="The account id of who uploaded it.")
    team: str = Field(default="", description="The uploader's team ('' for none).")
    created_at: datetime
    updated_at: datetime = Field(description="Its last word: a running job says one often.")
    progress: JobProgress = Field(default_factory=JobProgress)
    report: FileReport | None = Field(default=None, description="What ingest did, once ended.")
    error: str = Field(default="", description="Why it failed (one line); '' when it did not.")


class IngestJob(IngestJobPublic):
    """The job's record on a board: what the API shows, and what readers and runners ask of it."""

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    def visible_to(self, user: Principal) -> bool:
        """Its uploader, knowledge managers of its team and admins may see it."""
        if user.role == "admin" or user.account_id == self.uploader:
            return True
        return user.role == "knowledge_manager" and bool(self.team) and user.team == self.team

    def as_read(self, stale_s: float, now: datetime | None = None) -> IngestJob:
        """The job as a reader should see it: `lost` when it should have ended or said a word
        by now and has not."""
        now = now or _now()
        if self.ended or (now - self.updated_at).total_seconds() <= stale_s:
            return self
        error = (
            f"no word from the process running it for over {stale_s:g} s: it stopped; "
            "nothing of it was written, upload the file again"
        )
        return self.model_copy(update={"status": "lost", "error": error})


def is_job_id(value: str) -> bool:
    return bool(_JOB_ID.fullmatch(value))


def _now() -> datetime:
    return datetime.now(UTC)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:300]
    return text or type(exc).__name__


# --- boards --------------------------------------------------------------------------------


class JobBoard(Protocol):
    stale_s: float

    async def put(self, job: IngestJob) -> None:
        """Keep the job as it is now (created or changed)."""
        ...

    async def get(self, job_id: str) -> IngestJob | None:
        """The job (as a reader sees it: `IngestJob.as_read`), or None when unknown."""
        ...

    async def recent(
        self, *, uploader: str, team: str, everyone: bool, limit: int
    ) -> list[IngestJob]:
        """Newest first, at most `limit`: every job when `everyone`, else the jobs `uploader`
        uploaded and (when `team` is not '') the jobs of that team."""
        ...

    async def close(self) -> None: ...


class MemoryJobBoard:
    """Jobs of one process, the newest `max_jobs` of the last `ttl_s`."""

    def __init__(
        self, ttl_s: float = JOB_TTL_S, stale_s: float = STALE_S, max_jobs: int = MEMORY_MAX_JOBS
    ) -> None:
        self.ttl_s, self.stale_s, self.max_jobs = ttl_s, stale_s, max_jobs
        self._jobs: dict[str, IngestJob] = {}  # in order of creation

    async def put(self, job: IngestJob) -> None:
        self._jobs[job.id] = job.model_copy(deep=True)
        cutoff = _now() - timedelta(seconds=self.ttl_s)
        while self._jobs:
            oldest = next(iter(self._jobs.values()))
            if len(self._jobs) <= self.max_jobs and oldest.created_at >= cutoff:
                break
            del self._jobs[oldest.id]

    async def get(self, job_id: str) -> IngestJob | None:
        job = self._jobs.get(job_id)
        if job is None or job.created_at < _now() - timedelta(seconds=self.ttl_s):
            return None
        return job.model_copy(deep=True).as_read(self.stale_s)

    async def recent(
        self, *, uploader: str, team: str, everyone: bool, limit: int
    ) -> list[IngestJob]:
        cutoff = _now() - timedelta(seconds=self.ttl_s)
        out: list[IngestJob] = []
        for job in reversed(self._jobs.values()):
            if len(out) >= limit or job.created_at < cutoff:
                break
            if everyone or job.uploader == uploader or (team and job.team == team):
                out.append(job.model_copy(deep=True).as_read(self.stale_s))
        return out

    async def close(self) -> None:
        pass


class RedisJobBoard:
    """Jobs shared by every API replica: each job a JSON string that expires `ttl_s` after it
    was created, and sorted sets (by creation time) of all jobs, of each uploader's and of each
    team's, for listing; they keep the newest `INDEX_MAX` and drop what expired."""

    def __init__(
        self,
        url: str,
        prefix: str = "spiral:jobs:",
        ttl_s: int = JOB_TTL_S,
        stale_s: float = STALE_S,
    ) -> None:
        from redis.asyncio import Redis  # connects lazily: no I/O here

        self.redis = Redis.from_url(url, decode_responses=True, protocol=2)
        self.prefix, self.ttl_s, self.stale_s = prefix, int(ttl_s), stale_s

    def _job_key(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"

    def _index(self, kind: str, name: str = "") -> str:
        return f"{self.prefix}{kind}" + (f":{content_hash(name)[:32]}" if name else "")

    def _indexes(self, job: IngestJob) -> list[str]:
        keys = [self._index("all"), self._index("uploader", job.uploader)]
        return keys + ([self._index("team", job.team)] if job.team else [])

    async def put(self, job: IngestJob) -> None:
        created = job.created_at.timestamp()
        left_s = max(1, int(created + self.ttl_s - time.time()))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._job_key(job.id), job.model_dump_json(), ex=left_s)
            for key in self._indexes(job):
                pipe.zadd(key, {job.id: created})
                pipe.zremrangebyscore(key, "-inf", time.time() - self.ttl_s)
                pipe.zremrangebyrank(key, 0, -(INDEX_MAX + 1))
                pipe.expire(key, self.ttl_s)
            await pipe.execute()

    async def get(self, job_id: str) -> IngestJob | None:
        raw = await self.redis.get(self._job_key(job_id))
        return IngestJob.model_validate_json(raw).as_read(self.stale_s) if raw else None

    async def recent(
        self, *, uploader: str, team: str, everyone: bool, limit: int
    ) -> list[IngestJob]:
        if everyone:
            keys = [self._index("all")]
        else:
            keys = [self._index("uploader", uploader)] + (
                [self._index("team", team)] if team else []
            )
        ids: list[str] = []
        for key in keys:
            ids += await self.redis.zrevrange(key, 0, limit - 1)
        ids = list(dict.fromkeys(ids))
        if not ids:
            return []
        raws = await self.redis.mget([self._job_key(i) for i in ids])
        jobs = [IngestJob.model_validate_json(r) for r in raws if r]
        jobs.sort(key=lambda j: j.created_at, reverse=True)
        return [j.as_read(self.stale_s) for j in jobs[:limit]]

    async def close(self) -> None:
        await self.redis.aclose()


# --- running them ----------------------------------------------------------------------------


class JobRunner:
    """Runs this process's jobs one at a time and keeps the board told: each change of status,
    each phase (progress within a phase at most every `SAVE_EVERY_S`), and a heartbeat every
    `heartbeat_s` while a job waits or runs. Build it once (FastAPI lifespan, `open_jobs`) and
    close it on shutdown: the job under way gets `STOP_GRACE_S` to end, the queued ones fail
    (upload them again)."""

    def __init__(self, board: JobBoard, heartbeat_s: float = HEARTBEAT_S) -> None:
        self.board, self.heartbeat_s = board, heartbeat_s
        self._live: dict[str, IngestJob] = {}  # this process's jobs not ended yet
        self._ended: dict[str, asyncio.Event] = {}
        self._lock = threading.Lock()  # _live is changed by the worker thread too
        self._save_lock: asyncio.Lock | None = None
        self._queue: asyncio.Queue[tuple[str, Path, Work, Callable[[], object]] | None] | None
        self._queue = None
        self._tasks: list[asyncio.Task[None]] = []
        self._dir: Path | None = None
        self._closed = False
        try:  # the loop the app runs on: the runner's state is only touched there
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    # -- public ---------------------------------------------------------------------------

    async def submit(
        self,
        *,
        uri: str,
        kind: str,
        user: Principal,
        data: bytes,
        suffix: str,
        work: Work,
        settle: Callable[[], object] = lambda: None,
    ) -> IngestJob:
        """Keep the bytes in a temp file, put a queued job on the board and line it up.
        `work` ingests the file; `settle` runs after it when it did not fail."""
        return await self._at_home(
            self._submit(
                uri=uri, kind=kind, user=user, data=data, suffix=suffix, work=work, settle=settle
            )
        )

    async def wait(self, job_id: str, timeout: float) -> None:
        """Wait up to `timeout` seconds for a job of this process to end."""
        await self._at_home(self._wait(job_id, timeout))

    async def get(self, job_id: str) -> IngestJob | None:
        """The job as the board has it (`JobBoard.get`)."""
        return await self._at_home(self.board.get(job_id))

    async def recent(
        self, *, uploader: str, team: str, everyone: bool, limit: int
    ) -> list[IngestJob]:
        """Jobs as the board lists them (`JobBoard.recent`)."""
        query = self.board.recent(uploader=uploader, team=team, everyone=everyone, limit=limit)
        return await self._at_home(query)

    async def close(self, grace_s: float = STOP_GRACE_S) -> None:
        """Let the job under way end (for `grace_s`), fail the queued ones, remove the bytes."""
        await self._at_home(self._close(grace_s))

    async def _at_home(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the runner's loop: a caller on another loop (a test client that
        starts one per request) hands it over, as its queue, events and connections are
        that loop's."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        if loop is self._loop or self._loop.is_closed():
            return await work
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._loop))

    # -- inside ---------------------------------------------------------------------------

    async def _submit(
        self,
        *,
        uri: str,
        kind: str,
        user: Principal,
        data: bytes,
        suffix: str,
        work: Work,
        settle: Callable[[], object] = lambda: None,
    ) -> IngestJob:
        if self._closed:
            raise RuntimeError("the job runner is closed")
        now = _now()
        job = IngestJob(
            id=secrets.token_hex(16),
            uri=uri,
            kind=kind,
            uploader=user.account_id,
            team=user.team,
            created_at=now,
            updated_at=now,
        )
        path = self._workdir() / f"{job.id}{suffix}"
        await asyncio.to_thread(path.write_bytes, data)
        try:
            with self._lock:
                self._live[job.id] = job
            self._ended[job.id] = asyncio.Event()
            await self._save(job.id)
        except BaseException:
            with self._lock:
                self._live.pop(job.id, None)
            self._ended.pop(job.id, None)
            path.unlink(missing_ok=True)
            raise
        self._start()
        assert self._queue is not None
        self._queue.put_nowait((job.id, path, work, settle))
        return job

    async def _wait(self, job_id: str, timeout: float) -> None:
        event = self._ended.get(job_id)
        if event is not None and timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)

    async def _close(self, grace_s: float) -> None:
        self._closed = True
        if self._queue is not None:
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item is not None:
                    job_id, path, _work, _settle = item
                    reason = "the server stopped before it ran: upload the file again"
                    await self._end(job_id, status="failed", error=reason)
                    path.unlink(missing_ok=True)
            self._queue.put_nowait(None)  # the worker stops after the job under way
        worker = self._tasks[0] if self._tasks else None
        if worker is not None:
            await asyncio.wait([worker], timeout=grace_s)
        for job_id in list(self._live):  # still running: the thread is left to itself
            reason = "the server stopped while it ran: nothing of it was written, upload again"
            await self._end(job_id, status="lost", error=reason)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        await self.board.close()

    def _workdir(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="spiral-uploads-"))
        return self._dir

    def _start(self) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue()
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._work()), loop.create_task(self._heartbeat())]

    def _update(self, job_id: str, **fields: object) -> None:
        with self._lock:
            job = self._live.get(job_id)
            if job is not None:
                self._live[job_id] = job.model_copy(update={**fields, "updated_at": _now()})

    async def _save(self, job_id: str) -> None:
        """Put the job on the board as it is when its turn comes: saves never go back in time."""
        if self._save_lock is None:
            self._save_lock = asyncio.Lock()
        async with self._save_lock:
            with self._lock:
                job = self._live.get(job_id)
            if job is not None:
                await self.board.put(job)

    async def _end(self, job_id: str, **fields: object) -> None:
        self._update(job_id, **fields)
        try:
            await self._save(job_id)
        except Exception:
            log.warning("could not save the end of ingest job %s", job_id, exc_info=True)
        with self._lock:
            self._live.pop(job_id, None)
        if (event := self._ended.pop(job_id, None)) is not None:
            event.set()

    async def _work(self) -> None:
        assert self._queue is not None
        while (item := await self._queue.get()) is not None:
            job_id, path, work, settle = item
            try:
                await self._run(job_id, path, work, settle)
            except Exception:
                log.exception("ingest job %s", job_id)
                await self._end(job_id, status="failed", error="an internal error")
            finally:
                path.unlink(missing_ok=True)

    async def _run(self, job_id: str, path: Path, work: Work, settle: Callable[[], object]) -> None:
        self._update(job_id, status="running", progress=JobProgress(phase="read"))
        await self._save(job_id)
        progress = self._reporter(job_id, asyncio.get_running_loop())
        try:
            report = await asyncio.to_thread(work, path, progress)
        except Exception as exc:  # the store or the model: every file would fail alike
            log.warning("ingest job %s failed: %s", job_id, _one_line(exc))
            await self._end(job_id, status="failed", error=_one_line(exc))
            return
        if report.status == "failed":
            error = f"{report.uri}: {report.reason}"
            await self._end(job_id, status="failed", uri=report.uri, report=report, error=error)
            return
        self._update(job_id, uri=report.uri, report=report, progress=JobProgress(phase="settle"))
        await self._save(job_id)
        error = ""
        try:
            await asyncio.to_thread(settle)
        except Exception as exc:  # the file is in; the next ingest settles again
            log.warning("settling after ingest job %s failed", job_id, exc_info=True)
            error = f"ingested, but settling outcomes failed: {_one_line(exc)}"
        await self._end(job_id, status="done", progress=JobProgress(phase="done"), error=error)

    def _reporter(self, job_id: str, loop: asyncio.AbstractEventLoop) -> OnProgress:
        """The progress callback of one job, called in the worker thread: it never raises."""
        last = {"at": 0.0, "phase": ""}

        def report(phase: str, done: int, total: int) -> None:
            try:
                self._update(job_id, progress=JobProgress(phase=phase, done=done, total=total))  # type: ignore[arg-type]
                now = time.monotonic()
                same = phase == last["phase"] and (total == 0 or done < total)
                if (same and now - float(last["at"]) < SAVE_EVERY_S) or self._closed:
                    return
                last.update(at=now, phase=phase)
                asyncio.run_coroutine_threadsafe(self._save(job_id), loop).result(timeout=10)
            except Exception:
                log.debug("progress of ingest job %s not saved", job_id, exc_info=True)

        return report

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            for job_id in list(self._live):
                self._update(job_id)
                try:
                    await self._save(job_id)
                except Exception:
                    log.warning("heartbeat of ingest job %s not saved", job_id, exc_info=True)


def open_jobs(settings: Settings) -> JobRunner:
    """Redis when `SPIRAL_REDIS_URL` is set (every replica answers for every job), else this
    process's memory."""
    url, ttl, stale = settings.redis_url, settings.job_ttl_s, settings.job_stale_s
    board: MemoryJobBoard | RedisJobBoard = (
        RedisJobBoard(url, ttl_s=ttl, stale_s=stale)
        if url
        else MemoryJobBoard(ttl_s=ttl, stale_s=stale)
    )
    return JobRunner(board, heartbeat_s=settings.job_heartbeat_s)


def get_jobs(request: Request) -> JobRunner:
    return request.app.state.jobs  # type: ignore[no-any-return]


JobsDep = Annotated[JobRunner, Depends(get_jobs)]

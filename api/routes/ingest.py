"""Knowledge managers: upload a file to ingest (documents, transcripts, notes), as a job.

`POST /ingest` checks at once what it can (the role, the file name, the size) and answers 202
with a job (`api.jobs.IngestJobPublic`: id, status, progress) and `Location: /ingest/jobs/{id}`; the
file is ingested in the background (one job at a time per API process), and
`GET /ingest/jobs/{id}` says how it goes: queued, running (phase, texts embedded of all), done
with the report, failed with the reason (a failed file writes nothing), or lost (its process
stopped). `?wait=SECONDS` (at most 120) waits for the job and answers 200 when it ended in time.
A job is visible to its uploader, knowledge managers of its team and admins; to anyone else it
does not exist (404, so ids tell nothing).

The uploaded file name is untrusted: it is validated (`ingest.untrusted.safe_name`; a name that
cannot be one is a 422 saying why), de-identified, and only then used. The source's uri is
namespaced by who uploaded it: `upload/TEAM/UPLOADER/NAME` (TEAM the uploader's team, `_` for
none; UPLOADER their account id; both with `/`, `%`, spaces and the like percent-encoded), so
two people's files of the same name are two sources, and the same person uploading the same
file again is `unchanged`. The bytes are written under a name Spiral makes up; only the suffix,
which format detection reads, is kept from the user's name, and only when it is a plain one.
Knowledge managers and admins only.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePath
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.auth import CurrentUser, require
from api.deps import RuntimeDep
from api.jobs import IngestJob, IngestJobPublic, JobsDep, OnProgress, is_job_id
from api.schemas import CleanStr, errors, problems
from ingest.deidentify import Deidentifier
from ingest.pipeline import FileReport
from ingest.untrusted import safe_name

__all__ = ["NO_TEAM", "UPLOAD_PREFIX", "router", "upload_uri", "uri_segment"]

router = APIRouter(
    prefix="/ingest",
    tags=["ingest"],
    dependencies=[Depends(require("knowledge_manager", "admin"))],
    responses=problems(401, 403),
)

UPLOAD_PREFIX = "upload/"
NO_TEAM = "_"  # the team part of the uri of an uploader without a team
MAX_WAIT_S = 120.0
_PLAIN_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")
_SEGMENT_KEEP = frozenset("-_@:~+=")
_FINISHED = {
    "model": IngestJobPublic,
    "description": "The job ended within `wait`: done or failed.",
}


@router.post(
    "",
    status_code=202,
    response_model=IngestJobPublic,
    responses={200: _FINISHED, **errors(400, 413)},
)
async def upload(
    rt: RuntimeDep,
    jobs: JobsDep,
    user: CurrentUser,
    response: Response,
    file: Annotated[UploadFile, File(description="The file to ingest.")],
    kind: Annotated[
        CleanStr | None,
        Form(max_length=50, description="document, transcript, note, or a format"),
    ] = None,
    wait: Annotated[
        float,
        Query(ge=0, le=MAX_WAIT_S, description="Seconds to wait for the job to end (200)."),
    ] = 0,
) -> IngestJob:
    """Ingest one uploaded file as `upload/TEAM/UPLOADER/NAME`, in the background: 202 with the
    job (`Location: /ingest/jobs/{id}`), or 200 with it ended when it did within `wait`.
    Idempotent: the same file uploaded again by the same person is `unchanged`."""
    name = safe_name(file.filename, "upload file name")  # UnsafeName: a 422 with the reason
    ingestor = await run_in_threadpool(rt.ingestor)  # a broken setting: 503 now, not a job
    uri = upload_uri(name, ingestor.deid, team=user.team, uploader=user.account_id)
    limit = int(rt.settings.max_file_mb * 1024 * 1024)
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{uri}: over the {rt.settings.max_file_mb:g} MB limit")
    kind = kind or None

    def work(path: Path, progress: OnProgress) -> FileReport:
        return ingestor.ingest_file(path, uri, kind, progress=progress)

    job = await jobs.submit(
        uri=uri,
        kind=kind or "",
        user=user,
        data=data,
        suffix=_suffix(name),
        work=work,
        settle=rt.settle,
    )
    await jobs.wait(job.id, wait)
    job = await jobs.get(job.id) or job
    response.headers["Location"] = f"{router.prefix}/jobs/{job.id}"
    if job.ended:
        response.status_code = 200
    return job


@router.get("/jobs", response_model=list[IngestJobPublic], responses=errors())
async def list_jobs(
    jobs: JobsDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=200, description="At most this many.")] = 50,
) -> list[IngestJob]:
    """The ingest jobs you may see, newest first: yours, your team's when you are a knowledge
    manager, everyone's when you are an admin (jobs are kept for 7 days)."""
    everyone = user.role == "admin"
    team = user.team if user.role == "knowledge_manager" else ""
    found = await jobs.recent(uploader=user.account_id, team=team, everyone=everyone, limit=limit)
    return [job for job in found if job.visible_to(user)]


@router.get("/jobs/{job_id}", response_model=IngestJobPublic, responses=errors(404))
async def get_job(jobs: JobsDep, user: CurrentUser, job_id: str) -> IngestJob:
    """One ingest job: status, progress, and once ended the report or why it failed."""
    job = await jobs.get(job_id) if is_job_id(job_id) else None
    if job is None or not job.visible_to(user):
        raise HTTPException(404, f"no ingest job {job_id!r}")
    return job


def upload_uri(name: str, deid: Deidentifier | None, team: str = "", uploader: str = "") -> str:
    """`upload/TEAM/UPLOADER/NAME`: the (safe) name with its personal data replaced, as the
    pipeline does for every uri (`Deidentifier.redact_identifier`), under who uploaded it (the
    whole uri goes through it too, as the pipeline will do). Two names that redact alike stay
    two sources, the same name from the same uploader always gives the same uri (re-uploads are
    no-ops), and the same name from two uploaders gives two."""
    if deid is not None:
        name = deid.redact_identifier(name)
    uri = f"{UPLOAD_PREFIX}{uri_segment(team) or NO_TEAM}/{uri_segment(uploader) or NO_TEAM}/{name}"
    return deid.redact_identifier(uri) if deid is not None else uri


def uri_segment(value: str) -> str:
    """`value` as one path segment: letters, digits and `-_@:~+=` kept, everything else (`/`,
    `%`, `.`, spaces, controls) percent-encoded, so two values never give the same segment
    (`_` alone, the placeholder for none, is encoded too)."""
    if value == NO_TEAM:
        return "%5F"
    out = []
    for char in value:
        if (char.isalnum() and char.isprintable()) or char in _SEGMENT_KEEP:
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
    return "".join(out)


def _suffix(name: str) -> str:
    """The name's suffix when it is a plain one (`.md`, `.docx`), else none: the file on disk
    never carries more of the user's name than that."""
    suffix = PurePath(name).suffix
    return suffix.lower() if _PLAIN_SUFFIX.fullmatch(suffix) else ""

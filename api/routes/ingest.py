"""Knowledge managers: upload a file to ingest (documents, transcripts, notes).

The uploaded file name is untrusted: it is validated (`ingest.untrusted.safe_name`; a name that
cannot be one is a 422 saying why), de-identified, and only then used, as the source's uri
`upload/NAME`. The bytes are written under a name Spiral makes up; only the suffix, which format
detection reads, is kept from the user's name, and only when it is a plain one. Knowledge
managers and admins only.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path, PurePath
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.auth import require
from api.deps import RuntimeDep
from api.schemas import CleanStr, errors, problems
from ingest.deidentify import Deidentifier
from ingest.pipeline import FileReport
from ingest.untrusted import safe_name

__all__ = ["UPLOAD_PREFIX", "router", "upload_uri"]

router = APIRouter(
    prefix="/ingest",
    tags=["ingest"],
    dependencies=[Depends(require("knowledge_manager", "admin"))],
    responses=problems(401, 403),
)

UPLOAD_PREFIX = "upload/"
_PLAIN_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")


@router.post("", response_model=FileReport, responses=errors(400, 413))
async def upload(
    rt: RuntimeDep,
    file: Annotated[UploadFile, File(description="The file to ingest.")],
    kind: Annotated[
        CleanStr | None,
        Form(max_length=50, description="document, transcript, note, or a format"),
    ] = None,
) -> FileReport:
    """Ingest one uploaded file as `upload/NAME` (the file name, de-identified). Idempotent:
    the same file uploaded again is `unchanged`."""
    name = safe_name(file.filename, "upload file name")  # UnsafeName: a 422 with the reason
    ingestor = await run_in_threadpool(rt.ingestor)
    uri = upload_uri(name, ingestor.deid)
    limit = int(rt.settings.max_file_mb * 1024 * 1024)
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{uri}: over the {rt.settings.max_file_mb:g} MB limit")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{_suffix(name)}"
        path.write_bytes(data)
        report = await run_in_threadpool(ingestor.ingest_file, path, uri, kind or None)
    if report.status == "failed":
        raise HTTPException(422, f"{uri}: {report.reason}")
    await run_in_threadpool(rt.settle)
    return report


def upload_uri(name: str, deid: Deidentifier | None) -> str:
    """`upload/` and the (safe) name with its personal data replaced, as the pipeline does
    for every uri (`Deidentifier.redact_identifier`): two names that redact alike stay two
    sources, and the same name always gives the same uri, so re-uploads are no-ops."""
    return UPLOAD_PREFIX + (deid.redact_identifier(name) if deid is not None else name)


def _suffix(name: str) -> str:
    """The name's suffix when it is a plain one (`.md`, `.docx`), else none: the file on disk
    never carries more of the user's name than that."""
    suffix = PurePath(name).suffix
    return suffix.lower() if _PLAIN_SUFFIX.fullmatch(suffix) else ""

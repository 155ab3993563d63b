"""Knowledge managers: upload a file to ingest (documents, transcripts, notes)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool

from api.deps import RuntimeDep
from ingest.pipeline import FileReport

router = APIRouter(prefix="/ingest", tags=["ingest"])


@router.post("", response_model=FileReport)
async def upload(
    rt: RuntimeDep,
    file: Annotated[UploadFile, File(description="The file to ingest.")],
    kind: Annotated[str | None, Form(description="document, transcript, note, or a format")] = None,
) -> FileReport:
    """Ingest one uploaded file; its uri is the uploaded file name. Idempotent."""
    name = Path(file.filename or "upload").name
    limit = int(rt.settings.max_file_mb * 1024 * 1024)
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{name}: over the {rt.settings.max_file_mb:g} MB limit")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        report = await run_in_threadpool(rt.ingestor().ingest_file, path, name, kind)
    if report.status != "failed":
        await run_in_threadpool(rt.settle)
    if report.status == "failed":
        raise HTTPException(422, f"{name}: {report.reason}")
    return report

"""Transcript loaders in one place: the canonical JSON, CSV, `speaker: text` logs, the WeCom
archive and JDDC TSV each live in their own module; import them from here."""

from __future__ import annotations

from ingest.loaders.jddc import load_jddc, looks_like_jddc, parse_jddc
from ingest.loaders.transcript_common import normalize_role, role_from_speaker
from ingest.loaders.transcript_csv import csv_columns, load_csv_transcript, transcript_from_csv
from ingest.loaders.transcript_json import (
    load_json_transcript,
    looks_like_canonical,
    transcript_from_json,
)
from ingest.loaders.transcript_log import (
    load_log_transcript,
    looks_like_log,
    transcript_from_log,
)
from ingest.loaders.wecom import is_external, load_wecom, looks_like_wecom, transcript_from_wecom

__all__ = [
    "csv_columns",
    "is_external",
    "load_csv_transcript",
    "load_jddc",
    "load_json_transcript",
    "load_log_transcript",
    "load_wecom",
    "looks_like_canonical",
    "looks_like_jddc",
    "looks_like_log",
    "looks_like_wecom",
    "normalize_role",
    "parse_jddc",
    "role_from_speaker",
    "transcript_from_csv",
    "transcript_from_json",
    "transcript_from_log",
    "transcript_from_wecom",
]

"""Stable ids and content hashes. Ids depend only on what identifies a thing, so re-ingesting
the same input yields the same ids and upserts change nothing."""

from __future__ import annotations

import hashlib

__all__ = ["content_hash", "stable_id"]


def content_hash(*parts: str | bytes) -> str:
    """sha256 over the parts (separated, so ("ab","c") != ("a","bc")).

    Text reaching here is clean (ingest/untrusted.py); a lone surrogate that slipped past is
    hashed as its UTF-8-style bytes ("surrogatepass") rather than failing a whole file."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def stable_id(prefix: str, *parts: str) -> str:
    """`prefix:` plus 20 hex chars of the content hash of the parts."""
    return f"{prefix}:{content_hash(*parts)[:20]}"

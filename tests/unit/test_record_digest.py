"""Record digests are kept in every store: a re-import compares them to write nothing when
nothing changed. How a digest is computed must therefore never change by accident (every
stored node would read as changed once, and be written and logged again)."""

from __future__ import annotations

import numpy as np

from graph.model import record_digest

RECORD = {
    "label": "Message",
    "id": "message:1",
    "text": "您好，退款到账了吗？",
    "weight": 1.5,
    "props": "{}",
    "pinned": False,
    "prov_created_at": "2026-12-05T00:00:00+00:00",
    "prov_source": "upload/a.json",
    "expires_at": None,
    "embedding": None,
}


def test_a_records_digest_is_the_one_stores_already_hold() -> None:
    # Computed with the first formula: sorted-key JSON, non-ASCII kept, of the record
    # without its creation time.
    expected = "ea88881c8e4b78efe59769b3140e151a043af6beda84c0b571e119a3383a76f1"
    assert record_digest(RECORD) == expected
    assert record_digest(dict(reversed(RECORD.items()))) == expected  # key order is free


def test_the_creation_time_is_no_change_and_the_rest_is() -> None:
    later = RECORD | {"prov_created_at": "2027-01-01T00:00:00+00:00"}
    assert record_digest(later) == record_digest(RECORD)
    assert record_digest(RECORD | {"text": "您好，退款到账了吗"}) != record_digest(RECORD)
    vector = [0.25, -0.5, 0.125]
    with_vector = record_digest(RECORD | {"embedding": vector})
    assert with_vector == record_digest(RECORD | {"embedding": list(np.float32(vector))})
    assert with_vector != record_digest(RECORD | {"embedding": [0.25, -0.5, 0.0]})

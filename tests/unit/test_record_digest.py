"""Record digests are kept in every store: a re-import compares them to write nothing when
nothing changed. How a digest is computed must therefore never change by accident (every
stored node would read as changed once, and be written and logged again)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np

from graph.model import Customer, Link, LinkType, Provenance, record_digest

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


def test_a_link_and_a_node_flatten_to_the_records_stores_hold() -> None:
    # The records a store keeps (and digests): structured fields as JSON text with
    # non-ASCII kept, provenance as prov_* fields, however they are built.
    when = datetime(2026, 12, 5, 8, 30, tzinfo=UTC)
    prov = Provenance(source="upload/a.json", created_by="ingest.extract", created_at=when)
    link = Link(
        src="message:1", dst="entity:2", type=LinkType.MENTIONS, weight=2, props={"词": "退货"}
    )
    assert link.model_copy(update={"provenance": prov}).to_record() == {
        "weight": 2.0,
        "source_id": "",
        "props": '{"词": "退货"}',
        "prov_source": "upload/a.json",
        "prov_created_by": "ingest.extract",
        "prov_created_at": "2026-12-05T08:30:00Z",
        "prov_confidence": 1.0,
        "prov_method": "",
    }
    customer = Customer(id="customer:1", name="客户", fields={"电话": "[PHONE]"}, provenance=prov)
    record = customer.to_record()
    assert record["fields"] == '{"电话": "[PHONE]"}'
    assert record["prov_created_at"] == "2026-12-05T08:30:00Z" and record["label"] == "Customer"
    assert record_digest(record) == record_digest(json.loads(json.dumps(record)))

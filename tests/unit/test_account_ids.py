"""Account ids are part of upload uris, which are de-identified: they must not read as
personal data."""

from __future__ import annotations

import re

from api.accounts import ACCOUNT_ID_MAX_DIGITS, new_account_id
from api.routes.ingest import upload_uri
from ingest.deidentify import Deidentifier


def test_new_account_ids_never_read_as_a_phone_in_an_upload_uri() -> None:
    # With plain random ids, 0.4 % of upload uris lost their uploader to [PHONE]: in 2,000
    # ids that is 8 on average, and none in 2,000 about once in 3,600 runs.
    deid = Deidentifier("test-key")
    ids = [new_account_id() for _ in range(2_000)]
    assert len(set(ids)) == len(ids) and all(i.startswith("account:") for i in ids)
    assert not [i for i in ids if re.search(rf"\d{{{ACCOUNT_ID_MAX_DIGITS + 1}}}", i)]
    uris = {i: upload_uri("mine.md", deid, uploader=i) for i in ids}
    assert [u for i, u in uris.items() if u != f"upload/_/{i}/mine.md"] == []

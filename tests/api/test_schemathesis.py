"""Schemathesis over the whole API, from the app's own OpenAPI schema: whatever a client sends
that the schema can describe, valid or not, is never answered with a server error, and every
answer (errors too) has a status, a content type and a body that the schema documents.

Requests carry the test admin key (tests/api/conftest.py), so every route is reached; what a
request without one is answered is tested in tests/api/test_auth.py. The app runs on an
embedded store seeded with a document and a conversation, with the hashed
embedder in place of the model (what is found does not matter here, only what is answered).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from tests.api.conftest import AUTH, hashed_client

pytestmark = pytest.mark.slow

# No server error, ever; and every answer, errors included, is one the schema documents.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
DOC = "# 换货\n签收15天内可以换货，请保留发票。\n\n# 退款\n退款3到5个工作日到账。"
CHAT = (
    '{"id": "c1", "channel": "wecom", "messages": ['
    '{"role": "customer", "speaker": "李先生", "text": "太贵了，别家便宜"},'
    '{"role": "employee", "speaker": "王丽", "text": "我们的价格包含两年保修和上门安装"}]}'
)


class Started:
    """The app as schemathesis sees it: requests go to `app`, whose lifespan the fixture below
    runs (with the store seeded and the hashed embedder in place); schemathesis's own lifespan
    call is declined, which it takes as an app without one."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("lifespan is run by the test fixture")
        await self.app(scope, receive, send)


started = Started(create_app())  # no I/O: the schema is read, nothing is opened
schema = schemathesis.openapi.from_asgi("/openapi.json", started)


@pytest.fixture(scope="module", autouse=True)
def seeded_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    data_dir = tmp_path_factory.mktemp("schemathesis-store")
    with hashed_client(data_dir) as client:
        for name, text in (("policy.md", DOC), ("chat.json", CHAT)):
            files = {"file": (name, text.encode(), "application/octet-stream")}
            job = client.post("/ingest", files=files, params={"wait": 60}).json()
            assert job["status"] == "done" and job["report"]["status"] == "ingested"
        started.app = client.app  # type: ignore[assignment]
        yield


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_server_errors(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS, headers=AUTH)

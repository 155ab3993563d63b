"""Real JD.com customer-service chats (read from ../shared/eval/data, never copied into the
repo) go through the whole pipeline on both stores."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from graph.model import Label, LinkType, Message
from graph.settings import Settings
from graph.store import GraphStore
from ingest.loaders import load_jddc
from ingest.pipeline import Ingestor
from tests.conftest import HashEmbedder

JDDC = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "eval"
    / "data"
    / "jddc2019"
    / "chat_0.1per.txt"
)
SESSIONS = 40

pytestmark = pytest.mark.skipif(not JDDC.exists(), reason=f"evaluation data not found at {JDDC}")


def test_jddc_sessions_ingest(store: GraphStore) -> None:
    loaded = load_jddc(JDDC, uri="jddc2019/chat_0.1per.txt", limit_sessions=SESSIONS)
    expected = sum(len(c.messages) for c in loaded.conversations)
    ingestor = Ingestor(store, HashEmbedder(), Settings(deid_key="k"))  # type: ignore[arg-type]
    report = ingestor.ingest_loaded(loaded)
    assert report.status == "ingested", report.reason
    stats = store.stats()
    assert stats.nodes["Conversation"] == SESSIONS
    assert stats.nodes["Message"] == expected == report.messages
    assert stats.links["REPLIES_TO"] > SESSIONS
    assert stats.nodes["Entity"] > 20 and stats.links["MENTIONS"] > 50
    messages = [m for m in store.get_nodes(Label.MESSAGE, limit=100_000) if isinstance(m, Message)]
    assert {m.role for m in messages} == {"customer", "employee"}
    kept = [m for m in messages if re.search(r"\[(订单|数字|姓名|地址)x\]", m.text)]
    assert kept, "JDDC's own placeholders must survive de-identification"
    hit = store.lexical_search("退款", k=1, labels=[Label.MESSAGE])
    assert hit and "退款" in hit[0].text
    conv = store.get_nodes(Label.CONVERSATION, limit=1)[0]
    assert store.neighbours(conv.id, [LinkType.WITH_CUSTOMER], "out")
    assert ingestor.ingest_loaded(loaded).status == "unchanged"

"""What users feed ingest arrives cleaned in either store: a transcript whose JSON escapes spell
a lone surrogate and control characters, and a file whose name the file system cannot decode."""

from __future__ import annotations

import os
from pathlib import Path

from graph.model import Chunk, Label, Message
from graph.settings import Settings
from graph.store import GraphStore
from ingest.pipeline import Ingestor
from tests.conftest import HashEmbedder


def test_surrogates_and_controls_are_stored_cleaned(store: GraphStore, tmp_path: Path) -> None:
    chat = tmp_path / "chat.json"
    chat.write_text(
        '{"id": "c\\u00001", "employee": "王丽\\u202e", "messages": ['
        '{"role": "customer", "text": "退货 \\ud800 可以吗\\u001b[31m"},'
        '{"role": "employee", "text": "可以，\\udfff七天内\\r\\n寄回"}]}',
        encoding="utf-8",
    )
    odd = Path(os.fsdecode(os.fsencode(tmp_path) + b"/policy\xff.md"))
    odd.write_bytes("# 退货政策\n七天无理由退货。".encode())
    ingestor = Ingestor(store, HashEmbedder(), Settings(deid_key="k"))  # type: ignore[arg-type]
    report = ingestor.ingest([chat, odd])
    assert [f.status for f in report.files] == ["ingested", "ingested"], report.files
    messages = {m.text for m in store.get_nodes(Label.MESSAGE) if isinstance(m, Message)}
    assert messages == {"退货 \ufffd 可以吗[31m", "可以，\ufffd七天内\n寄回"}
    hit = store.lexical_search("退货", k=5, labels=[Label.MESSAGE])
    assert hit and "\ufffd" in hit[0].text
    chunks = [c for c in store.get_nodes(Label.CHUNK) if isinstance(c, Chunk)]
    assert chunks and all("七天无理由退货" in c.text for c in chunks)
    again = ingestor.ingest([chat, odd])
    assert [f.status for f in again.files] == ["unchanged", "unchanged"]
    assert ingestor.forget(odd).nodes_deleted > 0  # the same undecodable name finds what it stored


def test_the_text_limit_is_a_setting_and_a_refusal_says_so(
    store: GraphStore, tmp_path: Path
) -> None:
    small, big = tmp_path / "small.md", tmp_path / "big.md"
    small.write_text("# 退货政策\n七天无理由退货。", encoding="utf-8")
    big.write_text("# 长文\n" + "退货要在七天内寄回。\n" * 400, encoding="utf-8")  # ~12 KB
    tight = Settings(deid_key="k", max_text_mb=0.005)  # ~5 KB
    report = Ingestor(store, HashEmbedder(), tight).ingest([big, small])  # type: ignore[arg-type]
    assert [f.status for f in report.files] == ["failed", "ingested"]
    assert "split it" in (report.files[0].reason or "")
    assert store.get_nodes(Label.CHUNK)  # the small one is in; nothing of the big one
    roomy = Settings(deid_key="k", max_text_mb=0.05)
    again = Ingestor(store, HashEmbedder(), roomy).ingest([big])  # type: ignore[arg-type]
    assert [f.status for f in again.files] == ["ingested"]

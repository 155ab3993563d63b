"""The ingest pipeline against both stores: the sample corpus, idempotency, replace, forget,
de-identification of everything stored, and cross-language entity resolution."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from graph.model import Conversation, Customer, Document, Entity, Label, LinkType, Message, Node
from graph.settings import Settings
from graph.store import GraphStore, StoreUnavailable, WriteBatch, WriteResult
from ingest import pipeline
from ingest.build import source_id_for
from ingest.pipeline import Ingestor
from ingest.prepare import FileSource
from ingest.resolve import SEMANTIC_KINDS
from tests.conftest import HashEmbedder

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CORPUS = [EXAMPLES / "docs", EXAMPLES / "notes", EXAMPLES / "transcripts"]


def ingestor(store: GraphStore) -> Ingestor:
    return Ingestor(store, HashEmbedder(), Settings(deid_key="test-key"))  # type: ignore[arg-type]


def dump(store: GraphStore) -> str:
    """Every node record and link in the store, as one string to scan."""
    parts: list[str] = []
    for label in Label:
        for node in store.get_nodes(label, limit=1_000_000):
            parts.append(node.model_dump_json(exclude={"embedding"}))
            for n in store.neighbours(node.id, direction="out"):
                parts.append(n.link.model_dump_json())
    return "\n".join(parts)


@pytest.fixture
def corpus_store(store: GraphStore) -> GraphStore:
    report = ingestor(store).ingest(CORPUS)
    assert report.failed == 0, [f for f in report.files if f.status == "failed"]
    return store


def test_sample_corpus_is_ingested_and_rerun_writes_nothing(corpus_store: GraphStore) -> None:
    stats = corpus_store.stats()
    assert stats.nodes["Conversation"] >= 30
    assert stats.nodes["Message"] >= 300
    assert stats.nodes["Note"] == 5
    assert stats.nodes["Chunk"] >= 40
    for link in ("MENTIONS", "PART_OF", "SAID_BY", "REPLIES_TO", "CO_OCCURS", "HANDLED_BY"):
        assert stats.links[link] > 0, link
    again = ingestor(corpus_store).ingest(CORPUS)
    assert {f.status for f in again.files} == {"unchanged"}
    assert corpus_store.stats() == stats


def test_no_planted_personal_data_is_stored(corpus_store: GraphStore) -> None:
    planted = json.loads((EXAMPLES / "PLANTED_PII.json").read_text(encoding="utf-8"))
    text = dump(corpus_store)
    compact = re.sub(r"[\s\-]", "", text)
    for kind, values in planted.items():
        for value in values:
            assert value not in text, f"raw {kind} stored: {value}"
            if kind in ("phone", "id", "card"):
                digits = re.sub(r"[\s\-+]", "", value)
                assert digits not in compact, f"{kind} digits stored: {value}"
    assert "[PHONE]" in text and "[ID]" in text and "[CARD]" in text and "[EMAIL]" in text


def test_customers_are_keyed_hashes_and_cards_become_fields(corpus_store: GraphStore) -> None:
    customers = corpus_store.get_nodes(Label.CUSTOMER, limit=10_000)
    assert customers and all(isinstance(c, Customer) and c.key_hash for c in customers)
    assert all(c.name.startswith("customer-") for c in customers)  # type: ignore[union-attr]
    with_fields = [c for c in customers if c.fields]  # type: ignore[union-attr]
    assert with_fields, "the WeCom card and the e-mail signature should give customer fields"
    fields = {k for c in with_fields for k in c.fields}  # type: ignore[union-attr]
    assert {"company", "email_hash"} <= fields


def test_entities_resolve_across_languages(corpus_store: GraphStore) -> None:
    entities = [e for e in corpus_store.get_nodes(Label.ENTITY, limit=100_000)]
    by_name = {e.name: e for e in entities if isinstance(e, Entity)}
    product = by_name["金盾百万医疗险"]
    assert "Golden Shield Medical" in product.aliases
    mentioning = {n.node.id for n in corpus_store.neighbours(product.id, [LinkType.MENTIONS], "in")}
    languages = {getattr(corpus_store.get_node(i), "language", "") for i in mentioning}
    assert {"zh", "en"} <= languages
    kinds = {e.kind.value for e in by_name.values()}
    assert {"product", "policy", "objection", "money", "duration"} <= kinds


def test_transcript_structure(corpus_store: GraphStore) -> None:
    convs = [c for c in corpus_store.get_nodes(Label.CONVERSATION) if isinstance(c, Conversation)]
    assert {c.outcome for c in convs} >= {"resolved", "converted", "lost", "escalated"}
    conv = next(c for c in convs if c.uri.endswith("zh_ins_01_wangli_price_jindun.json"))
    messages = sorted(
        (n.node for n in corpus_store.neighbours(conv.id, [LinkType.PART_OF], "in")),
        key=lambda m: m.position,  # type: ignore[attr-defined]
    )
    assert all(isinstance(m, Message) for m in messages)
    assert [m.position for m in messages] == list(range(len(messages)))  # type: ignore[attr-defined]
    replies = corpus_store.neighbours(messages[1].id, [LinkType.REPLIES_TO], "out")
    assert messages[1].role == "employee" and replies  # type: ignore[attr-defined]
    assert replies[0].node.role == "customer"  # type: ignore[attr-defined]
    handled = corpus_store.neighbours(conv.id, [LinkType.HANDLED_BY], "out")
    assert [n.node.name for n in handled] == ["王丽"]  # type: ignore[attr-defined]


def test_changed_file_replaces_and_forget_removes(store: GraphStore, tmp_path: Path) -> None:
    path = tmp_path / "policy.md"
    path.write_text("# 退货\n金盾百万医疗险的免赔额是1万元。犹豫期15天。\n", encoding="utf-8")
    ing = ingestor(store)
    ing.ingest([path])
    sid = source_id_for(str(path))
    first = {n.node.id for n in store.neighbours(sid, [LinkType.PART_OF], "in")}
    assert first
    path.write_text("# Returns\nThe 30-day return applies to Yunshang Apparel orders.\n", "utf-8")
    report = ing.ingest([path])
    assert report.files[0].status == "ingested"
    second = {n.node.id for n in store.neighbours(sid, [LinkType.PART_OF], "in")}
    texts = " ".join(store.get_node(i).text for i in second)  # type: ignore[union-attr]
    assert "30-day" in texts and "免赔额" not in texts
    names = {e.name for e in store.get_nodes(Label.ENTITY, limit=10_000)}  # type: ignore[attr-defined]
    assert "15 days" not in names  # hung only on the old text
    result = ing.forget(path)
    assert result.nodes_deleted >= 2
    assert store.get_node(sid) is None
    assert store.stats().nodes.get("Chunk", 0) == 0
    remaining = store.get_nodes(Label.ENTITY, limit=10_000)
    assert all(e.pinned for e in remaining)  # only curated/gazetteer entities remain


def test_bad_files_are_reported_and_the_rest_ingested(store: GraphStore, tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "docs" / "理赔流程.md", tmp_path / "good.md")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.md").write_bytes(b"\x00\x01\x02\xff" * 100)
    (tmp_path / "broken.json").write_text('{"messages": [', encoding="utf-8")
    (tmp_path / "gbk.txt").write_bytes("七天无理由退货，运费由买家承担。".encode("gbk"))
    report = ingestor(store).ingest([tmp_path, tmp_path / "missing.md"])
    status = {Path(f.uri).name: f for f in report.files}
    assert status["good.md"].status == "ingested" and status["gbk.txt"].status == "ingested"
    for bad in ("empty.txt", "binary.md", "broken.json", "missing.md"):
        assert status[bad].status == "failed" and status[bad].reason, bad
    assert report.failed == 4
    docs = [d for d in store.get_nodes(Label.DOCUMENT) if isinstance(d, Document)]
    assert sorted(Path(d.uri).name for d in docs) == ["gbk.txt", "good.md"]
    hit = store.lexical_search("无理由退货", k=1, labels=[Label.CHUNK])[0]
    assert hit.uri.endswith("gbk.txt")


def test_every_document_format_reaches_the_store(store: GraphStore, tmp_path: Path) -> None:
    from tests.unit.test_loaders import make_docx, make_pdf

    (tmp_path / "a.html").write_text(
        "<html><head><title>Claims</title><script>x()</script></head><body><h1>Claims</h1>"
        "<p>Call 13817265509 or mail claims@ankang.example for the claims process.</p>"
        "</body></html>",
        encoding="utf-8",
    )
    (tmp_path / "b.pdf").write_bytes(make_pdf("Golden Shield Medical deductible", "is 10000 yuan"))
    (tmp_path / "c.docx").write_bytes(make_docx())
    (tmp_path / "d.txt").write_text("Size guide: the jacket runs small.", encoding="utf-8")
    report = ingestor(store).ingest([tmp_path])
    assert {Path(f.uri).name: f.status for f in report.files} == dict.fromkeys(
        ["a.html", "b.pdf", "c.docx", "d.txt"], "ingested"
    )
    kinds = {d.kind for d in store.get_nodes(Label.DOCUMENT) if isinstance(d, Document)}
    assert kinds == {"html", "pdf", "docx", "text"}
    assert store.lexical_search("deductible", k=1)[0].uri.endswith("b.pdf")
    assert store.lexical_search("无理由退货", k=1, labels=[Label.CHUNK])[0].uri.endswith("c.docx")
    stored = dump(store)
    assert "claims process" in stored and "x()" not in stored
    assert "13817265509" not in stored and "claims@ankang.example" not in stored


class CountingEmbedder(HashEmbedder):
    """Records each encode call; refuses any text holding "BOOM" (a text the model chokes
    on), as a real failure of one file's text would."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.texts: list[str] = []

    def encode(self, texts):  # type: ignore[no-untyped-def]
        if any("BOOM" in t for t in texts):
            raise RuntimeError("the model choked")
        self.calls.append(len(texts))
        self.texts += texts
        return super().encode(texts)

    def each_call(self) -> list[list[str]]:
        """The texts of each call, in order."""
        ends = np.cumsum(self.calls)
        return [self.texts[end - n : end] for n, end in zip(self.calls, ends, strict=True)]


def _chat_messages(texts: Sequence[str]) -> int:
    """How many of the texts are messages written by `_chats`."""
    return sum("快递什么时候到" in t or "明天送达" in t for t in texts)


def _chats(folder: Path, count: int, poisoned: int | None = None) -> None:
    folder.mkdir()
    for n in range(count):
        messages = [
            {"role": "customer", "text": f"第{n}单的快递什么时候到"},
            {"role": "employee", "text": f"您的第{n}单明天送达"},
        ]
        if n == poisoned:
            messages.append({"role": "customer", "text": "BOOM"})
        chat = {"id": f"c{n}", "employee": "王丽", "messages": messages}
        (folder / f"c{n:02d}.json").write_text(json.dumps(chat, ensure_ascii=False), "utf-8")
    (folder / "broken.json").write_text("{not json", "utf-8")


def test_small_files_are_embedded_together_and_written_one_by_one(
    store: GraphStore, tmp_path: Path
) -> None:
    _chats(tmp_path / "chats", 24)
    embedder = CountingEmbedder()
    ingest = Ingestor(store, embedder, Settings(deid_key="test-key", data_dir=tmp_path))
    report = ingest.ingest([tmp_path / "chats"])

    assert [f.uri.rsplit("/", 1)[-1] for f in report.files if f.status == "failed"] == [
        "broken.json"
    ]
    assert sum(f.status == "ingested" for f in report.files) == 24
    # 24 files, one model call: the 48 messages, every file's new entity names and the
    # gazetteer's names in one run; never a call per file.
    assert len(embedder.calls) == 1, embedder.calls
    together = embedder.each_call()[0]
    assert {f for entry in ingest.resolver.entries for f in entry.forms} <= set(together)
    assert _chat_messages(together) == 48, together
    new_names = [
        n.name
        for n in store.get_nodes(Label.ENTITY, limit=1000)
        if isinstance(n, Entity) and not n.pinned and n.kind in SEMANTIC_KINDS
    ]
    assert new_names and set(new_names) <= set(together), (new_names, together)
    # Each file its own transaction: one event per source.
    writes = store.events(actions=["source.write"], limit=100)
    assert len(writes) == 24
    again = Ingestor(store, embedder, Settings(deid_key="test-key", data_dir=tmp_path))
    rerun = again.ingest([tmp_path / "chats"])
    assert sum(f.status == "unchanged" for f in rerun.files) == 24
    assert store.events(actions=["source.write"], limit=100) == writes


def test_a_text_the_model_refuses_fails_its_file_only(store: GraphStore, tmp_path: Path) -> None:
    _chats(tmp_path / "chats", 12, poisoned=7)
    ingest = Ingestor(store, CountingEmbedder(), Settings(deid_key="t", data_dir=tmp_path))
    report = ingest.ingest([tmp_path / "chats"])
    failed = {f.uri.rsplit("/", 1)[-1]: f.reason for f in report.files if f.status == "failed"}
    assert set(failed) == {"broken.json", "c07.json"}, failed
    assert failed["c07.json"] == "RuntimeError: the model choked"
    assert sum(f.status == "ingested" for f in report.files) == 11
    assert len(store.events(actions=["source.write"], limit=100)) == 11


def test_a_growing_conversation_encodes_only_its_new_messages(
    store: GraphStore, tmp_path: Path
) -> None:
    # What a live conversation does (api/live.py): the whole conversation again, one more
    # message each time.
    embedder = CountingEmbedder()
    ingest = Ingestor(store, embedder, Settings(deid_key="t", data_dir=tmp_path))
    path = tmp_path / "live.json"
    messages: list[dict[str, str]] = []
    for n in range(4):
        messages.append({"role": "customer", "text": f"请问第{n}个问题怎么办理呢"})
        chat = {"id": "live-1", "employee": "王丽", "messages": messages}
        path.write_text(json.dumps(chat, ensure_ascii=False), "utf-8")
        assert ingest.ingest([path]).files[0].status == "ingested"
    # Each message once (without the kept vectors: 1 + 2 + 3 + 4 = 10 times).
    assert sum("怎么办理呢" in t for t in embedder.texts) == 4, embedder.texts
    stored = [n for n in store.get_nodes(Label.MESSAGE, limit=100) if isinstance(n, Message)]
    assert len(stored) == 4 and all(m.embedding for m in stored)


def test_a_text_repeated_across_files_is_encoded_once(store: GraphStore, tmp_path: Path) -> None:
    # Chats repeat their courtesies; each distinct text is one row for the model, and every
    # message that says it still gets that text's vector.
    folder = tmp_path / "chats"
    folder.mkdir()
    for n in range(6):
        messages = [
            {"role": "employee", "text": "您好，很高兴为您服务"},
            {"role": "customer", "text": f"第{n}单的快递什么时候到"},
            {"role": "employee", "text": "您好，很高兴为您服务"},
        ]
        chat = {"id": f"c{n}", "employee": "王丽", "messages": messages}
        (folder / f"c{n}.json").write_text(json.dumps(chat, ensure_ascii=False), "utf-8")
    embedder = CountingEmbedder()
    ingest = Ingestor(store, embedder, Settings(deid_key="t", data_dir=tmp_path))
    assert sum(f.status == "ingested" for f in ingest.ingest([folder]).files) == 6
    assert embedder.texts.count("您好，很高兴为您服务") == 1, embedder.texts
    stored = [n for n in store.get_nodes(Label.MESSAGE, limit=100) if isinstance(n, Message)]
    greeting = [m for m in stored if m.text == "您好，很高兴为您服务"]
    assert len(stored) == 18 and len(greeting) == 12
    expected = embedder.encode(["您好，很高兴为您服务"])[0]
    assert all(np.allclose(m.embedding, expected, atol=1e-6) for m in greeting)


def test_texts_go_to_the_model_longest_first_and_each_keeps_its_own_vector(
    store: GraphStore, tmp_path: Path
) -> None:
    # Sorted across the files of a group, so each model call holds texts of like length;
    # the sort must not hand a vector to the wrong message.
    folder = tmp_path / "chats"
    folder.mkdir()
    for n in range(4):
        messages = [
            {"role": "customer", "text": "快" * (3 + n)},
            {"role": "employee", "text": f"第{n}单" + "已经发货了" * (5 - n)},
        ]
        chat = {"id": f"c{n}", "employee": "王丽", "messages": messages}
        (folder / f"c{n}.json").write_text(json.dumps(chat, ensure_ascii=False), "utf-8")
    embedder = CountingEmbedder()
    ingest = Ingestor(store, embedder, Settings(deid_key="t", data_dir=tmp_path))
    assert sum(f.status == "ingested" for f in ingest.ingest([folder]).files) == 4

    encoded = embedder.each_call()[0]  # the group's call: its messages and new names
    assert [len(t) for t in encoded] == sorted((len(t) for t in encoded), reverse=True)
    stored = [n for n in store.get_nodes(Label.MESSAGE, limit=100) if isinstance(n, Message)]
    assert len(stored) == 8
    assert {m.text for m in stored} <= set(encoded), encoded
    for message in stored:
        expected = embedder.encode([message.text])[0]
        assert np.allclose(message.embedding, expected, atol=1e-6), message.text


def _twelve_chats_in_groups_of_two(store: GraphStore, tmp_path: Path) -> Ingestor:
    """12 chat files of 2 texts each, and an ingestor that groups 4 texts (2 files)."""
    _chats(tmp_path / "chats", 12)
    settings = Settings(deid_key="t", data_dir=tmp_path, ingest_group_texts=4)
    return Ingestor(store, CountingEmbedder(), settings)


def test_groups_are_written_in_order_while_the_next_is_embedded(
    store: GraphStore, tmp_path: Path
) -> None:
    # Six groups, each written beside the model (on the ingest's second thread) while the
    # next one is embedded. Every file still lands whole, once, in the order given.
    ingest = _twelve_chats_in_groups_of_two(store, tmp_path)
    report = ingest.ingest([tmp_path / "chats"])
    ingested = [f.uri.rsplit("/", 1)[-1] for f in report.files if f.status == "ingested"]
    assert ingested == [f"c{n:02d}.json" for n in range(12)]
    assert _written(store) == [f"c{n:02d}.json" for n in range(12)]
    # 王丽 is one employee shared by every file: merged in each file's own write, in order.
    assert len(store.get_nodes(Label.EMPLOYEE, limit=10)) == 1


def test_the_last_group_is_written_as_two_so_the_import_ends_on_a_short_write(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 12 files of 2 texts in one group: its first three quarters are written while the last
    # quarter is embedded. A group under SPLIT_LAST_TEXTS stays whole (one call, one commit).
    _chats(tmp_path / "chats", 12)
    settings = Settings(deid_key="t", data_dir=tmp_path, ingest_group_texts=1000)
    embedder = CountingEmbedder()
    real, groups = store.write_many, []

    def counted(batches: list[WriteBatch], actor: str = "ingest") -> list[WriteResult]:
        groups.append(len(batches))
        return real(batches, actor)

    monkeypatch.setattr(store, "write_many", counted)
    monkeypatch.setattr(pipeline, "SPLIT_LAST_TEXTS", 24)
    Ingestor(store, embedder, settings).ingest([tmp_path / "chats"])
    assert groups == [9, 3]
    # The messages of each part, each part in one model call (with its new names).
    assert [_chat_messages(c) for c in embedder.each_call() if _chat_messages(c)] == [18, 6]
    assert _written(store) == [f"c{n:02d}.json" for n in range(12)]
    monkeypatch.setattr(pipeline, "SPLIT_LAST_TEXTS", 25)
    _chats(tmp_path / "more", 12)
    Ingestor(store, embedder, settings).ingest([tmp_path / "more"])
    assert groups == [9, 3, 12]


def test_many_files_are_checked_for_changes_a_batch_at_a_time(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether each file changed is read for HASHES_AHEAD files in one query (on Neo4j a
    round trip per file cost 13 s of a 100 s import), and decides as before: one file
    changed since the first run is the one written again."""
    monkeypatch.setattr(pipeline, "HASHES_AHEAD", 5)
    asked: list[int] = []
    real = store.source_hashes

    def counted(ids: Sequence[str]) -> dict[str, str]:
        asked.append(len(ids))
        return real(ids)

    def one_by_one(source_id: str) -> str | None:
        raise AssertionError("a file was checked on its own")

    monkeypatch.setattr(store, "source_hashes", counted)
    monkeypatch.setattr(store, "source_hash", one_by_one)
    ingest = _twelve_chats_in_groups_of_two(store, tmp_path)
    first = ingest.ingest([tmp_path / "chats"])
    assert sum(f.status == "ingested" for f in first.files) == 12
    # 13 files, broken.json among them: a file is read after its hash is asked for (it may be
    # read by a worker process), so the one that fails to load is asked for too.
    assert asked == [5, 5, 3]
    changed = tmp_path / "chats" / "c07.json"
    changed.write_text(changed.read_text(encoding="utf-8").replace("明天", "后天"), "utf-8")
    again = ingest.ingest([tmp_path / "chats"])
    assert [f.uri.rsplit("/", 1)[-1] for f in again.files if f.status == "ingested"] == ["c07.json"]
    assert sum(f.status == "unchanged" for f in again.files) == 11
    assert asked == [5, 5, 3] * 2


def test_a_file_path_is_de_identified_once_per_run(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read ahead for its stored hash and prepared later, a file's path is de-identified once;
    the uri it is stored under is the same as before."""
    ingest = _twelve_chats_in_groups_of_two(store, tmp_path)
    assert ingest.deid is not None
    real = ingest.deid.redact_identifier
    paths: list[str] = []

    def counted(value: str, known_names: Iterable[str] = ()) -> str:
        if value.endswith(".json"):
            paths.append(value)
        return real(value, known_names)

    monkeypatch.setattr(ingest.deid, "redact_identifier", counted)
    report = ingest.ingest([tmp_path / "chats"])
    assert sum(f.status == "ingested" for f in report.files) == 12
    # Each of the 13 paths once: broken.json too (asked for its hash, then it fails to load).
    assert len(paths) == 13 and len(set(paths)) == 13, paths
    assert len(store.source_hashes([source_id_for(real(p)) for p in paths])) == 12


def test_what_a_group_shares_with_stored_sources_is_read_once_per_group(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The nodes a group's files share with other sources (people, customers, entities) are
    read from the store in one call per group, not one per file (on Neo4j a round trip per
    file was 16 s of a 100 s import of 994 chat files); each file still merges with them:
    one employee for all twelve files, read by every group once it is stored."""
    asked: list[list[str]] = []
    real = store.get_observed_many

    def counted(ids: Sequence[str]) -> dict[str, Node]:
        asked.append(list(ids))
        return real(ids)

    monkeypatch.setattr(store, "get_observed_many", counted)
    ingest = _twelve_chats_in_groups_of_two(store, tmp_path)
    report = ingest.ingest([tmp_path / "chats"])
    assert sum(f.status == "ingested" for f in report.files) == 12
    assert len(asked) == 6  # six groups of two files
    (employee,) = store.get_nodes(Label.EMPLOYEE, limit=10)
    assert all(employee.id in ids for ids in asked)
    assert real([employee.id])[employee.id].version == 1  # written once, merged ever after


def test_the_next_group_is_prepared_while_the_model_embeds_this_one(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Preparing files is Python, the model is native code on every core: the next group's
    # files are read and prepared beside the model's run, one group ahead and no further.
    ingest = _twelve_chats_in_groups_of_two(store, tmp_path)
    prepared: list[str] = []
    prepare = ingest.preparer.source

    def source(item: Any, stored: str | None) -> Any:
        prepared.append(item.uri.rsplit("/", 1)[-1])
        return prepare(item, stored)

    monkeypatch.setattr(ingest.preparer, "source", source)
    during_first_run: list[str] = []
    encode = ingest.embedder.encode

    def held(texts: list[str]) -> np.ndarray:
        if _chat_messages(texts) and not during_first_run:  # the first group's run
            deadline = time.monotonic() + 10
            while "c03.json" not in prepared and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.05)  # would a third group be prepared too?
            during_first_run.extend(prepared)
        return encode(texts)

    monkeypatch.setattr(ingest.embedder, "encode", held)
    report = ingest.ingest([tmp_path / "chats"])
    assert sum(f.status == "ingested" for f in report.files) == 12
    assert during_first_run == ["broken.json", "c00.json", "c01.json", "c02.json", "c03.json"]


@pytest.mark.parametrize(
    ("method", "event", "calls"),
    [
        # Resolving is Python on the ingest's own thread: it runs beside the model's next
        # run, not between two runs (where the model would wait for it).
        pytest.param("resolve", "resolved", 12, id="a group resolved during the next run"),
        # The next group's run is queued behind the current one: the model does not wait
        # for the ingest's thread to take one run's vectors before it begins the next.
        pytest.param("learn", "learned", 6, id="the next run begun before a group is learned"),
    ],
)
def test_the_model_goes_on_to_the_next_group_while_this_thread_works(
    store: GraphStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    event: str,
    calls: int,
) -> None:
    # The first call of the resolver's `method` waits (up to 10 s) for the second run.
    ingest = _twelve_chats_in_groups_of_two(store, tmp_path)
    events: list[str] = []
    second_run = threading.Event()
    encode, original = ingest.embedder.encode, getattr(ingest.resolver, method)

    def embedding(texts: list[str]) -> np.ndarray:
        if _chat_messages(texts):
            events.append("run")
            if events.count("run") == 2:
                second_run.set()
        return encode(texts)

    def held(*args: Any) -> Any:
        if event not in events:
            second_run.wait(10)
        events.append(event)
        return original(*args)

    monkeypatch.setattr(ingest.embedder, "encode", embedding)
    monkeypatch.setattr(ingest.resolver, method, held)
    report = ingest.ingest([tmp_path / "chats"])
    assert sum(f.status == "ingested" for f in report.files) == 12
    assert events[:3] == ["run", "run", event]  # the first group's, during the second run
    assert events.count("run") == 6 and events.count(event) == calls


def test_an_import_given_up_begins_no_further_model_slice(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The caller stops reading reports (a failure, Ctrl-C): the model's run of the next
    # group, already under way on its own thread, begins no further slice of its texts.
    monkeypatch.setattr(pipeline, "EMBED_SLICE", 1)
    ingest = _twelve_chats_in_groups_of_two(store, tmp_path)
    encode, started, closed = ingest.embedder.encode, [], []

    def slow(texts: list[str]) -> np.ndarray:
        started.append(time.monotonic())
        time.sleep(0.05)  # the model is the slowest step, as on real hardware
        return encode(texts)

    monkeypatch.setattr(ingest.embedder, "encode", slow)
    files = sorted((tmp_path / "chats").glob("c*.json"))
    reports = ingest.ingest_many(FileSource(p, str(p), None) for p in files)
    first = next(reports)
    closed.append(time.monotonic())
    reports.close()  # the model has just begun the third group's run (4 texts and names)
    assert first.status == "ingested"
    assert len([t for t in started if t > closed[0]]) <= 1  # the slice under way, if any
    assert _chat_messages(ingest.embedder.texts) < 24  # the third group's run was cut short


def test_a_large_ingest_tidies_the_search_index_once_and_a_small_one_does_not(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "TIDY_AFTER_TEXTS", 20)  # 12 files of 2 messages: 24
    tidied: list[int] = []
    real = store.tidy
    monkeypatch.setattr(store, "tidy", lambda: (tidied.append(1), real())[1])
    ingest = _twelve_chats_in_groups_of_two(store, tmp_path)
    ingest.ingest([tmp_path / "chats"])
    assert tidied == [1]
    ingest.ingest([tmp_path / "chats"])  # unchanged: nothing written, nothing to tidy
    assert tidied == [1]


def test_a_store_that_fails_mid_run_stops_it_and_leaves_whole_files(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store goes away at the third group's write (on the writer thread).
    ingest = _twelve_chats_in_groups_of_two(store, tmp_path)
    real, groups = store.write_many, []

    def failing(batches: list[WriteBatch], actor: str = "ingest") -> list[WriteResult]:
        if len(groups) == 2:
            raise StoreUnavailable("the store went away")
        groups.append(batches)
        return real(batches, actor)

    monkeypatch.setattr(store, "write_many", failing)
    with pytest.raises(StoreUnavailable, match="went away"):
        ingest.ingest([tmp_path / "chats"])
    monkeypatch.undo()
    assert _written(store) == [f"c{n:02d}.json" for n in range(4)]
    rerun = Ingestor(store, CountingEmbedder(), Settings(deid_key="t", data_dir=tmp_path))
    again = rerun.ingest([tmp_path / "chats"])
    assert sum(f.status == "unchanged" for f in again.files) == 4
    assert sum(f.status == "ingested" for f in again.files) == 8


def test_a_file_that_cannot_be_written_fails_alone_in_its_group(
    store: GraphStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A batch the store refuses (ValueError) sinks the group's write; each file is then
    # written on its own, and only that one fails.
    _chats(tmp_path / "chats", 6)
    ingest = Ingestor(store, CountingEmbedder(), Settings(deid_key="t", data_dir=tmp_path))
    # One store method may call the other (each patched): each hands on to its own original.
    real, real_many = store.write, store.write_many

    def refusing(batch: WriteBatch, actor: str = "ingest") -> WriteResult:
        if any(getattr(n, "text", "").startswith("第3单") for n in batch.nodes):
            raise ValueError("links point at nodes that do not exist: x")
        return real(batch, actor)

    def refusing_many(batches: list[WriteBatch], actor: str = "ingest") -> list[WriteResult]:
        if any(getattr(n, "text", "").startswith("第3单") for b in batches for n in b.nodes):
            raise ValueError("links point at nodes that do not exist: x")
        return real_many(batches, actor)

    real_merge = Ingestor._merge_people

    def merge_failing(self: Ingestor, graph: Any, observed: Any) -> None:  # c01: a bug
        if any(getattr(n, "text", "").startswith("第1单") for n in graph.nodes):
            raise RuntimeError("merge bug")
        real_merge(self, graph, observed)

    monkeypatch.setattr(store, "write", refusing)
    monkeypatch.setattr(store, "write_many", refusing_many)
    monkeypatch.setattr(Ingestor, "_merge_people", merge_failing)
    report = ingest.ingest([tmp_path / "chats"])
    names = [f.uri.rsplit("/", 1)[-1] for f in report.files]
    assert sorted(names) == sorted({*names}), names  # one report per file
    failed = {f.uri.rsplit("/", 1)[-1]: f.reason for f in report.files if f.status == "failed"}
    assert failed == {
        "broken.json": failed["broken.json"],
        "c01.json": "RuntimeError: merge bug",
        "c03.json": "could not write: links point at nodes that do not exist: x",
    }
    monkeypatch.undo()
    assert _written(store) == [f"c{n:02d}.json" for n in (0, 2, 4, 5)]


def test_files_of_one_group_merge_what_they_share(store: GraphStore, tmp_path: Path) -> None:
    # Two files in one group name the same employee under two names: the second file's merge
    # sees the first's, though neither is in the store yet when the group is built.
    folder = tmp_path / "chats"
    folder.mkdir()
    for n, name in enumerate(["王丽", "Wang Li"]):
        chat = {
            "id": f"c{n}",
            "employee": name,
            "employee_id": "wx-007",
            "messages": [{"role": "customer", "text": f"第{n}个问题"}],
        }
        (folder / f"c{n}.json").write_text(json.dumps(chat, ensure_ascii=False), "utf-8")
    ingest = Ingestor(store, CountingEmbedder(), Settings(deid_key="t", data_dir=tmp_path))
    assert all(f.status == "ingested" for f in ingest.ingest([folder]).files)
    (employee,) = store.get_nodes(Label.EMPLOYEE, limit=10)
    assert {employee.name, *employee.aliases} == {"王丽", "Wang Li"}  # type: ignore[attr-defined]


def _written(store: GraphStore) -> list[str]:
    """The file names of the sources written, in the log's order."""
    writes = store.events(actions=["source.write"], limit=100)
    return [e.after["uri"].rsplit("/", 1)[-1] for e in writes]

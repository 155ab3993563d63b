"""The living knowledge base, on both stores: decisions survive ingest, optimistic
concurrency, units of work, the event log (audit, undo, change feed), filtered queries and
search filters, and readers that never wait for a writer."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graph.changes import (
    AddLink,
    ClearFields,
    Conflict,
    CreateNode,
    DeleteNode,
    NotFound,
    RemoveLink,
    Repoint,
    SetFields,
    UpdateLink,
)
from graph.model import (
    Chunk,
    Document,
    Entity,
    EntityKind,
    ItemStatus,
    KnowledgeItem,
    Label,
    Link,
    LinkType,
)
from graph.search import hybrid_search
from graph.store import GraphStore, NodeQuery, SearchFilter, WriteBatch, WriteResult
from tests.conftest import HashEmbedder

EMB = HashEmbedder()


def item(item_id: str, text: str, source: str = "", **fields: Any) -> KnowledgeItem:
    node = KnowledgeItem(id=item_id, title=text[:20], text=text, source_id=source, **fields)
    node.embedding = EMB.encode([node.search_text()])[0].tolist()
    return node


def source_batch(texts: dict[str, str], doc_id: str = "src:faq") -> WriteBatch:
    """A source that owns knowledge items (as mining would write them)."""
    doc = Document(id=doc_id, uri="faq.md", title="faq", content_hash=str(sorted(texts.items())))
    items = [item(i, t, source=doc_id) for i, t in texts.items()]
    links = [
        Link(src=n.id, dst=doc_id, type=LinkType.DERIVED_FROM, source_id=doc_id) for n in items
    ]
    return WriteBatch(replace_sources=[doc_id], nodes=[doc, *items], links=links)


def snapshot(store: GraphStore) -> dict[str, Any]:
    """Every node (content, not bookkeeping) and every link, comparable across calls."""
    nodes: dict[str, Any] = {}
    links: set[tuple[str, str, str, str, float, str]] = set()
    for node_id in store.projection().nodes:
        node = store.get_node(node_id)
        assert node is not None
        nodes[node_id] = node.model_dump(mode="json", exclude={"version", "updated_at"})
        for n in store.neighbours(node_id, direction="out"):
            lk = n.link
            links.add((lk.src, lk.type.value, lk.dst, lk.source_id, lk.weight, str(lk.props)))
    return {"nodes": nodes, "links": links}


def seed(store: GraphStore) -> None:
    store.write(source_batch({"i1": "退款三到五个工作日到账", "i2": "refunds take 3-5 days"}))
    store.upsert_nodes(
        [Entity(id="e1", name="退款", kind=EntityKind.TOPIC), Entity(id="e2", name="refund")]
    )


# -- decisions and optimistic concurrency --------------------------------------------------


def test_update_with_version_and_stale_update_is_refused(store: GraphStore) -> None:
    seed(store)
    read = store.get_node("i1")
    assert read is not None and read.version >= 1 and read.updated_at
    event = store.apply(
        [SetFields(id="i1", fields={"status": "approved"}, expected_version=read.version)],
        actor="km:alice",
        action="approve",
        reason="checked against policy",
    )
    now = store.get_node("i1")
    assert now.status is ItemStatus.APPROVED and now.version == read.version + 1  # type: ignore[union-attr]
    assert event.before == {"i1": {"status": "draft"}} and event.after == {
        "i1": {"status": "approved"}
    }
    assert event.actor == "km:alice" and event.reason == "checked against policy"
    with pytest.raises(Conflict, match="version"):
        store.apply(
            [SetFields(id="i1", fields={"status": "retired"}, expected_version=read.version)],
            actor="km:bob",
            action="retire",
        )
    assert store.get_node("i1").status is ItemStatus.APPROVED  # type: ignore[union-attr]
    assert [e.action for e in store.events(since=event.seq)] == []
    with pytest.raises(ValueError, match="no field 'colour'"):
        store.apply([SetFields(id="i1", fields={"colour": "red"})], actor="a", action="edit")
    with pytest.raises(ValueError, match="status"):
        store.apply([SetFields(id="i1", fields={"status": "maybe"})], actor="a", action="edit")
    with pytest.raises(NotFound):
        store.apply([SetFields(id="nope", fields={"status": "approved"})], actor="a", action="x")


def test_decision_survives_reingest_and_forget_then_reingest(store: GraphStore) -> None:
    store.write(source_batch({"i1": "old wording", "i2": "other"}))
    store.apply(
        [SetFields(id="i1", fields={"status": "approved", "owner": "alice"})],
        actor="km:alice",
        action="approve",
    )
    # The source changes: the observed text is replaced, the decisions stay.
    store.write(source_batch({"i1": "new wording", "i2": "other"}))
    got = store.get_node("i1")
    assert got.text == "new wording" and got.status is ItemStatus.APPROVED  # type: ignore[union-attr]
    assert got.owner == "alice"  # type: ignore[union-attr]
    assert store.lexical_search("wording", k=1)[0].id == "i1"
    # Forgotten, the node goes; ingested again, the decisions come back with it.
    store.delete_source("src:faq")
    assert store.get_node("i1") is None
    store.write(source_batch({"i1": "new wording", "i2": "other"}))
    back = store.get_node("i1")
    assert back.status is ItemStatus.APPROVED and back.owner == "alice"  # type: ignore[union-attr]
    assert back.text == "new wording"  # type: ignore[union-attr]
    # Clearing the decision restores what ingest observed.
    store.apply([ClearFields(id="i1", fields=["status"])], actor="km:alice", action="reopen")
    assert store.get_node("i1").status is ItemStatus.DRAFT  # type: ignore[union-attr]
    assert store.get_node("i1").owner == "alice"  # type: ignore[union-attr]
    actions = [e.action for e in store.events()]
    assert actions == [
        "source.write",
        "approve",
        "source.write",
        "source.forget",
        "source.write",
        "reopen",
    ]


def test_decided_link_and_node_survive_forget(store: GraphStore) -> None:
    seed(store)
    store.apply(
        [AddLink(link=Link(src="e1", dst="e2", type=LinkType.SIMILAR_TO))],
        actor="km:alice",
        action="link",
    )
    store.apply([SetFields(id="e2", fields={"aliases": ["refunds"]})], actor="a", action="edit")
    store.delete_source("src:faq")
    assert [n.node.id for n in store.neighbours("e1")] == ["e2"]
    assert store.get_node("e2").aliases == ["refunds"]  # type: ignore[union-attr]


# -- units of work ---------------------------------------------------------------------------


def test_failed_unit_of_work_leaves_nothing_behind(store: GraphStore) -> None:
    seed(store)
    before = snapshot(store)
    last = store.events()[-1].seq
    with pytest.raises(NotFound, match="nowhere"):
        store.apply(
            [
                SetFields(id="i1", fields={"status": "retired"}),
                Repoint(from_id="i1", to_id="i2"),
                AddLink(link=Link(src="i2", dst="nowhere", type=LinkType.MENTIONS)),
            ],
            actor="km:alice",
            action="merge",
        )
    assert snapshot(store) == before
    assert store.events(since=last) == []


def test_merge_then_undo_restores_the_exact_state(store: GraphStore) -> None:
    seed(store)
    store.upsert_links(
        [
            Link(src="i1", dst="e1", type=LinkType.MENTIONS, weight=2.0, props={"count": 2}),
            Link(src="i2", dst="e2", type=LinkType.MENTIONS),
        ]
    )
    before = snapshot(store)
    merge = store.apply(
        [
            Repoint(from_id="i1", to_id="i2"),
            SetFields(id="i1", fields={"status": "retired"}),
            AddLink(link=Link(src="i1", dst="i2", type=LinkType.SIMILAR_TO, props={"merged": 1})),
            DeleteNode(id="e2"),
        ],
        actor="km:alice",
        action="merge",
        reason="same answer twice",
    )
    assert {"i1", "i2", "e1", "e2"} <= set(merge.ids)
    assert [n.node.id for n in store.neighbours("i2", [LinkType.MENTIONS])] == ["e1"]
    assert store.get_node("e2") is None
    undo = store.undo(merge.seq, actor="km:bob", reason="wrong merge")
    assert snapshot(store) == before
    assert undo.action == "undo" and undo.reason == "wrong merge" and undo.actor == "km:bob"
    assert store.events(since=merge.seq) == [undo]
    # The undo is itself an event and can be undone (a redo).
    store.undo(undo.seq, actor="km:bob")
    assert store.get_node("i1").status is ItemStatus.RETIRED  # type: ignore[union-attr]
    assert store.get_node("e2") is None


def test_undo_refused_when_later_changes_conflict(store: GraphStore) -> None:
    seed(store)
    first = store.apply(
        [SetFields(id="i1", fields={"status": "approved"})], actor="a", action="approve"
    )
    second = store.apply([SetFields(id="i1", fields={"team": "sales"})], actor="b", action="assign")
    with pytest.raises(Conflict, match=f"#{second.seq}"):
        store.undo(first.seq, actor="a")
    assert store.get_node("i1").status is ItemStatus.APPROVED  # type: ignore[union-attr]
    store.undo(second.seq, actor="b")
    store.undo(first.seq, actor="a")
    assert store.get_node("i1").status is ItemStatus.DRAFT  # type: ignore[union-attr]
    assert store.get_node("i1").team == ""  # type: ignore[union-attr]
    with pytest.raises(Conflict, match="ingest"):
        store.undo(store.events()[0].seq, actor="a")
    with pytest.raises(NotFound):
        store.undo(10_000, actor="a")
    created = store.apply(
        [CreateNode(node=item("i9", "made by hand"))], actor="km:alice", action="create"
    )
    store.apply(
        [AddLink(link=Link(src="i9", dst="e1", type=LinkType.MENTIONS))], actor="b", action="link"
    )
    with pytest.raises(Conflict, match="links made since"):
        store.undo(created.seq, actor="a")


def test_single_link_delete(store: GraphStore) -> None:
    seed(store)
    store.upsert_links([Link(src="i1", dst="e1", type=LinkType.MENTIONS)])
    event = store.apply(
        [RemoveLink(src="i1", type=LinkType.MENTIONS, dst="e1")], actor="a", action="unlink"
    )
    assert store.neighbours("i1", [LinkType.MENTIONS]) == []
    assert list(event.before) == ["i1-[MENTIONS]->e1"] and event.after == {
        "i1-[MENTIONS]->e1": None
    }
    with pytest.raises(NotFound):
        store.apply(
            [RemoveLink(src="i1", type=LinkType.MENTIONS, dst="e1")], actor="a", action="unlink"
        )


# -- the change feed -------------------------------------------------------------------------


def test_change_feed_returns_exactly_the_events_after_a_cursor(store: GraphStore) -> None:
    seed(store)
    cursor = store.events()[-1].seq
    made = [
        store.apply([SetFields(id=i, fields={"status": s})], actor="a", action=f"{s}")
        for i, s in [("i1", "approved"), ("i2", "retired"), ("i1", "retired")]
    ]
    feed = store.events(since=cursor)
    assert feed == made
    assert [e.seq for e in feed] == sorted(e.seq for e in feed)
    assert store.events(since=made[0].seq) == made[1:]
    assert store.events(since=cursor, limit=1) == made[:1]
    assert store.events(since=cursor, actions=["retired"]) == made[1:]
    assert store.events(since=cursor, node_id="i1") == [made[0], made[2]]
    assert store.events(since=made[-1].seq) == []


def _new_source(name: str, entity: Entity, far: str = "") -> WriteBatch:
    """A source owning one item that mentions `entity` (and `far`, a node it does not write)."""
    batch = source_batch({f"i{name}": f"退款 {name} 三到五个工作日"}, doc_id=f"src:{name}")
    mentioned = [entity.id, *([far] if far else [])]
    batch.links += [
        Link(src=f"i{name}", dst=dst, type=LinkType.MENTIONS, source_id=f"src:{name}")
        for dst in mentioned
    ]
    batch.nodes.append(entity)
    return batch


def test_a_group_of_new_sources_is_written_as_one_at_a_time_would_be(store: GraphStore) -> None:
    """`write_many` over new sources (an import's group; on Neo4j one set of statements for
    all of them) gives each source its own counts and event, in order, as writing them one at
    a time does: a shared entity counts for the first source that changes it, a decision about
    it stays on top."""
    store.upsert_nodes([Entity(id="e1", name="退款", kind=EntityKind.TOPIC)])
    store.apply([SetFields(id="e1", fields={"name": "退款到账"})], actor="km:lee", action="rename")
    cursor = store.events()[-1].seq
    before = store.get_node("e1")
    assert before is not None
    seen = Entity(id="e1", name="退款", aliases=["refund"])
    more = Entity(id="e1", name="退款", aliases=["refund", "退钱"])
    group = [_new_source("a", seen), _new_source("b", seen), _new_source("c", more)]
    results = store.write_many(group)
    assert results == [
        WriteResult(nodes_written=3, links_written=2),  # the source, its item, the entity
        WriteResult(nodes_written=2, links_written=2),  # the entity as the first left it
        WriteResult(nodes_written=3, links_written=2),
    ]
    events = store.events(since=cursor)
    assert [(e.action, e.ids) for e in events] == [
        ("source.write", ["src:a"]),
        ("source.write", ["src:b"]),
        ("source.write", ["src:c"]),
    ]
    assert [e.after["nodes_written"] for e in events] == [3, 2, 3]
    assert [e.seq for e in events] == list(range(cursor + 1, cursor + 4))
    entity = store.get_node("e1")
    assert isinstance(entity, Entity)
    assert entity.name == "退款到账" and entity.aliases == ["refund", "退钱"]
    assert entity.version == before.version + 2  # written by the first and the third
    assert {n.node.id for n in store.neighbours("e1", [LinkType.MENTIONS], "in")} == {
        "ia",
        "ib",
        "ic",
    }
    assert [h.id for h in store.lexical_search("三到五个工作日 b", k=1)] == ["ib"]
    # Again, in order: the first source sets the entity's aliases back, the third once more.
    assert store.write_many(group) == [
        WriteResult(nodes_written=1),
        WriteResult(),
        WriteResult(nodes_written=1),
    ]
    assert [e.ids for e in store.events(since=events[-1].seq)] == [["src:a"], ["src:c"]]
    assert store.get_node("e1").version == before.version + 4  # type: ignore[union-attr]
    assert store.write_many(group[2:]) == [WriteResult()]  # as it left it


def test_a_group_whose_link_needs_a_later_source_fails_as_in_order(store: GraphStore) -> None:
    """A link to a node that only a later batch of the group writes fails, as it would
    written in order (not saved by writing the group's nodes first)."""
    entity = Entity(id="e1", name="退款")
    later = _new_source("e", entity)
    with pytest.raises(ValueError, match="do not exist"):
        store.write_many([_new_source("d", entity, far="ie"), later])
    assert store.get_node("ie") is None


def test_a_group_that_fails_leaves_none_of_its_sources(store: GraphStore) -> None:
    """Both stores commit a group together (a commit per file of an import cost more than
    its rows): a batch that fails leaves the batches before it unwritten too, and no event;
    the pipeline then writes the files one by one, to find whose it was."""
    entity = Entity(id="e1", name="退款")
    cursor = store.events()[-1].seq if store.events() else 0
    with pytest.raises(ValueError, match="do not exist"):
        store.write_many([_new_source("a", entity), _new_source("b", entity, far="nowhere")])
    assert store.get_node("src:a") is None and store.get_node("ia") is None
    assert store.events(since=cursor) == []
    assert store.write_many([_new_source("a", entity)]) == [
        WriteResult(nodes_written=3, links_written=2)
    ]


# -- queries and search filters --------------------------------------------------------------


def test_filtered_queries_sorted_and_paged(store: GraphStore) -> None:
    nodes = [
        item(f"k{i:02d}", f"item {i}", status=s, team=t)
        for i, (s, t) in enumerate(
            [("draft", "a"), ("approved", "a"), ("approved", "b"), ("retired", "a")] * 5
        )
    ]
    store.upsert_nodes(nodes)
    start = datetime.now(UTC)
    soon = (start + timedelta(days=1)).isoformat()
    later = (start + timedelta(days=30)).isoformat()
    store.apply([SetFields(id="k01", fields={"expires_at": soon})], actor="a", action="expire")
    store.apply([SetFields(id="k05", fields={"expires_at": later})], actor="a", action="expire")
    approved_a = store.query_nodes(
        NodeQuery(label=Label.KNOWLEDGE_ITEM, status="approved", team="a")
    )
    assert [n.id for n in approved_a.nodes] == ["k01", "k05", "k09", "k13", "k17"]
    assert approved_a.next_cursor is None
    ids: list[str] = []
    cursor = None
    while True:
        page = store.query_nodes(
            NodeQuery(label=Label.KNOWLEDGE_ITEM, status="approved", limit=3, cursor=cursor)
        )
        ids += [n.id for n in page.nodes]
        assert len(page.nodes) <= 3
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert ids == sorted(n.id for n in nodes if n.status is ItemStatus.APPROVED)
    expiring = store.query_nodes(
        NodeQuery(label=Label.KNOWLEDGE_ITEM, expires_before=start + timedelta(days=2))
    )
    assert [n.id for n in expiring.nodes] == ["k01"]
    recent = store.query_nodes(
        NodeQuery(
            label=Label.KNOWLEDGE_ITEM, updated_since=start, order_by="updated_at", descending=True
        )
    )
    assert [n.id for n in recent.nodes] == ["k05", "k01"]
    by_expiry = store.query_nodes(
        NodeQuery(
            label=Label.KNOWLEDGE_ITEM, team="a", order_by="expires_at", descending=True, limit=2
        )
    )
    assert [n.id for n in by_expiry.nodes] == ["k05", "k01"] and by_expiry.next_cursor
    assert store.query_nodes(NodeQuery(label=Label.ENTITY)).nodes == []
    with pytest.raises(ValueError, match="cursor"):
        store.query_nodes(NodeQuery(label=Label.ENTITY, cursor="garbage!"))


def test_search_filter_never_returns_a_retired_item(store: GraphStore) -> None:
    texts = {f"r{i}": f"refund policy answer number {i}" for i in range(8)}
    store.write(source_batch(texts))
    store.write(
        WriteBatch(
            nodes=[
                Chunk(
                    id="c1",
                    text="refund policy chunk",
                    uri="x.md",
                    embedding=EMB.encode(["refund policy chunk"])[0].tolist(),
                )
            ],
        )
    )
    retire = [SetFields(id=f"r{i}", fields={"status": "retired"}) for i in range(6)]
    store.apply(retire, actor="km", action="retire")
    query = "refund policy answer"
    vector = EMB.encode([query])[0].tolist()
    unfiltered = {h.id for h in store.lexical_search(query, k=10)}
    assert {"r0", "r1"} <= unfiltered  # without the filter the retired ones are there
    live = SearchFilter(status=["draft", "approved"])
    for hits in (
        store.lexical_search(query, k=3, filters=live),
        store.vector_search(vector, k=3, filters=live),
        hybrid_search(store, EMB, query, k=3, filters=live),
    ):
        ids = [h.id for h in hits]
        assert len(ids) == 3 and not {f"r{i}" for i in range(6)} & set(ids), ids
        assert {"r6", "r7"} <= set(ids)
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    store.apply([SetFields(id="r6", fields={"expires_at": past})], actor="km", action="expire")
    fresh = SearchFilter(status=["draft", "approved"], not_expired=True)
    assert "r6" not in {h.id for h in store.vector_search(vector, k=5, filters=fresh)}
    assert "r6" not in {h.id for h in store.lexical_search(query, k=5, filters=fresh)}


# -- readers and writers ---------------------------------------------------------------------


def test_reader_is_not_blocked_by_a_long_write(store: GraphStore) -> None:
    store.write(source_batch({"q1": "退款多久到账", "q2": "how long does a refund take"}))
    big = WriteBatch(
        replace_sources=["src:big"],
        nodes=[Document(id="src:big", uri="big.md", content_hash="x")]
        + [
            Chunk(id=f"big#{i}", text=f"chunk {i} about shipping", source_id="src:big")
            for i in range(10_000)
        ],
    )
    window: dict[str, float] = {}

    def writer() -> None:
        window["start"] = time.perf_counter()
        store.write(big)
        window["end"] = time.perf_counter()

    thread = threading.Thread(target=writer)
    thread.start()
    during = 0
    while thread.is_alive():
        hits = hybrid_search(store, EMB, "退款 到账", k=2)
        done = time.perf_counter()
        assert hits and hits[0].id == "q1"
        if "start" in window and "end" not in window and thread.is_alive():
            during += 1
        time.sleep(0.01)
        assert done - window.get("start", done) < 120
    thread.join()
    assert store.get_node("big#9999") is not None
    assert during >= 3, f"only {during} searches finished while the write was running"


def test_link_update_with_version_and_stale_one_refused(store: GraphStore) -> None:
    seed(store)
    store.apply(
        [AddLink(link=Link(src="i1", dst="i2", type=LinkType.COMPLEMENTS, weight=0.5))],
        actor="km",
        action="link",
    )
    (read,) = store.neighbours("i1", [LinkType.COMPLEMENTS])
    assert read.link.version == 1
    change = UpdateLink(
        src="i1", type=LinkType.COMPLEMENTS, dst="i2", weight=0.9, props={"why": "both"}
    )
    store.apply(
        [change.model_copy(update={"expected_version": read.link.version})], actor="km", action="x"
    )
    (now,) = store.neighbours("i1", [LinkType.COMPLEMENTS])
    assert (now.link.weight, now.link.props, now.link.version) == (0.9, {"why": "both"}, 2)
    with pytest.raises(Conflict, match="version 2, not 1"):
        store.apply(
            [change.model_copy(update={"expected_version": 1, "weight": 0.1})],
            actor="km",
            action="x",
        )
    assert store.neighbours("i1", [LinkType.COMPLEMENTS])[0].link.weight == 0.9


def test_search_sees_a_decision_made_after_it_last_looked(store: GraphStore) -> None:
    """A decision after a search (the embedded store then refreshes only the fields that
    changed, not its vectors) is seen by the next search, and so is its undo."""
    store.write(source_batch({f"r{i}": f"refund policy answer number {i}" for i in range(4)}))
    live = SearchFilter(status=["draft", "approved"], team=["sales"])
    vector = EMB.encode(["refund policy answer number 1"])[0].tolist()
    assert store.vector_search(vector, k=1, filters=live)[0].id == "r1"
    retired = store.apply([SetFields(id="r1", fields={"status": "retired"})], actor="a", action="x")
    assert "r1" not in {h.id for h in store.vector_search(vector, k=4, filters=live)}
    store.apply([SetFields(id="r2", fields={"team": "service"})], actor="a", action="x")
    assert {h.id for h in store.vector_search(vector, k=4, filters=live)} == {"r0", "r3"}
    store.undo(retired.seq, actor="a")
    assert store.vector_search(vector, k=1, filters=live)[0].id == "r1"

"""One contract, every backend: each test here runs on the embedded store and on Neo4j."""

from __future__ import annotations

import time

import pytest

from graph.changes import SetFields
from graph.model import (
    Chunk,
    Customer,
    Document,
    Entity,
    EntityKind,
    KnowledgeItem,
    Label,
    Link,
    LinkType,
    Message,
    Provenance,
)
from graph.search import hybrid_search, search_sides
from graph.store import GraphStore, WriteBatch
from tests.conftest import HashEmbedder

EMB = HashEmbedder()


def doc_batch(doc_id: str, uri: str, texts: list[str], entity_ids: list[str] = ()) -> WriteBatch:
    """A document, its chunks (with embeddings) and MENTIONS links to the given entities."""
    doc = Document(id=doc_id, uri=uri, title=uri, content_hash=f"h-{doc_id}-{len(texts)}")
    chunks = [
        Chunk(id=f"{doc_id}#{i}", text=t, uri=uri, source_id=doc_id, position=i)
        for i, t in enumerate(texts)
    ]
    for chunk, vec in zip(chunks, EMB.encode([c.text for c in chunks]), strict=True):
        chunk.embedding = vec.tolist()
    links = [Link(src=c.id, dst=doc_id, type=LinkType.PART_OF, source_id=doc_id) for c in chunks]
    links += [
        Link(src=chunks[0].id, dst=e, type=LinkType.MENTIONS, source_id=doc_id, weight=2)
        for e in entity_ids
    ]
    return WriteBatch(replace_sources=[doc_id], nodes=[doc, *chunks], links=links)


def entity(eid: str, name: str, pinned: bool = False) -> Entity:
    return Entity(id=eid, name=name, kind=EntityKind.PRODUCT, aliases=[name.upper()], pinned=pinned)


def test_upsert_round_trip_and_idempotent(store: GraphStore) -> None:
    prov = Provenance(source="a.md", created_by="tester", confidence=0.8, method="manual")
    nodes = [
        entity("e1", "保单"),
        Customer(id="c1", name="客户A", key_hash="k", fields={"company": "[ORG]"}, provenance=prov),
    ]
    assert store.upsert_nodes(nodes) == 2
    assert store.upsert_nodes(nodes) == 0
    got = store.get_node("c1")
    assert isinstance(got, Customer)
    assert got.fields == {"company": "[ORG]"}
    assert got.provenance.confidence == 0.8 and got.provenance.created_by == "tester"
    assert got.provenance.created_at == prov.created_at
    e1 = store.get_node("e1")
    assert isinstance(e1, Entity) and e1.aliases == ["保单"] and e1.kind is EntityKind.PRODUCT
    changed = entity("e1", "保单")
    changed.aliases = ["保单", "policy"]
    assert store.upsert_nodes([changed]) == 1
    assert store.get_node("e1").aliases == ["保单", "policy"]  # type: ignore[union-attr]
    assert store.get_node("missing") is None


def test_links_neighbours_and_idempotency(store: GraphStore) -> None:
    store.upsert_nodes([entity("a", "A"), entity("b", "B"), entity("c", "C")])
    links = [
        Link(src="a", dst="b", type=LinkType.COMPLEMENTS, weight=0.5),
        Link(src="c", dst="a", type=LinkType.CONTRADICTS, props={"field": "price"}),
    ]
    assert store.upsert_links(links) == 2
    assert store.upsert_links(links) == 0
    both = store.neighbours("a")
    assert {(n.node.id, n.direction, n.link.type) for n in both} == {
        ("b", "out", LinkType.COMPLEMENTS),
        ("c", "in", LinkType.CONTRADICTS),
    }
    out = store.neighbours("a", direction="out")
    assert [n.node.id for n in out] == ["b"] and out[0].link.weight == 0.5
    typed = store.neighbours("a", link_types=[LinkType.CONTRADICTS])
    assert [n.link.props for n in typed] == [{"field": "price"}]
    assert store.stats().links == {"COMPLEMENTS": 1, "CONTRADICTS": 1}


def test_neighbours_of_a_hub_are_read_up_to_a_limit_per_side_in_order(store: GraphStore) -> None:
    store.upsert_nodes([entity(f"n{i:02d}", f"N{i}") for i in range(12)] + [entity("hub", "H")])
    outs = [Link(src="hub", dst=f"n{i:02d}", type=LinkType.COMPLEMENTS) for i in range(8)]
    ins = [Link(src=f"n{i:02d}", dst="hub", type=LinkType.CONTRADICTS) for i in range(8, 12)]
    store.upsert_links(outs + ins)
    assert len(store.neighbours("hub")) == 12
    first = store.neighbours("hub", limit=3)
    assert [(n.direction, n.node.id) for n in first] == [
        ("out", "n00"),
        ("out", "n01"),
        ("out", "n02"),
        ("in", "n08"),
        ("in", "n09"),
        ("in", "n10"),
    ]
    assert [n.node.id for n in store.neighbours("hub", direction="in", limit=10)] == [
        "n08",
        "n09",
        "n10",
        "n11",
    ]


def test_neighbours_of_some_labels_are_filtered_before_the_limit(store: GraphStore) -> None:
    messages = [Message(id=f"conversation:x#m{i:02d}", text=f"m{i}") for i in range(6)]
    item = KnowledgeItem(id="knowledgeitem:z", title="Z", text="about the hub")
    store.upsert_nodes([entity("hub", "H"), *messages, item, entity("other", "O")])
    store.upsert_links(
        [Link(src=m.id, dst="hub", type=LinkType.MENTIONS) for m in messages]
        + [
            Link(src=item.id, dst="hub", type=LinkType.MENTIONS),
            Link(src="hub", dst="other", type=LinkType.CO_OCCURS),
        ]
    )
    first = store.neighbours("hub", limit=2)  # (type, id) order: the messages come first
    assert [n.node.id for n in first] == ["other", messages[0].id, messages[1].id]
    items = store.neighbours("hub", limit=2, labels=[Label.KNOWLEDGE_ITEM])
    assert [(n.node.id, n.direction) for n in items] == [(item.id, "in")]
    both = store.neighbours("hub", labels=[Label.KNOWLEDGE_ITEM, Label.ENTITY])
    assert [n.node.id for n in both] == ["other", item.id]
    bulk = store.neighbours("hub", direction="in", limit=3, labels=[Label.MESSAGE])
    assert [n.node.id for n in bulk] == [m.id for m in messages[:3]]
    assert store.neighbours("hub", labels=[]) == []


def test_neighbours_of_many_nodes_are_each_one_s_neighbours(store: GraphStore) -> None:
    store.upsert_nodes([entity(f"n{i}", f"N{i}") for i in range(6)])
    store.upsert_links(
        [
            Link(src="n0", dst="n2", type=LinkType.COMPLEMENTS, weight=0.5),
            Link(src="n0", dst="n1", type=LinkType.COMPLEMENTS),
            Link(src="n0", dst="n3", type=LinkType.CONTRADICTS),
            Link(src="n4", dst="n0", type=LinkType.COMPLEMENTS),
            Link(src="n1", dst="n2", type=LinkType.CONTRADICTS, props={"field": "price"}),
        ]
    )
    ids = ["n1", "n0", "n5", "gone", "n0"]
    for types in (None, [LinkType.COMPLEMENTS]):
        for direction in ("out", "in", "both"):
            many = store.neighbours_of(ids, types, direction)  # type: ignore[arg-type]
            assert list(many) == ["n1", "n0", "n5", "gone"]
            for node_id, found in many.items():  # the same neighbours, in the same order
                one = store.neighbours(node_id, types, direction)  # type: ignore[arg-type]
                assert [n.model_dump() for n in found] == [n.model_dump() for n in one]
    assert len(store.neighbours_of(["n0"])["n0"]) == 4
    assert store.neighbours_of([]) == {}


def test_link_to_missing_node_rolls_back_whole_batch(store: GraphStore) -> None:
    batch = doc_batch("d1", "docs/a.md", ["one", "two"])
    batch.links.append(Link(src="d1#0", dst="nowhere", type=LinkType.MENTIONS, source_id="d1"))
    with pytest.raises(ValueError, match="nowhere"):
        store.write(batch)
    assert store.stats().total_nodes == 0
    assert store.get_node("d1") is None


def test_write_batch_is_idempotent_and_replaces(store: GraphStore) -> None:
    store.upsert_nodes([entity("e1", "Gold plan")])
    first = store.write(doc_batch("d1", "docs/a.md", ["alpha text", "beta text"], ["e1"]))
    assert first.nodes_written == 3 and first.links_written == 3
    again = store.write(doc_batch("d1", "docs/a.md", ["alpha text", "beta text"], ["e1"]))
    assert again.nodes_written == 0 and again.links_written == 0
    assert store.stats().nodes == {"Document": 1, "Chunk": 2, "Entity": 1}
    store.write(doc_batch("d1", "docs/a.md", ["only one chunk now"], ["e1"]))
    assert store.stats().nodes == {"Document": 1, "Chunk": 1, "Entity": 1}
    assert store.get_node("d1#1") is None
    assert store.get_node("d1#0").text == "only one chunk now"  # type: ignore[union-attr]
    assert store.source_hash("d1") == "h-d1-1"
    assert store.source_hash("nope") is None


def test_delete_source_removes_what_hangs_only_on_it(store: GraphStore) -> None:
    store.upsert_nodes(
        [entity("shared", "Shared"), entity("only", "Only"), entity("kept", "Kept", pinned=True)]
    )
    store.write(doc_batch("d1", "a.md", ["first doc"], ["shared", "only", "kept"]))
    store.write(doc_batch("d2", "b.md", ["second doc"], ["shared"]))
    result = store.delete_source("d1")
    assert result.nodes_deleted == 3  # d1, its chunk, the orphaned entity "only"
    assert store.get_node("d1") is None and store.get_node("d1#0") is None
    assert store.get_node("only") is None
    assert store.get_node("shared") is not None  # still mentioned by d2
    assert store.get_node("kept") is not None  # pinned survives
    assert store.get_node("d2#0") is not None
    assert store.delete_source("d1").nodes_deleted == 0


def test_lexical_search_chinese_and_english(store: GraphStore) -> None:
    store.write(
        doc_batch(
            "d1",
            "policies/return.md",
            [
                "七天无理由退货：商品签收后七天内可申请退货，运费由买家承担。",
                "The gold health plan covers hospital stays and outpatient visits.",
                "会员积分可以抵扣现金，每一百积分抵扣一元。",
            ],
        )
    )
    zh = store.lexical_search("怎么退货", k=3)
    assert zh and zh[0].id == "d1#0"
    assert zh[0].uri == "policies/return.md" and "退货" in zh[0].text and zh[0].score > 0
    en = store.lexical_search("Hospital coverage", k=3)
    assert en and en[0].id == "d1#1"
    assert store.lexical_search("积分", k=3)[0].id == "d1#2"
    assert store.lexical_search("zebra crossing", k=3) == []
    assert store.lexical_search('") NOT* (: NEAR ^', k=3) == []  # syntax is never interpreted
    assert store.lexical_search('hospital" OR "zebra', k=3)[0].id == "d1#1"


def test_a_word_searched_before_it_existed_is_found_once_written(store: GraphStore) -> None:
    """Whatever a store caches about terms, a new word is searchable at once."""
    store.write(doc_batch("d1", "a.md", ["会员积分可以抵扣现金", "loyalty points balance"]))
    assert store.lexical_search("zyxquartz 碳纤维", k=3) == []
    store.write(doc_batch("d2", "b.md", ["zyxquartz 碳纤维车架保修五年"]))
    assert [h.id for h in store.lexical_search("zyxquartz 碳纤维", k=3)] == ["d2#0"]
    store.delete_source("d2")
    assert store.lexical_search("zyxquartz 碳纤维", k=3) == []


def test_hits_show_what_is_stored_now_each_with_its_own_score(store: GraphStore) -> None:
    """Whatever a store keeps of decoded hits, a rewritten chunk is found with its new text
    and title, and the same node found by two searches carries each search's score."""
    store.write(doc_batch("d1", "a.md", ["refund my order please", "loyalty points balance"]))
    vector = EMB.encode(["refund my order please"])[0].tolist()
    first = store.vector_search(vector, k=2)
    lexical = store.lexical_search("refund order", k=2)
    assert first[0].id == lexical[0].id == "d1#0" and first[0].score != lexical[0].score
    again = store.vector_search(EMB.encode(["loyalty points balance"])[0].tolist(), k=2)
    assert again[1].id == "d1#0" and again[1].score < first[0].score
    assert first[0].score == pytest.approx(1.0, abs=1e-2)  # not changed by the later search
    batch = doc_batch("d1", "b.md", ["refund my order today", "loyalty points balance"])
    store.write(batch)
    hit = store.vector_search(vector, k=1)[0]
    assert (hit.id, hit.text, hit.uri) == ("d1#0", "refund my order today", "b.md")
    assert store.lexical_search("today", k=1)[0].text == "refund my order today"


def test_tidying_the_search_index_changes_no_answer_and_no_data(store: GraphStore) -> None:
    """After a bulk ingest the store folds its full-text index (GraphStore.tidy): the same
    hits, scores and stats after, and nothing logged."""
    for i in range(30):  # many small writes: many index pieces on the embedded store
        texts = [f"理赔材料 {i} 需要身份证", f"refund {i} today"]
        store.write(doc_batch(f"d{i}", f"{i}.md", texts))
    asks = ["理赔材料", "refund today", "身份证"]
    before = [store.lexical_search(q, k=10) for q in asks]
    stats, events = store.stats(), store.events(since=0, limit=10_000)
    store.tidy()
    assert [store.lexical_search(q, k=10) for q in asks] == before
    assert store.stats() == stats and store.events(since=0, limit=10_000) == events


def test_vector_search(store: GraphStore) -> None:
    store.write(doc_batch("d1", "a.md", ["refund my order please", "loyalty points balance"]))
    hits = store.vector_search(EMB.encode(["please refund order"])[0].tolist(), k=2)
    assert [h.id for h in hits] == ["d1#0", "d1#1"]
    assert hits[0].score > hits[1].score and hits[0].uri == "a.md"
    # the score is the cosine on both stores (Neo4j's index scores (1 + cos) / 2; its HNSW
    # index is a little off the exact value)
    same = store.vector_search(EMB.encode(["loyalty points balance"])[0].tolist(), k=2)
    assert same[0].id == "d1#1" and same[0].score == pytest.approx(1.0, abs=1e-2)
    loyalty, refund = EMB.encode(["loyalty points balance", "refund my order please"])
    assert same[1].score == pytest.approx(float(loyalty @ refund), abs=0.05)
    only_entities = store.vector_search(EMB.encode(["x"])[0].tolist(), k=2, labels=[Label.ENTITY])
    assert only_entities == []


def test_vector_search_views_rank_as_one_search_per_label_set(store: GraphStore) -> None:
    """Several label sets in one go (an ask ranks with and without sentences): each view's
    hits are what its own vector_search finds."""
    texts = [f"refund question number {i} about orders and money" for i in range(12)]
    store.write(doc_batch("d1", "a.md", texts))
    entities = [entity(f"e{i}", f"refund order {i}") for i in range(6)]
    for node, vec in zip(entities, EMB.encode([e.name for e in entities]), strict=True):
        node.embedding = vec.tolist()
    store.upsert_nodes(entities)
    vector = EMB.encode(["refund my order"])[0].tolist()
    views = [[Label.CHUNK, Label.ENTITY], [Label.ENTITY], [Label.CHUNK], None]
    found = store.vector_search_views(vector, 4, views)
    for labels, hits in zip(views, found, strict=True):
        alone = store.vector_search(vector, 4, labels)
        assert [h.score for h in hits] == pytest.approx([h.score for h in alone], abs=1e-6)
        assert _above_ties(hits) == _above_ties(alone)  # equal scores come in any order
    assert {h.label for h in found[1]} == {Label.ENTITY} and len(found[1]) == 4
    assert store.vector_search_views(vector, 4, []) == []


class _SlowModel:
    """The hash embedder, taking a while as a real model does, its call's span noted."""

    def __init__(self) -> None:
        self.dim = EMB.dim
        self.span: tuple[float, float] = (0.0, 0.0)

    def encode(self, texts):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        time.sleep(0.3)
        self.span = (start, time.perf_counter())
        return EMB.encode(texts)


def test_the_lexical_search_runs_beside_the_model_or_the_vector_search_as_the_store_says(
    store: GraphStore,
) -> None:
    """search_sides starts the lexical search while the query is embedded on a store whose
    lexical search is the longer (embedded), after it on one where the model and the
    server's query would share the cores (Neo4j); either way the hits are the same."""
    store.write(doc_batch("d1", "a.md", ["refund takes three days", "shipping is free"]))
    model = _SlowModel()
    started: list[float] = []
    search = store.lexical_search

    def watched(*args, **kwargs):  # type: ignore[no-untyped-def]
        started.append(time.perf_counter())
        return search(*args, **kwargs)

    store.lexical_search = watched  # type: ignore[method-assign]
    found = search_sides(store, model, ["refund days"], 5)
    assert len(started) == 1
    end_of_model = model.span[1]
    assert (started[0] < end_of_model) is store.lexical_beside_model
    assert [h.id for h in found[0].lexical][:1] == ["d1#0"]
    assert [h.id for h in found[0].dense][:1] == ["d1#0"]
    store.lexical_search = search  # type: ignore[method-assign]
    assert search_sides(store, EMB, ["refund days"], 5) == found
    assert search_sides(store, model, ["refund days"], 5, sides=(True, False))[0].lexical == (
        found[0].lexical
    )


def _above_ties(hits: list) -> set[str]:  # type: ignore[type-arg]
    """The ids ranked above the last hit's score (those tied with it may differ)."""
    return {h.id for h in hits if h.score > hits[-1].score + 1e-6} if hits else set()


def test_hybrid_search_fuses_both_rankings(store: GraphStore) -> None:
    store.write(
        doc_batch(
            "d1",
            "faq.md",
            [
                "退款多久到账？一般三到五个工作日。",
                "how long does a refund take to arrive",
                "shipping times",
            ],
        )
    )
    for fusion in ("rrf", "weighted", "dense", "lexical"):
        hits = hybrid_search(store, EMB, "退款 到账", k=2, fusion=fusion)
        assert hits and hits[0].id == "d1#0", fusion
        assert all(h.uri == "faq.md" for h in hits)
        assert hits == sorted(hits, key=lambda h: -h.score)


def test_store_reopened_after_close_keeps_data(store: GraphStore, reopen) -> None:
    store.write(doc_batch("d1", "a.md", ["persisted 持久化 text"], []))
    store.upsert_links([Link(src="d1#0", dst="d1", type=LinkType.DERIVED_FROM)])
    again = reopen(store)
    assert again.get_node("d1#0").text == "persisted 持久化 text"  # type: ignore[union-attr]
    assert again.lexical_search("持久化", k=1)[0].id == "d1#0"
    assert again.vector_search(EMB.encode(["persisted text"])[0].tolist(), k=1)[0].id == "d1#0"
    assert again.stats().links == {"PART_OF": 1, "DERIVED_FROM": 1}


def test_projection_and_stats(store: GraphStore) -> None:
    store.upsert_nodes([entity("e1", "E1"), entity("e2", "E2")])
    store.write(doc_batch("d1", "a.md", ["x"], ["e1", "e2"]))
    g = store.projection()
    assert set(g.nodes) == {"d1", "d1#0", "e1", "e2"}
    assert g.nodes["e1"]["label"] == "Entity"
    assert g.number_of_edges() == 3
    only = store.projection(link_types=[LinkType.MENTIONS])
    assert only.number_of_edges() == 2
    assert store.stats().nodes == {"Document": 1, "Chunk": 1, "Entity": 2}
    assert [n.id for n in store.get_nodes(Label.ENTITY)] == ["e1", "e2"]
    store.clear()
    assert store.stats().total_nodes == 0


def test_a_store_indexed_by_an_older_spiral_is_reindexed_once(store: GraphStore, reopen) -> None:
    """What the index holds for a text changed (Chinese bigrams and characters): a store
    opened by a newer Spiral re-indexes its nodes, so old data is found the new way."""
    from graph.model import Chunk
    from graph.text import INDEX_TERMS_VERSION

    store.upsert_nodes([Chunk(id="c1", text="理赔款多久能到账", uri="faq.md")])
    _age_the_index(store)
    assert not store.lexical_search("赔款几天到", k=3)  # no shared word: only terms match
    store = reopen(store)
    assert [h.id for h in store.lexical_search("赔款几天到", k=3)] == ["c1"]
    assert INDEX_TERMS_VERSION >= 4


def _age_the_index(store: GraphStore) -> None:
    """Make the store look indexed by Spiral before index terms version 2 (words only)."""
    from graph.embedded import EmbeddedStore

    if isinstance(store, EmbeddedStore):
        conn = store._conn
        conn.execute("UPDATE meta SET value = 1 WHERE key = 'fts_terms'")
        conn.execute("DELETE FROM fts")
        conn.execute(
            "INSERT INTO fts (rowid, body) SELECT rowid, 'nothing' FROM nodes WHERE id = 'c1'"
        )
        store._doc_count = (-1, 0)
        return
    store._run("MERGE (m:SpiralMeta {name: 'index_terms'}) SET m.value = 1", write_=True)
    store._run("MATCH (n:Node {id: 'c1'}) SET n.search_text = 'nothing'", write_=True)


def test_observed_nodes_are_read_many_at_once_as_one_at_a_time(store: GraphStore) -> None:
    store.upsert_nodes([entity("a", "A"), entity("b", "B")])
    store.apply([SetFields(id="a", fields={"name": "A (decided)"})], "km", "edit")
    assert store.get_node("a").name == "A (decided)"  # type: ignore[union-attr]
    many = store.get_observed_many(["b", "a", "gone", "a"])
    assert set(many) == {"a", "b"}
    for node_id, node in many.items():  # without people's decisions, as get_observed reads
        one = store.get_observed(node_id)
        assert one is not None and node.model_dump() == one.model_dump()
    assert many["a"].name == "A"  # type: ignore[attr-defined]
    assert store.get_observed_many([]) == {}

"""`GraphStore.hit_contexts` on both stores: what a suggestion needs about each search hit
(its conversation, the employee turn that answers it, the items mined from it, the entities
it names), equal to the reference walk (graph.context.walk_contexts); on Neo4j in one query."""

from __future__ import annotations

from itertools import pairwise

import pytest

from graph.changes import SetFields
from graph.context import TURN_MESSAGES, HitContext, walk_contexts
from graph.model import (
    Chunk,
    Conversation,
    Customer,
    Document,
    Employee,
    Entity,
    EntityKind,
    ItemStatus,
    KnowledgeItem,
    Link,
    LinkType,
    Message,
    Node,
    ResponseStat,
)
from graph.store import GraphStore, WriteBatch
from tests.conftest import HashEmbedder, _neo4j_auth

EMB = HashEmbedder()
CONV = "conv:1"
DOC = "doc:1"
CHUNK = "doc:1#0"
ENTITY = "ent:refund"
PRICE = "ent:price"
EMPLOYEE, CUSTOMER = "emp:wang", "cust:li"

# (id, role, text) in conversation order; ids do not sort in position order, so a test
# that picked the first reply by id instead of by position would fail.
MESSAGES = [
    ("m:c0", "customer", "太贵了，别家便宜"),
    ("m:z1", "employee", "我们的保单包含意外险"),
    ("m:a2", "employee", "而且可以分期付款"),
    ("m:c3", "customer", "那退款要多久"),
    ("m:e4", "employee", "退款三到五个工作日到账"),
    ("m:c5", "customer", "好的谢谢"),
    ("m:c6", "customer", "能再便宜点吗"),
    *((f"m:long{i}", "employee", f"第{i}点：我们的优势 point {i}") for i in range(10)),
]
TEXT = {mid: text for mid, _, text in MESSAGES}
LONG = [f"m:long{i}" for i in range(10)]


def _embedded(node: Node, text: str) -> Node:
    node.embedding = EMB.encode([text])[0].tolist()
    return node


def build(store: GraphStore) -> None:
    """A document chunk naming an entity; a conversation (customer and employee turns with
    NEXT / REPLIES_TO / PART_OF / SAID_BY); a talk track derived from a customer message
    (approved by a person afterwards) and one that lists a reply as "what not to say"."""
    entities = [
        Entity(id=ENTITY, name="退款", kind=EntityKind.TOPIC),
        Entity(id=PRICE, name="价格", kind=EntityKind.OBJECTION),
    ]
    store.upsert_nodes(entities)
    chunk = _embedded(
        Chunk(id=CHUNK, text="退款三到五个工作日到账", uri="faq.md", source_id=DOC), "退款"
    )
    store.write(
        WriteBatch(
            replace_sources=[DOC],
            nodes=[Document(id=DOC, uri="faq.md", title="FAQ", content_hash="h1"), chunk],
            links=[
                Link(src=CHUNK, dst=DOC, type=LinkType.PART_OF, source_id=DOC),
                Link(src=CHUNK, dst=ENTITY, type=LinkType.MENTIONS, source_id=DOC),
            ],
        )
    )
    conversation = Conversation(
        id=CONV, uri="chats/1.txt", title="退款咨询", outcome="resolved", employee=EMPLOYEE
    )
    people = [Employee(id=EMPLOYEE, name="王"), Customer(id=CUSTOMER, name="李")]
    messages = [
        _embedded(
            Message(id=mid, text=text, uri="chats/1.txt", role=role, position=pos, source_id=CONV),
            text,
        )
        for pos, (mid, role, text) in enumerate(MESSAGES)
    ]
    links = [Link(src=m.id, dst=CONV, type=LinkType.PART_OF, source_id=CONV) for m in messages]
    links += [
        Link(src=a.id, dst=b.id, type=LinkType.NEXT, source_id=CONV) for a, b in pairwise(messages)
    ]
    links += [
        Link(
            src=m.id,
            dst=EMPLOYEE if m.role == "employee" else CUSTOMER,
            type=LinkType.SAID_BY,
            source_id=CONV,
        )
        for m in messages
    ]
    replies = [("m:z1", "m:c0"), ("m:a2", "m:c0"), ("m:e4", "m:c3"), ("m:long0", "m:c6")]
    links += [Link(src=a, dst=b, type=LinkType.REPLIES_TO, source_id=CONV) for a, b in replies]
    links.append(Link(src="m:e4", dst=ENTITY, type=LinkType.MENTIONS, source_id=CONV))
    store.write(
        WriteBatch(
            replace_sources=[CONV],
            nodes=[conversation, *people, *messages],
            links=links,
        )
    )
    track = _embedded(
        KnowledgeItem(
            id="item:price",
            title="价格异议",
            text="我们的保单包含意外险\n而且可以分期付款",
            situation="太贵了，别家便宜",
            responses=[ResponseStat(text="我们的保单包含意外险", message_ids=["m:z1"])],
            entities={PRICE: 2, ENTITY: 1},
            evidence=2,
        ),
        "价格异议",
    )
    avoid = _embedded(
        KnowledgeItem(
            id="item:refund",
            title="退款时效",
            text="退款一般当天到账",
            situation="那退款要多久",
            avoid=[ResponseStat(text=TEXT["m:e4"], message_ids=["m:e4"], trials=2)],
            entities={ENTITY: 1},
        ),
        "退款时效",
    )
    store.write(
        WriteBatch(
            nodes=[track, avoid],
            links=[
                # Two links from two sources to one message: the item still comes back once.
                Link(src="item:price", dst="m:c0", type=LinkType.DERIVED_FROM, source_id=CONV),
                Link(src="item:price", dst="m:c0", type=LinkType.DERIVED_FROM),
                Link(src="item:price", dst=CONV, type=LinkType.DERIVED_FROM),
                Link(src="item:price", dst=PRICE, type=LinkType.MENTIONS),
                Link(src="item:refund", dst="m:e4", type=LinkType.DERIVED_FROM),
            ],
        )
    )
    store.apply(
        [SetFields(id="item:price", fields={"status": "approved", "owner": "km:zhao"})],
        actor="km:zhao",
        action="approve",
    )


def content(node: Node | None) -> dict:
    """A node as get_node reads it, less its embedding (hit contexts carry no vectors)."""
    assert node is not None
    return node.model_dump(exclude={"embedding"})


def texts(context: HitContext) -> list[str]:
    return [m.text for m in context.turn]


def test_hit_contexts(store: GraphStore) -> None:
    build(store)
    ids = ["m:c0", "m:c3", "m:c5", "m:c6", "m:long3", CHUNK, "item:price", "nope", "m:c0"]
    got = store.hit_contexts(ids)
    assert list(got) == ["m:c0", "m:c3", "m:c5", "m:c6", "m:long3", CHUNK, "item:price"]

    # A customer's message: the earliest reply (by position, not id) and the employee
    # messages right after it; the conversation; the talk track mined from it, approved.
    c0 = got["m:c0"]
    assert isinstance(c0.node, Message) and c0.node.text == TEXT["m:c0"]
    assert isinstance(c0.conversation, Conversation)
    assert c0.conversation.id == CONV and c0.conversation.outcome == "resolved"
    assert texts(c0) == [TEXT["m:z1"], TEXT["m:a2"]]
    assert [i.id for i in c0.items] == ["item:price"]
    item = c0.items[0]
    assert item.status is ItemStatus.APPROVED and item.owner == "km:zhao"
    assert content(item) == content(store.get_node("item:price"))
    assert c0.entities == []

    # The reply a talk track lists under "what not to say" brings that item along.
    c3 = got["m:c3"]
    assert texts(c3) == [TEXT["m:e4"]]
    assert [i.id for i in c3.items] == ["item:refund"]
    assert c3.items[0].avoid[0].message_ids == ["m:e4"]
    assert c3.items[0].status is ItemStatus.DRAFT

    # Nobody answered: no turn, still the conversation.
    c5 = got["m:c5"]
    assert c5.turn == [] and c5.items == [] and c5.conversation is not None

    # A long answer stops at TURN_MESSAGES; an employee message starts its own turn.
    assert [m.id for m in got["m:c6"].turn] == LONG[:TURN_MESSAGES]
    assert [m.id for m in got["m:long3"].turn] == LONG[3 : 3 + TURN_MESSAGES]
    assert all(m.role == "employee" for m in got["m:long3"].turn)

    # A chunk: the entities it mentions, nothing conversational.
    chunk = got[CHUNK]
    assert isinstance(chunk.node, Chunk) and chunk.node.uri == "faq.md"
    assert chunk.entities == [ENTITY]
    assert chunk.conversation is None and chunk.turn == [] and chunk.items == []

    # An item: its own `entities`, sorted; the node as get_node reads it.
    own = got["item:price"]
    assert own.entities == sorted([ENTITY, PRICE])
    assert content(own.node) == content(store.get_node("item:price"))
    assert own.node.embedding is None  # nothing downstream reads a hit's vector
    assert own.node.status is ItemStatus.APPROVED  # type: ignore[attr-defined]

    assert store.hit_contexts([]) == {}
    assert store.hit_contexts(["nope"]) == {}


def test_hit_contexts_equal_the_reference_walk(store: GraphStore) -> None:
    build(store)
    ids = [*sorted(store.projection().nodes), "nope"]
    assert len(ids) > 20
    got = store.hit_contexts(ids)
    assert got == walk_contexts(store, ids)
    assert set(got) == set(ids) - {"nope"}
    # The conversation and the entity reached through DERIVED_FROM and MENTIONS.
    assert [i.id for i in got[CONV].items] == ["item:price"]
    assert got["m:e4"].entities == [ENTITY]
    assert [i.id for i in got["m:e4"].items] == ["item:refund"]
    for node_id in ids[:-1]:
        assert content(got[node_id].node) == content(store.get_node(node_id))


def test_a_branching_turn_follows_the_lowest_id(store: GraphStore) -> None:
    """Two NEXT links out of one message (a re-ingested source, a merge): both stores walk to
    the lowest id, as the reference does."""
    conv = Conversation(id="conv:2", uri="chats/2.txt", outcome="lost")
    said = [
        ("m:q", "customer", "能退吗"),
        ("m:r-b", "employee", "可以退"),
        ("m:r-a", "employee", "七天内"),
        ("m:r-0", "employee", "无理由"),
    ]
    messages = [
        Message(id=mid, text=text, role=role, position=pos, source_id="conv:2")
        for pos, (mid, role, text) in enumerate(said)
    ]
    pairs = [("m:q", "m:r-b"), ("m:r-b", "m:r-a"), ("m:r-a", "m:r-0"), ("m:r-b", "m:r-0")]
    links = [Link(src=a, dst=b, type=LinkType.NEXT, source_id="conv:2") for a, b in pairs]
    links += [Link(src=m.id, dst="conv:2", type=LinkType.PART_OF) for m in messages]
    links.append(Link(src="m:r-b", dst="m:q", type=LinkType.REPLIES_TO))
    store.write(WriteBatch(nodes=[conv, *messages], links=links))
    ids = [m.id for m in messages]
    got = store.hit_contexts(ids)
    assert got == walk_contexts(store, ids)
    assert [m.id for m in got["m:q"].turn] == ["m:r-b", "m:r-0"]
    assert [m.id for m in got["m:r-a"].turn] == ["m:r-a", "m:r-0"]
    assert got["m:q"].conversation.outcome == "lost"  # type: ignore[union-attr]


@pytest.mark.neo4j
def test_hit_contexts_is_one_round_trip_on_neo4j(
    neo4j_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Round trips are a Neo4j matter (the embedded store has none)."""
    from graph import cypher
    from graph.neo4j_store import Neo4jStore

    store = Neo4jStore.connect(neo4j_uri, auth=_neo4j_auth())
    store.clear()
    build(store)
    ids = ["m:c0", "m:c3", "m:c6", "m:long3", CHUNK, "item:price", "item:refund", "nope"]
    expected = walk_contexts(store, ids)
    queries: list[str] = []
    run, session = store._run, store._driver.session
    inside = [False]  # a session is opened by `_run` alone, for its one query

    def counting(query: str, /, **params):  # type: ignore[no-untyped-def]
        queries.append(query)
        inside[0] = True
        try:
            return run(query, **params)
        finally:
            inside[0] = False

    def no_session(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not inside[0]:
            raise AssertionError("hit_contexts opened a session: more than one round trip")
        return session(*args, **kwargs)

    monkeypatch.setattr(store, "_run", counting)
    monkeypatch.setattr(store, "_write_tx", no_session)
    monkeypatch.setattr(store._driver, "session", no_session)
    assert store.hit_contexts(ids) == expected
    assert queries == [cypher.HIT_CONTEXTS]
    monkeypatch.undo()
    store.close()

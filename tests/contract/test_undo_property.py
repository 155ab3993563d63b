"""Property, on both stores: apply any sequence of changes as events, undo them in reverse
order, and the graph is exactly what it was. A change that fails leaves nothing behind."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from graph.embedded import EmbeddedStore
from graph.model import Link, LinkType
from graph.store import GraphStore
from tests.contract.test_living_contract import item, seed, snapshot

ITEMS = ["i1", "i2", "n1"]
NODES = ["i1", "i2", "e1", "e2", "n1"]
TYPES = [LinkType.SIMILAR_TO, LinkType.COMPLEMENTS, LinkType.MENTIONS]

field_values = st.one_of(
    st.fixed_dictionaries({"status": st.sampled_from(["draft", "approved", "retired"])}),
    st.fixed_dictionaries({"team": st.sampled_from(["", "sales", "service"])}),
    st.fixed_dictionaries(
        {"owner": st.text("ab", max_size=2), "title": st.sampled_from(["x", "y"])}
    ),
)
ops = st.one_of(
    st.builds(SetFields, id=st.sampled_from(ITEMS), fields=field_values),
    st.builds(
        ClearFields,
        id=st.sampled_from(ITEMS),
        fields=st.lists(st.sampled_from(["status", "team", "owner", "title"]), max_size=2),
    ),
    st.builds(
        AddLink,
        link=st.builds(
            Link,
            src=st.sampled_from(NODES),
            dst=st.sampled_from(NODES),
            type=st.sampled_from(TYPES),
            weight=st.sampled_from([1.0, 2.5]),
        ),
    ),
    st.builds(
        RemoveLink,
        src=st.sampled_from(NODES),
        type=st.sampled_from(TYPES),
        dst=st.sampled_from(NODES),
    ),
    st.builds(
        UpdateLink,
        src=st.sampled_from(NODES),
        type=st.sampled_from(TYPES),
        dst=st.sampled_from(NODES),
        weight=st.sampled_from([0.3, 2.0]),
        props=st.sampled_from([None, {"why": "x"}]),
    ),
    st.builds(DeleteNode, id=st.sampled_from(NODES)),
    st.just(CreateNode(node=item("n1", "made by hand"))),
    st.builds(Repoint, from_id=st.sampled_from(NODES), to_id=st.sampled_from(NODES)),
)


def _run(store: GraphStore, changes: list[Any]) -> None:
    store.clear()
    seed(store)
    store.upsert_links([Link(src="i1", dst="e1", type=LinkType.MENTIONS, props={"count": 2})])
    original = snapshot(store)
    done: list[int] = []
    for op in changes:
        before = snapshot(store)
        try:
            done.append(store.apply([op], actor="prop", action=op.op).seq)
        except (NotFound, Conflict, ValueError):
            assert snapshot(store) == before  # a refused change leaves nothing behind
    for seq in reversed(done):
        store.undo(seq, actor="prop")
    assert snapshot(store) == original
    assert [e.action for e in store.events()][-len(done) or None :] == ["undo"] * len(done) or (
        not done
    )


def test_apply_then_undo_in_reverse_restores_the_graph(store: GraphStore) -> None:
    examples = 40 if isinstance(store, EmbeddedStore) else 12

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=True,
    )
    @given(st.lists(ops, min_size=1, max_size=8))
    def check(changes: list[Any]) -> None:
        _run(store, changes)

    check()

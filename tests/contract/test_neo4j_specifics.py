"""What only the Neo4j backend has: its schema, and the analyzer its full-text index uses."""

from __future__ import annotations

import pytest
from neo4j import GraphDatabase

pytestmark = pytest.mark.neo4j


def test_schema_and_cjk_analyzer(neo4j_uri: str) -> None:
    from graph.neo4j_store import Neo4jStore

    Neo4jStore.connect(neo4j_uri).close()  # creates the schema when missing
    with GraphDatabase.driver(neo4j_uri, auth=None) as driver:
        rows, _, _ = driver.execute_query(
            "CALL db.index.fulltext.listAvailableAnalyzers() YIELD analyzer RETURN analyzer"
        )
        assert "cjk" in {r["analyzer"] for r in rows}
        rows, _, _ = driver.execute_query(
            "SHOW INDEXES YIELD type, labelsOrTypes, properties, options "
            "WHERE type = 'FULLTEXT' RETURN labelsOrTypes, properties, options"
        )
        assert rows and rows[0]["options"]["indexConfig"]["fulltext.analyzer"] == "cjk"
        rows, _, _ = driver.execute_query(
            "SHOW CONSTRAINTS YIELD type, labelsOrTypes, properties "
            "RETURN type, labelsOrTypes, properties"
        )
        assert any(
            r["type"] == "UNIQUENESS"
            and r["labelsOrTypes"] == ["Node"]
            and r["properties"] == ["id"]
            for r in rows
        )


def _operators(plan: dict) -> list[str]:
    found = [plan["operatorType"]]
    for child in plan.get("children", []):
        found += _operators(child)
    return found


def test_filtered_queries_and_event_feed_use_indexes(neo4j_uri: str) -> None:
    """No full scans: the planner seeks an index for a filtered query and the change feed."""
    from graph import cypher
    from graph.neo4j_store import Neo4jStore

    Neo4jStore.connect(neo4j_uri).close()
    statements = [
        cypher.query_nodes(["status", "team"], False, False, False, "id", False, False),
        cypher.query_nodes([], False, True, False, "expires_at", False, False),
        cypher.query_nodes([], False, False, True, "updated_at", True, True),
        cypher.EVENTS,
        cypher.EVENTS_FOR_ID,
    ]
    params = {
        "label": "KnowledgeItem",
        "status": "approved",
        "team": "a",
        "expires_before": "2027",
        "updated_since": "2026",
        "after_value": "2026",
        "after_id": "x",
        "limit": 10,
        "since": 0,
        "actions": None,
        "id": "x",
    }
    with GraphDatabase.driver(neo4j_uri, auth=None) as driver, driver.session() as session:
        for statement in statements:
            plan = session.run("EXPLAIN " + statement, params).consume().plan
            operators = " ".join(_operators(plan))
            assert "Index" in operators, (statement, operators)
            assert "AllNodesScan" not in operators and "NodeByLabelScan" not in operators, (
                statement,
                operators,
            )


def test_the_full_text_index_is_eventually_consistent_and_searches_wait_for_own_writes(
    neo4j_uri: str,
) -> None:
    """Commits queue their full-text updates (no Lucene flush per commit); a search in the
    process that wrote still finds what it just wrote. An index made by an older Spiral
    (consistent at commit) is rebuilt eventually consistent at connect."""
    from graph import cypher
    from graph.model import Chunk, Document
    from graph.neo4j_store import Neo4jStore
    from graph.store import WriteBatch

    def eventual(driver) -> object:  # type: ignore[no-untyped-def]
        rows, _, _ = driver.execute_query(cypher.FULLTEXT_CONSISTENCY, name=cypher.FULLTEXT_INDEX)
        return rows[0]["eventual"]

    with GraphDatabase.driver(neo4j_uri, auth=None) as driver:
        Neo4jStore.connect(neo4j_uri).close()
        driver.execute_query(cypher.DROP_FULLTEXT_INDEX)
        driver.execute_query(
            f"CREATE FULLTEXT INDEX {cypher.FULLTEXT_INDEX} FOR (n:Searchable) "
            "ON EACH [n.search_text] OPTIONS {indexConfig: {`fulltext.analyzer`: 'cjk'}}"
        )
        assert eventual(driver) is False
        store = Neo4jStore.connect(neo4j_uri)
        assert eventual(driver) is True
    try:
        store.clear()
        for n in range(5):
            doc = Document(id=f"src-ec-{n}", uri=f"ec{n}.md", source_id=f"src-ec-{n}")
            chunk = Chunk(id=f"chunk-ec-{n}", text=f"eventual marker{n} zebra", source_id=doc.id)
            store.write(WriteBatch(replace_sources=[doc.id], nodes=[doc, chunk]))
            assert [h.id for h in store.lexical_search(f"marker{n}", k=3)] == [chunk.id]
        other = Neo4jStore.connect(neo4j_uri)  # a new process's store waits once, too
        try:
            assert len(other.lexical_search("zebra", k=10)) == 5
        finally:
            other.close()
    finally:
        store.clear()
        store.close()


def _vector_indexes(driver) -> dict[str, tuple[str, int]]:  # type: ignore[no-untyped-def]
    from graph import cypher

    rows, _, _ = driver.execute_query(cypher.SHOW_VECTOR_INDEXES)
    return {r["name"]: (r["state"], r["dimensions"]) for r in rows}


def _store_with_chunks_and_near_entities(uri: str):  # type: ignore[no-untyped-def]
    """A store holding a document of 30 chunks, and 200 entities worded as the question is:
    the shared index's nearest nodes are all entities. With the question's vector and the
    chunks' true order of nearness to it."""
    from graph.model import Entity, EntityKind
    from graph.neo4j_store import Neo4jStore
    from tests.contract.test_store_contract import EMB, doc_batch

    texts = [f"refund policy clause {i} " + "days " * (i % 7) for i in range(30)]
    entities = [
        Entity(id=f"e{i}", name=f"refund days {i}", kind=EntityKind.PRODUCT) for i in range(200)
    ]
    for node, vec in zip(entities, EMB.encode([e.name for e in entities]), strict=True):
        node.embedding = vec.tolist()
    vector = EMB.encode(["refund days"])[0]
    chunk_vectors = EMB.encode(texts)
    order = sorted(range(len(texts)), key=lambda i: -float(chunk_vectors[i] @ vector))
    store = Neo4jStore.connect(uri)
    store.clear()
    store.write(doc_batch("d1", "policy.md", texts))
    store.upsert_nodes(entities)
    return store, vector.tolist(), order


def _watched(store) -> list[str]:  # type: ignore[no-untyped-def]
    """Statements the store runs from now on, in order."""
    run, seen = store._run, []

    def watched(query, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(query)
        return run(query, *args, **kwargs)

    store._run = watched
    return seen


def test_chunks_are_searched_in_a_vector_index_of_their_own(neo4j_uri: str) -> None:
    """Chunks' view comes from cypher.CHUNK_VECTOR_INDEX, online beside the shared index
    and of its size: one query, where the shared index's nearest nodes are all something
    else, and the chunks it finds are the truly nearest. `clear` drops both indexes."""
    from graph import cypher
    from graph.model import Label
    from graph.store import SearchFilter

    store, vector, order = _store_with_chunks_and_near_entities(neo4j_uri)
    try:
        with GraphDatabase.driver(neo4j_uri, auth=None) as driver:
            dims = len(vector)
            assert _vector_indexes(driver) == {
                cypher.VECTOR_INDEX: ("ONLINE", dims),
                cypher.CHUNK_VECTOR_INDEX: ("ONLINE", dims),
            }
            seen = _watched(store)
            live = SearchFilter(status=["draft", "approved"])
            views = store.vector_search_views(vector, 5, [[Label.ENTITY], [Label.CHUNK]], live)
            assert sorted(seen) == sorted([cypher.VECTOR_SEARCH, cypher.CHUNK_VECTOR_SEARCH])
            assert {h.label for h in views[0]} == {Label.ENTITY}
            assert [h.id for h in views[1]] == [f"d1#{i}" for i in order[:5]]
            assert store.vector_search(vector, 5, [Label.CHUNK]) == views[1]
            store.clear()
            assert _vector_indexes(driver) == {}
    finally:
        store.clear()
        store.close()


def test_a_store_made_before_chunks_had_an_index_gets_it_at_connect(neo4j_uri: str) -> None:
    """Without chunks' index the chunk view is found in the shared one, as before; the next
    connect builds the index, and the same chunks come from it."""
    from graph import cypher
    from graph.model import Label
    from graph.neo4j_store import Neo4jStore

    old, vector, order = _store_with_chunks_and_near_entities(neo4j_uri)
    try:
        with GraphDatabase.driver(neo4j_uri, auth=None) as driver:
            driver.execute_query(cypher.DROP_VECTOR_INDEXES[1])
            assert set(_vector_indexes(driver)) == {cypher.VECTOR_INDEX}
            old._vector_dimensions()  # as a process that started before the drop would see
            seen = _watched(old)
            before = old.vector_search(vector, 5, [Label.CHUNK])
            assert cypher.CHUNK_VECTOR_SEARCH not in seen and cypher.VECTOR_SEARCH in seen
            assert [h.id for h in before] == [f"d1#{i}" for i in order[:5]]
            new = Neo4jStore.connect(neo4j_uri)
            try:
                assert _vector_indexes(driver)[cypher.CHUNK_VECTOR_INDEX][0] == "ONLINE"
                seen = _watched(new)
                assert new.vector_search(vector, 5, [Label.CHUNK]) == before
                assert seen[-1] == cypher.CHUNK_VECTOR_SEARCH
            finally:
                new.close()
    finally:
        old.clear()
        old.close()


class _Flaky:
    """The driver, its next sessions failing with the given errors first."""

    def __init__(self, driver, errors) -> None:  # type: ignore[no-untyped-def]
        self._driver, self.errors, self.sessions = driver, list(errors), 0

    def session(self, **kwargs):  # type: ignore[no-untyped-def]
        self.sessions += 1
        if self.errors:
            raise self.errors.pop(0)
        return self._driver.session(**kwargs)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._driver, name)


def test_a_read_is_tried_again_after_a_retryable_error_only(neo4j_uri: str) -> None:
    """Reads run as auto-commit queries (one round trip) without the driver's managed
    retries, so the store retries what the driver says is retryable: a dropped connection
    is tried again (three tries at most); a bad query fails at once."""
    from neo4j.exceptions import ClientError, ServiceUnavailable, SessionExpired

    from graph.neo4j_store import Neo4jStore

    store = Neo4jStore.connect(neo4j_uri)
    real = store._driver
    try:
        flaky = _Flaky(real, [SessionExpired("gone"), ServiceUnavailable("restarting")])
        store._driver = flaky
        assert store._run("RETURN 1 AS one") == [{"one": 1}]
        assert flaky.sessions == 3
        flaky = _Flaky(real, [SessionExpired("gone")] * 3)
        store._driver = flaky
        with pytest.raises(SessionExpired):
            store._run("RETURN 1 AS one")
        assert flaky.sessions == 3
        flaky = _Flaky(real, [])
        store._driver = flaky
        with pytest.raises(ClientError):
            store._run("RETURN nonsense(")
        assert flaky.sessions == 1
    finally:
        store._driver = real
        store.close()


def test_searches_and_hit_contexts_answer_in_one_record_in_score_order(neo4j_uri: str) -> None:
    """A Bolt record per hit cost the server and the driver ~2 ms an ask, so the searches
    and `hit_contexts` return their rows collected into one record: the same hits, best
    first, as many as asked for."""
    from graph import cypher
    from graph.model import Label

    store, vector, order = _store_with_chunks_and_near_entities(neo4j_uri)
    read, records = store._read, {}

    def counted(query, params):  # type: ignore[no-untyped-def]
        found = read(query, params)
        if query != cypher.AWAIT_FULLTEXT:
            records[query] = len(found)
        return found

    store._read = counted
    try:
        chunks = store.vector_search(vector, 5, [Label.CHUNK])
        assert [h.id for h in chunks] == [f"d1#{i}" for i in order[:5]]
        entities = store.vector_search(vector, 9, [Label.ENTITY])
        assert len(entities) == 9 and {h.label for h in entities} == {Label.ENTITY}
        assert [h.score for h in entities] == sorted((h.score for h in entities), reverse=True)
        words = store.lexical_search("refund policy clause days", k=6)
        assert len(words) == 6
        assert [h.score for h in words] == sorted((h.score for h in words), reverse=True)
        contexts = store.hit_contexts([h.id for h in chunks])
        assert list(contexts) == [h.id for h in chunks]
        assert records == {
            cypher.CHUNK_VECTOR_SEARCH: 1,
            cypher.VECTOR_SEARCH: 1,
            cypher.LEXICAL_SEARCH: 1,
            cypher.HIT_CONTEXTS: 1,
        }
        assert store.lexical_search("nothing-like-this-anywhere", k=3) == []
    finally:
        store._read = read
        store.clear()
        store.close()


def test_queries_reach_the_driver_without_their_vectors_spelled_out(
    neo4j_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The driver formats every query's parameters for its debug log whether or not it is
    on: the store's rows, ids and vectors go as lists it does not spell out, and arrive
    whole."""
    import logging

    from graph.model import Label
    from graph.neo4j_store import Neo4jStore
    from tests.contract.test_store_contract import doc_batch

    first = doc_batch("d1", "a.md", ["退货的运费谁出", "refund within 7 days"])
    second = doc_batch("d2", "b.md", ["how long does a refund take"])
    vector = first.nodes[1].embedding
    assert vector
    store = Neo4jStore.connect(neo4j_uri)
    store.clear()
    try:
        with caplog.at_level(logging.DEBUG, logger="neo4j"):
            store.write_many([first, second])  # both new: the import's statements
            hits = store.vector_search(vector, 3, [Label.CHUNK])
        runs = [r.getMessage() for r in caplog.records if " C: RUN " in r.getMessage()]
        assert len(runs) >= 4
        assert not [line for line in runs if repr(vector[0]) in line or len(line) > 4000]
        stored = store.get_node("d1#0")
        assert stored is not None and stored.embedding == pytest.approx(vector, abs=1e-6)
        assert hits[0].id == "d1#0" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    finally:
        store.clear()
        store.close()

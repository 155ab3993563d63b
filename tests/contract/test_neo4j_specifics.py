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

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

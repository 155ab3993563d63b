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

"""Every Cypher statement of the Neo4j backend, in one place.

Why constants: queries are reviewed here, never assembled from request text. Values always
travel as parameters; the only names spliced in are labels and relationship types taken
from the `Label` / `LinkType` enums when this module is imported.
"""

from __future__ import annotations

from graph.model import SOURCE_LABELS, Label, LinkType

__all__ = [
    "AWAIT_INDEXES",
    "COUNT_LINKS",
    "COUNT_NODES",
    "CREATE_VECTOR_INDEX",
    "DELETE_ALL_NODES",
    "DELETE_LINKS",
    "DELETE_ORPHANS",
    "DETACH_DELETE_NODES",
    "DROP_VECTOR_INDEX",
    "FULLTEXT_INDEX",
    "GET_NODE",
    "GET_NODES",
    "LEXICAL_SEARCH",
    "MISSING_IDS",
    "NEIGHBOURS_IN",
    "NEIGHBOURS_OUT",
    "PROJECTION_LINKS",
    "PROJECTION_NODES",
    "SCHEMA",
    "SHOW_SCHEMA_NAMES",
    "SHOW_VECTOR_INDEX",
    "SOURCE_CONTENTS",
    "SOURCE_HASH",
    "UPSERT_LINKS",
    "UPSERT_NODES",
    "VECTOR_INDEX",
    "VECTOR_SEARCH",
]

FULLTEXT_INDEX = "spiral_search_text"
VECTOR_INDEX = "spiral_embedding"

# -- schema -------------------------------------------------------------------------------

# name -> statement; created only when the name is missing (connect stays cheap).
SCHEMA: dict[str, str] = {
    "spiral_node_id": (
        "CREATE CONSTRAINT spiral_node_id IF NOT EXISTS FOR (n:Node) REQUIRE n.id IS UNIQUE"
    ),
    "spiral_node_source": (
        "CREATE INDEX spiral_node_source IF NOT EXISTS FOR (n:Node) ON (n.source_id)"
    ),
    FULLTEXT_INDEX: (
        f"CREATE FULLTEXT INDEX {FULLTEXT_INDEX} IF NOT EXISTS "
        "FOR (n:Searchable) ON EACH [n.search_text] "
        "OPTIONS {indexConfig: {`fulltext.analyzer`: 'cjk'}}"
    ),
    # Links are found by the source that contributed them when a source is deleted.
    **{
        f"spiral_link_source_{t.value.lower()}": (
            f"CREATE INDEX spiral_link_source_{t.value.lower()} IF NOT EXISTS "
            f"FOR ()-[r:{t.value}]-() ON (r.source_id)"
        )
        for t in LinkType
    },
}
SHOW_SCHEMA_NAMES = "SHOW INDEXES YIELD name RETURN name"
AWAIT_INDEXES = "CALL db.awaitIndexes(300)"

SHOW_VECTOR_INDEX = (
    "SHOW VECTOR INDEXES YIELD name, options WHERE name = $name "
    "RETURN options.indexConfig.`vector.dimensions` AS dimensions"
)
CREATE_VECTOR_INDEX = (
    f"CREATE VECTOR INDEX {VECTOR_INDEX} IF NOT EXISTS FOR (n:Searchable) ON (n.embedding) "
    "OPTIONS {indexConfig: {`vector.dimensions`: $dimensions, "
    "`vector.similarity_function`: 'cosine'}}"
)
DROP_VECTOR_INDEX = f"DROP INDEX {VECTOR_INDEX} IF EXISTS"
DELETE_ALL_NODES = "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"

# -- writes -------------------------------------------------------------------------------


def _upsert_nodes(label: Label) -> str:
    """Write a row only when its digest differs, so unchanged nodes count as not written.

    The embedding arrives as a list (`row.vector`) or, when the driver packs in pure
    Python, as one string of space-separated exact hex floats (`row.vector_text`), which
    Cypher's toFloat reads back bit for bit; neither: the property is removed.
    """
    others = ":".join(other.value for other in Label if other is not label)
    return (
        "UNWIND $rows AS row "
        "MERGE (n:Node {id: row.id}) "
        "WITH n, row WHERE coalesce(n._digest <> row.props._digest, true) "
        f"REMOVE n:{others} "  # an id that changed kind keeps one label
        f"SET n = row.props, n:{label.value}, "
        "n.embedding = coalesce(row.vector, [x IN split(row.vector_text, ' ') | toFloat(x)]) "
        "FOREACH (_ IN CASE WHEN row.searchable THEN [1] ELSE [] END | SET n:Searchable) "
        "FOREACH (_ IN CASE WHEN row.searchable THEN [] ELSE [1] END | REMOVE n:Searchable) "
        "RETURN count(n) AS written"
    )


def _upsert_links(link_type: LinkType) -> str:
    """One relationship per (src, type, dst, source_id): MERGE on the source_id property.

    `matched` below the number of rows sent means an endpoint is missing.
    """
    return (
        "UNWIND $rows AS row "
        "MATCH (a:Node {id: row.src}) "
        "MATCH (b:Node {id: row.dst}) "
        f"MERGE (a)-[r:{link_type.value} {{source_id: row.source_id}}]->(b) "
        "WITH r, row, coalesce(r._digest <> row.props._digest, true) AS changed "
        "FOREACH (_ IN CASE WHEN changed THEN [1] ELSE [] END | SET r = row.props) "
        "RETURN count(*) AS matched, count(CASE WHEN changed THEN 1 END) AS written"
    )


UPSERT_NODES: dict[Label, str] = {label: _upsert_nodes(label) for label in Label}
UPSERT_LINKS: dict[LinkType, str] = {t: _upsert_links(t) for t in LinkType}

MISSING_IDS = (
    "UNWIND $ids AS id WITH id WHERE NOT EXISTS { MATCH (:Node {id: id}) } "
    "RETURN collect(id) AS missing"
)

# -- deletes ------------------------------------------------------------------------------

# What the sources own (their nodes, the source nodes) and the links they contributed, in
# one round trip. Links: one index seek per type (untyped, it would scan every relationship).
SOURCE_CONTENTS = (
    "CALL () { UNWIND $sources AS sid "
    "CALL (sid) { MATCH (n:Node {id: sid}) RETURN n "
    "UNION MATCH (n:Node {source_id: sid}) RETURN n } "
    "RETURN collect(DISTINCT n.id) AS owned } "
    "CALL () { UNWIND $sources AS sid CALL (sid) { "
    + " UNION ALL ".join(
        f"MATCH (a)-[r:{t.value} {{source_id: sid}}]->(b) RETURN r, a, b" for t in LinkType
    )
    + " } RETURN collect([a.id, type(r), b.id, r.source_id]) AS links } "
    "RETURN owned, links"
)
DELETE_LINKS: dict[LinkType, str] = {
    t: (
        "UNWIND $rows AS row "
        f"MATCH (:Node {{id: row.src}})-[r:{t.value} {{source_id: row.source_id}}]->"
        "(:Node {id: row.dst}) DELETE r RETURN count(r) AS deleted"
    )
    for t in LinkType
}
DETACH_DELETE_NODES = (
    "UNWIND $ids AS id MATCH (n:Node {id: id}) "
    "OPTIONAL MATCH (n)-[r]-(m) "
    "WITH collect(DISTINCT n) AS nodes, collect(DISTINCT r) AS rels, "
    "collect(DISTINCT m.id) AS touched "
    "FOREACH (x IN rels | DELETE x) "
    "FOREACH (x IN nodes | DELETE x) "
    "RETURN size(nodes) AS nodes, size(rels) AS links, touched"
)
_NOT_SOURCE = " AND ".join(f"NOT n:{label.value}" for label in sorted(SOURCE_LABELS))
DELETE_ORPHANS = (
    "UNWIND $ids AS id MATCH (n:Node {id: id}) "
    f"WHERE NOT coalesce(n.pinned, false) AND {_NOT_SOURCE} AND NOT EXISTS {{ (n)--() }} "
    "DELETE n RETURN count(*) AS deleted"
)

# -- reads --------------------------------------------------------------------------------

GET_NODE = "MATCH (n:Node {id: $id}) RETURN properties(n) AS props"
GET_NODES: dict[Label, str] = {
    label: (f"MATCH (n:{label.value}) RETURN properties(n) AS props ORDER BY n.id LIMIT $limit")
    for label in Label
}
_NEIGHBOURS = (
    "WHERE $types IS NULL OR type(r) IN $types "
    "RETURN a.id AS src, type(r) AS type, b.id AS dst, properties(r) AS link, "
    "properties({far}) AS node ORDER BY type, {far}.id, r.source_id"
)
NEIGHBOURS_OUT = "MATCH (a:Node {id: $id})-[r]->(b:Node) " + _NEIGHBOURS.format(far="b")
NEIGHBOURS_IN = "MATCH (a:Node)-[r]->(b:Node {id: $id}) " + _NEIGHBOURS.format(far="a")
_SOURCE_LABEL = " OR ".join(f"n:{label.value}" for label in sorted(SOURCE_LABELS))
SOURCE_HASH = f"MATCH (n:Node {{id: $id}}) WHERE {_SOURCE_LABEL} RETURN n.content_hash AS hash"

_HIT = "node {.id, .label, .text, .name, .uri, .title, .source_id} AS record, score"
_LABEL_FILTER = "WHERE $labels IS NULL OR any(l IN labels(node) WHERE l IN $labels) "
LEXICAL_SEARCH = (
    f"CALL db.index.fulltext.queryNodes('{FULLTEXT_INDEX}', $query, $options) "
    f"YIELD node, score {_LABEL_FILTER}RETURN {_HIT} ORDER BY score DESC LIMIT $k"
)
VECTOR_SEARCH = (
    f"CALL db.index.vector.queryNodes('{VECTOR_INDEX}', $candidates, $vector) "
    f"YIELD node, score {_LABEL_FILTER}RETURN {_HIT} ORDER BY score DESC LIMIT $k"
)

# Counts per label and type come from Neo4j's count store: constant time.
COUNT_NODES = " UNION ALL ".join(
    f"CALL () {{ MATCH (n:{label.value}) RETURN count(n) AS count }} "
    f"RETURN '{label.value}' AS name, count"
    for label in Label
)
COUNT_LINKS = " UNION ALL ".join(
    f"CALL () {{ MATCH ()-[r:{t.value}]->() RETURN count(r) AS count }} "
    f"RETURN '{t.value}' AS name, count"
    for t in LinkType
)
PROJECTION_NODES = "MATCH (n:Node) RETURN n.id AS id, n.label AS label"
PROJECTION_LINKS = (
    "MATCH (a:Node)-[r]->(b:Node) WHERE $types IS NULL OR type(r) IN $types "
    "RETURN a.id AS src, b.id AS dst, type(r) AS type, r.weight AS weight"
)

"""Every Cypher statement of the Neo4j backend, in one place.

Why constants: queries are reviewed here, never assembled from request text. Values always
travel as parameters; the only names spliced in are labels and relationship types taken
from the `Label` / `LinkType` enums when this module is imported.
"""

from __future__ import annotations

from graph.context import TURN_MESSAGES
from graph.model import SOURCE_LABELS, Label, LinkType
from graph.store import FILTER_FIELDS

__all__ = [
    "AWAIT_FULLTEXT",
    "AWAIT_INDEXES",
    "CHUNK_VECTOR_INDEX",
    "CHUNK_VECTOR_SEARCH",
    "COUNT_CHUNKS",
    "COUNT_LINKS",
    "COUNT_NODES",
    "CREATE_CHUNK_VECTOR_INDEX",
    "CREATE_VECTOR_INDEX",
    "DELETE_ALL_LINKS",
    "DELETE_ALL_NODES",
    "DELETE_LINKS",
    "DELETE_ORPHANS",
    "DETACH_DELETE_NODES",
    "DROP_FULLTEXT_INDEX",
    "DROP_VECTOR_INDEXES",
    "FULLTEXT_CONSISTENCY",
    "FULLTEXT_INDEX",
    "GET_NODE",
    "GET_NODES",
    "HIT_CONTEXTS",
    "LEXICAL_SEARCH",
    "MISSING_IDS",
    "NEIGHBOURS_IN",
    "NEIGHBOURS_IN_OF",
    "NEIGHBOURS_OUT",
    "NEIGHBOURS_OUT_OF",
    "NO_LIMIT",
    "PROJECTION_LINKS",
    "PROJECTION_NODES",
    "SCHEMA",
    "SHOW_SCHEMA_NAMES",
    "SHOW_VECTOR_INDEXES",
    "SOURCE_CONTENTS",
    "SOURCE_HASH",
    "SOURCE_HASHES",
    "UPSERT_LINKS",
    "UPSERT_LINKS_EACH",
    "UPSERT_NODES",
    "UPSERT_NODES_AGAIN",
    "UPSERT_NODES_EACH",
    "VECTOR_INDEX",
    "VECTOR_SEARCH",
]

FULLTEXT_INDEX = "spiral_search_text"
VECTOR_INDEX = "spiral_embedding"
# Chunks again, in an index of their own: an ask ranks passages by their own vectors, and
# chunks are often a few of a question's nearest nodes, so from the shared index that view
# needed up to 2,400 candidates (benchmarks/assist_latency.py).
CHUNK_VECTOR_INDEX = "spiral_chunk_embedding"

# -- schema -------------------------------------------------------------------------------

# name -> statement; created only when the name is missing (connect stays cheap).
SCHEMA: dict[str, str] = {
    "spiral_node_id": (
        "CREATE CONSTRAINT spiral_node_id IF NOT EXISTS FOR (n:Node) REQUIRE n.id IS UNIQUE"
    ),
    "spiral_node_source": (
        "CREATE INDEX spiral_node_source IF NOT EXISTS FOR (n:Node) ON (n.source_id)"
    ),
    # Eventually consistent: a commit queues its index updates instead of flushing and
    # reopening the Lucene index (a quarter of a small file's write); a search first waits
    # for what this process committed (`AWAIT_FULLTEXT`).
    FULLTEXT_INDEX: (
        f"CREATE FULLTEXT INDEX {FULLTEXT_INDEX} IF NOT EXISTS "
        "FOR (n:Searchable) ON EACH [n.search_text] OPTIONS {indexConfig: "
        "{`fulltext.analyzer`: 'cjk', `fulltext.eventually_consistent`: true}}"
    ),
    "spiral_decision_id": (
        "CREATE CONSTRAINT spiral_decision_id IF NOT EXISTS FOR (d:Decision) REQUIRE d.id IS UNIQUE"
    ),
    "spiral_event_seq": (
        "CREATE CONSTRAINT spiral_event_seq IF NOT EXISTS FOR (e:Event) REQUIRE e.seq IS UNIQUE"
    ),
    "spiral_event_counter": (
        "CREATE CONSTRAINT spiral_event_counter IF NOT EXISTS "
        "FOR (s:EventSeq) REQUIRE s.name IS UNIQUE"
    ),
    "spiral_event_action": (
        "CREATE INDEX spiral_event_action IF NOT EXISTS FOR (e:Event) ON (e.action, e.seq)"
    ),
    "spiral_event_ref": (
        "CREATE INDEX spiral_event_ref IF NOT EXISTS FOR (r:EventRef) ON (r.id, r.seq)"
    ),
    # Filtered queries: one composite index per filterable field, led by the label and ended
    # by the id, so an equality filter also yields its rows in id order (pages stop early).
    "spiral_node_label_id": (
        "CREATE INDEX spiral_node_label_id IF NOT EXISTS FOR (n:Node) ON (n.label, n.id)"
    ),
    **{
        f"spiral_node_by_{name}": (
            f"CREATE INDEX spiral_node_by_{name} IF NOT EXISTS "
            f"FOR (n:Node) ON (n.label, n.{name}, n.id)"
        )
        for name in (*FILTER_FIELDS, "updated_at", "pinned")
    },
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
FULLTEXT_CONSISTENCY = (
    "SHOW FULLTEXT INDEXES YIELD name, options WHERE name = $name "
    "RETURN options.indexConfig.`fulltext.eventually_consistent` AS eventual"
)
DROP_FULLTEXT_INDEX = f"DROP INDEX {FULLTEXT_INDEX} IF EXISTS"
AWAIT_FULLTEXT = "CALL db.index.fulltext.awaitEventuallyConsistentIndexRefresh()"
AWAIT_INDEXES = "CALL db.awaitIndexes(300)"

SHOW_VECTOR_INDEXES = (
    f"SHOW VECTOR INDEXES YIELD name, state, options WHERE name IN ['{VECTOR_INDEX}', "
    f"'{CHUNK_VECTOR_INDEX}'] RETURN name, state, "
    "options.indexConfig.`vector.dimensions` AS dimensions"
)
_VECTOR_OPTIONS = (
    "OPTIONS {indexConfig: {`vector.dimensions`: $dimensions, "
    "`vector.similarity_function`: 'cosine'}}"
)
CREATE_VECTOR_INDEX = (
    f"CREATE VECTOR INDEX {VECTOR_INDEX} IF NOT EXISTS FOR (n:Searchable) ON (n.embedding) "
    + _VECTOR_OPTIONS
)
CREATE_CHUNK_VECTOR_INDEX = (
    f"CREATE VECTOR INDEX {CHUNK_VECTOR_INDEX} IF NOT EXISTS FOR (n:Chunk) ON (n.embedding) "
    + _VECTOR_OPTIONS
)
DROP_VECTOR_INDEXES = [
    f"DROP INDEX {name} IF EXISTS" for name in (VECTOR_INDEX, CHUNK_VECTOR_INDEX)
]
# Links first, then nodes, 10,000 at a time: detaching nodes 10,000 at a time also deleted all
# their links in the same transaction (an entity named 14,000 times: over the memory limit).
DELETE_ALL_LINKS = "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS"
DELETE_ALL_NODES = "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"

# -- writes -------------------------------------------------------------------------------

# Writes keep the plan they were first given: each is index seeks whatever the statistics say,
# and a graph that grows from empty (an import) otherwise has every write statement re-planned
# as its counts drift (~0.1-1 s each on a busy 2-core box, most of a small source's write).
REPLAN_SKIP = "CYPHER replan=skip "


def _upsert_nodes(label: Label, each: bool = False, again: bool = False) -> str:
    """Write a row only when its digest differs, so unchanged nodes count as not written.

    The embedding arrives as a list (`row.vector`) or, when the driver packs in pure
    Python, as one string of space-separated exact hex floats (`row.vector_text`), which
    Cypher's toFloat reads back bit for bit; neither: the property is removed.

    `each`: the rows carry `at` (which of several batches a row is from) and the statement
    returns the `at` of every row written, so each batch's count is known. `again`: rows of
    nodes written already in this transaction, each written as it is, its version moved on
    by `row.bump` (how many batches changed it after the first).
    """
    others = ":".join(other.value for other in Label if other is not label)
    if again:
        find, step = "MATCH (n:Node {id: row.id}) WITH n, row, n.version AS old ", "row.bump"
    else:
        find = (
            "MERGE (n:Node {id: row.id}) "
            "WITH n, row, n.version AS old WHERE coalesce(n._digest <> row.props._digest, true) "
        )
        step = "1"
    return (
        f"{REPLAN_SKIP}UNWIND $rows AS row {find}"
        f"REMOVE n:{others} "  # an id that changed kind keeps one label
        f"SET n = row.props, n:{label.value}, n.version = coalesce(old, 0) + {step}, "
        "n.updated_at = $now, "
        "n.embedding = coalesce(row.vector, [x IN split(row.vector_text, ' ') | toFloat(x)]) "
        "FOREACH (_ IN CASE WHEN row.searchable THEN [1] ELSE [] END | SET n:Searchable) "
        "FOREACH (_ IN CASE WHEN row.searchable THEN [] ELSE [1] END | REMOVE n:Searchable) "
        + ("RETURN collect(row.at) AS written" if each else "RETURN count(n) AS written")
    )


def _upsert_links(link_type: LinkType, each: bool = False) -> str:
    """One relationship per (src, type, dst, source_id): MERGE on the source_id property.

    `matched` below the number of rows sent means an endpoint is missing. `each`: as for
    nodes, `written` is the `at` of every row written.
    """
    return (
        f"{REPLAN_SKIP}UNWIND $rows AS row "
        "MATCH (a:Node {id: row.src}) "
        "MATCH (b:Node {id: row.dst}) "
        f"MERGE (a)-[r:{link_type.value} {{source_id: row.source_id}}]->(b) "
        "WITH r, row, coalesce(r._digest <> row.props._digest, true) AS changed "
        "FOREACH (_ IN CASE WHEN changed THEN [1] ELSE [] END | SET r = row.props) "
        "RETURN count(*) AS matched, "
        + (
            "collect(CASE WHEN changed THEN row.at END) AS written"
            if each
            else "count(CASE WHEN changed THEN 1 END) AS written"
        )
    )


def _put_node(label: Label) -> str:
    """Write one node exactly as given (a unit of work or an undo): props carry the version."""
    others = ":".join(other.value for other in Label if other is not label)
    return (
        "MERGE (n:Node {id: $id}) "
        f"REMOVE n:{others} "
        f"SET n = $props, n:{label.value}, n.embedding = $vector "
        "FOREACH (_ IN CASE WHEN $searchable THEN [1] ELSE [] END | SET n:Searchable) "
        "FOREACH (_ IN CASE WHEN $searchable THEN [] ELSE [1] END | REMOVE n:Searchable)"
    )


UPSERT_NODES: dict[Label, str] = {label: _upsert_nodes(label) for label in Label}
UPSERT_NODES_EACH: dict[Label, str] = {label: _upsert_nodes(label, True) for label in Label}
UPSERT_NODES_AGAIN: dict[Label, str] = {label: _upsert_nodes(label, True, True) for label in Label}
PUT_NODE: dict[Label, str] = {label: _put_node(label) for label in Label}
DELETE_NODE = (
    "OPTIONAL MATCH (n:Node {id: $id}) DETACH DELETE n "
    "WITH 1 AS _ OPTIONAL MATCH (d:Decision {id: $id}) DELETE d"
)
NODE_STATE = (
    "MATCH (n:Node {id: $id}) OPTIONAL MATCH (d:Decision {id: $id}) "
    "RETURN properties(n) AS props, d.decided AS decided, d.observed AS observed"
)
NODE_STATES = (
    "UNWIND $ids AS id MATCH (n:Node {id: id}) OPTIONAL MATCH (d:Decision {id: id}) "
    "RETURN id, properties(n) AS props, d.decided AS decided, d.observed AS observed"
)
DECISIONS = (
    REPLAN_SKIP + "UNWIND $ids AS id MATCH (d:Decision {id: id}) "
    "RETURN d.id AS id, d.decided AS decided, d.observed AS observed"
)
PUT_DECISION = "MERGE (d:Decision {id: $id}) SET d.decided = $decided, d.observed = $observed"
DELETE_DECISION = "MATCH (d:Decision {id: $id}) DELETE d"
SET_OBSERVED = (
    REPLAN_SKIP
    + "UNWIND $rows AS row MATCH (d:Decision {id: row.id}) SET d.observed = row.observed"
)
LINKS_AT = (
    "MATCH (n:Node {id: $id})-[r]-(:Node) "
    "RETURN DISTINCT startNode(r).id AS src, type(r) AS type, endNode(r).id AS dst, "
    "properties(r) AS props ORDER BY src, type, dst, props.source_id"
)
LINK_STATE: dict[LinkType, str] = {
    t: (
        f"MATCH (:Node {{id: $src}})-[r:{t.value} {{source_id: $source_id}}]->(:Node {{id: $dst}}) "
        "RETURN properties(r) AS props"
    )
    for t in LinkType
}

# -- the event log ------------------------------------------------------------------------

# The counter node is locked by the first writer until it commits, so sequence numbers are
# handed out in commit order: a reader at cursor N never misses an event that commits later
# with a smaller number.
APPEND_EVENT = (
    REPLAN_SKIP + "MERGE (s:EventSeq {name: 'events'}) ON CREATE SET s.value = 0 "
    "SET s.value = s.value + 1 "
    "CREATE (e:Event {seq: s.value, at: $at, actor: $actor, action: $action, ids: $ids, "
    "before: $before, after: $after, reason: $reason, states: $states}) "
    "FOREACH (i IN $ids | CREATE (:EventRef {id: i, seq: s.value})) "
    "RETURN e.seq AS seq"
)
# Several events in one statement: the counter moves once by their number (locking it, as
# above), and they take the numbers below it in order.
APPEND_EVENTS = (
    REPLAN_SKIP + "MERGE (s:EventSeq {name: 'events'}) ON CREATE SET s.value = 0 "
    "SET s.value = s.value + size($events) "
    "WITH s.value - size($events) AS base "
    "UNWIND range(0, size($events) - 1) AS i "
    "WITH base + i + 1 AS seq, $events[i] AS ev "
    "CREATE (e:Event {seq: seq, at: ev.at, actor: ev.actor, action: ev.action, ids: ev.ids, "
    "before: ev.before, after: ev.after, reason: ev.reason, states: ev.states}) "
    "FOREACH (i IN ev.ids | CREATE (:EventRef {id: i, seq: seq})) "
    "RETURN seq ORDER BY seq"
)
_EVENT = "e {.seq, .at, .actor, .action, .ids, .before, .after, .reason, .states} AS event"
EVENT_BY_SEQ = f"MATCH (e:Event {{seq: $seq}}) RETURN {_EVENT}"
EVENTS = (
    "MATCH (e:Event) WHERE e.seq > $since AND ($actions IS NULL OR e.action IN $actions) "
    f"RETURN {_EVENT} ORDER BY e.seq LIMIT $limit"
)
EVENTS_FOR_ID = (
    "MATCH (r:EventRef) WHERE r.id = $id AND r.seq > $since "
    "WITH r.seq AS seq ORDER BY seq MATCH (e:Event {seq: seq}) "
    "WHERE $actions IS NULL OR e.action IN $actions "
    f"RETURN {_EVENT} ORDER BY e.seq LIMIT $limit"
)
UPSERT_LINKS: dict[LinkType, str] = {t: _upsert_links(t) for t in LinkType}
UPSERT_LINKS_EACH: dict[LinkType, str] = {t: _upsert_links(t, True) for t in LinkType}

MISSING_IDS = (
    f"{REPLAN_SKIP}UNWIND $ids AS id "
    "WITH id WHERE NOT EXISTS { MATCH (:Node {id: id}) } "
    "RETURN collect(id) AS missing"
)

# -- deletes ------------------------------------------------------------------------------

# What the sources own (their nodes, the source nodes) and the links they contributed, in
# one round trip. Links: one index seek per type (untyped, it would scan every relationship).
SOURCE_CONTENTS = (
    REPLAN_SKIP + "CALL () { UNWIND $sources AS sid "
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
        f"{REPLAN_SKIP}UNWIND $rows AS row "
        f"MATCH (:Node {{id: row.src}})-[r:{t.value} {{source_id: row.source_id}}]->"
        "(:Node {id: row.dst}) DELETE r RETURN count(r) AS deleted"
    )
    for t in LinkType
}
DETACH_DELETE_NODES = (
    REPLAN_SKIP + "UNWIND $ids AS id MATCH (n:Node {id: id}) "
    "OPTIONAL MATCH (n)-[r]-(m) "
    "WITH collect(DISTINCT n) AS nodes, collect(DISTINCT r) AS rels, "
    "collect(DISTINCT m.id) AS touched "
    "FOREACH (x IN rels | DELETE x) "
    "FOREACH (x IN nodes | DELETE x) "
    "RETURN size(nodes) AS nodes, size(rels) AS links, touched"
)
_NOT_SOURCE = " AND ".join(f"NOT n:{label.value}" for label in sorted(SOURCE_LABELS))
DELETE_ORPHANS = (
    REPLAN_SKIP + "UNWIND $ids AS id MATCH (n:Node {id: id}) "
    f"WHERE NOT coalesce(n.pinned, false) AND {_NOT_SOURCE} AND NOT EXISTS {{ (n)--() }} "
    "AND NOT EXISTS { MATCH (d:Decision) WHERE d.id = n.id } "  # decided on: kept
    "DELETE n RETURN count(*) AS deleted"
)

# -- reads --------------------------------------------------------------------------------

GET_NODE = "MATCH (n:Node {id: $id}) RETURN properties(n) AS props"
GET_NODES: dict[Label, str] = {
    label: (f"MATCH (n:{label.value}) RETURN properties(n) AS props ORDER BY n.id LIMIT $limit")
    for label in Label
}
# A neighbour comes without its embedding (as on the embedded store): nobody reads it, and
# it was most of the bytes on the wire.
_NEIGHBOUR_PROPS = "{.*, embedding: null, search_text: null, _digest: null}"


def _neighbours(pattern: str, far: str, each: bool = False) -> str:
    """A node's links (and far ends) of $types to nodes of $labels, in (type, far id, source)
    order, at most $limit; `each`: for every id of $ids (`at` in the pattern), no limit, each
    row naming the id it is for."""
    at = "at, " if each else ""
    return (
        f"{'UNWIND $ids AS at ' if each else ''}"
        f"MATCH {pattern} WHERE ($types IS NULL OR type(r) IN $types) "
        f"AND ($labels IS NULL OR {far}.label IN $labels) "
        f"RETURN {at}a.id AS src, type(r) AS type, b.id AS dst, properties(r) AS link, "
        f"{far} {_NEIGHBOUR_PROPS} AS node ORDER BY {at}type, {far}.id, r.source_id"
        f"{'' if each else ' LIMIT $limit'}"
    )


NO_LIMIT = 2**62  # LIMIT takes no null: "all" is a number no node reaches


NEIGHBOURS_OUT = _neighbours("(a:Node {id: $id})-[r]->(b:Node)", "b")
NEIGHBOURS_IN = _neighbours("(a:Node)-[r]->(b:Node {id: $id})", "a")
NEIGHBOURS_OUT_OF = _neighbours("(a:Node {id: at})-[r]->(b:Node)", "b", each=True)
NEIGHBOURS_IN_OF = _neighbours("(a:Node)-[r]->(b:Node {id: at})", "a", each=True)

# What suggestions need about each search hit (graph.context), for all hits in one round trip;
# the same walk as graph.context.walk_contexts, step for step. The hit comes back as get_node
# reads it (its properties, people's decisions already laid over, less the index helpers), the
# nodes around it as neighbours() reads them (without embeddings).
_PROPS = "{.*, search_text: null, _digest: null}"
# The employee's turn: its first message, then the next employee message (the lowest id when
# there are several NEXT links) while there is one, TURN_MESSAGES in all. Unrolled, one step
# per subquery: a variable-length path cannot take the lowest id at each step.
_TURN_STEPS = "".join(
    f"CALL (m{i}) {{ OPTIONAL MATCH (m{i})-[:{LinkType.NEXT.value}]->(x:{Label.MESSAGE.value}) "
    f"WHERE x.role = 'employee' RETURN x AS m{i + 1} ORDER BY m{i + 1}.id LIMIT 1 }} "
    for i in range(TURN_MESSAGES - 1)
)
_TURN = ", ".join(f"m{i}" for i in range(TURN_MESSAGES))
HIT_CONTEXTS = (
    "UNWIND $ids AS id MATCH (n:Node {id: id}) "
    # The entities it names (an item's come from its own `entities`, read in Python).
    "CALL (n) { "
    f"OPTIONAL MATCH (n)-[:{LinkType.MENTIONS.value}]->(e:Node) "
    f"WHERE NOT n:{Label.KNOWLEDGE_ITEM.value} "
    "WITH e.id AS entity ORDER BY entity RETURN collect(entity) AS entities } "
    # A message's conversation.
    "CALL (n) { "
    f"OPTIONAL MATCH (n)-[:{LinkType.PART_OF.value}]->(c:{Label.CONVERSATION.value}) "
    f"WHERE n:{Label.MESSAGE.value} RETURN c ORDER BY c.id LIMIT 1 }} "
    # What answered a customer's message: the earliest reply.
    "CALL (n) { "
    f"OPTIONAL MATCH (r:{Label.MESSAGE.value})-[:{LinkType.REPLIES_TO.value}]->(n) "
    f"WHERE n:{Label.MESSAGE.value} AND coalesce(n.role, '') <> 'employee' "
    "RETURN r ORDER BY r.position, r.id LIMIT 1 } "
    "WITH n, entities, c, "
    f"CASE WHEN n:{Label.MESSAGE.value} AND n.role = 'employee' THEN n ELSE r END AS m0 "
    + _TURN_STEPS
    # Items derived from the node or from the first message of its turn.
    + "CALL (n, m0) { "
    "UNWIND CASE WHEN m0 IS NULL THEN [n] ELSE [n, m0] END AS source "
    f"MATCH (i:{Label.KNOWLEDGE_ITEM.value})-[:{LinkType.DERIVED_FROM.value}]->(source) "
    f"WITH DISTINCT i ORDER BY i.id RETURN collect(i {_NEIGHBOUR_PROPS}) AS items }} "
    f"RETURN collect({{id: n.id, node: n {_NEIGHBOUR_PROPS}, "
    f"conversation: c {_NEIGHBOUR_PROPS}, "
    f"turn: [m IN [{_TURN}] WHERE m IS NOT NULL | m {_NEIGHBOUR_PROPS}], "
    "items: items, entities: entities}) AS rows"
)

_SOURCE_LABEL = " OR ".join(f"n:{label.value}" for label in sorted(SOURCE_LABELS))
SOURCE_HASH = f"MATCH (n:Node {{id: $id}}) WHERE {_SOURCE_LABEL} RETURN n.content_hash AS hash"
SOURCE_HASHES = (
    f"UNWIND $ids AS id MATCH (n:Node {{id: id}}) WHERE {_SOURCE_LABEL} "
    "RETURN id, n.content_hash AS hash"
)

# Searches and `HIT_CONTEXTS` return their rows collected into one record: a Bolt record per
# row cost ~2 ms of an ask's 50 hits on the server and in the driver (benchmarks/README.md).
_HITS = (
    "WITH node, score ORDER BY score DESC LIMIT $k RETURN collect({record: "
    "node {.id, .label, .text, .name, .uri, .title, .source_id, .chunk_id}, score: score}) AS rows"
)
_LABEL_FILTER = (
    "WHERE ($labels IS NULL OR any(l IN labels(node) WHERE l IN $labels)) "
    + "".join(
        f"AND (${name} IS NULL OR coalesce(node.{name}, '') = '' OR node.{name} IN ${name}) "
        for name in ("status", "kind", "team")
    )
    + "AND ($now IS NULL OR coalesce(node.expires_at, '') = '' OR node.expires_at > $now) "
)
LEXICAL_SEARCH = (
    f"CALL db.index.fulltext.queryNodes('{FULLTEXT_INDEX}', $query, $options) "
    f"YIELD node, score {_LABEL_FILTER}{_HITS}"
)
VECTOR_SEARCH, CHUNK_VECTOR_SEARCH = (
    f"CALL db.index.vector.queryNodes('{index}', $candidates, $vector) "
    f"YIELD node, score {_LABEL_FILTER}{_HITS}"
    for index in (VECTOR_INDEX, CHUNK_VECTOR_INDEX)
)
COUNT_SEARCHABLE = "MATCH (n:Searchable) RETURN count(n) AS count"
COUNT_CHUNKS = "MATCH (n:Chunk) RETURN count(n) AS count"


def query_nodes(
    equalities: list[str],
    pinned: bool,
    expires: bool,
    updated: bool,
    sort: str,
    cursor: bool,
    descending: bool,
) -> str:
    """A filtered, sorted page of one label's nodes, read in index order so a page stops after
    `limit` rows. Only field names from FILTER_FIELDS and the fixed sort keys are spliced in;
    every value is a parameter.

    Neo4j yields a composite index's order only when ORDER BY names all its properties (the
    equal ones too) and every property has a predicate, hence `n.id IS NOT NULL` and the hint.
    """
    assert set(equalities) <= set(FILTER_FIELDS) and sort in ("id", "updated_at", "expires_at")
    keys = [*equalities, *(["pinned"] if pinned else [])]
    lead = sort if sort != "id" else (keys[0] if keys else "")
    index = ["label", *([lead] if lead else []), "id"]
    where = ["n.label = $label", "n.id IS NOT NULL"]
    where += [f"n.{name} = ${name}" for name in keys]
    if expires:
        where.append("n.expires_at > '' AND n.expires_at < $expires_before")
    if updated:
        where.append("n.updated_at >= $updated_since")
    op = "<" if descending else ">"
    if sort == "id":
        if cursor:
            where.append(f"n.id {op} $after_id")
    else:
        where.append(f"n.{sort} IS NOT NULL")
        if cursor:
            where.append(f"n.{sort} {op}= $after_value")
            where.append(
                f"CASE WHEN n.{sort} {op} $after_value THEN true ELSE n.id {op} $after_id END"
            )
    order = " DESC" if descending else ""
    hint = f"USING INDEX n:Node({', '.join(index)}) "
    return (
        f"MATCH (n:Node) {hint}WHERE {' AND '.join(where)} "
        f"RETURN n {{.*, embedding: null}} AS props, n.{sort} AS sort "
        f"ORDER BY {', '.join(f'n.{name}{order}' for name in index)} LIMIT $limit"
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

# -- index terms (re-indexed once when graph.text.INDEX_TERMS_VERSION changes) -------------

INDEX_TERMS_VERSION = "MATCH (m:SpiralMeta {name: 'index_terms'}) RETURN m.value AS value"
SET_INDEX_TERMS_VERSION = "MERGE (m:SpiralMeta {name: 'index_terms'}) SET m.value = $value"
SEARCHABLE_PAGE = (
    "MATCH (n:Node) WHERE n.id > $after AND n:Searchable "
    "RETURN n {.*, embedding: null, search_text: null} AS props ORDER BY n.id LIMIT $limit"
)
SET_SEARCH_TEXT = "UNWIND $rows AS row MATCH (n:Node {id: row.id}) SET n.search_text = row.terms"

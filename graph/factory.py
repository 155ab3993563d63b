"""Choosing the backend from settings: the only place that knows both backends exist."""

from __future__ import annotations

from graph.settings import Settings
from graph.store import GraphStore

__all__ = ["open_store"]


def open_store(settings: Settings) -> GraphStore:
    """Open the store named by SPIRAL_STORE; raises StoreUnavailable with a clear message."""
    if settings.store == "neo4j":
        from graph.neo4j_store import Neo4jStore

        password = settings.neo4j_password.get_secret_value()
        auth = (settings.neo4j_user, password) if password else None
        return Neo4jStore.connect(settings.neo4j_uri, auth=auth, database=settings.neo4j_database)
    from graph.embedded import EmbeddedStore

    return EmbeddedStore.open(settings.sqlite_path, busy_timeout=settings.busy_timeout_s)

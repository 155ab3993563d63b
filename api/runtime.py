"""What a CLI call or the API process holds: settings, the store, the model, the pipeline.

Expensive things are built once, on first use, and passed in; nothing is read at import time.
"""

from __future__ import annotations

from api.accounts import Accounts
from graph.embeddings import LazyEmbedder, ModelError
from graph.factory import open_store
from graph.model import Customer
from graph.settings import Settings
from graph.store import GraphStore, StoreBusy, StoreUnavailable
from ingest.gazetteer import GazetteerError
from ingest.pipeline import Ingestor, customer_node_id
from seci.assist import AskOptions, AskRequest, AskResult, suggest
from seci.feedback import SettleReport, settle_outcomes

__all__ = ["KNOWN_ERRORS", "Runtime"]

# Failures a user can fix (a setting, a missing install): shown as one line, no traceback.
KNOWN_ERRORS: tuple[type[Exception], ...] = (
    StoreUnavailable,
    StoreBusy,
    ModelError,
    GazetteerError,
)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: GraphStore = open_store(settings)
        self.embedder = LazyEmbedder(
            settings.embedding_model,
            settings.embedding_batch_size,
            settings.query_encoder,
            settings.embedding_backend,
        )
        self._ingestor: Ingestor | None = None
        # Accounts and keys in the store, with this process's cache of resolved keys (no I/O).
        self.accounts = Accounts(self.store, settings.auth_cache_s)

    def ingestor(self) -> Ingestor:
        if self._ingestor is None:
            self._ingestor = Ingestor(self.store, self.embedder, self.settings)
        return self._ingestor

    def ask(self, request: AskRequest | str, top_k: int = 5) -> AskResult:
        options = AskOptions.from_settings(self.settings)
        if isinstance(request, AskRequest) and request.customer:
            request = request.model_copy(update={"customer": self.customer_id(request.customer)})
        return suggest(self.store, self.embedder, request, top_k, options)

    def customer_id(self, ref: str) -> str:
        """A customer's node id from what a person or a system knows them by: the node id,
        or their id (or name) in the source system, hashed the way ingest hashes it."""
        if isinstance(self.store.get_node(ref), Customer):
            return ref
        return customer_node_id(self.settings, ref)

    def settle(self) -> SettleReport:
        """After an ingest: outcomes of conversations that arrived count on the items used
        in them (seci.feedback)."""
        return settle_outcomes(self.store)

    def close(self) -> None:
        self.store.close()

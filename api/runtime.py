"""What a CLI call or the API process holds: settings, the store, the model, the pipeline.

Expensive things are built once, on first use, and passed in; nothing is read at import time.
"""

from __future__ import annotations

from graph.embeddings import LazyEmbedder, ModelError
from graph.factory import open_store
from graph.settings import Settings
from graph.store import GraphStore, StoreBusy, StoreUnavailable
from graph.text import detect_language
from ingest.gazetteer import GazetteerError
from ingest.pipeline import Ingestor
from seci.assist import AskResult, suggest

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
        self.embedder = LazyEmbedder(settings.embedding_model, settings.embedding_batch_size)
        self._ingestor: Ingestor | None = None

    def ingestor(self) -> Ingestor:
        if self._ingestor is None:
            self._ingestor = Ingestor(self.store, self.embedder, self.settings)
        return self._ingestor

    def ask(self, query: str, top_k: int = 5) -> AskResult:
        s = self.settings
        weight = (
            s.fusion_dense_weight_cjk if detect_language(query) == "zh" else s.fusion_dense_weight
        )
        return suggest(
            self.store,
            self.embedder,
            query,
            top_k,
            fusion=self.settings.fusion,
            dense_weight=weight,
        )

    def close(self) -> None:
        self.store.close()

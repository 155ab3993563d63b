"""What a CLI call or the API process holds: settings, the store, the model, the pipeline.

Expensive things are built once, on first use, and passed in; nothing is read at import time.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

from threadpoolctl import threadpool_limits

from api.accounts import Accounts
from graph.embeddings import LazyEmbedder, ModelError
from graph.factory import open_store
from graph.model import Customer, Label
from graph.settings import Settings
from graph.store import GraphStore, NodeQuery, StoreBusy, StoreUnavailable
from ingest.gazetteer import GazetteerError
from ingest.pipeline import Ingestor, customer_node_id
from seci.assist import AskOptions, AskRequest, AskResult, Turn, suggest
from seci.feedback import SettleReport, settle_outcomes

__all__ = ["KNOWN_ERRORS", "Runtime", "one_blas_thread"]

log = logging.getLogger("spiral.api")

# What warming up asks and extracts from: Chinese and English, as customers write.
WARM_TEXTS = ("您好，我想问一下退款多久能到账？", "Hello, how long does a refund take to arrive?")
WARM_TEXT_CHARS = 60  # a stored text asked while the store warms up, cut as a question is

# Failures a user can fix (a setting, a missing install): shown as one line, no traceback.
KNOWN_ERRORS: tuple[type[Exception], ...] = (
    StoreUnavailable,
    StoreBusy,
    ModelError,
    GazetteerError,
)


def one_blas_thread() -> None:
    """Numpy's matrix products on one thread, for the rest of this process. An ask's vector
    scan is one matrix-vector product; from ~1,200 stored vectors OpenBLAS splits it over every
    core, and its threads then spin waiting for the next one, holding the core that the
    lexical search, the model and the other requests need. Measured on a store of 1,416
    vectors: a live message cost 231 ms of server CPU, 84 ms with one thread."""
    threadpool_limits(limits=1, user_api="blas")


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: GraphStore = open_store(settings)
        self.embedder = LazyEmbedder(
            settings.embedding_model,
            settings.embedding_batch_size,
            settings.query_encoder,
            settings.embedding_backend,
            settings.context_encoder,
        )
        self._ingestor: Ingestor | None = None
        # Accounts and keys in the store, with this process's cache of resolved keys (no I/O).
        self.accounts = Accounts(self.store, settings.auth_cache_s)
        self.warming: threading.Thread | None = None
        self._ready = threading.Event()  # set once `warm` is done; the store's asks may follow

    def start_warming(self) -> None:
        """`warm` in a background thread; `warm_state` says how it goes. A serving process
        also keeps matrix products on one thread (`one_blas_thread`)."""
        one_blas_thread()
        self.warming = threading.Thread(target=self._warm_logged, name="spiral-warm", daemon=True)
        self.warming.start()

    @property
    def warm_state(self) -> str:
        """ "cold" (never asked to warm), "warming", or "warm" (ready to serve: the store's
        own warm-up asks may still be running behind)."""
        if self.warming is None:
            return "cold"
        return "warm" if self._ready.is_set() or not self.warming.is_alive() else "warming"

    def _warm_logged(self) -> None:
        t0 = time.perf_counter()
        try:
            self.warm()
        except Exception:  # a broken model or store shows on the first request and readyz
            log.exception("warming up failed")
            return
        # The model, jieba's tables and the imports are half a million objects that live as
        # long as the process: a full garbage collection walked them all, 330-360 ms with
        # every request stopped (pushes came in clusters of 1-2 s). Frozen, it skips them.
        gc.freeze()
        self._ready.set()
        log.info(
            "warm in %.1f s (model, language tables, search indexes)", time.perf_counter() - t0
        )
        t0 = time.perf_counter()
        try:
            asked = self.warm_store()
        except Exception:  # the store's warm-up only makes later asks faster
            log.exception("warming up the store failed")
            return
        if asked:
            gc.freeze()  # what the asks left in caches lives as long, too
            log.info("store warm in %.1f s (%d asks)", time.perf_counter() - t0, asked)

    def warm(self) -> None:
        """Load now what the first ask and the first live message would load while a customer
        waits: the model and its query session, jieba's dictionary, POS tags and keyword
        tables (seconds the first time), the store's vector and term indexes."""
        extractor = self.ingestor().extractor
        for text in WARM_TEXTS:
            extractor.extract(text)
        context = [Turn(role="customer", text=WARM_TEXTS[0])]
        for text in WARM_TEXTS:
            self.ask(AskRequest(query=text, context=context), 3)

    def warm_store(self) -> int:
        """The store's own warm-up, once the process serves: `GraphStore.warm_up_asks` asks
        with texts the store holds (its messages, then its passages), as many as it has up
        to that. A just-started Neo4j compiles its hot code over its first few hundred
        queries; asked here, it does so before the employees' asks. Returns the asks made."""
        texts = warm_up_texts(self.store, self.store.warm_up_asks)
        for text in texts:
            self.ask(AskRequest(query=text), 3)
        return len(texts)

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


def warm_up_texts(store: GraphStore, n: int) -> list[str]:
    """Up to n texts of the store to ask with while it warms up: messages first (what
    customers write), then passages; each cut to a question's length."""
    texts: list[str] = []
    for label in (Label.MESSAGE, Label.CHUNK):
        if len(texts) >= n:
            break
        page = store.query_nodes(NodeQuery(label=label, limit=n - len(texts)))
        texts += [text[:WARM_TEXT_CHARS] for node in page.nodes if (text := node.search_text())]
    return texts[:n]

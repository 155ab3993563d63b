"""The model's transformer exported once to ONNX, offline, from the same local weights, and
cached on disk; run by onnxruntime for queries and, as a setting, for batches.

Why: an ask embeds one short text while the customer waits. On one core torch takes ~14 ms
for it, mostly the cost of running each small op; onnxruntime runs the same graph in ~6 ms
(benchmarks/assist_latency.py). The vectors are the same: every load compares the two on
probe texts and falls back to torch when they differ by more than `TOLERANCE`.

Batches (ingest) run where `SPIRAL_EMBEDDING_BACKEND` says (graph.embeddings): torch, this
export (one run per core side by side, `run_batches`), or an int8 copy of it (`quantize`:
dynamic quantization of the MatMul weights, per channel), whose vectors are slightly
different (cosine to torch's at least `INT8_MIN_COSINE` on the probes, checked at every
load). Batches are sorted by length so a batch pads little (benchmarks/embed_backends.py).
Tokenising, pooling and normalising stay sentence-transformers' own modules, so whatever
pooling a model is configured with is kept; once the export is on disk, graph.onnx_light
does the same for plain models without torch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "EXPORT_VERSION",
    "INT8_MIN_COSINE",
    "INT8_VERSION",
    "MAX_BATCH_TEXTS",
    "TOKENS_PER_TEXT",
    "TOLERANCE",
    "EncoderShapes",
    "OnnxEncoder",
    "OnnxQueryEncoder",
    "cache_path",
    "default_cache_dir",
    "like_length_batches",
    "quantize",
    "run_batches",
    "session_options",
    "write_once",
]

log = logging.getLogger(__name__)

EXPORT_VERSION = "1"  # bump when the exported graph changes: older files are not reused
TOLERANCE = 1e-4  # largest difference to torch's vector allowed on the probe texts
INT8_VERSION = "2"  # bump when the quantization recipe changes (2: weights in 7 bits)
INT8_MIN_COSINE = 0.99  # the int8 model's least cosine to torch's vector on the probe texts
PROBES = ("退货的运费谁出？", "How long does a refund take to reach my card?")
_CPU = ["CPUExecutionProvider"]
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def session_options() -> Any:
    """onnxruntime options for every one of our sessions: one thread for the op (a query runs
    beside the lexical search, which needs the other core; batches run one per core side by
    side, `run_batches`), no memory pattern, and threads that sleep when they wait.

    No memory pattern: it is planned and kept per input shape, and every batch and query has
    a shape of its own (texts x tokens), so a long ingest or a server grew by it (400 batches
    of mixed shapes: 574 MB resident with it, 486 MB without; no slower). The arena stays:
    without it batches ran ~10 % slower.

    No spinning: by default a pool thread that waits (for the other's half of an op, or for
    the next call) spins on its core. During an ingest that core is wanted by the store
    writer, file preparation and, on Neo4j, the server. Import of 994 chat files on 2 cores,
    interleaved runs: ~5 CPU-s less in the embedded import; 89.0 / 93.7 against 100.8 / 97.1 s
    with a just-started Neo4j; the embedding-only ceiling unchanged (49.6 against 49.7 s)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spiral"


def cache_path(cache_dir: Path, model_name: str, weights_id: str, variant: str = "") -> Path:
    """One file per model, weights and export recipe (and quantization recipe for the
    variant "int8"): a changed model or recipe is exported anew."""
    recipe = f"{model_name}\0{weights_id}\0{EXPORT_VERSION}"
    if variant:
        recipe += f"\0{variant}:{INT8_VERSION}"
    key = hashlib.sha256(recipe.encode()).hexdigest()
    slug = "".join(c if c.isalnum() else "-" for c in model_name)[-40:]
    suffix = f"-{variant}" if variant else ""
    return cache_dir / "onnx" / f"{slug}-{key[:16]}{suffix}.onnx"


# A batch holds `batch_size` texts of TOKENS_PER_TEXT tokens, more of shorter ones (up to
# MAX_BATCH_TEXTS) and fewer of longer ones: what a model call costs beyond its own overhead
# is its tokens (padding included). On 2 cores, against a fixed 16 texts a batch sorted by
# characters: 4,000 JDDC messages (25 tokens on average) 16.4 → 15.0 s, 3,000 entity names
# (4 tokens) 2.8 → 1.9 s, the sample documents' 429 passages (mixed Chinese and English, so
# characters sort them badly) 3.9 → 2.8 s. Memory stays bounded by the tokens of a batch.
TOKENS_PER_TEXT = 64
MAX_BATCH_TEXTS = 256


def like_length_batches(
    counts: Sequence[int], batch_size: int, max_texts: int = MAX_BATCH_TEXTS
) -> list[np.ndarray]:
    """Indexes of texts with `counts` tokens, longest first (as sentence-transformers
    orders them), cut into batches of at most `batch_size` * TOKENS_PER_TEXT tokens with
    padding and `max_texts` texts (at least one text each)."""
    order = np.argsort([-c for c in counts], kind="stable")
    budget = batch_size * TOKENS_PER_TEXT
    batches, start = [], 0
    while start < len(order):
        size = max(1, min(max_texts, budget // max(1, counts[order[start]])))
        batches.append(order[start : start + size])
        start += size
    return batches


def run_batches(
    batches: list[np.ndarray], run: Callable[[np.ndarray], np.ndarray], workers: int = 1
) -> np.ndarray:
    """`run` on each batch of indexes, `workers` batches at a time, the rows put back in
    order (indexes 0..n-1, each in one batch). A batch of fewer is split so each worker
    has one.

    Why runs side by side, each on one onnxruntime thread, rather than one run on all
    cores: the threads of one run meet at every op, so when something else takes a core
    (an ingest's writer and file preparation, a local Neo4j) the run waits for its slowest
    thread. Alone, on 2 cores, they are as fast (4,000 JDDC messages: 41.5 against 41.9 s);
    beside a process taking 60 % of a core, 21.5 against 24.8 s; the 994-file import with a
    just-started Neo4j, 86-88 against 89-98 s. And one session serves queries and batches:
    no second copy of the weights."""
    if workers > 1:
        batches = _split_for(batches, workers)
    if workers <= 1 or len(batches) <= 1:
        parts = [(batch, run(batch)) for batch in batches]
    else:
        parts = list(_batch_pool(workers).map(lambda batch: (batch, run(batch)), batches))
    rows = sum(len(batch) for batch in batches)
    vectors = np.empty((rows, parts[0][1].shape[1]), dtype=np.float32)
    for batch, part in parts:
        vectors[batch] = part
    return vectors


def _split_for(batches: list[np.ndarray], workers: int) -> list[np.ndarray]:
    """The batches, the largest halved until there are `workers` (or each holds one text)."""
    batches = list(batches)
    while len(batches) < workers:
        largest = max(range(len(batches)), key=lambda i: len(batches[i]))
        batch = batches[largest]
        if len(batch) < 2:
            break
        half = len(batch) // 2
        batches[largest : largest + 1] = [batch[:half], batch[half:]]
    return batches


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _batch_pool(workers: int) -> ThreadPoolExecutor:
    """The threads that run batches, `workers` of them, made once per process and shared by
    every caller (two ingests in one server take turns on the same cores)."""
    with _pools_lock:
        if workers not in _pools:
            _pools[workers] = ThreadPoolExecutor(workers, thread_name_prefix="spiral-encode")
        return _pools[workers]


class EncoderShapes:
    """What every ONNX encoder does with its `encode`: one text per run, batches of like
    length, the checks against torch's vectors of PROBES."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def encode_each(self, texts: Sequence[str]) -> np.ndarray:
        """`encode`, one text per run: a query's words beside its longer context would be
        padded to the context's length (on one thread: 36 against 51 ms p50 for a customer's
        15 characters and their 4 turns of context, 126 characters)."""
        if len(texts) == 1:
            return self.encode(texts)
        return np.concatenate([self.encode([t]) for t in texts])

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text, truncated as the model truncates (characters where unknown)."""
        return [len(t) for t in texts]

    def encode_batches(
        self,
        texts: Sequence[str],
        batch_size: int,
        max_texts: int = MAX_BATCH_TEXTS,
        workers: int = 1,
    ) -> np.ndarray:
        """`encode` in batches of texts of like length (`like_length_batches`), so little is
        padded, run `workers` at a time (`run_batches`); rows in the order of `texts`."""
        counts, run = self.batch_runner(texts)
        return run_batches(like_length_batches(counts, batch_size, max_texts), run, workers)

    def batch_runner(
        self, texts: Sequence[str]
    ) -> tuple[list[int], Callable[[np.ndarray], np.ndarray]]:
        """The texts' token counts, and what encodes the texts at some of their indexes."""
        return self.token_counts(texts), lambda batch: self.encode([texts[i] for i in batch])

    def difference(self, reference: np.ndarray) -> float:
        """Largest absolute difference to torch's vectors of `PROBES` (`reference`)."""
        return float(np.abs(self.encode(PROBES) - reference).max())

    def least_cosine(self, reference: np.ndarray) -> float:
        """Least cosine to torch's (normalised) vectors of `PROBES` (`reference`)."""
        return float((self.encode(PROBES) * reference).sum(axis=1).min())

    def off_torch(self, reference: np.ndarray, int8: bool) -> str:
        """Why this model's vectors of `PROBES` are too far from torch's (`reference`), or ''
        when they are close enough: the float model must match within TOLERANCE, the int8
        one reach cosine INT8_MIN_COSINE."""
        if int8:
            least = self.least_cosine(reference)
            return (
                f"least cosine {least:.4f} < {INT8_MIN_COSINE}" if least < INT8_MIN_COSINE else ""
            )
        gap = self.difference(reference)
        return f"difference {gap:.2g} > {TOLERANCE}" if gap > TOLERANCE else ""


class OnnxEncoder(EncoderShapes):
    """`encode` on one onnxruntime thread (`session_options`), through sentence-transformers'
    tokenizer and pooling.

    With `source` (the float model's file) the model at `path` is the int8 copy of it, made
    from it when missing (and `source` exported first when it is missing too)."""

    def __init__(
        self,
        model: SentenceTransformer,
        path: Path,
        source: Path | None = None,
    ) -> None:
        import onnxruntime as ort

        self._model = model
        self._names = [n for n in _INPUTS if n in model.preprocess(["x"])]
        options = session_options()
        if path.is_file():
            try:
                self._session = ort.InferenceSession(str(path), options, providers=_CPU)
                return
            except Exception as exc:  # a damaged cache file: made again below
                log.warning(
                    "the cached ONNX model %s cannot be loaded (%s): exporting again", path, exc
                )
                path.unlink(missing_ok=True)
        if source is None:
            export(model, self._names, path)
        else:
            if not source.is_file():
                export(model, self._names, source)
            quantize(source, path)
        self._session = ort.InferenceSession(str(path), options, providers=_CPU)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        with _tokenizing:
            tokenized = self._model.tokenizer(
                list(texts), truncation=True, max_length=self._model.max_seq_length
            )
        return [len(ids) for ids in tokenized["input_ids"]]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        with _tokenizing:
            features = self._model.preprocess(list(texts))
        feed = {n: features[n].numpy() for n in self._names}
        (tokens,) = self._session.run(None, feed)
        features["token_embeddings"] = torch.from_numpy(tokens)
        with torch.inference_mode():
            for module in list(self._model)[1:]:  # pooling, normalising, any dense layer
                features = module(features)
            vectors = torch.nn.functional.normalize(features["sentence_embedding"], dim=1)
        return vectors.numpy().astype(np.float32, copy=False)


OnnxQueryEncoder = OnnxEncoder  # its first name, when it served queries only

# transformers' fast tokenizer sets its padding and truncation on each call (without padding
# for `token_counts`, with it for `preprocess`); a change while another thread's call is
# under way fails ("Already borrowed"). Batches run on several threads (`run_batches`), so
# calls into it take turns; they are short beside the model's run.
_tokenizing = threading.Lock()


_export_lock = threading.Lock()


def export(model: SentenceTransformer, names: list[str], path: Path) -> None:
    """The transformer (token embeddings out) as ONNX at `path`, written whole or not at all."""
    import torch

    class _Tokens(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: Any) -> Any:
            return self.inner(**dict(zip(names, inputs, strict=True))).last_hidden_state

    transformer = model[0].auto_model.eval()
    sample = model.preprocess(list(PROBES))
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "token_embeddings"]}

    def write(tmp: str) -> None:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Tokens(transformer),
                tuple(sample[n] for n in names),
                tmp,
                input_names=names,
                output_names=["token_embeddings"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )

    write_once(path, "exporting the embedding model to ONNX", write)


def quantize(source: Path, path: Path) -> None:
    """The int8 copy of the float model at `source`, written whole or not at all: dynamic
    quantization (weights int8 per output channel, activations per batch at run time) of the
    MatMuls only. Quantizing per tensor costs too much (cosine to torch 0.89-0.97 on the
    probes, against 0.992 per channel). The embedding tables stay float: quantized too, the
    file is 22 MB instead of 58 for no gain in accuracy or speed.

    Weights in 7 bits (`reduce_range`), as onnxruntime advises for x86 without VNNI: there
    its int8 kernels add pairs of products in 16 bits, which saturate with full-range
    weights. On such a box (AVX2 only) the same texts encoded alone and in a batch agreed to
    a cosine of 0.989 with 8 bits and 0.995 with 7; the mean cosine to torch on 400 JDDC
    messages went 0.9846 -> 0.9858."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    def write(tmp: str) -> None:
        root = logging.getLogger()  # where quantize_dynamic advises pre-processing (not needed)
        root.addFilter(_no_preprocessing_advice)
        try:
            quantize_dynamic(
                str(source),
                tmp,
                op_types_to_quantize=["MatMul"],
                per_channel=True,
                weight_type=QuantType.QInt8,
                reduce_range=True,
            )
        finally:
            root.removeFilter(_no_preprocessing_advice)

    write_once(path, "quantizing the ONNX embedding model to int8", write)


def write_once(path: Path, what: str, write: Callable[[str], None]) -> None:
    """`write(tmp)` makes the file under a temp name beside `path`, which then takes its
    place whole (readable by others on the machine: a cache); nothing when `path` is there
    already. One writer at a time in this process; across processes the rename decides."""
    with _export_lock:
        if path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        log.info("%s once: %s", what, path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        try:
            write(tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)


def _no_preprocessing_advice(record: logging.LogRecord) -> bool:
    return "pre-processing" not in record.getMessage()

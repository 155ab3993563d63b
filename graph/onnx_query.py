"""Queries encoded by onnxruntime: the model's transformer exported once to ONNX, offline,
from the same local weights, and cached on disk.

Why: an ask embeds one short text while the customer waits. On one core torch takes ~14 ms
for it, mostly the cost of running each small op; onnxruntime runs the same graph in ~6 ms
(benchmarks/assist_latency.py). The vectors are the same: every load compares the two on a
probe text and falls back to torch when they differ by more than `TOLERANCE`. Batches
(ingest) stay on torch, which is 2.5x faster there (67 against 27 texts/s on one thread).
Tokenising, pooling and normalising stay sentence-transformers' own modules, so whatever
pooling a model is configured with is kept.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["EXPORT_VERSION", "TOLERANCE", "OnnxQueryEncoder", "cache_path", "default_cache_dir"]

log = logging.getLogger(__name__)

EXPORT_VERSION = "1"  # bump when the exported graph changes: older files are not reused
TOLERANCE = 1e-4  # largest difference to torch's vector allowed on the probe texts
PROBES = ("退货的运费谁出？", "How long does a refund take to reach my card?")
_CPU = ["CPUExecutionProvider"]
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spiral"


def cache_path(cache_dir: Path, model_name: str, weights_id: str) -> Path:
    """One file per model, weights and export recipe: a changed model is exported anew."""
    key = hashlib.sha256(f"{model_name}\0{weights_id}\0{EXPORT_VERSION}".encode()).hexdigest()
    slug = "".join(c if c.isalnum() else "-" for c in model_name)[-40:]
    return cache_dir / "onnx" / f"{slug}-{key[:16]}.onnx"


class OnnxQueryEncoder:
    """`encode` for a few short texts on one onnxruntime thread (it runs beside the lexical
    search, which needs the other core)."""

    def __init__(self, model: SentenceTransformer, path: Path) -> None:
        import onnxruntime as ort

        self._model = model
        self._names = [n for n in _INPUTS if n in model.preprocess(["x"])]
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        if path.is_file():
            try:
                self._session = ort.InferenceSession(str(path), options, providers=_CPU)
                return
            except Exception as exc:  # a damaged cache file: made again below
                log.warning(
                    "the cached ONNX model %s cannot be loaded (%s): exporting again", path, exc
                )
                path.unlink(missing_ok=True)
        export(model, self._names, path)
        self._session = ort.InferenceSession(str(path), options, providers=_CPU)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        features = self._model.preprocess(list(texts))
        feed = {n: features[n].numpy() for n in self._names}
        (tokens,) = self._session.run(None, feed)
        features["token_embeddings"] = torch.from_numpy(tokens)
        with torch.inference_mode():
            for module in list(self._model)[1:]:  # pooling, normalising, any dense layer
                features = module(features)
            vectors = torch.nn.functional.normalize(features["sentence_embedding"], dim=1)
        return vectors.numpy().astype(np.float32, copy=False)

    def difference(self, reference: np.ndarray) -> float:
        """Largest absolute difference to torch's vectors of `PROBES` (`reference`)."""
        return float(np.abs(self.encode(PROBES) - reference).max())


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
    with _export_lock:
        if path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        log.info("exporting the embedding model to ONNX once: %s", path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        try:
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
            os.chmod(tmp, 0o644)  # a cache others on the machine may read
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)

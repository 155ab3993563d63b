"""The exported model run without torch: `tokenizers`, onnxruntime and numpy pooling.

Why: importing torch (a CUDA build here) and sentence-transformers costs ~750 MB of resident
memory before a text is embedded, two thirds of an ingest's peak, and seconds of start-up.
The ONNX backends need neither once the model is exported: the tokenizer is the model's own
`tokenizer.json`, and pooling a plain sentence-transformers model (a transformer, mean or CLS
pooling, normalising) is a few lines of numpy.

Used when everything is on disk (the export, the int8 copy for that backend, and torch's
vectors of the probe texts, written beside the export when it was first checked against
torch) and the model is of that plain kind; graph.embeddings loads sentence-transformers as
before otherwise, and that run writes what the next one needs. Every load checks the vectors
against torch's stored ones, as the torch path checks against torch itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graph.onnx_query import PROBES, EncoderShapes, session_options, write_once

__all__ = ["LightEncoder", "LightModel", "load_probes", "probes_path", "save_probes"]

log = logging.getLogger(__name__)

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
_POOLING_MODES = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}


def probes_path(onnx_file: Path) -> Path:
    """Where torch's vectors of PROBES are kept for an export."""
    return onnx_file.with_suffix(".probes.npy")


def save_probes(onnx_file: Path, reference: np.ndarray) -> None:
    """Torch's vectors of PROBES beside the export (once, whole or not at all)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as out:  # a file object: np.save would add ".npy" to a name
            np.save(out, np.asarray(reference, np.float32))

    write_once(probes_path(onnx_file), "keeping torch's vectors of the probe texts", write)


def load_probes(onnx_file: Path) -> np.ndarray | None:
    path = probes_path(onnx_file)
    try:
        reference = np.load(path)
    except (OSError, ValueError):
        return None
    return reference if reference.shape[0] == len(PROBES) else None


class LightModel:
    """A sentence-transformers model folder read without sentence-transformers: its
    tokenizer (as sentence-transformers configures it: truncated at max_seq_length, padded to
    the longest text of a batch) and its pooling. `open` says None for any other kind of model."""

    def __init__(
        self, tokenizer: Any, pooling: str, normalize: bool, dim: int, pad_id: int = 0
    ) -> None:
        self.tokenizer, self.pooling, self.normalize, self.dim = tokenizer, pooling, normalize, dim
        self.pad_id = pad_id

    @classmethod
    def open(cls, folder: Path) -> LightModel | None:
        try:
            modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
            kinds = [m["type"] for m in modules]
            if kinds not in ([_TRANSFORMER, _POOLING], [_TRANSFORMER, _POOLING, _NORMALIZE]):
                return None
            pooling_dir = folder / modules[1]["path"]
            pooling = json.loads((pooling_dir / "config.json").read_text(encoding="utf-8"))
            modes = [name for key, name in _POOLING_MODES.items() if pooling.get(key)]
            others = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
            if len(modes) != 1 or len(others) != 1:
                return None
            config = json.loads((folder / "sentence_bert_config.json").read_text("utf-8"))
            if config.get("do_lower_case"):
                return None  # sentence-transformers lower-cases before its tokenizer
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return None
        special = json.loads((folder / "tokenizer_config.json").read_text("utf-8"))
        pad = special.get("pad_token", "[PAD]")
        pad_id = tokenizer.token_to_id(pad)
        if pad_id is None:
            return None
        tokenizer.enable_truncation(max_length=int(config["max_seq_length"]))
        tokenizer.no_padding()  # padded here, per batch (`padded`), from one tokenization
        dim = int(pooling["word_embedding_dimension"])
        return cls(tokenizer, modes[0], len(kinds) == 3, dim, pad_id)

    def tokenize(self, texts: Sequence[str]) -> list[Any]:
        """The texts' token encodings, truncated and not padded."""
        return self.tokenizer.encode_batch(list(texts))  # type: ignore[no-any-return]

    def padded(self, encodings: Sequence[Any]) -> dict[str, np.ndarray]:
        """The model's inputs for these encodings, padded on the right to the longest, as
        the tokenizer pads."""
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = e.attention_mask
            types[row, : len(e.ids)] = e.type_ids
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

    def features(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self.padded(self.tokenize(texts))

    def pool(self, tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.pooling == "cls":
            vectors = tokens[:, 0]
        else:  # mean over the real tokens, as sentence-transformers' Pooling
            weights = mask[:, :, None].astype(np.float32)
            vectors = (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        if self.normalize:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors.astype(np.float32, copy=False)


class LightEncoder(EncoderShapes):
    """The ONNX file at `path` on one onnxruntime thread (`session_options`), fed by a
    LightModel."""

    def __init__(self, model: LightModel, path: Path) -> None:
        import onnxruntime as ort

        options = session_options()
        self.model, self.path = model, path
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._names = [i.name for i in self._session.get_inputs()]
        self.dim = model.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(self.model.features(texts))

    def batch_runner(
        self, texts: Sequence[str]
    ) -> tuple[list[int], Callable[[np.ndarray], np.ndarray]]:
        """As `EncoderShapes.batch_runner`, the texts tokenized once."""
        encodings = self.model.tokenize(texts)
        counts = [len(e.ids) for e in encodings]
        return counts, lambda batch: self._run(self.model.padded([encodings[i] for i in batch]))

    def _run(self, features: dict[str, np.ndarray]) -> np.ndarray:
        (tokens,) = self._session.run(None, {n: features[n] for n in self._names})
        vectors = self.model.pool(tokens, features["attention_mask"])
        norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return (vectors / norms).astype(np.float32, copy=False)

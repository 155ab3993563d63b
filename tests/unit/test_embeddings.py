"""The packaged model loads offline, its weights are checked, and the model is a setting."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from graph.embeddings import (
    ModelError,
    SentenceEmbedder,
    get_embedder,
    resolve_model_path,
    verify_default_weights,
)
from graph.settings import DEFAULT_MODEL


def test_default_model_resolves_to_the_installed_package() -> None:
    folder = resolve_model_path(DEFAULT_MODEL)
    assert isinstance(folder, Path) and (folder / "model.safetensors").is_file()
    verify_default_weights(folder)  # the upstream sha256


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    folder = resolve_model_path(DEFAULT_MODEL)
    assert isinstance(folder, Path)
    (tmp_path / "model.safetensors").write_bytes(b"not the weights")
    with pytest.raises(ModelError, match="sha256"):
        verify_default_weights(tmp_path)
    with pytest.raises(ModelError, match="missing weights"):
        verify_default_weights(tmp_path / "nowhere")
    assert folder.exists()


def test_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="offline"):
        SentenceEmbedder(str(tmp_path / "no-such-model"))


@pytest.mark.model
def test_encode_is_normalised_batched_and_shared(tmp_path: Path) -> None:
    embedder = get_embedder()
    assert get_embedder() is embedder  # one instance per process
    vectors = embedder.encode(["How do I return an item?", "What is the return policy?", "猫"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert embedder.encode([]).shape == (0, 384)
    # a folder path works as the model setting (how production names a stronger model)
    folder = resolve_model_path(DEFAULT_MODEL)
    copy = tmp_path / "model"
    shutil.copytree(folder, copy)  # type: ignore[arg-type]
    from_folder = SentenceEmbedder(str(copy))
    assert np.allclose(from_folder.encode(["How do I return an item?"])[0], vectors[0], atol=1e-5)

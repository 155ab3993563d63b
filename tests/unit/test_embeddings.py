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


@pytest.mark.model
def test_queries_on_onnx_are_torch_s_vectors_and_exported_once(tmp_path: Path) -> None:
    queries = ["退货的运费谁出？", "How long does a refund take?", "理赔多久能到账", "猫"]
    embedder = SentenceEmbedder(DEFAULT_MODEL, query_encoder="onnx", cache_dir=tmp_path)
    got = np.vstack([embedder.encode([q]) for q in queries])  # one at a time, as asks do
    assert embedder.query_encoder == "onnx"
    exported = list((tmp_path / "onnx").glob("*.onnx"))
    assert len(exported) == 1
    assert np.allclose(got, embedder._encode(queries), atol=1e-5)  # torch, the batch path
    assert np.allclose(embedder.encode(queries), got, atol=1e-5)  # a few texts at once
    made = exported[0].stat().st_mtime_ns
    again = SentenceEmbedder(DEFAULT_MODEL, query_encoder="onnx", cache_dir=tmp_path)
    assert np.allclose(again.encode(queries[:1]), got[:1], atol=1e-5)
    assert exported[0].stat().st_mtime_ns == made  # reused, not exported again


@pytest.mark.model
def test_a_damaged_onnx_file_is_made_again_and_torch_serves_meanwhile(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    embedder = SentenceEmbedder(DEFAULT_MODEL, query_encoder="onnx", cache_dir=tmp_path)
    cached = embedder._onnx_file
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not a model")
    vector = embedder.encode(["退货的运费谁出？"])
    assert "cannot be loaded" in caplog.text
    assert embedder.query_encoder == "onnx" and cached.stat().st_size > 1_000_000
    assert np.allclose(vector, embedder._encode(["退货的运费谁出？"]), atol=1e-5)
    # torch is the setting's other value, and what serves when ONNX cannot be made at all
    plain = SentenceEmbedder(DEFAULT_MODEL, query_encoder="torch", cache_dir=tmp_path / "none")
    assert np.allclose(plain.encode(["退货的运费谁出？"]), vector, atol=1e-5)
    assert not (tmp_path / "none").exists()

"""The packaged model loads offline, its weights are checked, and the model is a setting."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph.embeddings import (
    ModelError,
    SentenceEmbedder,
    get_embedder,
    resolve_model_path,
    verify_default_weights,
)
from graph.onnx_light import LightEncoder, LightModel, probes_path, save_probes
from graph.onnx_query import (
    MAX_BATCH_TEXTS,
    PROBES,
    TOKENS_PER_TEXT,
    like_length_batches,
    run_batches,
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
    # its ONNX export in the test's folder: a new path is a new model to the cache
    from_folder = SentenceEmbedder(str(copy), cache_dir=tmp_path / "cache")
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


def test_the_backend_setting_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from graph.settings import Settings

    monkeypatch.delenv("SPIRAL_EMBEDDING_BACKEND", raising=False)
    assert Settings(_env_file=None).embedding_backend == "onnx"  # type: ignore[call-arg]
    monkeypatch.setenv("SPIRAL_EMBEDDING_BACKEND", "onnx-int8")
    assert Settings(_env_file=None).embedding_backend == "onnx-int8"  # type: ignore[call-arg]
    monkeypatch.setenv("SPIRAL_EMBEDDING_BACKEND", "tensorrt")
    with pytest.raises(ValidationError, match="embedding_backend"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="embedding_backend 'int4' is not one of torch, onnx"):
        SentenceEmbedder(DEFAULT_MODEL, backend="int4")  # type: ignore[arg-type]


@pytest.mark.model
def test_backends_give_torch_s_vectors_within_their_bounds(tmp_path: Path) -> None:
    """onnx: torch's vectors (1e-4); onnx-int8: slightly different ones (cosine >= 0.99 on
    these texts, 0.96 at worst on a few hundred real messages: benchmarks/embed_backends.py).
    Batches are sorted by length inside; the rows come back in the texts' order."""
    texts = [
        "退货的运费谁出？",
        "How long does a refund take to reach my card?",
        "What is the return policy for opened items?",
        "My card payment was declined twice today, why?",
        "hi",
        "Can I change my PIN online or do I have to go to a branch for that?",
        "I was charged a fee for a transfer that should have been free",
        "Where is my parcel?",
        "Do you deliver to Canada?",
        "订单什么时候发货",
    ]  # more than QUERY_BATCH: the batch path
    torch_ = SentenceEmbedder(DEFAULT_MODEL, batch_size=4, cache_dir=tmp_path, backend="torch")
    reference = torch_.encode(texts)
    onnx = SentenceEmbedder(DEFAULT_MODEL, batch_size=4, cache_dir=tmp_path, backend="onnx")
    assert np.abs(onnx.encode(texts) - reference).max() < 1e-4
    assert onnx.backend == "onnx"
    int8 = SentenceEmbedder(DEFAULT_MODEL, batch_size=4, cache_dir=tmp_path, backend="onnx-int8")
    many, few = int8.encode(texts), int8.encode(texts[:2])  # batches and queries alike on int8
    assert int8.backend == "onnx-int8"
    assert np.allclose(np.linalg.norm(many, axis=1), 1.0, atol=1e-5)
    assert (many * reference).sum(axis=1).min() >= 0.95
    assert (few * reference[:2]).sum(axis=1).min() >= 0.99  # the probe texts' bound
    assert (few * many[:2]).sum(axis=1).min() >= 0.99  # activations scale per batch
    files = sorted(p.name for p in (tmp_path / "onnx").glob("*.onnx"))
    assert len(files) == 2 and files[0].endswith("-int8.onnx")  # exported once, quantized once


@pytest.mark.model
def test_a_bad_int8_model_leaves_batches_on_torch_and_contexts_on_the_words_model(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import graph.onnx_query as onnx_query

    monkeypatch.setattr(onnx_query, "INT8_MIN_COSINE", 1.01)  # no int8 model can pass
    embedder = SentenceEmbedder(DEFAULT_MODEL, cache_dir=tmp_path, backend="onnx-int8")
    texts = [f"question number {i} about a refund" for i in range(12)]
    vectors = embedder.encode(texts)
    assert embedder.backend == "torch" and "too far from torch" in caplog.text
    assert np.allclose(vectors, embedder._encode(texts), atol=1e-5)
    caplog.clear()
    contexts = SentenceEmbedder(DEFAULT_MODEL, cache_dir=tmp_path, backend="onnx")
    contexts.context_encoder = "int8"
    context = contexts.encode_context(["退货的运费谁出？"])
    assert contexts.context_encoder == "same" and "too far from torch" in caplog.text
    assert np.abs(context - contexts.encode(["退货的运费谁出？"])).max() < 1e-5


@pytest.mark.model
def test_contexts_are_encoded_on_int8_and_the_words_stay_float(tmp_path: Path) -> None:
    """A conversation's context (`encode_context`) runs on the int8 copy, made once from the
    float export; the words keep the float model, whose vectors the store holds."""
    texts = ["我上周买的羽绒服有点紧，能换大一码吗？", "My parcel came back to you last week."]
    embedder = SentenceEmbedder(DEFAULT_MODEL, cache_dir=tmp_path, backend="onnx")
    embedder.context_encoder = "int8"
    words, context = embedder.encode(texts), embedder.encode_context(texts)
    assert embedder.context_encoder == "int8" and embedder._context is not None
    assert np.abs(context - words).max() > 1e-3  # not the float model
    assert (context * words).sum(axis=1).min() >= 0.98
    assert np.allclose(np.linalg.norm(context, axis=1), 1.0, atol=1e-5)
    assert embedder._int8_file.is_file()
    assert np.array_equal(embedder.encode(texts), words)  # the words' vectors are unchanged
    same = SentenceEmbedder(DEFAULT_MODEL, cache_dir=tmp_path, backend="onnx")
    assert same.context_encoder == "same"  # the class's default; the setting's is int8
    assert np.abs(same.encode_context(texts) - words).max() < 1e-5
    int8 = SentenceEmbedder(DEFAULT_MODEL, cache_dir=tmp_path, backend="onnx-int8")
    int8.context_encoder = "int8"  # every text is int8 already: one model serves both
    assert np.allclose(int8.encode_context(texts), int8.encode(texts), atol=1e-6)


def test_the_context_encoder_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from graph.settings import Settings

    assert Settings().context_encoder == "int8"
    monkeypatch.setenv("SPIRAL_CONTEXT_ENCODER", "same")
    assert Settings().context_encoder == "same"


LIGHT_CHECK = """
import sys
import numpy as np
from graph.embeddings import SentenceEmbedder
from graph.settings import DEFAULT_MODEL
embedder = SentenceEmbedder(DEFAULT_MODEL, backend=sys.argv[1])
texts = ["退货的运费谁出？", "How long does a refund take?"] * 6
np.save(sys.argv[2], np.vstack([embedder.encode(texts[:2]), embedder.encode(texts)]))
assert embedder._light is not None, "not on the light path"
embedder.context_encoder = "int8"
context = embedder.encode_context(texts[:2])
assert sys.argv[1] == "onnx-int8" or embedder._context is not None, "no int8 context model"
assert (context * embedder.encode(texts[:2])).sum(axis=1).min() >= 0.98
loaded = [m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules]
assert not loaded, f"imported {loaded}"
"""


@pytest.mark.model
@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_once_exported_the_onnx_backends_run_without_torch(tmp_path: Path, backend: str) -> None:
    """torch and sentence-transformers cost ~750 MB of memory and seconds to import: once the
    export (and torch's vectors of the probe texts) are on disk, a process embeds with
    tokenizers + onnxruntime alone, and gets the same vectors."""
    cache = tmp_path / "spiral"
    first = SentenceEmbedder(DEFAULT_MODEL, backend=backend, cache_dir=cache)  # type: ignore[arg-type]
    assert first._light is None  # nothing on disk yet: sentence-transformers exports
    texts = ["退货的运费谁出？", "How long does a refund take?"] * 6
    expected = np.vstack([first.encode(texts[:2]), first.encode(texts)])
    assert probes_path(first._onnx_file).is_file()
    out = tmp_path / "vectors.npy"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}  # default_cache_dir() is <it>/spiral
    done = subprocess.run(
        [sys.executable, "-c", LIGHT_CHECK, backend, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert np.abs(np.load(out) - expected).max() < 1e-5


@pytest.mark.model
def test_the_light_path_is_refused_when_off_torch_s_vectors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = SentenceEmbedder(DEFAULT_MODEL, backend="onnx", cache_dir=tmp_path)
    right = first.encode(["退货的运费谁出？"])
    rng = np.random.default_rng(1)
    wrong = rng.normal(size=(len(PROBES), first.dim)).astype(np.float32)
    probes = probes_path(first._onnx_file)
    probes.unlink()
    save_probes(first._onnx_file, wrong)  # as if the export were of other weights
    again = SentenceEmbedder(DEFAULT_MODEL, backend="onnx", cache_dir=tmp_path)
    assert again._light is None and "off torch's vectors" in caplog.text
    assert np.allclose(again.encode(["退货的运费谁出？"]), right, atol=1e-5)


def test_only_plain_models_are_read_without_sentence_transformers(tmp_path: Path) -> None:
    folder = resolve_model_path(DEFAULT_MODEL)
    assert isinstance(folder, Path)
    plain = tmp_path / "plain"
    shutil.copytree(folder, plain, ignore=shutil.ignore_patterns("*.safetensors"))
    model = LightModel.open(plain)
    assert model is not None and model.pooling == "mean" and model.normalize and model.dim == 384
    # sentence-transformers' max_seq_length (256) rules, not tokenizer.json's 128
    assert model.features(["字" * 600])["input_ids"].shape == (1, 256)
    modules = json.loads((plain / "modules.json").read_text())
    dense = {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"}
    (plain / "modules.json").write_text(json.dumps([*modules, dense]))
    assert LightModel.open(plain) is None  # a dense layer: sentence-transformers runs it


def test_spacy_is_imported_without_torch() -> None:
    """thinc (under spaCy) imports torch whenever it is installed, ~500 MB resident for layers
    a blank pipeline never runs: the CLI and the pipeline import without it, and segment."""
    code = (
        "import sys, api.cli, ingest.pipeline\n"
        "from ingest.nlp import get_nlp\n"
        "assert [s.text for s in get_nlp('zh')('退货运费谁出？多久到账？').sents] == "
        "['退货运费谁出？', '多久到账？']\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.model
def test_every_session_runs_on_one_thread_without_a_plan_per_shape_or_spinning(
    tmp_path: Path,
) -> None:
    """onnxruntime's memory pattern is planned and kept per input shape; every batch and query
    has its own, so a long ingest or a server would grow with it. No pool thread spins while
    it waits: the store writer and a local Neo4j want that core. And batches run side by side
    on one-thread sessions (`run_batches`), not one run on every core."""
    cache = tmp_path / "spiral"
    first = SentenceEmbedder(DEFAULT_MODEL, backend="onnx", cache_dir=cache)
    first.encode(["退货的运费谁出？"])
    first.encode(["How long does a refund take?"] * 40)  # a batch
    light = SentenceEmbedder(DEFAULT_MODEL, backend="onnx", cache_dir=cache)
    assert light._light is not None  # the export is on disk now: the torch-free path
    light.encode(["理赔多久能到账"] * 40)
    assert first._onnx is not None
    sessions = [first._onnx._session, *(s._session for s in first._sessions.values())]
    sessions.append(light._light._session)
    assert len(sessions) == 3
    options = [s.get_session_options() for s in sessions]
    assert all(not o.enable_mem_pattern for o in options)
    spinning = "session.intra_op.allow_spinning"
    assert all(o.get_session_config_entry(spinning) == "0" for o in options)
    assert all(o.intra_op_num_threads == 1 for o in options)


def test_batches_run_side_by_side_and_rows_come_back_in_order() -> None:
    """Two workers: two runs at once (each waits at a barrier for the other), one batch
    split so both have one; every row where its index says."""
    meet = threading.Barrier(2, timeout=10)

    def run(batch: np.ndarray) -> np.ndarray:
        meet.wait()  # times out (BrokenBarrierError) unless another run is under way
        return np.asarray(batch, np.float32)[:, None].repeat(3, axis=1)

    one_batch = [np.array([4, 0, 2, 1, 3])]
    vectors = run_batches(one_batch, run, workers=2)
    assert vectors[:, 0].tolist() == [0, 1, 2, 3, 4]
    many = [np.array([5, 1]), np.array([0, 4]), np.array([2]), np.array([3])]
    assert run_batches(many, run, workers=2)[:, 2].tolist() == [0, 1, 2, 3, 4, 5]
    alone = run_batches(many, lambda b: np.asarray(b, np.float32)[:, None], workers=1)
    assert alone[:, 0].tolist() == [0, 1, 2, 3, 4, 5]


@given(
    counts=st.lists(st.integers(min_value=1, max_value=300), max_size=600),
    batch_size=st.integers(min_value=1, max_value=32),
    max_texts=st.sampled_from([4, 16, MAX_BATCH_TEXTS]),
)
def test_batches_hold_each_text_once_longest_first_within_their_tokens(
    counts: list[int], batch_size: int, max_texts: int
) -> None:
    batches = like_length_batches(counts, batch_size, max_texts)
    flat = [int(i) for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(counts)))  # every text, once
    assert [counts[i] for i in flat] == sorted(counts, reverse=True)  # longest first
    for batch in batches:
        padded = len(batch) * max(counts[i] for i in batch)
        assert len(batch) == 1 or padded <= batch_size * TOKENS_PER_TEXT
        assert 1 <= len(batch) <= max_texts


def test_short_texts_share_a_call_and_long_ones_do_not() -> None:
    """At the default batch size: one text longer than the whole budget alone, 16 texts of 64
    tokens a call (the last 4 with 12 names, padded to 64), 256 names of 4 tokens."""
    names, messages, giant = [4] * 300, [64] * 20, [2000]
    sizes = [len(b) for b in like_length_batches(giant + messages + names, 16)]
    assert sizes == [1, 16, 16, 256, 32]


@pytest.mark.model
def test_batches_give_each_text_its_own_vector(tmp_path: Path) -> None:
    """Texts of many lengths in calls of many sizes, padded per call from one tokenization:
    each row is the vector of its text encoded alone, in the texts' order."""
    embedder = SentenceEmbedder(DEFAULT_MODEL, backend="onnx", cache_dir=tmp_path)
    embedder.encode(["x"] * 9)  # exported, on the way of a batch
    folder = resolve_model_path(DEFAULT_MODEL)
    assert isinstance(folder, Path)
    model = LightModel.open(folder)
    assert model is not None
    encoder = LightEncoder(model, embedder._onnx_file)
    texts = ["好的", "How long does a refund take to reach my card?", "退货的运费谁出？"] * 3
    texts += ["谢谢", "订单" * 40, "Where is my parcel? " * 8, "嗯", "hi"]
    counts = [len(e.ids) for e in model.tokenize(texts)]
    batches = like_length_batches(counts, batch_size=1)  # 64 tokens a call
    assert len(batches) > 2 and max(len(b) for b in batches) > 4
    batched = encoder.encode_batches(texts, batch_size=1, workers=2)
    assert np.abs(batched - encoder.encode_each(texts)).max() < 1e-5

"""Encoder backends: unit vectors of the model's dimension, close to torch fp32, an export cached and reused."""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from indexer.models import onnx_encoder
from indexer.models.embed import ENCODERS, Embedder, resolve_model_path
from indexer.sources.chunk import chunk

XSUM = "/work/shared/eval/xsum1k/corpus.jsonl"


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory):
    """A private, initially empty export cache for the whole session: the first ONNX embedder exports."""
    folder = tmp_path_factory.mktemp("onnx-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEWSEARCH_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="session")
def passages(embedder) -> list[str]:
    """About 20 real news passages (BBC articles when the shared eval set is there, else bundled ECB+)."""
    from pathlib import Path

    from tests.conftest import DATA

    source = Path(XSUM) if Path(XSUM).exists() else DATA / "ecbplus" / "corpus.jsonl"
    texts = []
    for line in source.read_text(encoding="utf-8").splitlines()[:8]:
        record = json.loads(line)
        texts += [p.text for p in chunk(record["text"], embedder.count_tokens, 128, 32)]
    return texts[:20]


@pytest.fixture(scope="session")
def encoders(embedder, onnx_cache):
    """One embedder per backend; torch is the shared session one."""
    out = {"torch": embedder}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # torch-bf16 falls back to fp32 without native bf16
        for name in ENCODERS:
            if name != "torch":
                out[name] = Embedder(encoder=name)
    return out


@pytest.fixture(scope="session")
def reference(embedder, passages) -> np.ndarray:
    return embedder.encode(passages)


@pytest.mark.parametrize("name", ENCODERS)
def test_backend_gives_unit_vectors_of_the_model_dim(encoders, passages, name):
    e = encoders[name]
    assert (e.encoder, e.dim, e.max_seq_length, e.model) == (name, 384, 256, "sentence-transformers/all-MiniLM-L6-v2")
    vectors = e.encode(passages)
    assert vectors.shape == (len(passages), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert e.encode([]).shape == (0, 384)
    q = e.encode_query("Russia stance on DPRK sanctions")
    assert q.shape == (384,) and abs(float(np.linalg.norm(q)) - 1) < 1e-5


def _cosines(encoders, name, passages, reference):
    return (encoders[name].encode(passages) * reference).sum(axis=1)


def test_onnx_fp32_matches_torch(encoders, passages, reference):
    assert _cosines(encoders, "onnx", passages, reference).min() > 0.999


def test_onnx_int8_stays_close_to_torch(encoders, passages, reference):
    cos = _cosines(encoders, "onnx-int8", passages, reference)
    assert cos.mean() > 0.98 and cos.min() > 0.95


def test_torch_bf16_stays_close_to_torch(encoders, passages, reference):
    assert _cosines(encoders, "torch-bf16", passages, reference).min() > 0.99


def test_onnx_restores_input_order(encoders, passages):
    """Texts are sorted by length for batching; rows come back in the caller's order."""
    e = encoders["onnx"]
    shuffled = passages[:6][::-1] + ["short"]
    batch = e.encode(shuffled)
    one_by_one = np.stack([e.encode_query(t) for t in shuffled])
    assert (batch * one_by_one).sum(axis=1).min() > 0.9999


@pytest.mark.parametrize("name", ["torch", "onnx"])
def test_count_tokens_agrees_with_the_tokenizer(encoders, passages, name):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(None))
    texts = [*passages[:5], "", "naïve café — 東京 emoji 🙂", "word " * 400]
    expected = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert encoders[name].count_tokens(texts) == expected  # never truncated: the last one is over 256
    assert encoders[name].count_tokens([]) == []


def test_export_is_cached_and_reused(encoders, onnx_cache, monkeypatch):
    folder = encoders["onnx-int8"]._backend.folder
    assert folder.parent == onnx_cache / "onnx"
    files = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert {"model.onnx", "model-int8.onnx", "tokenizer.json", "spec.json"} <= set(files)
    assert not [n for n in files if n.endswith(".tmp")]

    def refuse(*args, **kwargs):
        raise AssertionError("re-exported although the cache was complete")

    monkeypatch.setattr(onnx_encoder, "export", refuse)
    monkeypatch.setattr(onnx_encoder, "quantize", refuse)
    again = Embedder(encoder="onnx-int8")
    assert again._backend.folder == folder
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == files


def test_failed_export_leaves_no_file(tmp_path, monkeypatch):
    import torch

    def crash(model, args, path, **kwargs):
        with open(path, "wb") as f:
            f.write(b"half an onnx file")
        raise RuntimeError("killed mid-export")

    monkeypatch.setattr(torch.onnx, "export", crash)
    with pytest.raises(RuntimeError, match="mid-export"):
        onnx_encoder.export(resolve_model_path(None), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unsupported_pooling_is_refused():
    with pytest.raises(onnx_encoder.UnsupportedModel, match="pooling 'max'"):
        onnx_encoder._pooling_mode(SimpleNamespace(pooling_mode="max"))
    assert onnx_encoder._pooling_mode(SimpleNamespace(pooling_mode="mean")) == "mean"


def test_unknown_encoder_is_refused():
    with pytest.raises(ValueError, match="unknown encoder"):
        Embedder(encoder="tensorrt")

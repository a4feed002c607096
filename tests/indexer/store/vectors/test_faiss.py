"""The `auto` index type: exact search while small, IVF once large, switched by sync without re-encoding."""

from __future__ import annotations

import json
import shutil

import numpy as np

from indexer.store.vectors import faiss_backend
from indexer.store.vectors.faiss_backend import AUTO_ANN_FROM, FaissStore, auto_index


def test_auto_index_is_flat_below_the_threshold_then_ivf_retrained_every_4x():
    assert auto_index(0) == auto_index(AUTO_ANN_FROM - 1) == ("flat", {})
    assert auto_index(AUTO_ANN_FROM) == ("ivf", {"nlist": 512})
    assert auto_index(65_535) == ("ivf", {"nlist": 512})
    assert auto_index(65_536) == ("ivf", {"nlist": 1024})
    assert auto_index(1_000_000) == ("ivf", {"nlist": 2048})


def test_auto_store_rebuilds_as_ivf_saves_and_reloads_what_it_built(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(AUTO_ANN_FROM + 500, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(len(vectors), dtype=np.int64) * 3  # ids are passage ids, not positions

    store = FaissStore(tmp_path, 16, "auto")
    assert store.description == "auto (flat)" and not store.outgrown(AUTO_ANN_FROM - 1)
    assert store.outgrown(len(ids))
    store.rebuild(ids, vectors)
    assert store.description == "auto (ivf nlist=512)" and not store.outgrown(len(ids))
    store.delete(ids[:10])  # IVF deletes in place: an updated article does not rebuild the index
    store.save(7)

    loaded = FaissStore(tmp_path, 16, "auto")
    assert loaded.generation() == 7 and loaded.description == "auto (ivf nlist=512)"
    assert loaded.count() == len(ids) - 10
    scores, found = loaded.search(vectors[10:60], 5)
    assert found[:, 0].tolist() == ids[10:60].tolist()  # a stored vector finds itself first
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    assert loaded.outgrown(AUTO_ANN_FROM - 1)  # shrunk below the threshold: sync goes back to flat


def test_an_index_crossing_the_threshold_switches_type_on_sync(small_index, embedder, tmp_path, monkeypatch):
    from indexer.pipeline import Indexer
    from search import Searcher

    index = tmp_path / "idx"
    shutil.copytree(small_index, index)
    passages = json.loads((index / "manifest.json").read_text())["passages"]
    monkeypatch.setattr(faiss_backend, "AUTO_ANN_FROM", passages)  # this small index counts as large
    searcher = Searcher(index, embedder=embedder)
    try:
        assert searcher.stats().index_type.startswith("auto (ivf nlist=")
        before = searcher.search("Russia stance on DPRK sanctions", k=3).results
        assert before[0].title.startswith("Russia Vows to Develop Equal and Fair Interaction")
    finally:
        searcher.close()
    with Indexer(index, embedder=embedder) as indexer:
        assert indexer.delete([before[1].id]) == 1  # one article fewer: below the threshold again
    saved = json.loads((index / "vectors.json").read_text())
    assert saved["index_type"] == "auto" and saved["built"][0] == "flat"
    assert json.loads((index / "manifest.json").read_text())["index_type"] == "auto"

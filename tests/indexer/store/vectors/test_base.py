"""The vector store contract (indexer/store/vectors/base.py), one suite run on every backend: FAISS, Milvus Lite
and a real Milvus server process (tests/indexer/store/vectors/conftest.py)."""

from __future__ import annotations

import numpy as np


def unit(n: int, dim: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_vector_store_contract(open_store, tmp_path):
    store = open_store(tmp_path, 16, "flat")
    assert (store.count(), len(store.ids()), store.generation()) == (0, 0, -1)
    store.check()  # the engine answers
    vectors, ids = unit(50, 16), np.arange(100, 150, dtype=np.int64)
    store.add(ids, vectors)
    assert store.count() == 50 and store.ids().tolist() == ids.tolist()

    scores, found = store.search(vectors[:3], 5)
    assert found[:, 0].tolist() == [100, 101, 102] and np.allclose(scores[:, 0], 1.0, atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    exact = np.argsort(-(vectors @ vectors[7]))[:5] + 100
    assert store.search(vectors[7], 5)[1][0].tolist() == exact.tolist()

    scores, found = store.search(vectors[:1], 5, allowed=np.array([140, 102, 101]))
    assert sorted(found[0, :3].tolist()) == [101, 102, 140] and found[0, 3:].tolist() == [-1, -1]
    assert (scores[0, 3:] < -1e30).all()

    store.delete(np.array([100, 101]))
    assert store.count() == 48 and 100 not in store.search(vectors[0], 3)[1][0]
    store.save(7)
    assert store.generation() == 7
    store.close()

    again = open_store(tmp_path, 16, "flat")
    try:
        assert again.generation() == 7 and again.ids().tolist() == list(range(102, 150))
        assert again.search(vectors[9], 1)[1][0, 0] == 109
    finally:
        again.close()


def test_rebuild_holds_exactly_the_given_vectors(open_store, tmp_path):
    store = open_store(tmp_path, 8, "flat")
    try:
        vectors = unit(30, 8, seed=2)
        store.add(np.arange(30), vectors)
        store.rebuild(np.arange(10, 40), unit(40, 8, seed=2)[10:])
        assert store.ids().tolist() == list(range(10, 40)) and store.count() == 30
        assert store.search(vectors[12], 1)[1][0, 0] == 12
    finally:
        store.close()

"""Index profiles: the quality profile keeps all-mpnet-base-v2 vectors beside the first model's, records it in
the manifest, and an index refuses another profile or context than the one it was built with."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import SEED_QUERY, write_jsonl
from tests.indexer.test_incremental import _records


@pytest.fixture(scope="module")
def quality_index(tmp_path_factory, small_corpus, embedder):
    """The seed and five ECB+ articles in a quality index (torch encoders: no ONNX export of mpnet in tests)."""
    from indexer.pipeline import IndexConfig, Indexer
    from indexer.sources.readers import read_sources

    folder = tmp_path_factory.mktemp("quality")
    corpus = write_jsonl(folder / "c.jsonl", _records(5))
    with Indexer(folder / "idx", IndexConfig(profile="quality"), embedder=embedder) as indexer:
        report = indexer.add(read_sources([str(corpus), str(small_corpus / "seed.txt")]))
    assert report.ok and report.indexed == 6
    return folder / "idx"


def test_quality_manifest_and_vectors(quality_index):
    from indexer.models.install import MPNET
    from indexer.store.index_store import IndexStore

    manifest = json.loads((quality_index / "manifest.json").read_text())
    assert manifest["profile"] == "quality"
    assert manifest["extra_models"] == [{"model": MPNET.name, "dim": 768}]
    store = IndexStore.open(quality_index)
    try:
        with store.snapshot() as snap:
            derived = snap.derived()
            first, second = derived.stores()
            assert first.count() == second.count() == len(derived.pids) > 6
            mpnet = snap.embeddings(derived.pids, MPNET.name)
        assert mpnet.shape == (len(derived.pids), 768)
        np.testing.assert_allclose(np.linalg.norm(mpnet, axis=1), 1.0, atol=1e-5)
    finally:
        store.close()
    assert (quality_index / "vectors-1" / "vectors.faiss").exists()


def test_quality_search_fuses_three_retrievers(quality_index, embedder):
    from indexer.models.install import MPNET
    from search import Searcher, SearchOptions

    searcher = Searcher(quality_index, embedder=embedder)
    try:
        assert sorted(searcher.retrievers) == ["dense", "dense:all-mpnet-base-v2", "lexical"]
        for mode in ("hybrid", "dense"):
            top = searcher.search(SEED_QUERY, k=3, options=SearchOptions(mode=mode)).results
            assert top[0].title.startswith("Russia Vows"), (mode, [r.title for r in top])
        with searcher.store.snapshot() as snap:
            parsed = searcher._parse(SEED_QUERY, None, SearchOptions(), extra=True)[0]
            mpnet = searcher.retrievers["dense:all-mpnet-base-v2"].retrieve(snap, parsed, 6, None)
        assert list(parsed.extra) == [MPNET.name] and parsed.extra[MPNET.name].shape == (768,)
        assert len(mpnet) == 6  # the second model's own ranking of all six articles
    finally:
        searcher.close()


def test_an_index_keeps_its_profile_and_context(quality_index, tmp_path, embedder):
    from indexer.errors import ModelMismatch
    from indexer.pipeline import IndexConfig, Indexer

    for asked in (IndexConfig(profile="fast"), IndexConfig(context="none")):
        with pytest.raises(ModelMismatch, match="profile 'quality'|context 'title'"):
            Indexer(quality_index, asked, embedder=embedder)
    with Indexer(quality_index, IndexConfig(), embedder=embedder) as indexer:  # not asked: kept
        assert (indexer.store.manifest.profile, indexer.store.manifest.context) == ("quality", "title")
    with pytest.raises(ValueError, match="unknown profile 'best'"):
        IndexConfig(profile="best")


def test_a_missing_quality_model_says_how_to_install_it(quality_index, tmp_path, monkeypatch, embedder):
    from indexer.models.install import ModelNotInstalled
    from search import Searcher

    monkeypatch.setenv("NEWSEARCH_MODELS", str(tmp_path / "no-models-here"))
    with pytest.raises(ModelNotInstalled, match="make quality-model"):
        Searcher(quality_index, embedder=embedder)

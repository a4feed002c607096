"""The query path's shortcuts give what the general paths give: a query encoded alone is the vector the batch
path makes, tantivy's hits read from its fast field are the stored documents' rowids, and a served process
runs BLAS on one thread."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tantivy

from indexer.models.embed import Embedder
from indexer.store.index_store import IndexStore
from indexer.store.lexical import LexicalIndex
from search.query import query_words
from tests.conftest import ROOT, SEED_QUERY

TEXTS = [SEED_QUERY, "Harris Visits Southern Border", "naïve café — 東京 🙂", "x", "word " * 400]


@pytest.mark.parametrize("encoder", ["onnx-int8", "torch"])
def test_a_query_encoded_alone_is_the_batch_vector(encoder, embedder):
    e = embedder if encoder == "torch" else Embedder(encoder=encoder)
    alone = np.stack([e.encode_query(text) for text in TEXTS])
    assert alone.dtype == np.float32
    np.testing.assert_allclose(alone, np.stack([e.encode([text])[0] for text in TEXTS]), atol=1e-6)


def test_fast_field_rowids_are_the_stored_documents(small_index):
    store = IndexStore.open(small_index)
    lexical = LexicalIndex.open(small_index)
    try:
        generation = IndexStore.generation(store.connection())
        index = tantivy.Index.open(str(small_index / "lexical"))
        searcher = index.searcher()
        for query in ["police arrested murder", "Oscar", SEED_QUERY]:
            words = query_words(query)
            stored = sorted(((int(searcher.doc(address)["rowid"][0]), score) for score, address in
                             searcher.search(index.parse_query(" ".join(words), ["body"]), 50).hits),
                            key=lambda hit: (-hit[1], hit[0]))
            hits = lexical.search(words, 50, generation)
            assert hits and hits == stored
            assert lexical.search(words, 50, generation) == hits  # the held searcher answers the same
        assert lexical.search(["earthquake"], 50, generation + 1) is None  # a generation it does not hold
    finally:
        store.close()


def test_serving_runs_blas_on_one_thread():
    check = ("from threadpoolctl import threadpool_info; from api.app import one_blas_thread; one_blas_thread(); "
             "print(sorted({i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'}))")
    out = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[1]"

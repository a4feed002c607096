"""Milvus specifics on Milvus Lite 2.5.1 and on a real Milvus server (the contract itself is test_base.py's), and
newsearch on Milvus end to end: the pipeline, the searcher with filters, the CLI and the HTTP API give what FAISS
gives."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest

from indexer import settings
from indexer.pipeline import IndexConfig, Indexer, index_sources
from indexer.store.index_store import Manifest
from indexer.store.vectors import milvus_backend, open_vector_store
from search import Filters, Searcher, SearchOptions
from search import retrieve as searcher_module
from tests.api.conftest import API_KEY, ServerThread
from tests.conftest import DATA, SEED_QUERY, write_jsonl
from tests.indexer.store.vectors.conftest import server_database
from tests.indexer.store.vectors.test_base import unit

QUERIES = [SEED_QUERY, "earthquake death toll", "film festival award"]
DENSE = SearchOptions(mode="dense")


# -- Milvus specifics ----------------------------------------------------------------------------------
def test_milvus_filters_over_many_ids_and_ivf(open_milvus, tmp_path):
    """`allowed` longer than one filter expression is searched in parts and merged; IVF agrees with exact."""
    vectors, ids = unit(12_000, 8, seed=1), np.arange(1, 12_001, dtype=np.int64)
    allowed = ids[::2]  # 6,000 ids: two filter expressions
    truth = allowed[np.argsort(-(vectors[allowed - 1] @ vectors[3]))[:10]]
    for index_type in ("flat", "ivf"):
        store = open_milvus(tmp_path, 8, index_type, {"nlist": 16, "nprobe": 16})
        try:
            store.add(ids, vectors)
            assert store.search(vectors[3], 10, allowed)[1][0].tolist() == truth.tolist()
            assert store.search(vectors[3], 1)[1][0, 0] == 4
        finally:
            store.close()


def test_milvus_reader_never_prunes_and_writer_rebuilds_on_another_index_type(open_milvus, tmp_path):
    writer = open_milvus(tmp_path, 8, "flat")
    reader = open_milvus(tmp_path, 8, "ivf", writer=False)  # the same engine
    try:
        writer.add(np.arange(1, 11), unit(10, 8))
        reader.delete(np.arange(1, 6))  # an older snapshot must not undo a newer commit
        assert reader.count() == 10 and reader.search(unit(10, 8)[0], 1)[1][0, 0] == 1
    finally:
        reader.close()
        writer.close()
    rebuilt = open_milvus(tmp_path, 8, "ivf")
    try:
        assert rebuilt.count() == 0  # another index type: emptied, and `sync` refills it from the database
    finally:
        rebuilt.close()


def test_hnsw_and_ivf_sq8_need_a_server(milvus_server, tmp_path):
    with pytest.raises(ValueError, match="Milvus Lite offers auto, flat and ivf"):
        open_vector_store("milvus", tmp_path, 8, "hnsw")
    vectors = unit(300, 8, seed=3)
    for index_type, params in (("hnsw", {"M": 8, "efConstruction": 64}), ("ivf-sq8", {"nlist": 8, "nprobe": 8})):
        store = open_vector_store("milvus", tmp_path, 8, index_type, params, uri=server_database(milvus_server))
        try:
            store.add(np.arange(300), vectors)
            assert store.search(vectors[:20], 1)[1][:, 0].tolist() == list(range(20))
        finally:
            store.close()


def test_settings_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("NEWSEARCH_BACKEND", "NEWSEARCH_MILVUS_URI", "NEWSEARCH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    assert (settings.backend(), settings.milvus_uri()) == ("faiss", "")
    (tmp_path / "newsearch.toml").write_text('[index]\nbackend = "milvus"\nmilvus_uri = "file.db"\n')
    assert (settings.backend(), settings.milvus_uri()) == ("milvus", "file.db")
    monkeypatch.setenv("NEWSEARCH_MILVUS_URI", "http://milvus:19530")
    assert settings.milvus_uri() == "http://milvus:19530" and settings.open_uri("file.db") == "http://milvus:19530"
    assert settings.backend("faiss") == "faiss" and settings.milvus_uri("x.db") == "x.db"
    monkeypatch.setenv("NEWSEARCH_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(FileNotFoundError):
        settings.backend()
    monkeypatch.delenv("NEWSEARCH_CONFIG")
    monkeypatch.setenv("NEWSEARCH_BACKEND", "annoy")
    with pytest.raises(ValueError, match="choose one of faiss, milvus"):
        settings.backend()
    assert milvus_backend.resolve_uri("", tmp_path) == str(tmp_path / "vectors.milvus.db")
    for bad in ("vectors.sqlite", "a name.db", "x" * 40 + ".db"):
        with pytest.raises(ValueError, match="ends in .db"):
            milvus_backend.resolve_uri(bad, tmp_path)


def test_milvus_token_and_consistency_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("NEWSEARCH_MILVUS_TOKEN", "NEWSEARCH_MILVUS_TOKEN_FILE", "NEWSEARCH_MILVUS_CONSISTENCY",
                 "NEWSEARCH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    assert (settings.milvus_token(), settings.milvus_consistency()) == ("", "Strong")
    (tmp_path / "secret").write_text("root:Milvus\nignored\n")
    monkeypatch.setenv("NEWSEARCH_MILVUS_TOKEN_FILE", str(tmp_path / "secret"))
    assert settings.milvus_token() == "root:Milvus"
    monkeypatch.setenv("NEWSEARCH_MILVUS_TOKEN", "key")
    assert settings.milvus_token() == "key"
    shown = milvus_backend.MilvusStore.shown_uri.fget(SimpleNamespace(uri="https://root:Milvus@milvus.internal:19530/db"))
    assert shown == "https://milvus.internal:19530/db"  # what messages show: never the credentials
    (tmp_path / "newsearch.toml").write_text('[index]\nmilvus_consistency = "bounded"\n')
    assert settings.milvus_consistency() == "Bounded"
    monkeypatch.setenv("NEWSEARCH_MILVUS_CONSISTENCY", "sloppy")
    with pytest.raises(ValueError, match="choose one of Strong, Bounded, Session, Eventually"):
        settings.milvus_consistency()


# -- newsearch on Milvus, against FAISS ----------------------------------------------------------------
def moved_to_milvus(index: Path, folder: Path, embedder) -> Path:
    """A copy of a FAISS index moved to Milvus Lite by the pipeline: the collection filled from stored embeddings."""
    shutil.copytree(index, folder, ignore=shutil.ignore_patterns("write.lock"))
    with Indexer(folder, IndexConfig(backend="milvus"), embedder=embedder) as indexer:
        indexer.add([])
    return folder


@pytest.fixture(scope="module")
def milvus_searcher(small_index, tmp_path_factory, embedder):
    s = Searcher(moved_to_milvus(small_index, tmp_path_factory.mktemp("milvus") / "idx", embedder), embedder=embedder)
    yield s
    s.close()


def _ranked(searcher: Searcher, query: str, **kwargs) -> list[tuple[str, float]]:
    return [(r.id, r.score) for r in searcher.search(query, k=10, options=DENSE, **kwargs).results]


def test_milvus_index_answers_as_faiss(milvus_searcher, searcher):
    m = Manifest.read(milvus_searcher.store.folder)
    assert (m.backend, m.backend_uri) == ("milvus", "") and milvus_searcher.stats().backend == "milvus"
    assert (milvus_searcher.store.folder / milvus_backend.DEFAULT_FILE).is_file()
    for query in QUERIES:
        got, want = _ranked(milvus_searcher, query), _ranked(searcher, query)
        assert [i for i, _ in got] == [i for i, _ in want], query
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-4)
    hybrid = milvus_searcher.search(SEED_QUERY, k=3).results  # BM25 stays in SQLite beside Milvus
    assert [r.id for r in hybrid] == [r.id for r in searcher.search(SEED_QUERY, k=3).results]


@pytest.mark.parametrize("exact_limit", [searcher_module.EXACT_FILTER_LIMIT, 0])
def test_milvus_filters_as_faiss(milvus_searcher, searcher, monkeypatch, exact_limit):
    monkeypatch.setattr(searcher_module, "EXACT_FILTER_LIMIT", exact_limit)  # 0: the ids go to the engine
    source = milvus_searcher.search("earthquake", k=1, options=DENSE).results[0].source
    filters = Filters(sources=(source,))
    got = _ranked(milvus_searcher, "earthquake", filters=filters)
    assert got and [i for i, _ in got] == [i for i, _ in _ranked(searcher, "earthquake", filters=filters)]
    assert all(r.source == source for r in milvus_searcher.search("earthquake", filters=filters).results)


def test_milvus_over_http_with_writes(small_index, searcher, embedder, tmp_path):
    """The API on a Milvus index: dense search as FAISS, stats name the backend, writes share the engine."""
    from api.app import Settings, create_app

    folder = moved_to_milvus(small_index, tmp_path / "idx", embedder)
    server = ServerThread(create_app(folder, Settings(api_key=API_KEY), embedder=embedder)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            assert http.get("/stats").json()["backend"] == "milvus"
            got = http.get("/search", params={"q": SEED_QUERY, "k": 10, "mode": "dense"}).json()["results"]
            assert [r["id"] for r in got] == [i for i, _ in _ranked(searcher, SEED_QUERY)]
            article = {"id": "t/okapi", "title": "Okapi calf born at Epulu", "source": "Test Wire",
                       "text": "Rangers at the Epulu okapi station in Congo welcomed a calf born in the reserve."}
            key = {"Authorization": f"Bearer {API_KEY}"}
            assert http.post("/articles", json=[article], headers=key).json()["indexed"] == 1
            top = http.get("/search", params={"q": "okapi calf Congo", "k": 1, "mode": "dense"}).json()["results"]
            assert top[0]["id"] == "t/okapi"
            assert http.delete("/articles/t%2Fokapi", headers=key).status_code == 200
            after = http.get("/search", params={"q": "okapi calf Congo", "k": 3, "mode": "dense"}).json()["results"]
            assert "t/okapi" not in [r["id"] for r in after]
    finally:
        server.stop()


def test_cli_indexes_on_milvus_and_a_second_process_is_told_why(tmp_path):
    """NEWSEARCH_BACKEND picks Milvus; one process at a time may open a Milvus Lite file, and the other hears why."""
    lines = (DATA / "ecbplus" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:5]
    source = write_jsonl(tmp_path / "news.jsonl", [json.loads(line) for line in lines])
    env = {**os.environ, "NEWSEARCH_BACKEND": "milvus", "NEWSEARCH_MILVUS_URI": "vec.db", "HF_HUB_OFFLINE": "1"}
    folder = tmp_path / "idx"

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, timeout=300,
                              env=env)

    out = cli("index", str(source), "--index", str(folder), "--quiet")
    assert out.returncode == 0, out.stderr
    assert "pkg_resources" not in out.stderr
    m = Manifest.read(folder)
    assert (m.backend, m.backend_uri, m.articles) == ("milvus", "vec.db", 5) and (folder / "vec.db").is_file()
    held = open_vector_store("milvus", folder, m.dim, m.index_type, uri="vec.db")  # the indexer let go of it
    try:
        assert held.count() == m.passages
        out = cli("stats", "--index", str(folder), "--json")
        assert out.returncode == 2 and "open in another process" in out.stderr and "newsearch serve" in out.stderr
    finally:
        held.close()


def test_index_sources_takes_the_backend_from_the_environment(tmp_path, monkeypatch, embedder):
    monkeypatch.setenv("NEWSEARCH_BACKEND", "milvus")
    source = write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "title": "Flood in Dhaka", "text": "Rivers rose fast."}])
    index_sources([str(source)], tmp_path / "idx", embedder=embedder)
    s = Searcher(tmp_path / "idx", embedder=embedder)
    try:
        assert s.stats().backend == "milvus" and s.search("flood", options=DENSE).results[0].id == "a"
    finally:
        s.close()

"""Incremental indexing: unchanged articles are never re-embedded, a changed one leaves no trace of its old
passages, a delete removes an article from every index; and an index of an older format is refused."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import DATA, write_jsonl


class CountingEmbedder:
    """The session's real embedder, counting the passages it is asked to embed."""

    def __init__(self, inner) -> None:
        self.inner, self.model, self.dim, self.encoder = inner, inner.model, inner.dim, inner.encoder
        self.calls, self.texts = 0, 0

    def count_tokens(self, texts):
        return self.inner.count_tokens(texts)

    def encode(self, texts, progress: bool = False):
        self.calls += 1
        self.texts += len(texts)
        return self.inner.encode(texts)

    def encode_query(self, text):
        return self.inner.encode_query(text)


def _records(n: int = 6) -> list[dict]:
    lines = (DATA / "ecbplus" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[100:100 + n]
    return [json.loads(line) for line in lines]


def _fts_rowids(conn: sqlite3.Connection, word: str, column: str = "") -> set[int]:
    query = f'{column} : "{word}"' if column else f'"{word}"'
    return {r[0] for r in conn.execute("SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?", [query])}


def _state(index: Path, article_id: str) -> tuple[int | None, list[int]]:
    conn = sqlite3.connect(index / "meta.sqlite")
    try:
        row = conn.execute("SELECT rowid FROM articles WHERE id=?", (article_id,)).fetchone()
        pids = [r[0] for r in conn.execute("SELECT pid FROM passages WHERE article=?", (row[0],))] if row else []
        return (row[0] if row else None), pids
    finally:
        conn.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory, embedder):
    from indexer.pipeline import Indexer
    from indexer.sources.readers import read_sources

    root = tmp_path_factory.mktemp("incremental")
    corpus = write_jsonl(root / "corpus.jsonl", _records())
    counter = CountingEmbedder(embedder)
    with Indexer(root / "index", embedder=counter) as indexer:
        report = indexer.add(read_sources([str(corpus)]))
    assert report.ok and report.indexed == 6 and counter.texts == report.passages
    return root, corpus


def test_unchanged_corpus_embeds_nothing_and_loads_no_model(built, embedder):
    from indexer.pipeline import Indexer
    from indexer.sources.readers import read_sources

    root, corpus = built
    counter = CountingEmbedder(embedder)
    with Indexer(root / "index", embedder=counter) as indexer:
        report = indexer.add(read_sources([str(corpus)]))
    assert (report.indexed, report.unchanged, report.passages, counter.calls) == (0, 6, 0, 0)
    with Indexer(root / "index") as indexer:  # no embedder given: the model is loaded only when needed
        report = indexer.add(read_sources([str(corpus)]))
        assert indexer.loaded == {}, "the model was loaded for a run that had nothing to embed"
    assert (report.indexed, report.unchanged) == (0, 6)


def test_a_changed_article_is_re_embedded_and_its_old_passages_are_gone(built, embedder):
    from indexer.pipeline import Indexer
    from indexer.sources.readers import read_sources
    from search import Searcher, SearchOptions

    root, _ = built
    index = root / "index"
    records = _records()
    target = records[1]["_id"]
    old_rowid, old_pids = _state(index, target)
    assert old_pids
    searcher = Searcher(index, embedder=embedder)  # open before the change: it must see the new generation
    conn = sqlite3.connect(index / "meta.sqlite")
    old_words = [w for w in set(records[1]["text"].lower().split()) if w.isalpha() and len(w) > 5
                 and _fts_rowids(conn, w, "text") == {old_rowid}]
    assert old_words, "no word only the target article has"
    records[1] = {**records[1], "text": "Quokkas overran the harbour ferry terminal on Tuesday morning. "
                  "Officials said the marsupials had come ashore from a cargo ship."}
    changed = write_jsonl(root / "changed.jsonl", records)
    counter = CountingEmbedder(embedder)
    with Indexer(index, embedder=counter) as indexer:
        report = indexer.add(read_sources([str(changed)]))
    assert (report.indexed, report.unchanged) == (1, 5)
    assert counter.texts == report.passages == 1
    new_rowid, new_pids = _state(index, target)
    assert not set(new_pids) & set(old_pids)
    assert conn.execute(f"SELECT count(*) FROM passages WHERE pid IN ({','.join(map(str, old_pids))})"
                        ).fetchone()[0] == 0
    assert all(_fts_rowids(conn, w, "text") == set() for w in old_words)
    assert _fts_rowids(conn, "quokkas") == {new_rowid}
    conn.close()
    try:
        with searcher.store.snapshot() as snap:
            faiss_ids = set(snap.derived().vectors.ids().tolist())
        assert not faiss_ids & set(old_pids) and set(new_pids) <= faiss_ids
        results = searcher.search("marsupials at the ferry terminal", k=1, options=SearchOptions(mode="dense")).results
        assert results[0].id == target and "Quokkas" in results[0].passages[0].text
    finally:
        searcher.close()


def test_delete_removes_from_vectors_fts_and_metadata(built, embedder):
    from indexer.pipeline import Indexer
    from indexer.store.vectors.faiss_backend import FaissStore
    from search import Searcher, SearchOptions

    root, _ = built
    index = root / "index"
    target = _records()[3]["_id"]
    rowid, pids = _state(index, target)
    searcher = Searcher(index, embedder=embedder)
    with Indexer(index) as indexer:
        assert indexer.delete([target, "no-such-id"]) == 1
        assert indexer.loaded == {}
    try:
        conn = searcher.store.connection()
        assert conn.execute("SELECT count(*) FROM articles WHERE id=?", (target,)).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM passages WHERE article=?", (rowid,)).fetchone()[0] == 0
        conn.execute("INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 1)")
        title_word = max(_records()[3]["title"].split(), key=len)
        assert rowid not in _fts_rowids(conn, title_word)
        with searcher.store.snapshot() as snap:
            assert not set(snap.derived().vectors.ids().tolist()) & set(pids)
        for mode in ("dense", "lexical", "hybrid"):
            results = searcher.search(_records()[3]["title"], k=10, options=SearchOptions(mode=mode)).results
            assert target not in [r.id for r in results], mode
        assert searcher.article(target) is None
        assert searcher.stats().articles == 5
    finally:
        searcher.close()
    saved = FaissStore(index, embedder.dim)  # the checkpoint saved the vectors without them
    assert not set(saved.ids().tolist()) & set(pids) and saved.count() == sum(
        1 for _ in sqlite3.connect(index / "meta.sqlite").execute("SELECT pid FROM passages"))


def test_an_older_format_is_refused_with_what_to_run(built, embedder, tmp_path):
    from indexer.errors import NotAnIndex
    from indexer.pipeline import Indexer
    from indexer.store.index_store import IndexStore
    from indexer.store.migrations import FORMAT_VERSION
    from search import Searcher

    root, _ = built
    old = tmp_path / "old"
    shutil.copytree(root / "index", old)
    manifest = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({**manifest, "format_version": 0}))
    for attempt in (lambda: IndexStore.open(old), lambda: Searcher(old, embedder=embedder),
                    lambda: Indexer(old, embedder=embedder)):
        with pytest.raises(NotAnIndex) as caught:
            attempt()
        message = str(caught.value)
        assert "format 0" in message and f"upgrades formats 3 to {FORMAT_VERSION} in place" in message
        assert f"run `newsearch index SOURCES --index {old}`" in message and f"delete {old}" in message
    assert json.loads((old / "manifest.json").read_text())["format_version"] == 0  # refused, not rewritten


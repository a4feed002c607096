"""The tantivy BM25 index is derived state: in step after every write, ignored when behind (FTS5 answers the
same snapshot), and caught up by the next writer."""

from __future__ import annotations

import json
import shutil

from indexer.pipeline import Indexer
from indexer.sources.article import Article
from indexer.store.index_store import IndexStore
from indexer.store.lexical import LexicalIndex
from indexer.store.snapshot import fts_query
from search import Searcher, SearchOptions
from search.query import query_words
from tests.conftest import DATA

QUERIES = ["earthquake Indonesia", "police arrested murder", "Russia stance on DPRK sanctions", "Oscar"]


def _fts5(store: IndexStore, query: str, depth: int = 100) -> list[int]:
    rows = store.connection().execute(
        "SELECT rowid FROM articles_fts WHERE articles_fts MATCH ? ORDER BY -bm25(articles_fts, 2.0, 1.0) DESC, "
        "rowid LIMIT ?", [fts_query(query_words(query)), depth])
    return [r[0] for r in rows]


def _tantivy(store: IndexStore, query: str, depth: int = 100) -> list[int] | None:
    with store.snapshot() as snap:
        hits = store.lexical_search(query_words(query), depth, snap.generation)
    return None if hits is None else [rowid for rowid, _ in hits]


def test_tantivy_matches_the_articles_fts5_matches(small_index):
    store = IndexStore.open(small_index)
    try:
        matched = 0
        for query in QUERIES:
            tantivy_hits, fts_hits = _tantivy(store, query), _fts5(store, query)
            assert tantivy_hits is not None
            assert set(tantivy_hits) == set(fts_hits), query  # same matches; BM25 variants may order ties apart
            if fts_hits:
                matched += 1
                assert tantivy_hits[0] in fts_hits[:3], query
        assert matched >= 3
    finally:
        store.close()


def test_behind_means_fts5_and_the_next_writer_catches_up(small_index, tmp_path, embedder):
    folder = tmp_path / "idx"
    shutil.copytree(small_index, folder)
    record = json.loads((DATA / "ecbplus" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[200])
    article = Article(id="zebra-1", title="Zebra escapes from the city zoo", text="A zebra named Quillfeather "
                      "escaped from the zoo on Tuesday. " + record["text"])
    with Indexer(folder, embedder=embedder) as indexer:
        indexer.store._lexical.close()
        indexer.store._lexical = None  # as if the process died between the SQLite and the tantivy commits
        indexer.add([article])
    store = IndexStore.open(folder)
    searcher = Searcher(folder, embedder=embedder)
    try:
        assert _tantivy(store, "Quillfeather") is None  # one generation behind: it must not answer
        found = searcher.search("Quillfeather", k=3, options=SearchOptions(mode="lexical"))
        assert [r.id for r in found.results] == ["zebra-1"]  # FTS5 answered for the same snapshot
        with Indexer(folder, embedder=embedder):
            pass  # opening a writer catches the BM25 index up
        assert LexicalIndex.open(folder).generation() == IndexStore.generation(store.connection())
        assert _tantivy(store, "Quillfeather") == [_rowid(store, "zebra-1")]
        with Indexer(folder, embedder=embedder) as indexer:
            indexer.delete(["zebra-1"])
        assert _tantivy(store, "Quillfeather") == []
        assert searcher.search("Quillfeather", k=3, options=SearchOptions(mode="lexical")).results == []
    finally:
        searcher.close()
        store.close()


def _rowid(store: IndexStore, article_id: str) -> int:
    return store.connection().execute("SELECT rowid FROM articles WHERE id=?", (article_id,)).fetchone()[0]

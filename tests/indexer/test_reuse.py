"""Encode less: a passage whose model input is identical to a stored one (a wire copy under another id, a
boilerplate paragraph) takes the stored vectors instead of being encoded again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.conftest import write_jsonl
from tests.indexer.test_incremental import CountingEmbedder, _records


def _vectors(index: Path) -> dict[tuple[str, int], bytes]:
    conn = sqlite3.connect(index / "meta.sqlite")
    try:
        rows = conn.execute("SELECT a.id, p.ord, p.embedding FROM passages p JOIN articles a ON a.rowid = p.article")
        return {(article, ord_): blob for article, ord_, blob in rows}
    finally:
        conn.close()


def test_identical_passages_are_encoded_once(tmp_path, embedder):
    from indexer.pipeline import IndexConfig, Indexer
    from indexer.sources.readers import read_sources

    originals = _records(3)
    copies = [{**r, "id": r["_id"] + "-wire"} for r in originals]  # the same story under other ids
    counting = CountingEmbedder(embedder)
    index = tmp_path / "idx"
    # Two articles a batch: the first copy meets its original inside a batch, the others across batches.
    config = IndexConfig(batch_articles=2, reuse_vectors=True)
    with Indexer(index, config, embedder=counting) as indexer:
        first = indexer.add(read_sources([str(write_jsonl(tmp_path / "a.jsonl", originals[:1] + copies[:1]))]))
        encoded_once = counting.texts
        second = indexer.add(read_sources([str(write_jsonl(tmp_path / "b.jsonl", originals[1:] + copies[1:]))]))
    assert first.passages == 2 * encoded_once and first.reused == encoded_once  # inside one batch
    assert second.reused == second.passages // 2  # across batches: each copy after its original
    assert counting.texts == (first.passages + second.passages) // 2

    stored = _vectors(index)
    for record in originals:
        passages = [key for key in stored if key[0] == record["_id"]]
        assert passages
        for _, ord_ in passages:
            assert stored[(record["_id"] + "-wire", ord_)] == stored[(record["_id"], ord_)]


def test_deleting_the_original_keeps_the_copy_whole(tmp_path, embedder):
    from indexer.pipeline import IndexConfig, Indexer
    from indexer.sources.readers import read_sources
    from search import Searcher

    record = _records(1)[0]
    copy = {**record, "id": "copy"}
    index = tmp_path / "idx"
    with Indexer(index, IndexConfig(reuse_vectors=True), embedder=embedder) as indexer:
        indexer.add(read_sources([str(write_jsonl(tmp_path / "a.jsonl", [record, copy]))]))
        before = _vectors(index)
        assert indexer.delete([record["_id"]]) == 1
        again = indexer.add(read_sources([str(write_jsonl(tmp_path / "b.jsonl", [record]))]))
    assert again.reused == again.passages  # the copy's keys still stand for the text
    after = _vectors(index)
    assert {k: v for k, v in after.items() if k[0] == "copy"} == {k: v for k, v in before.items() if k[0] == "copy"}
    searcher = Searcher(index, embedder=embedder)
    try:
        hits = searcher.search(record["title"], k=2).results
    finally:
        searcher.close()
    assert sorted(h.id for h in hits) == sorted(["copy", record["_id"]])


def test_without_reuse_every_passage_is_encoded(tmp_path, embedder):
    from indexer.pipeline import IndexConfig, Indexer
    from indexer.sources.readers import read_sources

    record = _records(1)[0]
    counting = CountingEmbedder(embedder)
    corpus = write_jsonl(tmp_path / "a.jsonl", [record, {**record, "id": "copy"}])
    with Indexer(tmp_path / "idx", IndexConfig(reuse_vectors=False), embedder=counting) as indexer:
        report = indexer.add(read_sources([str(corpus)]))
    assert report.reused == 0 and counting.texts == report.passages

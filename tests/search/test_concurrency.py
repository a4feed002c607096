"""Readers search from threads while a writer upserts and deletes batches: no errors, no torn results,
every batch visible all or none, new generations picked up without a restart; a second writer is refused."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

BATCHES = 8
PER_BATCH = 3
READERS = 3

TOPICS = ["the harbour ferry timetable", "a bridge closed for repairs", "the city council budget vote",
          "a storm that flooded the railway", "the museum's new wing", "a strike at the port"]


def _token(batch: int) -> str:
    return f"zqbatch{'abcdefghijklmnop'[batch]}marker"  # one FTS5 token, unique to its batch


def _batch(batch: int) -> list:
    from indexer.sources.article import Article

    return [Article(id=f"batch{batch}-{j}", title=f"Report {j} on {TOPICS[(batch + j) % len(TOPICS)]}",
                    text=(f"Officials discussed {TOPICS[(batch + j) % len(TOPICS)]} on day {batch}. "
                          f"The code word {_token(batch)} marks batch {batch}. " * (1 + j)).strip(),
                    metadata={"batch": str(batch)})
            for j in range(PER_BATCH)]


@pytest.fixture
def live_index(tmp_path, small_index) -> Path:
    folder = tmp_path / "live"
    shutil.copytree(small_index, folder, ignore=shutil.ignore_patterns("write.lock"))
    return folder


def test_readers_see_whole_batches_while_a_writer_works(live_index, embedder):
    from indexer.pipeline import IndexConfig, Indexer
    from search import Filters, Searcher, SearchOptions

    searcher = Searcher(live_index, embedder=embedder)  # opened before any write: must follow generations
    texts = {a.id: a.text for b in range(BATCHES) for a in _batch(b)}
    with searcher.store.snapshot() as snap:
        texts.update(dict(snap.conn.execute("SELECT id, text FROM articles")))
    errors: list[str] = []
    seen: dict[int, set[int]] = {b: set() for b in range(BATCHES)}  # batch -> visible counts observed
    searches = [0]
    done = threading.Event()

    def check_passages(results) -> None:
        for result in results:
            for hit in result.passages:
                text = texts[result.id]
                if hit.text != text[hit.start:hit.end]:
                    errors.append(f"{result.id}: passage {hit.start}-{hit.end} does not slice its article")

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        while not done.is_set():
            batch = rng.randrange(BATCHES)
            try:
                lexical = searcher.search(_token(batch), k=10, options=SearchOptions(mode="lexical")).results
                dense = searcher.search(f"code word {_token(batch)}", k=10, filters=Filters(
                    fields=(("batch", str(batch)),)), options=SearchOptions(mode="dense")).results
                hybrid = searcher.search(rng.choice(TOPICS), k=10).results
            except Exception as exc:  # any error is a failure, collected for the report
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            searches[0] += 1
            for results in (lexical, dense):
                ids = sorted(r.id for r in results if r.id.startswith(f"batch{batch}-"))
                if len(ids) not in (0, PER_BATCH):
                    errors.append(f"batch {batch} partly visible: {ids}")
                seen[batch].add(len(ids))
            for results in (lexical, dense, hybrid):
                check_passages(results)

    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(READERS)]
    for thread in threads:
        thread.start()
    generations = []
    try:
        with Indexer(live_index, IndexConfig(batch_articles=PER_BATCH), embedder=embedder) as indexer:
            for batch in range(BATCHES):
                report = indexer.add(iter(_batch(batch)))
                assert report.indexed == PER_BATCH
                if batch % 2 == 1:  # every other round, the batch before goes in one delete
                    assert indexer.delete([a.id for a in _batch(batch - 1)]) == PER_BATCH
                generations.append(searcher.stats().generation)
                time.sleep(0.05)
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=60)
    try:
        assert not errors, errors[:10]
        assert searches[0] >= READERS, "the readers hardly ran"
        assert generations == sorted(generations) and len(set(generations)) == len(generations)
        # The searcher opened before the writer sees its last state without being reopened.
        for batch in range(BATCHES):
            found = [r.id for r in searcher.search(_token(batch), k=10, options=SearchOptions(mode="lexical")).results]
            expected = [] if batch % 2 == 0 and batch + 1 < BATCHES else sorted(a.id for a in _batch(batch))
            assert sorted(found) == expected, (batch, found)
        assert searcher.stats().articles == 61 + PER_BATCH * (BATCHES // 2)
        print(f"\n{searches[0]} searches by {READERS} readers during {len(generations)} write rounds; "
              f"visible counts seen per batch: { {b: sorted(s) for b, s in seen.items()} }")
    finally:
        searcher.close()


def test_a_second_writer_is_refused_and_changes_nothing(live_index, embedder):
    from indexer.errors import IndexLocked
    from indexer.pipeline import IndexConfig, Indexer

    manifest_before = (live_index / "manifest.json").read_text()
    with Indexer(live_index, embedder=embedder):
        with pytest.raises(IndexLocked, match="another process is writing to .*; wait for it to finish"):
            Indexer(live_index, IndexConfig(index_type="hnsw"), embedder=embedder)
        assert (live_index / "manifest.json").read_text() == manifest_before, "the refused writer wrote"
        # Another process: the command line says the same and exits 2, without loading the model.
        source = live_index.parent / "one.jsonl"
        source.write_text(json.dumps({"id": "x", "title": "x", "text": "x"}) + "\n")
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "api.cli", "index", str(source), "--index", str(live_index),
                               "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 2, done.stderr
        assert "another process is writing" in done.stderr
        print(f"\nsecond writer refused in {time.perf_counter() - started:.1f}s (process start included)")
    with Indexer(live_index, embedder=embedder):  # the lock is released with the first writer
        pass


def test_a_reader_in_another_process_sees_committed_batches(live_index, embedder):
    """A separate process opens the index while this one writes; it sees whole generations."""
    from indexer.pipeline import Indexer

    script = (
        "import sys, time\n"
        "from indexer.store.index_store import IndexStore\n"
        "store = IndexStore.open(sys.argv[1])\n"
        "n, deadline = 0, time.monotonic() + 90\n"
        "while n < 9 and time.monotonic() < deadline:\n"
        "    time.sleep(0.005)\n"
        "    with store.snapshot() as snap:\n"
        "        conn = snap.conn\n"
        "        n = conn.execute(\"SELECT count(*) FROM articles WHERE id LIKE 'batch%'\").fetchone()[0]\n"
        "        p = conn.execute(\"SELECT count(*) FROM passages p JOIN articles a ON a.rowid = p.article \"\n"
        "                         \"WHERE a.id LIKE 'batch%'\").fetchone()[0]\n"
        "        assert n % 3 == 0, n\n"
        "        assert snap.derived().vectors.count() == conn.execute('SELECT count(*) FROM passages').fetchone()[0]\n"
        "        print(n, p, flush=True)\n"
    )
    reader = subprocess.Popen([sys.executable, "-c", script, str(live_index)], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    with Indexer(live_index, embedder=embedder) as indexer:
        for batch in range(3):
            indexer.add(iter(_batch(batch)))
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err[-2000:]
    counts = [tuple(map(int, line.split())) for line in out.split("\n") if line]
    assert counts[-1][0] == 3 * PER_BATCH and all(n % PER_BATCH == 0 for n, _ in counts)
    assert len({n for n, _ in counts}) > 1, "the other process never saw a write happen"
    assert [n for n, _ in counts] == sorted(n for n, _ in counts), "a later snapshot saw fewer articles"

"""Crash harness: SIGKILL the indexer at 50+ random moments and check what every kill leaves.

The writer is a real process running the real pipeline (readers, chunker, `Indexer`, SQLite, FAISS) over
61 real articles, in atomic batches of 4, with a delete and every article rewritten in each round. Two
things keep 50 kills inside the time budget on a 2-core machine, and neither touches the code under test:

- a fork server imports the code once; each run is a forked child that the server SIGKILLs after a delay
  drawn uniformly over the length of a full run (so kills land while opening, between and inside
  commits, in the FAISS save and in the exit), instead of a fresh interpreter each time;
- the writer's embedder returns, for each passage, the vector the real model made for that same text (the
  session index's stored embeddings) and counts tokens with the model's own tokenizer, because loading
  torch takes 10-25 s per process here.

Run as a script (`python -m tests.indexer.store.test_crash CORPUS CACHE`) it is the fork server.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
BATCH = 4
KILLS = 50  # at least this many SIGKILLs in all,
WRITING_KILLS = 30  # and at least this many after the killed run had committed a batch
DROP_EVERY = 7  # version v (v >= 1) leaves out the articles whose position is v modulo 7: deletes each round


# -- the driver (the process that is killed) -------------------------------------------------------
class CachedEmbedder:
    """The Embedder interface over vectors the real model made earlier; an unknown text is an error."""

    def __init__(self, cache: Path) -> None:
        from tokenizers import Tokenizer

        from indexer.models.embed import DEFAULT_MODEL, resolve_model_path

        self.model, self.encoder = DEFAULT_MODEL, "torch"
        data = np.load(cache)
        self._rows = {str(t): i for i, t in enumerate(data["texts"])}
        self._vectors = data["vectors"]
        self.dim = int(self._vectors.shape[1])
        self._counter = Tokenizer.from_file(str(Path(resolve_model_path(None)) / "tokenizer.json"))
        self._counter.no_truncation()
        self._counter.no_padding()

    def count_tokens(self, texts):
        return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)] if texts else []

    def encode(self, texts, progress: bool = False) -> np.ndarray:
        missing = [t for t in texts if t not in self._rows]
        if missing:
            raise SystemExit(f"no cached vector for {missing[0][:80]!r}")
        return self._vectors[[self._rows[t] for t in texts]].reshape(len(texts), self.dim)


def version_articles(corpus: Path, version: int) -> list:
    """The corpus as of `version`: every article's metadata says the version (so every article is
    rewritten each round) and, from version 1 on, one article in seven is left out (so it is deleted)."""
    from indexer.sources.article import Article
    from indexer.sources.readers import read_sources

    articles = [a for a in read_sources([str(corpus)]) if isinstance(a, Article)]
    out = []
    for position, article in enumerate(articles):
        if version and position % DROP_EVERY == version % DROP_EVERY:
            continue
        article.metadata = {**article.metadata, "version": version}
        out.append(article)
    return out


def drive(corpus: Path, index: Path, embedder: CachedEmbedder, version: int, log) -> None:
    """One indexing run of `version`: delete what it left out, then upsert all of it in batches."""
    from indexer.pipeline import IndexConfig, Indexer

    articles = version_articles(corpus, version)
    log("ready")
    with Indexer(index, IndexConfig(batch_articles=BATCH), embedder=embedder) as indexer:
        write = indexer.store.write

        def traced_write(*args, **kwargs):
            result = write(*args, **kwargs)
            log(f"commit {result.generation}")
            return result

        indexer.store.write = traced_write
        conn = indexer.store.connection()
        keep = {a.id for a in articles}
        stale = [i for (i,) in conn.execute("SELECT id FROM articles ORDER BY rowid") if i not in keep]
        if stale:
            indexer.delete(stale)
        indexer.add(iter(articles))
    log("done")


def serve(corpus: Path, cache: Path) -> None:
    """The fork server: imports and loads once, then for each request `VERSION INDEX LOG DELAY` forks a
    writer, SIGKILLs it DELAY seconds later unless it has finished, and answers `killed` or `exit CODE`."""
    import tqdm  # noqa: F401 - imported before forking, so a writer starts at once

    import indexer.pipeline  # noqa: F401
    import indexer.sources.readers  # noqa: F401
    from indexer.models import ner

    embedder = CachedEmbedder(cache)
    ner.load()  # the entity recogniser too: a writer starts at once
    print("up", flush=True)
    for line in sys.stdin:
        version, index, log_path, delay = line.split()

        def write(version=version, index=index, log_path=log_path) -> None:
            with open(log_path, "a", buffering=1) as handle:
                drive(corpus, Path(index), embedder, int(version), lambda s, h=handle: h.write(s + "\n"))

        print(fork_and_kill(write, float(delay)), flush=True)


def fork_and_kill(work, delay: float) -> str:
    """Run `work` in a forked child and SIGKILL it `delay` seconds later unless it has finished: 'killed',
    or 'exit CODE' (1 when it raised, its traceback printed)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            work()
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        os._exit(code)
    deadline = time.monotonic() + delay
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return f"exit {os.waitstatus_to_exitcode(status)}"
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "killed"
        time.sleep(0.002)


# -- the checks ----------------------------------------------------------------------------------------
class Server:
    """The test's handle on a fork server: `module` run as a script with `args` (test_crash's, or another
    harness's built the same way); `run(*fields, delay=)` asks it for one killed-or-finished run."""

    def __init__(self, module: str, *args: object) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *map(str, args)], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        assert self.proc.stdout.readline().strip() == "up"

    def run(self, *fields: object, delay: float = 120.0) -> str:
        self.proc.stdin.write(" ".join([*map(str, fields), f"{delay:.6f}"]) + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert answer, "the fork server died"
        return answer

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _cache_from_index(index: Path, cache: Path) -> None:
    """Every passage's embedding text -> the vector the real model gave it, from a built index."""
    from indexer.pipeline import embedding_text
    from indexer.sources.article import Article
    from indexer.sources.chunk import Passage

    conn = sqlite3.connect(index / "meta.sqlite")
    texts, vectors = [], []
    rows = conn.execute('SELECT a.title, a.text, p.ord, p.start, p."end", p.embedding FROM passages p '
                        "JOIN articles a ON a.rowid = p.article")
    for title, text, ord_, start, end, blob in rows:
        texts.append(embedding_text(Article(id="", title=title, text=text), Passage(ord_, start, end, text[start:end])))
        vectors.append(np.frombuffer(blob, dtype=np.float32))
    conn.close()
    np.savez(cache, texts=np.array(texts), vectors=np.stack(vectors))


class Expectation:
    """What an index may hold while version `v` is being written over the completed version `v - 1`."""

    def __init__(self, corpus: Path, embedder) -> None:
        from indexer.sources.chunk import chunk

        self.corpus = corpus
        self.versions: dict[int, dict[str, str]] = {}  # version -> id -> content hash
        self.batches: dict[int, list[list[str]]] = {}
        self.passages = {a.id: len(chunk(a.text, embedder.count_tokens, 128, 32))
                         for a in version_articles(corpus, 0)}
        self.titles = {a.id: a.title for a in version_articles(corpus, 0)}

    def hashes(self, version: int) -> dict[str, str]:
        if version not in self.versions:
            articles = version_articles(self.corpus, version)
            self.versions[version] = {a.id: a.content_hash() for a in articles}
            ids = [a.id for a in articles]
            self.batches[version] = [ids[i:i + BATCH] for i in range(0, len(ids), BATCH)]
        return self.versions[version]

    def check_between(self, found: dict[str, str], version: int) -> int:
        """`found` (id -> hash) is `version - 1` with whole batches of `version` written over it and its
        deletes done all at once or not yet. Returns how many batches of `version` are in."""
        new, old = self.hashes(version), (self.hashes(version - 1) if version else {})
        done = 0
        for batch in self.batches[version]:
            states = {("new" if found.get(i) == new[i] else "old" if found.get(i) == old.get(i) else "torn")
                      for i in batch}
            assert states in ({"new"}, {"old"}), f"batch {batch} of version {version} is partly written: {states}"
            done += states == {"new"}
        stale = [i for i in old if i not in new]
        gone = [i not in found for i in stale]
        assert all(gone) or not any(gone), f"the delete of {stale} is half done"
        assert all(gone) or not done, "batches were written before the delete that comes first"
        extra = set(found) - set(new) - set(stale)
        assert not extra, f"articles from nowhere: {extra}"
        return done


def check_index(index: Path, embedder, expect: Expectation) -> dict[str, str]:
    """Opens like a reader, checks every article is whole in SQLite, FTS5 and FAISS; returns id -> hash."""
    from indexer.store.index_store import IndexStore
    from search import Searcher

    searcher = Searcher(index, embedder=embedder)  # opens and syncs FAISS to the database
    try:
        stats = searcher.stats()
        store: IndexStore = searcher.store
        with store.snapshot() as snap:
            conn = snap.conn
            conn.execute("INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 1)")
            articles = conn.execute("SELECT rowid, id, title, text, content_hash FROM articles").fetchall()
            passages: dict[int, list] = {}
            for row in conn.execute('SELECT article, ord, start, "end", pid, embedding FROM passages ORDER BY pid'):
                passages.setdefault(row[0], []).append(row)
            vectors = snap.derived().vectors
            faiss_ids = set(vectors.ids().tolist())
            whole = 0
            for rowid, article_id, title, text, _, in articles:
                rows = sorted(passages.pop(rowid, []), key=lambda r: r[1])
                assert [r[1] for r in rows] == list(range(expect.passages[article_id])), (
                    f"{article_id}: passages {[r[1] for r in rows]}, expected {expect.passages[article_id]}")
                assert all(0 <= r[2] < r[3] <= len(text) for r in rows)
                word = max((w for w in title.split() if w.isalnum()), key=len, default="")
                if word:
                    hits = {r[0] for r in conn.execute(
                        "SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?", [f'"{word}"'])}
                    assert rowid in hits, f"{article_id} is not in FTS5 under {word!r}"
                for row in rows:
                    assert row[4] in faiss_ids, f"passage {row[4]} of {article_id} is not in FAISS"
                    stored = np.frombuffer(row[5], dtype=np.float32)
                    assert np.allclose(vectors._index.reconstruct(row[4]), stored), f"passage {row[4]} vector"
                whole += 1
            assert not passages, f"passages of no article: {list(passages)[:5]}"
            # Stories commit with their articles: every article is in one, with its word sketch; an id a
            # merge absorbed names no article any more.
            unassigned = conn.execute("SELECT id FROM articles WHERE story = 0 OR story_terms IS NULL").fetchall()
            assert not unassigned, f"articles without a story: {unassigned[:5]}"
            stale = conn.execute("SELECT absorbed FROM story_merges WHERE absorbed IN "
                                 "(SELECT story FROM articles)").fetchall()
            assert not stale, f"merged-away story ids still in use: {stale}"
            pids = {r[0] for r in conn.execute("SELECT pid FROM passages")}
            assert faiss_ids == pids, "FAISS ids differ from the database's passages after sync"
        assert stats.articles == whole == len(articles)
        return {a[1]: a[4] for a in articles}
    finally:
        searcher.close()


def _stories(index: Path) -> dict[str, int]:
    conn = sqlite3.connect(index / "meta.sqlite")
    try:
        return dict(conn.execute("SELECT id, story FROM articles"))
    finally:
        conn.close()


def rebuild_lexical(index: Path) -> None:
    """Check the tantivy copy holds the database's generation (so it, not FTS5, answers), then rebuild it
    from the database. Its BM25 statistics count articles replaced since its last rebuild until their
    segments merge (docs/design.md), and how many were replaced depends on where the kills landed; a
    rebuild counts only what is stored."""
    from indexer.store.index_store import IndexStore
    from indexer.store.lexical import LexicalIndex

    store = IndexStore.open(index)
    try:
        with store.snapshot() as snap:
            generation = snap.generation
            lexical = LexicalIndex.open(index)
            assert lexical is not None and lexical.generation() == generation, f"{index}: tantivy is behind"
            lexical.rebuild(snap.conn, generation)
    finally:
        store.close()


def top_results(index: Path, embedder, queries: list[str]) -> list:
    from search import Searcher, SearchOptions

    searcher = Searcher(index, embedder=embedder)
    try:
        out = []
        for query in queries:
            for mode in ("dense", "lexical", "hybrid"):
                response = searcher.search(query, k=10, options=SearchOptions(mode=mode))
                out.append({"mode": mode, "hits": [(r.id, round(r.score, 4) if mode == "dense" else 0,
                                                     [(p.start, p.end) for p in r.passages])
                                                    for r in response.results]})
        return out, searcher.stats()
    finally:
        searcher.close()


def test_sigkill_at_random_moments_leaves_a_whole_index(tmp_path, small_corpus, small_index, embedder):
    from indexer.errors import IndexUnavailable

    rng = random.Random(int(os.environ.get("CRASH_SEED", "20240611")))
    cache = tmp_path / "vectors.npz"
    _cache_from_index(small_index, cache)
    expect = Expectation(small_corpus, embedder)
    texts = [a.text for a in version_articles(small_corpus, 0)]
    assert CachedEmbedder(cache).count_tokens(texts) == embedder.count_tokens(texts), "tokenizer differs"
    server = Server("tests.indexer.store.test_crash", small_corpus, cache)
    try:
        # A clean run, timed: kill moments are drawn uniformly over the length of a full run.
        started = time.perf_counter()
        assert server.run(0, tmp_path / "calibrate", tmp_path / "calibrate.log") == "exit 0"
        full_run = time.perf_counter() - started

        index, version, found = tmp_path / "crashed", 0, {}
        kills, completed, phases, commits = 0, 0, {}, []
        while (kills < KILLS or phases.get("writing", 0) < WRITING_KILLS) and kills < 3 * KILLS:
            log = tmp_path / f"run{kills}-{completed}.log"
            answer = server.run(version, index, log, delay=rng.uniform(0, full_run))
            lines = log.read_text().split("\n") if log.exists() else []
            if answer == "killed":
                kills += 1
                seen = sum(line.startswith("commit") for line in lines)
                commits.append(seen)
                phase = ("opening" if "ready" not in lines else "closing" if "done" in lines
                         else "writing" if seen else "before the first commit")
                phases[phase] = phases.get(phase, 0) + 1
                if not (index / "manifest.json").exists():
                    continue  # killed before the index folder was made: nothing to check
                try:
                    found = check_index(index, embedder, expect)
                except IndexUnavailable as exc:  # killed while the folder was being created: nothing committed
                    assert "never finished" in str(exc) and not found, exc
                    continue
                expect.check_between(found, version)
                continue
            assert answer == "exit 0", f"the writer failed ({answer}); see its traceback above"
            found = check_index(index, embedder, expect)
            assert found == expect.hashes(version), f"version {version} is not complete after a full run"
            completed += 1
            version += 1

        # Resume after the last kill and finish; it must match a clean build of the same version.
        assert server.run(version, index, tmp_path / "resume.log") == "exit 0"
        assert check_index(index, embedder, expect) == expect.hashes(version)
        clean = tmp_path / "clean"
        assert server.run(version, clean, tmp_path / "clean.log") == "exit 0"
        # Stories depend on the order articles came in, so the twin of the crashed index for them is the
        # same versions written without a kill: it must end with the same stories, ids included.
        twin = tmp_path / "twin"
        for v in range(version + 1):
            assert server.run(v, twin, tmp_path / f"twin{v}.log") == "exit 0"
    finally:
        server.close()
    assert _stories(index) == _stories(twin), "the resumed runs left other stories than runs never killed"
    queries = ["Lindsay Lohan rehab", "earthquake in Indonesia", "Russia stance on DPRK sanctions"]
    for folder in (index, clean):
        rebuild_lexical(folder)
    crashed_results, crashed_stats = top_results(index, embedder, queries)
    clean_results, clean_stats = top_results(clean, embedder, queries)
    assert (crashed_stats.articles, crashed_stats.passages) == (clean_stats.articles, clean_stats.passages)
    assert crashed_results == clean_results
    print(f"\n{kills} SIGKILLs by phase {phases}; commits each killed run made: {commits}; {completed} runs "
          f"completed, {version + 1} versions; a full run takes {full_run:.2f}s")
    assert phases.get("writing", 0) >= WRITING_KILLS, f"too few kills landed while writing: {phases}"


if __name__ == "__main__":
    serve(Path(sys.argv[1]), Path(sys.argv[2]))

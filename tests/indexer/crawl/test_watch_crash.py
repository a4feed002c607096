"""Crash harness for the watcher: SIGKILL `newsearch watch --once` at random moments, check what each kill
leaves, and that the next run finishes without fetching again what was committed.

The idea of tests/indexer/store/test_crash.py, extended to the network: a fork server (imported once) forks a
watcher per request and SIGKILLs it after a delay drawn uniformly over a full run. The watcher polls real
feeds and pages from a FeedServer on 127.0.0.1 in this process; each completed run moves the feeds to their
next version (a third of the stories rewritten, one new story), so kills land in fetching, embedding,
committing and checkpointing of real updates. Its embedder returns the vectors the real model made for the
same texts (a reference build), as test_crash's does, to spare loading the model in every child.

After every kill: the index opens and syncs; every article is one whole version (its passages all there,
in FTS5 and FAISS); and every feed's committed state matches the articles it claims (state and articles
commit together). After every completed run that followed a kill: no page whose entry was already
committed was fetched again.

Run as a script (`python -m tests.indexer.crawl.test_watch_crash CACHE`) it is the fork server.
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

from indexer.crawl.testing import FeedServer, Route, page, rss, story
from tests.indexer.store.test_crash import Server

ROOT = Path(__file__).resolve().parents[3]
FEEDS, ITEMS, VARIANTS = 4, 5, 3
KILLS = 20  # at least this many SIGKILLs,
WRITING_KILLS = 8  # at least this many after the killed run had committed a feed


# -- what the server serves at each version ----------------------------------------------------------------
def items(feed: int, variant: int, url) -> list[dict]:
    """Feed `feed` at `variant`: stories whose index is `variant` mod 3 are rewritten, and one extra story
    per variant; even feeds carry the full text, odd feeds a teaser and a page."""
    out = []
    for i in list(range(ITEMS)) + [100 + variant]:
        changed = variant if i % 3 == variant % 3 or i >= 100 else 0
        topic = f"feed{feed} story{i} draft{changed} " + ["river", "market", "school", "rail", "clinic"][i % 5]
        item = {"guid": f"f{feed}-{i}", "title": f"Story {i} of feed {feed} ({topic})", "link": url(f"/a/{feed}/{i}"),
                "date": f"Mon, 0{1 + variant} Sep 2021 10:00:00 GMT"}
        if feed % 2 == 0:
            item["content"] = story(topic, 4)
        else:
            item["description"] = f"teaser {topic}"
        out.append(item)
    return out


def serve_version(server: FeedServer, variant: int) -> None:
    for feed in range(FEEDS):
        server.routes[f"/feed{feed}.xml"] = Route(rss(f"Feed {feed}", items(feed, variant, server.url)))
        for item in items(feed, variant, server.url):
            path = item["link"][len(server.base):]
            server.routes[path] = Route(page(item["title"], story(item["title"], 4)), content_type="text/html")


def write_feeds(server: FeedServer, path: Path) -> Path:
    path.write_text("".join(f"{server.url(f'/feed{f}.xml')}\n" for f in range(FEEDS)))
    return path


# -- the fork server (the watcher that is killed) -------------------------------------------------------------
def serve(cache: Path) -> None:
    """For each request `FEEDS INDEX LOG DELAY`: fork a `watch --once`, SIGKILL it after DELAY seconds unless
    it finished, answer `killed` or `exit CODE`."""
    import feedparser  # noqa: F401 - imported before forking, so a watcher starts at once
    import tqdm  # noqa: F401
    import trafilatura  # noqa: F401

    import indexer.crawl.watch
    import indexer.pipeline  # noqa: F401
    from indexer.models import ner
    from tests.indexer.crawl.test_watch import limits
    from tests.indexer.store.test_crash import CachedEmbedder, fork_and_kill

    embedder = CachedEmbedder(cache)
    ner.load()  # the entity recogniser too (seconds to load): a child starts at once, as a warm watcher does
    print("up", flush=True)
    for line in sys.stdin:
        feeds, index, log_path, delay = line.split()

        def follow(feeds=feeds, index=index, log_path=log_path) -> None:
            with open(log_path, "a", buffering=1) as handle:
                handle.write("ready\n")
                report = indexer.crawl.watch.watch(
                    Path(feeds), Path(index), once=True, allow_private=True, embedder=embedder,
                    limits=limits(workers=2), on_commit=lambda result, gen, h=handle: h.write(f"commit {gen}\n"))
                handle.write(f"done {report.ok}\n")

        print(fork_and_kill(follow, float(delay)), flush=True)


# -- the reference: what each version's articles are, and the real model's vectors for them ---------------
class Reference:
    """Per variant: id -> content hash and passage count; per (feed url, entry key, fingerprint): the
    content hashes the entry's article may have; and the vector cache for the fork server."""

    def __init__(self, server: FeedServer, tmp: Path, embedder) -> None:
        from indexer.crawl.watch import watch
        from indexer.sources.feed import parse_feed
        from tests.indexer.crawl.test_watch import limits
        from tests.indexer.store.test_crash import _cache_from_index

        self.hashes: dict[str, set[str]] = {}  # id -> every content hash a version gives it
        self.passages: dict[str, int] = {}  # content hash -> passage count
        self.claims: dict[tuple[str, str, str], set[str]] = {}  # (feed url, key, fingerprint) -> article hashes
        self.ids: dict[tuple[str, str], str] = {}  # (feed url, key) -> article id
        self.fingerprints: dict[int, dict[tuple[str, str], str]] = {}  # variant -> (feed, key) -> fingerprint
        feeds = write_feeds(server, tmp / "ref-feeds.txt")
        caches = []
        for variant in range(VARIANTS):
            serve_version(server, variant)
            ref = tmp / f"ref{variant}"
            report = watch(feeds, ref, once=True, allow_private=True, embedder=embedder, limits=limits())
            assert report.ok, report.feeds
            conn = sqlite3.connect(ref / "meta.sqlite")
            rows = conn.execute("SELECT a.id, a.content_hash, count(p.pid) FROM articles a "
                                "JOIN passages p ON p.article = a.rowid GROUP BY a.rowid").fetchall()
            conn.close()
            by_id = {}
            for article_id, content_hash, count in rows:
                self.hashes.setdefault(article_id, set()).add(content_hash)
                self.passages[content_hash] = count
                by_id[article_id] = content_hash
            self.fingerprints[variant] = {}
            for feed in range(FEEDS):
                url = server.url(f"/feed{feed}.xml")
                for entry in parse_feed(rss(f"Feed {feed}", items(feed, variant, server.url))).entries:
                    article_id = entry.link
                    self.ids[(url, entry.key)] = article_id
                    self.fingerprints[variant][(url, entry.key)] = entry.fingerprint()
                    self.claims.setdefault((url, entry.key, entry.fingerprint()), set()).add(by_id[article_id])
            caches.append(tmp / f"ref{variant}.npz")
            _cache_from_index(ref, caches[-1])
        texts, vectors = [], []
        for path in caches:
            data = np.load(path)
            texts.extend(data["texts"].tolist())
            vectors.append(data["vectors"])
        self.cache = tmp / "vectors.npz"
        np.savez(self.cache, texts=np.array(texts), vectors=np.concatenate(vectors))


def feed_states(index: Path) -> dict[str, dict]:
    import json

    from indexer.crawl.watch import STATE_PREFIX

    conn = sqlite3.connect(index / "meta.sqlite")
    try:
        rows = conn.execute("SELECT key, value FROM state WHERE key LIKE 'feed:%'").fetchall()
    finally:
        conn.close()
    return {k[len(STATE_PREFIX):]: json.loads(v) for k, v in rows}


def check(index: Path, ref: Reference, embedder) -> dict[str, str]:
    """The checks after a kill; returns id -> content hash."""
    from search import Searcher

    searcher = Searcher(index, embedder=embedder)  # opens and syncs FAISS to the database
    try:
        store = searcher.store
        with store.snapshot() as snap:
            conn = snap.conn
            conn.execute("INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 1)")
            found = dict(conn.execute("SELECT id, content_hash FROM articles"))
            counts = dict(conn.execute("SELECT a.content_hash, count(p.pid) FROM articles a "
                                       "LEFT JOIN passages p ON p.article = a.rowid GROUP BY a.rowid"))
            ords = conn.execute("SELECT article, group_concat(ord) FROM passages GROUP BY article").fetchall()
            faiss_ids = set(snap.derived().vectors.ids().tolist())
            pids = {r[0] for r in conn.execute("SELECT pid FROM passages")}
    finally:
        searcher.close()
    for article_id, content_hash in found.items():
        assert content_hash in ref.hashes.get(article_id, ()), f"{article_id} is no version's article (torn?)"
        assert counts[content_hash] == ref.passages[content_hash], f"{article_id} lacks passages"
    for _, joined in ords:
        numbers = sorted(int(o) for o in joined.split(","))
        assert numbers == list(range(len(numbers))), "passages with gaps"
    assert faiss_ids == pids, "FAISS differs from the database after sync"
    for url, state in feed_states(index).items():
        for key, value in state["entries"].items():
            fingerprint = value.split("~", 1)[0]
            article_id = ref.ids[(url, key)]
            assert found.get(article_id) in ref.claims[(url, key, fingerprint)], (
                f"{url} claims {key} at a version its stored article does not have: state and articles disagree")
    return found


def committed_pages(index: Path, ref: Reference, variant: int, base: str) -> set[str]:
    """Page paths of teaser entries whose current version the index's state already records."""
    if not (index / "meta.sqlite").exists():
        return set()
    try:
        states = feed_states(index)
    except sqlite3.OperationalError:  # no state table yet: the creation was killed
        return set()
    out = set()
    for (url, key), fingerprint in ref.fingerprints[variant].items():
        seen = states.get(url, {}).get("entries", {}).get(key, "")
        if seen == fingerprint:
            out.add(ref.ids[(url, key)][len(base):])
    return out


def test_sigkill_during_watch_leaves_a_whole_index_and_resumes(tmp_path, embedder):
    from indexer.errors import IndexUnavailable

    rng = random.Random(int(os.environ.get("CRASH_SEED", "20240917")))
    server = FeedServer()
    try:
        ref = Reference(server, tmp_path, embedder)
        feeds = write_feeds(server, tmp_path / "feeds.txt")
        forks = Server("tests.indexer.crawl.test_watch_crash", ref.cache)
        try:
            serve_version(server, 0)
            started = time.perf_counter()
            assert forks.run(feeds, tmp_path / "calibrate", tmp_path / "calibrate.log") == "exit 0"
            full_run = time.perf_counter() - started

            index, version = tmp_path / "crashed", 0
            kills, completed, phases, resumed_checks = 0, 0, {}, 0
            killed_since_completion = False
            while (kills < KILLS or phases.get("writing", 0) < WRITING_KILLS) and kills < 3 * KILLS:
                variant = version % VARIANTS
                serve_version(server, variant)
                log = tmp_path / f"run{kills}-{completed}.log"
                before = committed_pages(index, ref, variant, server.base)
                mark = server.mark()
                answer = forks.run(feeds, index, log, delay=rng.uniform(0, full_run))
                lines = log.read_text().split("\n") if log.exists() else []
                if answer == "killed":
                    kills += 1
                    killed_since_completion = True
                    seen = sum(line.startswith("commit") for line in lines)
                    phase = ("closing" if any(x.startswith("done") for x in lines) else "writing" if seen
                             else "before the first commit")
                    phases[phase] = phases.get(phase, 0) + 1
                    if not (index / "manifest.json").exists():
                        continue
                    try:
                        check(index, ref, embedder)
                    except IndexUnavailable as exc:  # killed while the folder was being created
                        assert "never finished" in str(exc), exc
                    continue
                assert answer == "exit 0", f"the watcher failed ({answer}); see its traceback above"
                refetched = before & set(server.paths(mark))
                assert not refetched, f"pages committed before the kill were fetched again: {sorted(refetched)}"
                resumed_checks += killed_since_completion
                found = check(index, ref, embedder)
                for feed in range(FEEDS):
                    for item in items(feed, variant, server.url):
                        assert found.get(item["link"]), f"{item['link']} missing after a completed run"
                completed += 1
                killed_since_completion = False
                version += 1
        finally:
            forks.close()
    finally:
        server.close()
    print(f"\n{kills} SIGKILLs by phase {phases}; {completed} runs completed ({resumed_checks} right after a "
          f"kill); a full run takes {full_run:.2f}s")
    assert phases.get("writing", 0) >= WRITING_KILLS, f"too few kills landed while writing: {phases}"
    assert resumed_checks >= 3, "too few resumes after a kill were checked"


if __name__ == "__main__":
    serve(Path(sys.argv[1]))

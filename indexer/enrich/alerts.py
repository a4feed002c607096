"""Alert matching: every committed batch is matched against every saved search, inside its transaction.

A match commits with the articles it is about, or not at all: a kill -9 can leave no committed article
unmatched, and the delivery state of each match (`indexer.crawl.webhooks`) lives in the same rows, so a
restart sends what a crash left pending. A saved search matches only batches committed after the generation
it was made at; an article unchanged on a re-run is never in a batch, and a replaced one is matched anew
(a new version: it fires again only if its new text matches).

The decision is the relevance test (`indexer.relevance.relevant`) that the timeline and the result page use,
over all saved searches at once, for each new article:

1. dense side: one matrix product of the saved searches' vectors with the batch's passage vectors; an article's
   cosine to a saved search is its best passage's (MaxP), so a search's cosine is a column maximum;
2. only saved searches whose cosine reaches the words clause's floor are looked at further, and those below
   the cosine that suffices alone need their words counted;
3. words side (a presearch in the manner of Lucene's Monitor, but exact): the saved searches are indexed by
   the stems of their words, and the article's word prefixes are looked up in that index once, counting for
   every saved search how many of its words the article holds: the count `words_found` makes one query at a
   time (a parity test holds them equal);
4. filters (outlets, dates, language, metadata) by the same SQL as a search's (`indexer.filters`).

A saved search that follows a story fires when a new article joins that story, or the story it merged into.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from indexer.alerts import saved as store
from indexer.alerts.saved import WAKE, Match, SavedSearch
from indexer.enrich.stage import Committed, Stage, StageBatch, StoredArticle
from indexer.enrich.story_store import resolve
from indexer.filters import StoredFilter, filter_sql
from indexer.relevance import CALIBRATED, Setting, relevant, stem, tokens
from indexer.sources.article import Article
from indexer.sql import select_in

MAX_BLOCK = 8_000_000  # saved searches x passages per matrix product (32 MB of float32)


class Follower(NamedTuple):
    """A saved search that follows a story."""

    id: str
    story: int
    created_generation: int
    hooked: bool


_EMPTY_FILTER = json.dumps(StoredFilter().to_dict(), ensure_ascii=False)
_COLUMNS = "rowid, id, story, words, filters, vector, webhook != '', created_generation"


@dataclass
class Compiled:
    """The saved searches of one version of the table, arranged for matching a batch: the queries' vectors as
    one matrix (row = position in `ids`), their word counts, the generations they were made at, which have a
    webhook or filters, the stem index of their words, and the story followers. Built from the table's rows
    once per writer process and extended in place when searches are only added (`extend`); a removal
    rebuilds it."""

    version: int
    rowid: int = 0  # the highest `alerts` rowid held
    count: int = 0  # saved searches held, queries and followers
    ids: list[str] = field(default_factory=list)
    hooked: list[bool] = field(default_factory=list)
    filters: dict[int, StoredFilter] = field(default_factory=dict)  # row -> its filter, for rows that have one
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    words: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    created: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    by_stem: dict[str, np.ndarray] = field(default_factory=dict)  # stem -> rows with a word of it
    stories: list[Follower] = field(default_factory=list)

    @classmethod
    def of(cls, searches: list[SavedSearch], version: int) -> Compiled:
        """From saved searches in hand (tests, benchmarks): the same arrangement as from the table."""
        compiled = cls(version)
        compiled.extend([(i + 1, s.id, s.story, json.dumps(list(s.words)), json.dumps(s.filters.to_dict()),
                          None if s.vector is None else np.asarray(s.vector, np.float32).tobytes(), bool(s.webhook),
                          s.created_generation) for i, s in enumerate(searches)])
        return compiled

    def extend(self, rows: list[tuple]) -> None:
        """Add saved searches from rows of `_COLUMNS`, in rowid order."""
        blobs, words, created = [], [], []
        touched: dict[str, list[int]] = defaultdict(list)
        stems: dict[str, str] = {}  # words recur across saved searches: each stemmed once
        for rowid, alert_id, story, word_list, filters, vector, hooked, made in rows:
            self.rowid, self.count = max(self.rowid, rowid), self.count + 1
            if story is not None or vector is None:
                self.stories.append(Follower(alert_id, story, made, bool(hooked)))
                continue
            row = len(self.ids)
            self.ids.append(alert_id)
            self.hooked.append(bool(hooked))
            if filters != _EMPTY_FILTER and (parsed := StoredFilter.from_dict(json.loads(filters))):
                self.filters[row] = parsed
            query_words = json.loads(word_list)
            for word in query_words:
                key = stems.get(word) or stems.setdefault(word, stem(word))
                touched[key].append(row)
            blobs.append(vector)
            words.append(len(query_words))
            created.append(made)
        if not blobs:
            return
        added = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)
        self.vectors = np.concatenate([self.vectors, added]) if len(self.vectors) else added
        self.words = np.concatenate([self.words, np.array(words, dtype=np.int64)])
        self.created = np.concatenate([self.created, np.array(created, dtype=np.int64)])
        for key, new_rows in touched.items():
            old = self.by_stem.get(key)
            fresh = np.array(new_rows, dtype=np.int64)
            self.by_stem[key] = fresh if old is None else np.concatenate([old, fresh])

    def found(self, text: str) -> np.ndarray:
        """For every saved search, how many of its words `text` holds (by their stems, as `words_found`)."""
        prefixes = {token[:n] for token in tokens(text) for n in range(1, len(token) + 1)}
        rows = [self.by_stem[p] for p in prefixes if p in self.by_stem]
        if not rows:
            return np.zeros(len(self.ids), dtype=np.int64)
        return np.bincount(np.concatenate(rows), minlength=len(self.ids))


def match_vectors(compiled: Compiled, articles: list[tuple[np.ndarray, str]], generation: int,
                  setting: Setting = CALIBRATED) -> list[tuple[int, int, int, float]]:
    """(article index, saved search row, best passage, cosine) for each pair that passes the relevance test:
    `articles` are (passage vectors, title + text); only saved searches made before `generation` count."""
    if not compiled.ids or not articles:
        return []
    active = compiled.created < generation
    out = []
    per_block = max(1, MAX_BLOCK // len(compiled.ids))
    start = 0
    while start < len(articles):  # articles in blocks whose passages fit one bounded matrix product
        end, width = start, 0
        while end < len(articles) and (end == start or width + len(articles[end][0]) <= per_block):
            width += len(articles[end][0])
            end += 1
        block = [a for a, _ in articles[start:end] if len(a)]
        # Passages x saved searches: an article's best cosine per saved search is then an element-wise maximum
        # over a few contiguous rows (over strided columns it cost ~20 ms per article at 100k saved searches,
        # benchmarks/README.md, "Alerts").
        cosines = np.concatenate(block) @ compiled.vectors.T if block else None
        column = 0
        for index in range(start, end):
            vectors, text = articles[index]
            if not len(vectors):
                continue
            mine = cosines[column:column + len(vectors)]
            column += len(vectors)
            best = mine.max(axis=0)
            near = np.flatnonzero((best >= min(setting.cosine, setting.cosine_with_words)) & active)
            if not near.size:
                continue
            found = compiled.found(text)[near] if (best[near] < setting.cosine).any() else 0
            for row in near[relevant(best[near], compiled.words[near], found, setting)]:
                out.append((index, int(row), int(mine[:, row].argmax()), float(best[row])))
        start = end
    return out


_CACHE: dict[Path, Compiled] = {}
_CACHE_LOCK = threading.Lock()


def compiled(folder: Path, conn: sqlite3.Connection) -> Compiled:
    """The saved searches arranged for matching, from this process's cache while their version holds; when
    searches were only added since, the cache takes the new rows (a writer's first load of 100k saved searches
    costs seconds, an addition to them milliseconds). Called by the writer only (one per index: its lock)."""
    version = store.version(conn)
    key = Path(folder).resolve()
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is not None and cached.version == version:
        return cached
    newer = None
    if cached is not None:
        count = conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
        newer = conn.execute(f"SELECT {_COLUMNS} FROM alerts WHERE rowid > ? ORDER BY rowid", (cached.rowid,)
                             ).fetchall()
    if newer is None or cached.count + len(newer) != count:  # first load, or a saved search was removed
        cached = Compiled(version)
        newer = conn.execute(f"SELECT {_COLUMNS} FROM alerts ORDER BY rowid").fetchall()
    cached.extend(newer)
    cached.version = version
    with _CACHE_LOCK:
        _CACHE[key] = cached
    return cached


class AlertMatching(Stage):
    """Match each committed batch against the saved searches; record the matches in its transaction."""

    name = "alerts"

    def __init__(self, setting: Setting = CALIBRATED) -> None:
        self.setting = setting  # the relevance test's constants (the benchmark sweeps them)

    def prepare(self, articles: list[Article], conn: sqlite3.Connection, folder: Path) -> None:
        """Load the saved searches before the transaction, so the write lock is not held for it."""
        if articles:
            compiled(folder, conn)

    def apply(self, batch: StageBatch) -> None:
        if not batch.added:
            return
        state = compiled(batch.folder, batch.conn)  # the cache, unless a search was saved since `prepare`
        if not state.ids and not state.stories:
            return
        added = batch.added
        pairs = [(added[i], state.ids[row], state.hooked[row], ord_, score)
                 for i, row, ord_, score in match_vectors(
                     state, [(a.vectors, a.article.title + "\n" + a.article.text) for a in added], batch.generation,
                     self.setting)
                 if row not in state.filters or _admitted(batch.conn, added[i], state.filters[row])]
        pairs += _story_followers(batch.conn, state.stories, added, batch.generation)
        if not pairs:
            return
        stories = dict(select_in(batch.conn, "SELECT rowid, story FROM articles WHERE rowid IN ({})",
                                 [a.rowid for a in added]))
        spans = _passage_spans(batch.conn, {p[0].rowid for p in pairs})
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        found = []
        for stored, alert_id, hooked, ord_, score in pairs:
            a = stored.article
            start, end = spans.get((stored.rowid, ord_), (0, 0))
            found.append(Match(alert_id, a.id, batch.generation, a.title, a.url, a.source, a.published,
                               stories.get(stored.rowid, 0), a.text[start:end], start, end, round(score, 4), now,
                               "pending" if hooked else ""))
        store.record(batch.conn, found)
        batch.scratch[self.name] = any(m.delivery for m in found)

    def committed(self, batch: StageBatch, event: Committed) -> None:
        if batch.scratch.get(self.name):
            WAKE.set()  # a deliverer in this process sends at once


def _admitted(conn: sqlite3.Connection, stored: StoredArticle, filters: StoredFilter) -> bool:
    """Whether a saved search's filters admit the article: the WHERE clause a search with them would use."""
    where, params = filter_sql(filters)
    return conn.execute(f"SELECT 1 FROM articles a WHERE a.rowid=? AND {where}", [stored.rowid, *params]
                        ).fetchone() is not None


def _story_followers(conn: sqlite3.Connection, followers: list[Follower], added: list[StoredArticle],
                     generation: int) -> list[tuple[StoredArticle, str, bool, int, float]]:
    """(article, saved search id, its webhook, the lead passage, 0.0) for each new article in a followed story."""
    if not followers:
        return []
    stories = dict(select_in(conn, "SELECT rowid, story FROM articles WHERE rowid IN ({})", [a.rowid for a in added]))
    out = []
    for search in followers:
        current = resolve(conn, search.story) if search.created_generation < generation else None
        if current is not None:
            out.extend((a, search.id, search.hooked, 0, 0.0) for a in added if stories.get(a.rowid) == current)
    return out


def _passage_spans(conn: sqlite3.Connection, rowids: set[int]) -> dict[tuple[int, int], tuple[int, int]]:
    """(article rowid, passage position) -> (start, end) in its body."""
    rows = select_in(conn, 'SELECT article, ord, start, "end" FROM passages WHERE article IN ({}) '
                           "ORDER BY article, ord", sorted(rowids))
    spans: dict[tuple[int, int], tuple[int, int]] = {}
    position: dict[int, int] = defaultdict(int)
    for article, _, start, end in rows:
        spans[(article, position[article])] = (start, end)
        position[article] += 1
    return spans

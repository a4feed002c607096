"""Stories in the index: the writer's clusterer, kept in step with the database it assigns into.

Each article's story id (`articles.story`) and lexical sketch (`articles.story_terms`) are written in the
same transaction as the article; a merge rewrites the absorbed story's articles and records itself in
`story_merges` (absorbed id -> surviving id), so an old story id still finds its story. The clusterer is
in-memory state derived from those rows: loaded once per writer process and kept while its generation is
the database's, so a server that writes often (the API, the feed watcher) does not reload it per write.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from indexer.enrich.stage import Committed, Stage, StageBatch
from indexer.enrich.stories import (
    StoryClusterer,
    StoryFeatures,
    StoryParams,
    Terms,
    article_features,
    article_vector,
    day_number,
)

# Per index folder: (generation, clusterer) as last left by a commit of this process.
_CACHE: dict[Path, tuple[int, StoryClusterer]] = {}
_CACHE_LOCK = threading.Lock()


def stored(conn: sqlite3.Connection, where: str = "1", params: tuple = ()) -> Iterator[tuple[StoryFeatures, int]]:
    """(features, story id) of the stored articles matching `where`, in rowid order: the vector is the mean
    of the stored passage vectors (as `article_features` makes it), the words are the stored sketch."""
    vectors: dict[int, list[np.ndarray]] = {}
    rows = conn.execute("SELECT p.article, p.embedding FROM passages p JOIN articles a ON a.rowid = p.article "
                        f"WHERE {where} ORDER BY p.article, p.ord", params)
    for article, blob in rows:
        vectors.setdefault(article, []).append(np.frombuffer(blob, dtype=np.float32))
    for rowid, published, story, terms in conn.execute(
            f"SELECT a.rowid, a.published, a.story, a.story_terms FROM articles a WHERE {where} "
            "ORDER BY a.rowid", params):
        matrix = np.stack(vectors[rowid]) if rowid in vectors else np.zeros((0, 0), dtype=np.float32)
        yield StoryFeatures(rowid, day_number(published), article_vector(matrix), Terms.from_bytes(terms)), story


def resolve(conn: sqlite3.Connection, story: int) -> int | None:
    """The story an id names now: itself, or where merges took it; None for an id that never was one."""
    for _ in range(64):  # merge chains are short; the bound keeps a corrupt loop from hanging a reader
        if conn.execute("SELECT 1 FROM articles WHERE story=? LIMIT 1", (story,)).fetchone():
            return story
        row = conn.execute("SELECT survivor FROM story_merges WHERE absorbed=?", (story,)).fetchone()
        if row is None:
            return None
        story = row[0]
    return None


def clusterer(folder: Path, conn: sqlite3.Connection, generation: int, params: StoryParams) -> StoryClusterer:
    """The clusterer holding every stored article, from this process's cache when it is at `generation`."""
    with _CACHE_LOCK:
        cached = _CACHE.pop(Path(folder).resolve(), None)
    if cached is not None and cached[0] == generation and cached[1].params == params:
        return cached[1]
    fresh = StoryClusterer(params)
    fresh.load(stored(conn))
    return fresh


def keep(folder: Path, generation: int, state: StoryClusterer) -> None:
    """Remember the clusterer as the state of `generation` (after a commit)."""
    with _CACHE_LOCK:
        _CACHE[Path(folder).resolve()] = (generation, state)


def assign(conn: sqlite3.Connection, state: StoryClusterer, rowid: int, title: str, text: str, published: str,
           vectors: np.ndarray, generation: int) -> int:
    """Put a just-inserted article in its story (inside the caller's transaction); its story id."""
    features = article_features(rowid, day_number(published), title, text, vectors)
    decided = state.add(features)
    conn.execute("UPDATE articles SET story=?, story_terms=? WHERE rowid=?",
                 (decided.story, features.terms.to_bytes(), rowid))
    for gone, survivor in decided.merged:
        conn.execute("UPDATE articles SET story=? WHERE story=?", (survivor, gone))
        conn.execute("UPDATE story_merges SET survivor=? WHERE survivor=?", (survivor, gone))
        conn.execute("INSERT OR REPLACE INTO story_merges (absorbed, survivor, generation) VALUES (?,?,?)",
                     (gone, survivor, generation))
    # Local moves (StoryParams.move_slack): after the merges, each moved article's row takes its new story.
    conn.executemany("UPDATE articles SET story=? WHERE rowid=?", [(story, moved) for moved, story in decided.moved])
    return decided.story


def rebuild(conn: sqlite3.Connection, params: StoryParams, generation: int) -> StoryClusterer:
    """Cluster every stored article anew, in date order, the undated after the dated in rowid order (the
    order `bench stories` indexes a set in, so a rebuild of its index decides as the indexing did), inside
    the caller's transaction; merges recorded before are kept (their ids stay resolvable)."""
    # An undated article's day is NaN, which compares false with everything: sorted on (day, rowid) alone,
    # the order of a corpus mixing dated and undated articles depended on where the undated ones stood.
    members = sorted((f for f, _ in stored(conn)),
                     key=lambda f: (math.isnan(f.day), 0.0 if math.isnan(f.day) else f.day, f.rowid))
    state = StoryClusterer(params)
    first_of: dict[int, int] = {}  # each old story id -> its earliest article
    for rowid, story in conn.execute("SELECT rowid, story FROM articles ORDER BY rowid"):
        first_of.setdefault(story, rowid)
    for features in members:
        state.add(features)
    new = state.assignments()
    conn.executemany("UPDATE articles SET story=? WHERE rowid=?", [(s, r) for r, s in new.items()])
    live = set(new.values())
    # An old id that names no story any more leads to the story its earliest article is now in.
    conn.executemany("INSERT OR REPLACE INTO story_merges (absorbed, survivor, generation) VALUES (?,?,?)",
                     [(old, new[first], generation) for old, first in first_of.items() if old not in live])
    conn.executemany("DELETE FROM story_merges WHERE absorbed=?", [(s,) for s in live])
    return state


class Stories(Stage):
    """Every committed article joins a story inside its transaction; the clusterer, changed in memory, is kept
    for the next write only once the commit holds (after a rollback the next write reloads it)."""

    name = "stories"

    def begin(self, batch: StageBatch) -> None:
        params = StoryParams.recorded(batch.settings["stories"])
        batch.scratch[self.name] = clusterer(batch.folder, batch.conn, batch.generation - 1, params)

    def apply(self, batch: StageBatch) -> None:
        state = batch.scratch[self.name]
        for rowid in batch.removed:
            state.remove(rowid)
        for stored in batch.added:
            a = stored.article
            assign(batch.conn, state, stored.rowid, a.title, a.text, a.published, stored.vectors, batch.generation)

    def committed(self, batch: StageBatch, event: Committed) -> None:
        keep(batch.folder, batch.generation, batch.scratch[self.name])

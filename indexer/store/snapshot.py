"""The read side of an index: one committed generation, asked through typed questions, never SQL.

`IndexStore.snapshot()` opens a read transaction and hands out a `Snapshot`; everything read through it
(dense and lexical hits, articles, passages) belongs to one generation, however many writers commit
meanwhile. This module is the only place where the search side's questions become SQL.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from indexer.enrich.stories import StoryFeatures
from indexer.enrich.story_store import resolve, stored
from indexer.filters import ArticleFilter, filter_sql
from indexer.sql import select_in
from indexer.store import migrations
from indexer.store.derived import Derived


class Store(Protocol):
    """The index a snapshot reads from (`IndexStore`): its derived state and the reads outside SQL."""

    def derived(self, conn: sqlite3.Connection, wanted: int | None = None) -> Derived: ...

    def embeddings(self, conn: sqlite3.Connection, pids: np.ndarray, model: str | None = None) -> np.ndarray: ...

    def lexical_search(self, words: Sequence[str], depth: int, generation: int) -> list[tuple[int, float]] | None: ...

    def counts(self, conn: sqlite3.Connection | None = None) -> tuple[int, int]: ...


class ArticleRow(NamedTuple):
    """An article as stored; `text` and `metadata` are filled only when asked for (they can be large).
    `source_derived`: the outlet was taken from the URL (metadata['source_derived'], set by the readers)."""

    rowid: int
    id: str
    title: str
    url: str
    source: str
    published: str
    language: str
    dup_group: int
    indexed_at: str
    story: int
    source_derived: bool = False
    text: str = ""
    metadata: dict | None = None


class PassageRow(NamedTuple):
    """A passage: its article's rowid, its place in the article (`ord`, `start`/`end` offsets into the
    body) and its stored vector."""

    article: int
    ord: int
    start: int
    end: int
    embedding: np.ndarray


class StorySummary(NamedTuple):
    """A story as a whole: its size, its outlets (named sources, by how many of its articles each has, then
    name), those of them only ever taken from URLs, and the dates it spans ('' when none is dated)."""

    id: int
    articles: int
    outlets: list[str]
    first: str
    last: str
    derived_outlets: list[str]


_DERIVED = "coalesce(json_extract(metadata, '$.source_derived'), 0) = 1"  # the outlet came from the URL
_ARTICLE_COLUMNS = f"rowid, id, title, url, source, published, language, dup_group, indexed_at, story, {_DERIVED}"


def fts_query(words: Sequence[str]) -> str:
    """An FTS5 OR-query of the query's words, each quoted (so no word is read as FTS5 syntax)."""
    return " OR ".join('"{}"'.format(w.replace('"', '""')) for w in words)


@dataclass
class Snapshot:
    """One read transaction over an index (see the module docstring)."""

    store: Store
    conn: sqlite3.Connection
    generation: int

    # -- the vectors ---------------------------------------------------------------------------
    def derived(self) -> Derived:
        """The vector store and passage -> article map in step with this generation."""
        return self.store.derived(self.conn, self.generation)

    def allowed_passages(self, filters: ArticleFilter) -> np.ndarray:
        """The passage ids of the articles the filters admit, sorted."""
        where, params = filter_sql(filters)
        rows = self.conn.execute(
            f"SELECT p.pid FROM passages p JOIN articles a ON a.rowid = p.article WHERE {where} ORDER BY p.pid",
            params)
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def embeddings(self, pids: np.ndarray, model: str | None = None) -> np.ndarray:
        """Stored vectors of these passages from `model` (None: the index's own), in the order given."""
        return self.store.embeddings(self.conn, pids, model)

    # -- BM25 ----------------------------------------------------------------------------------
    def lexical(self, words: Sequence[str], depth: int,
                filters: ArticleFilter | None = None) -> list[tuple[int, float]]:
        """(article rowid, BM25) best first, ties by rowid, over the headline (weight 2) and the body: tantivy
        when it holds this generation and no filter applies, else FTS5 (same transaction as the articles)."""
        if not words:
            return []
        if not filters:
            hits = self.store.lexical_search(words, depth, self.generation)
            if hits is not None:
                return hits
        score = "-bm25(articles_fts, 2.0, 1.0) AS s"  # FTS5's bm25 is negative, lower is better
        if filters:
            where, params = filter_sql(filters)
            rows = self.conn.execute(
                f"SELECT f.rowid, {score} FROM articles_fts f JOIN articles a ON a.rowid = f.rowid "
                f"WHERE articles_fts MATCH ? AND {where} ORDER BY s DESC, f.rowid LIMIT ?",
                [fts_query(words), *params, depth])
        else:  # without the join FTS5 answers in about half the time (benchmarks/README.md)
            rows = self.conn.execute(f"SELECT rowid, {score} FROM articles_fts WHERE articles_fts MATCH ? "
                                     "ORDER BY s DESC, rowid LIMIT ?", [fts_query(words), depth])
        return [(rowid, float(s)) for rowid, s in rows]

    # -- rows ----------------------------------------------------------------------------------
    def articles(self, rowids: Iterable[int], text: bool = False) -> dict[int, ArticleRow]:
        """The articles with these rowids (those the snapshot holds), by rowid."""
        extra = ", text" if text else ""
        rows = select_in(self.conn, f"SELECT {_ARTICLE_COLUMNS}{extra} FROM articles WHERE rowid IN ({{}})",
                         list(rowids))
        return {row[0]: ArticleRow(*row) for row in rows}

    def stories_of(self, rowids: Iterable[int]) -> dict[int, tuple[str, int]]:
        """(article id, story id) of these articles, by rowid: all that grouping by story needs."""
        return {rowid: (article_id, story) for rowid, article_id, story in select_in(
            self.conn, "SELECT rowid, id, story FROM articles WHERE rowid IN ({})", list(rowids))}

    def article(self, article_id: str) -> ArticleRow | None:
        """One article by its id, with its text and metadata."""
        row = self.conn.execute(f"SELECT {_ARTICLE_COLUMNS}, text, metadata FROM articles WHERE id=?",
                                (article_id,)).fetchone()
        return None if row is None else ArticleRow(*row[:-1], metadata=json.loads(row[-1]))

    def passages(self, rowids: Iterable[int]) -> dict[int, list[PassageRow]]:
        """The passages of these articles in article order, by article rowid."""
        out: dict[int, list[PassageRow]] = {}
        rows = select_in(self.conn, 'SELECT article, ord, start, "end", embedding FROM passages '
                         "WHERE article IN ({}) ORDER BY article, ord", list(rowids))
        for article, ord_, start, end, blob in rows:
            out.setdefault(article, []).append(PassageRow(article, ord_, start, end,
                                                          np.frombuffer(blob, dtype=np.float32)))
        return out

    # -- stories -------------------------------------------------------------------------------
    def stories(self, story_ids: Iterable[int]) -> dict[int, StorySummary]:
        """Summaries of these stories, by id."""
        ids = sorted(set(story_ids))
        out: dict[int, StorySummary] = {}
        rows = select_in(self.conn, "SELECT story, count(*), min(nullif(published, '')), max(nullif(published, '')) "
                         "FROM articles WHERE story IN ({}) GROUP BY story", ids)
        for story, count, first, last in rows:
            out[story] = StorySummary(story, count, [], (first or "")[:10], (last or "")[:10], [])
        rows = select_in(self.conn, f"SELECT story, source, count(*) AS n, min({_DERIVED}) FROM articles "
                         "WHERE story IN ({}) AND source != '' GROUP BY story, source ORDER BY story, n DESC, source",
                         ids)
        for story, source, _, derived in rows:
            out[story].outlets.append(source)
            if derived:
                out[story].derived_outlets.append(source)
        return out

    def story_articles(self, story: int, text: bool = False) -> list[ArticleRow]:
        """A story's articles in time order (undated last, by when they were indexed), ties by rowid."""
        extra = ", text" if text else ""
        rows = self.conn.execute(
            f"SELECT {_ARTICLE_COLUMNS}{extra} FROM articles WHERE story=? "
            "ORDER BY published = '', published, indexed_at, rowid", (story,))
        return [ArticleRow(*row) for row in rows]

    def resolve_story(self, story: int) -> int | None:
        """The story an id names now: itself, or where merges took it; None for an id that never was one."""
        return resolve(self.conn, story)

    def story_members(self) -> list[tuple[int, str, str, int]]:
        """(rowid, article id, published, story) of every article in rowid order (to evaluate stories)."""
        return self.conn.execute("SELECT rowid, id, published, story FROM articles ORDER BY rowid").fetchall()

    def story_features(self) -> list[tuple[StoryFeatures, int]]:
        """Every article's clustering features and story, in rowid order: what a writer's clusterer loads."""
        return list(stored(self.conn))

    def merged_into(self, story: int) -> list[int]:
        """The ids merged into this story."""
        return [r[0] for r in self.conn.execute(
            "SELECT absorbed FROM story_merges WHERE survivor=? ORDER BY absorbed", (story,))]

    def facets(self, rowids: Sequence[int], top: int = 10) -> dict[str, list[tuple[str, int]]]:
        """Per kind of entity ("person", "organization", "place"): the `top` names among these articles with how
        many of them name each, most named first (ties by name)."""
        counts: dict[tuple[str, str], list] = {}
        for kind, key, name, n in select_in(self.conn, "SELECT kind, key, min(name), count(*) FROM entities WHERE "
                                            "article IN ({}) GROUP BY kind, key", list(rowids)):
            seen = counts.setdefault((kind, key), [name, 0])
            seen[1] += n
        by_kind: dict[str, list[tuple[str, int]]] = {}
        for (kind, _), (name, n) in sorted(counts.items(), key=lambda item: (-item[1][1], item[1][0])):
            if len(by_kind.setdefault(kind, [])) < top:
                by_kind[kind].append((name, n))
        return by_kind

    def named_articles(self) -> int:
        """How many articles have their entities stored."""
        return self.conn.execute("SELECT count(DISTINCT article) FROM entities").fetchone()[0]

    def entities(self, rowid: int) -> list[tuple[str, str, int, int]]:
        """(kind, name, count, first offset in the body or -1) of one article's entities, most named first."""
        return self.conn.execute('SELECT kind, name, count, "first" FROM entities WHERE article=? '
                                 "ORDER BY count DESC, name", (rowid,)).fetchall()

    def counts(self) -> tuple[int, int]:
        """(articles, passages)."""
        return self.store.counts(self.conn)

    def migrations(self) -> tuple[int, list[dict]]:
        """The database's format and the migration steps it has taken ({"version", "summary", "at"})."""
        return migrations.stored_format(self.conn), migrations.applied(self.conn)

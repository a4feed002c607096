"""Numbered, ordered steps that upgrade an index's database in place, so that updating newsearch never means
re-embedding an archive.

The database records its format (`state.format`; an index from before migrations has none and is format 3)
and every step applied (`state.migrations`). Opening an older index runs the steps it lacks, in order, in
one SQLite transaction under the writer lock: a kill -9 anywhere leaves the old format or the new one, never
a mix, and the next open simply runs them again. The manifest's `format_version` is written after the
commit, as a copy for people and tools; the database is the truth.

A step is additive: new tables, columns and indexes, and backfills computed from what the database holds.
None re-encodes a passage; a step that would need new vectors (a change of model) must say so with
`reencodes`, and `migrate` refuses it with a message naming the command that rebuilds.

Adding a step: append a `Migration` with the next number and a function of the open connection.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from indexer.errors import NotAnIndex
from indexer.sources.article import Article
from indexer.sources.outlet import outlet_from_url

BASE_FORMAT = 3  # the format of the base schema (`schema.BASE`), and of every index made before migrations


@dataclass(frozen=True)
class Migration:
    """One step: the format it produces, what it does (shown by `newsearch stats`) and the change itself."""

    version: int
    summary: str
    apply: Callable[[sqlite3.Connection], None]
    reencodes: bool = False  # True: the step needs every passage encoded again (never run in place)


def _article_generation(conn: sqlite3.Connection) -> None:
    """Articles record the generation that wrote them, so "what is new since generation g" is one indexed
    query (what alert matching and a restarted watcher ask). Rows from before the step were written at an
    unknown generation: 0 says "before this index tracked it"."""
    conn.execute("ALTER TABLE articles ADD COLUMN generation INTEGER NOT NULL DEFAULT 0")
    conn.execute("CREATE INDEX articles_generation ON articles(generation)")


def _derived_outlets(conn: sqlite3.Connection) -> None:
    """An article stored without an outlet takes its URL's registered domain, marked as derived, as the
    readers now give it (`indexer.sources.outlet`); its content hash is recomputed so that re-reading the same
    file finds it unchanged and encodes nothing. Its vectors stay: the default passage context (the title)
    never saw the outlet (an index built with context "title-meta" keeps vectors made with a blank one)."""
    rows = conn.execute("SELECT rowid, id, title, text, url, published, language, metadata FROM articles "
                        "WHERE source = '' AND url != ''").fetchall()
    for rowid, article_id, title, text, url, published, language, metadata in rows:
        outlet = outlet_from_url(url)
        if not outlet:
            continue
        article = Article(article_id, title, text, url, outlet, published, language,
                          {**json.loads(metadata), "source_derived": True})
        conn.execute("UPDATE articles SET source=?, metadata=?, content_hash=? WHERE rowid=?",
                     (outlet, json.dumps(article.metadata, ensure_ascii=False, default=str),
                      article.content_hash(), rowid))


def _saved_searches(conn: sqlite3.Connection) -> None:
    """Saved searches and what they matched (`indexer.alerts`). A match copies what its feed entry and webhook
    show (title, outlet, date, the passage) so that both stay whole after the article is replaced or deleted;
    its delivery state (`delivery`: '' without a webhook, 'pending', 'delivered' or 'dead') lives beside it,
    so a kill -9 between a commit and a delivery loses nothing."""
    conn.execute("""CREATE TABLE alerts (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, query TEXT NOT NULL, options TEXT NOT NULL,
        story INTEGER, words TEXT NOT NULL, filters TEXT NOT NULL, grouping TEXT NOT NULL, vector BLOB,
        webhook TEXT NOT NULL, secret TEXT NOT NULL, token TEXT NOT NULL,
        created_generation INTEGER NOT NULL, created_at TEXT NOT NULL, read_generation INTEGER NOT NULL)""")
    conn.execute("""CREATE TABLE alert_matches (
        alert TEXT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
        article TEXT NOT NULL, generation INTEGER NOT NULL,
        title TEXT NOT NULL, url TEXT NOT NULL, source TEXT NOT NULL, published TEXT NOT NULL,
        story INTEGER NOT NULL, passage TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
        score REAL NOT NULL, matched_at TEXT NOT NULL,
        delivery TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (alert, article, generation)) WITHOUT ROWID""")
    conn.execute("CREATE INDEX alert_matches_due ON alert_matches(delivery, next_at)")
    conn.execute("CREATE INDEX alert_matches_newest ON alert_matches(alert, generation)")


def _entities(conn: sqlite3.Connection) -> None:
    """The people, organisations and places each article names (`indexer.enrich.entities`), by key for the
    `entity` filter and by article for facets. Articles stored before the step have none: they are not
    re-read (a step never re-runs the pipeline); re-indexing them, or `newsearch entities backfill`, adds them."""
    conn.execute("""CREATE TABLE entities (
        article INTEGER NOT NULL REFERENCES articles(rowid) ON DELETE CASCADE,
        kind TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL, "first" INTEGER NOT NULL,
        PRIMARY KEY (article, kind, key)) WITHOUT ROWID""")
    conn.execute("CREATE INDEX entities_key ON entities(key, article)")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(4, "articles record the generation that wrote them", _article_generation),
    Migration(5, "articles without an outlet take their URL's domain, marked as derived", _derived_outlets),
    Migration(6, "saved searches (alerts), their matches and webhook deliveries", _saved_searches),
    Migration(7, "the people, organisations and places each article names", _entities),
)
FORMAT_VERSION = MIGRATIONS[-1].version if MIGRATIONS else BASE_FORMAT


def stored_format(conn: sqlite3.Connection) -> int:
    """The format of the database behind `conn` (an index from before migrations records none: format 3)."""
    row = conn.execute("SELECT value FROM state WHERE key='format'").fetchone()
    return int(row[0]) if row else BASE_FORMAT


def applied(conn: sqlite3.Connection) -> list[dict]:
    """The steps this database has taken: [{"version", "summary", "at"}], oldest first."""
    row = conn.execute("SELECT value FROM state WHERE key='migrations'").fetchone()
    return json.loads(row[0]) if row else []


def pending(conn: sqlite3.Connection, where: str = "the index") -> list[Migration]:
    """The steps the database lacks, in order; refuses a database newer than this code."""
    version = stored_format(conn)
    if version > FORMAT_VERSION:
        raise NotAnIndex(f"{where} has index format {version}, made by a newer newsearch; this one reads formats "
                         f"{BASE_FORMAT} to {FORMAT_VERSION}. Update newsearch.")
    return [m for m in MIGRATIONS if m.version > version]


def run(conn: sqlite3.Connection, steps: list[Migration], where: str = "the index") -> None:
    """Apply `steps` inside the caller's open transaction and record them; the caller commits or rolls back."""
    for step in steps:
        if step.reencodes:
            raise NotAnIndex(f"{where} needs format {step.version} ({step.summary}), which encodes every passage "
                             f"again: build it anew with `newsearch index SOURCES --index NEW_FOLDER`")
    done = applied(conn)
    for step in steps:
        step.apply(conn)
        done.append({"version": step.version, "summary": step.summary,
                     "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    if steps:
        conn.execute("INSERT OR REPLACE INTO state (key, value) VALUES ('format', ?)", (str(steps[-1].version),))
        conn.execute("INSERT OR REPLACE INTO state (key, value) VALUES ('migrations', ?)", (json.dumps(done),))


def migrate(conn: sqlite3.Connection, where: str = "the index") -> list[Migration]:
    """Bring the database to `FORMAT_VERSION` in one transaction (the caller holds the writer lock); the
    steps taken, none when it was current."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        steps = pending(conn, where)
        run(conn, steps, where)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return steps

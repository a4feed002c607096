"""Saved searches and their matches as the index stores them (tables of migration 6).

A saved search is compiled when it is made (`search.alerts`): its query vector from the index's model, its
words, its filters. What is stored is all that matching a committed batch needs (`indexer.enrich.alerts`),
so the indexer never parses a query. Edits run in short transactions of their own (`IndexStore.edit`), not
in a write of articles: a saved search records the generation it was made at, and only later commits match
it. Every edit bumps `state.alerts_version`, which tells a writer's cached matrix of saved searches to reload.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass, field, replace

import numpy as np

from indexer.filters import StoredFilter
from indexer.sql import select_in

VERSION_KEY = "alerts_version"
WAKE = threading.Event()  # set after a commit that queued deliveries: a deliverer in this process sends at once


@dataclass(frozen=True)
class SavedSearch:
    """One saved search. `query` is empty when it follows a story (`story`); `options` are the search options
    and filters as they were asked (their wire form, shown back and used to run the search itself); `words`,
    `filters` and `vector` are what matching reads. `grouping` "story" makes its feed one entry per story."""

    id: str
    name: str
    query: str = ""
    options: dict = field(default_factory=dict)
    story: int | None = None
    words: tuple[str, ...] = ()
    filters: StoredFilter = StoredFilter()
    grouping: str = ""
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)
    webhook: str = ""
    secret: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    created_generation: int = 0
    created_at: str = ""


@dataclass(frozen=True)
class Match:
    """An article a saved search fired on, as its feed and webhook show it: `generation` is the version of the
    article that matched (a replaced article that matches again is a new match), `passage` the passage that
    matched with its offsets into the body, `score` its cosine to the query (0 for a followed story).
    `delivery`: '' (no webhook), 'pending', 'delivered' or 'dead' (the retry budget ran out; `error` says why)."""

    alert: str
    article: str
    generation: int
    title: str
    url: str
    source: str
    published: str
    story: int
    passage: str
    start: int
    end: int
    score: float
    matched_at: str
    delivery: str = ""
    attempts: int = 0
    next_at: float = 0.0
    error: str = ""
    # Stable across retries, restarts and servers: a receiver that sees it twice has seen one match.
    delivery_id: str = field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "delivery_id", delivery_id(self.alert, self.article, self.generation))


@dataclass(frozen=True)
class Counts:
    """A saved search's matches by state: all of them, those after its read mark, and its webhook's queue."""

    matches: int = 0
    unread: int = 0
    pending: int = 0
    delivered: int = 0
    dead: int = 0


def delivery_id(alert: str, article: str, generation: int) -> str:
    return hashlib.sha256(f"{alert}\x00{article}\x00{generation}".encode()).hexdigest()[:32]


_ALERT_COLUMNS = ("id, name, query, options, story, words, filters, grouping, vector, webhook, secret, token, "
                  "created_generation, created_at")
_MATCH_COLUMNS = ('alert, article, generation, title, url, source, published, story, passage, start, "end", '
                  "score, matched_at, delivery, attempts, next_at, error")


def _saved(row: tuple) -> SavedSearch:
    (alert_id, name, query, options, story, words, filters, grouping, vector, webhook, secret, token,
     created_generation, created_at) = row
    return SavedSearch(alert_id, name, query, json.loads(options), story, tuple(json.loads(words)),
                       StoredFilter.from_dict(json.loads(filters)), grouping,
                       None if vector is None else np.frombuffer(vector, dtype=np.float32), webhook, secret, token,
                       created_generation, created_at)


def _bump(conn: sqlite3.Connection) -> None:
    conn.execute(f"INSERT INTO state (key, value) VALUES ('{VERSION_KEY}', '1') ON CONFLICT(key) DO UPDATE "
                 "SET value = CAST(value AS INTEGER) + 1")


def version(conn: sqlite3.Connection) -> int:
    """Bumped by every change of the saved searches (a cached copy of them is current while it holds)."""
    row = conn.execute("SELECT value FROM state WHERE key=?", (VERSION_KEY,)).fetchone()
    return int(row[0]) if row else 0


def insert(conn: sqlite3.Connection, saved: SavedSearch, generation: int) -> SavedSearch:
    """Store `saved` as made at `generation` (inside the caller's transaction); the stored record."""
    saved = replace(saved, created_generation=generation)
    vector = None if saved.vector is None else np.asarray(saved.vector, dtype=np.float32).tobytes()
    conn.execute(f"INSERT INTO alerts ({_ALERT_COLUMNS}, read_generation) VALUES "
                 "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                 (saved.id, saved.name, saved.query, json.dumps(saved.options, ensure_ascii=False), saved.story,
                  json.dumps(list(saved.words), ensure_ascii=False),
                  json.dumps(saved.filters.to_dict(), ensure_ascii=False), saved.grouping, vector, saved.webhook,
                  saved.secret, saved.token, saved.created_generation, saved.created_at, generation))
    _bump(conn)
    return saved


def remove(conn: sqlite3.Connection, alert_id: str) -> bool:
    """Delete a saved search with its matches and pending deliveries; whether it existed."""
    gone = conn.execute("DELETE FROM alerts WHERE id=?", (alert_id,)).rowcount > 0
    if gone:
        _bump(conn)
    return gone


def get(conn: sqlite3.Connection, alert_id: str) -> SavedSearch | None:
    row = conn.execute(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id=?", (alert_id,)).fetchone()
    return None if row is None else _saved(row)


def every(conn: sqlite3.Connection) -> list[SavedSearch]:
    """All saved searches, in the order they were made."""
    return [_saved(row) for row in conn.execute(f"SELECT {_ALERT_COLUMNS} FROM alerts ORDER BY rowid")]


def counts(conn: sqlite3.Connection, alert_id: str | None = None) -> dict[str, Counts]:
    """Matches by state per saved search (one, or all: those without matches are left out)."""
    where, params = ("WHERE m.alert=?", (alert_id,)) if alert_id else ("", ())
    rows = conn.execute(
        "SELECT m.alert, count(*), sum(m.generation > a.read_generation), sum(m.delivery='pending'), "
        f"sum(m.delivery='delivered'), sum(m.delivery='dead') FROM alert_matches m JOIN alerts a ON a.id = m.alert "
        f"{where} GROUP BY m.alert", params)
    return {row[0]: Counts(*(int(v or 0) for v in row[1:])) for row in rows}


def last_errors(conn: sqlite3.Connection, alert_id: str | None = None) -> dict[str, str]:
    """Why each saved search's latest failed delivery failed (one, or all that have one)."""
    where, params = ("AND alert=?", (alert_id,)) if alert_id else ("", ())
    # SQLite's bare column beside max(): the error of the row with the highest generation.
    return {alert: error for alert, error, _ in conn.execute(
        f"SELECT alert, error, max(generation) FROM alert_matches WHERE error != '' {where} GROUP BY alert", params)}


def matches(conn: sqlite3.Connection, alert_id: str, limit: int = 50, offset: int = 0) -> list[Match]:
    """A saved search's matches, newest first (by the generation that wrote the article, then date)."""
    rows = conn.execute(f"SELECT {_MATCH_COLUMNS} FROM alert_matches WHERE alert=? "
                        "ORDER BY generation DESC, published DESC, article LIMIT ? OFFSET ?",
                        (alert_id, limit, offset))
    return [Match(*row) for row in rows]


def mark_read(conn: sqlite3.Connection, alert_id: str) -> None:
    """Everything matched so far counts as read (the page's unread count starts again from zero)."""
    conn.execute("UPDATE alerts SET read_generation = (SELECT coalesce(max(generation), 0) FROM alert_matches "
                 "WHERE alert=?) WHERE id=?", (alert_id, alert_id))


def record(conn: sqlite3.Connection, found: list[Match]) -> None:
    """Store matches made inside a write's transaction (a match already recorded is kept as it is)."""
    conn.executemany(f"INSERT OR IGNORE INTO alert_matches ({_MATCH_COLUMNS}) VALUES "
                     "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     [(m.alert, m.article, m.generation, m.title, m.url, m.source, m.published, m.story, m.passage,
                       m.start, m.end, m.score, m.matched_at, m.delivery, m.attempts, m.next_at, m.error)
                      for m in found])


def due(conn: sqlite3.Connection, now: float, lease: float, limit: int) -> list[tuple[Match, SavedSearch]]:
    """Claim up to `limit` deliveries that are due (inside the caller's transaction): each is leased for `lease`
    seconds, so a second deliverer (a server and a watcher on one index) does not send it at the same time,
    and one that died mid-send leaves it due again when the lease ends."""
    rows = conn.execute(f"SELECT {', '.join('m.' + c.strip() for c in _MATCH_COLUMNS.split(','))} "
                        "FROM alert_matches m WHERE m.delivery='pending' AND m.next_at <= ? "
                        "ORDER BY m.next_at, m.generation LIMIT ?", (now, limit)).fetchall()
    claimed = [Match(*row) for row in rows]
    conn.executemany("UPDATE alert_matches SET next_at=? WHERE alert=? AND article=? AND generation=?",
                     [(now + lease, m.alert, m.article, m.generation) for m in claimed])
    searches = {m.alert: get(conn, m.alert) for m in claimed}
    return [(m, searches[m.alert]) for m in claimed if searches[m.alert] is not None]


def settle(conn: sqlite3.Connection, match: Match, delivery: str, attempts: int, next_at: float, error: str) -> None:
    """Record how a delivery went: 'delivered', 'dead', or 'pending' again at `next_at`."""
    conn.execute("UPDATE alert_matches SET delivery=?, attempts=?, next_at=?, error=? "
                 "WHERE alert=? AND article=? AND generation=?",
                 (delivery, attempts, next_at, error, match.alert, match.article, match.generation))


def texts(conn: sqlite3.Connection, article_ids: list[str]) -> dict[str, str]:
    """The stored text of each article still in the index (a feed entry's content)."""
    return dict(select_in(conn, "SELECT id, text FROM articles WHERE id IN ({})", article_ids))


def totals(conn: sqlite3.Connection) -> dict[str, int]:
    """The index's saved searches, matches and deliveries by state (for `stats` and `/health`)."""
    saved = conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
    row = conn.execute("SELECT count(*), sum(delivery='pending'), sum(delivery='delivered'), sum(delivery='dead') "
                       "FROM alert_matches").fetchone()
    return {"saved": saved, "matches": row[0], "pending": int(row[1] or 0), "delivered": int(row[2] or 0),
            "dead": int(row[3] or 0)}

"""The base schema: the tables of format 3, the format every index had before migrations. Later formats are
steps over it (`migrations.py`), and a new index is made by the same steps, so that one code path builds
and upgrades.

- `articles`: what was read, with its content hash (a re-run skips unchanged articles), its near-duplicate
  group and MinHash, its story and lexical sketch.
- `passages`: each passage's offsets into the body and its vector from the index's model; `passage_vectors`
  the vectors of the profile's other models; `passage_keys` the hash of each passage's model input.
- `articles_fts`: the BM25 (FTS5) rows; `article_bands` the MinHash bands; `story_merges` absorbed story
  ids; `state` the generation counter, the format, the migrations taken and clients' state (feeds).
"""

from __future__ import annotations

import sqlite3

BASE = """
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL, text TEXT NOT NULL, url TEXT NOT NULL, source TEXT NOT NULL,
    published TEXT NOT NULL, language TEXT NOT NULL, metadata TEXT NOT NULL,
    content_hash TEXT NOT NULL, indexed_at TEXT NOT NULL,
    dup_group INTEGER NOT NULL DEFAULT 0, minhash BLOB,
    story INTEGER NOT NULL DEFAULT 0, story_terms BLOB
);
CREATE INDEX IF NOT EXISTS articles_story ON articles(story);
CREATE TABLE IF NOT EXISTS story_merges (
    absorbed INTEGER PRIMARY KEY, survivor INTEGER NOT NULL, generation INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS article_bands (
    band TEXT NOT NULL, article INTEGER NOT NULL REFERENCES articles(rowid) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS article_bands_band ON article_bands(band);
CREATE INDEX IF NOT EXISTS article_bands_article ON article_bands(article);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE TABLE IF NOT EXISTS passages (
    pid INTEGER PRIMARY KEY AUTOINCREMENT,
    article INTEGER NOT NULL REFERENCES articles(rowid) ON DELETE CASCADE,
    ord INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_article ON passages(article);
CREATE TABLE IF NOT EXISTS passage_keys (
    pid INTEGER PRIMARY KEY REFERENCES passages(pid) ON DELETE CASCADE, key BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS passage_keys_key ON passage_keys(key);
CREATE TABLE IF NOT EXISTS passage_vectors (
    pid INTEGER NOT NULL REFERENCES passages(pid) ON DELETE CASCADE, slot INTEGER NOT NULL,
    embedding BLOB NOT NULL, PRIMARY KEY (pid, slot)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS articles_fts USING fts5(
    title, text, content='articles', content_rowid='rowid', tokenize='porter unicode61 remove_diacritics 2'
);
"""


def create(conn: sqlite3.Connection) -> None:
    """The base tables and the generation counter, inside the caller's transaction."""
    for statement in BASE.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT OR IGNORE INTO state VALUES ('generation', '0')")

"""The index folder: manifest, SQLite metadata store (the source of truth) and a derived vector store.

Commit protocol (see docs/design.md): a batch of upserts and deletes is one SQLite transaction that
writes articles, passages with their embeddings and the BM25 (FTS5) rows, and bumps `generation`.
The vector store is derived state: `sync` brings it to the ids the database holds, adding stored
embeddings and dropping deleted ids, so a crash anywhere leaves an index that opens and catches up.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexer import settings
from indexer.enrich import dedup, story_store
from indexer.enrich.stories import StoryClusterer, StoryParams
from indexer.errors import IndexLocked, ModelMismatch, NotAnIndex
from indexer.files import write_atomic
from indexer.models.embed import DEFAULT_ENCODER
from indexer.models.profiles import DEFAULT_CONTEXT, DEFAULT_PROFILE
from indexer.sources.article import Article
from indexer.sources.chunk import Passage
from indexer.store.lexical import LexicalIndex
from indexer.store.snapshot import Snapshot
from indexer.store.sql import select_in
from indexer.store.vectors import VectorStore, open_vector_store

if TYPE_CHECKING:
    from indexer.pipeline import Embedded

FORMAT_VERSION = 3  # 2: near-duplicate groups (articles.dup_group, article_bands); 3: stories
MANIFEST = "manifest.json"
DATABASE = "meta.sqlite"

_SCHEMA = """
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


# The manifest is written before the database, so a creation cut short leaves at most these.
_CREATION_LEFTOVERS = frozenset({"write.lock", MANIFEST + ".tmp"})


@dataclass
class Manifest:
    model: str
    dim: int
    backend: str = "faiss"
    backend_uri: str = ""  # milvus: a .db file (relative to the folder; '' the default) or http://host:port
    encoder: str = DEFAULT_ENCODER
    index_type: str = "flat"
    index_params: dict = field(default_factory=dict)
    chunk_tokens: int = 128
    overlap_tokens: int = 32
    profile: str = DEFAULT_PROFILE
    extra_models: list = field(default_factory=list)  # the profile's other models: [{"model", "dim"}], slot 1..
    context: str = DEFAULT_CONTEXT
    stories: dict = field(default_factory=lambda: asdict(StoryParams()))  # the clusterer's parameters
    format_version: int = FORMAT_VERSION
    created: str = ""
    updated: str = ""
    articles: int = 0
    passages: int = 0
    generation: int = 0

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        try:
            data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotAnIndex(
                f"{folder} is not a newsearch index (no {MANIFEST}); build one with `newsearch index`") from None
        except (OSError, ValueError) as exc:
            raise NotAnIndex(f"{folder / MANIFEST} is unreadable: {exc}") from exc
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise NotAnIndex(
                f"{folder} has index format {version}; this newsearch reads format {FORMAT_VERSION}. "
                f"Build it again: delete {folder} and run `newsearch index SOURCES --index {folder}`"
            )
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def write(self, folder: Path) -> None:
        write_atomic(folder / MANIFEST, json.dumps(self.__dict__, indent=2, sort_keys=True))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True)
class Derived:
    """What one generation derives from the database: its vector store and passage -> article map."""

    generation: int
    vectors: VectorStore
    pids: np.ndarray  # every passage id of the generation, sorted
    articles: np.ndarray  # the article rowid of each, aligned with pids
    extra: tuple[VectorStore, ...] = ()  # the profile's other models' vectors, slot 1 onwards

    def stores(self) -> tuple[VectorStore, ...]:
        """Every vector store, by slot (0: the index's own model)."""
        return (self.vectors, *self.extra)

    def articles_of(self, pids: np.ndarray) -> np.ndarray:
        """The article rowid of each passage id (-1 for an id this generation does not hold), from memory:
        a dense search maps hundreds of passages per query, which SQL would answer in milliseconds."""
        if not len(self.pids):
            return np.full(len(pids), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.pids, pids), len(self.pids) - 1)
        return np.where(self.pids[at] == pids, self.articles[at], -1)


@dataclass
class WriteResult:
    upserted: int = 0
    unchanged: int = 0  # set by `Indexer.write`: articles skipped because the index holds them as they are
    deleted: int = 0
    passages: int = 0
    generation: int = 0


class IndexStore:
    """One index folder. Writers take the folder lock; readers use per-thread snapshot connections."""

    def __init__(self, folder: Path, manifest: Manifest) -> None:
        self.folder = Path(folder)
        self.manifest = manifest
        self._local = threading.local()
        self._sync_lock = threading.Lock()
        self._derived: Derived | None = None  # replaced whole, so a reader never sees two generations
        self._lexical: LexicalIndex | None = None
        self._lock_file = None

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def create_or_open(cls, folder: Path, manifest: Manifest, lock: bool = False,
                       wait: bool | float = False, asked: Mapping[str, str | None] | None = None) -> IndexStore:
        """Open for writing, creating the folder on first use; refuses a different model, or another of the
        manifest fields in `asked` (name -> value; None: not asked, the index keeps its own).

        With `lock` the writer lock is taken before anything in the folder is written: a second writer
        that is refused leaves the manifest and the database as they were.
        """
        folder = Path(folder)
        if not (folder / MANIFEST).exists():
            # What a creation interrupted before its manifest was written can leave; anything else is foreign.
            if folder.exists() and any(p.name not in _CREATION_LEFTOVERS for p in folder.iterdir()):
                raise NotAnIndex(f"{folder} exists and is not a newsearch index; choose an empty or new folder")
            folder.mkdir(parents=True, exist_ok=True)
        store = cls(folder, manifest)
        try:
            if lock:
                store.lock(wait=wait)
            if (folder / MANIFEST).exists():
                existing = Manifest.read(folder)
                if existing.model != manifest.model:
                    raise ModelMismatch(
                        f"{folder} was built with {existing.model}; it cannot take vectors from {manifest.model}. "
                        "Use another --index folder or the same model."
                    )
                for name, value in (asked or {}).items():
                    if value is not None and getattr(existing, name) != value:
                        raise ModelMismatch(f"{folder} was built with {name} {getattr(existing, name)!r}; it "
                                            f"cannot take {name} {value!r}. Use another --index folder.")
                existing.index_params = manifest.index_params or existing.index_params
                # Another type asked for: sync rebuilds it from the stored embeddings.
                existing.index_type = manifest.index_type or existing.index_type
                store.manifest = manifest = existing
            else:
                if manifest.extra_models and manifest.backend != "faiss":
                    raise ValueError(f"profile {manifest.profile!r} keeps its models' vectors in FAISS; "
                                     "it cannot use the milvus backend")
                manifest.index_type = manifest.index_type or "auto"
                manifest.created = manifest.updated = _now()
            # Manifest first: a crash before the database exists leaves a folder that the next run completes.
            manifest.write(folder)
            store._init_db()
            store._catch_up_lexical()
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def open(cls, folder: Path) -> IndexStore:
        """Open an existing index for reading."""
        folder = Path(folder)
        store = cls(folder, Manifest.read(folder))
        unfinished = f"{folder} was never finished (its creation stopped early); run `newsearch index` into it again"
        if not (folder / DATABASE).exists():
            raise NotAnIndex(unfinished)
        if store.connection().execute("SELECT 1 FROM sqlite_master WHERE name='state'").fetchone() is None:
            store.close()
            raise NotAnIndex(unfinished)
        return store

    def _init_db(self) -> None:
        # One transaction: a crash leaves every table or none (and `open` then says to run the indexer).
        self.connection().executescript(
            "BEGIN;" + _SCHEMA + "INSERT OR IGNORE INTO state VALUES ('generation', '0'); COMMIT;")

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (WAL: readers never block the writer and see whole commits)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.folder / DATABASE, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        if self._derived is not None:
            for store in self._derived.stores():
                store.close()
        if self._lexical is not None:
            self._lexical.close()
        self.unlock()

    # -- writer lock ---------------------------------------------------------------------------
    def lock(self, wait: bool | float = False) -> None:
        """Take the single-writer lock; a second writer waits (True: as long as it takes; a number: that many
        seconds) or fails with a clear message."""
        import fcntl

        handle = open(self.folder / "write.lock", "a+")  # noqa: SIM115 - held for the writer's life
        deadline = time.monotonic() + (0 if wait is True else float(wait))
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait is True else fcntl.LOCK_NB))
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                handle.close()
                raise IndexLocked(f"another process is writing to {self.folder}; wait for it to finish") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    def unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- reads ---------------------------------------------------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """A read transaction: everything read through it is one committed generation."""
        conn = self.connection()
        conn.execute("BEGIN")
        try:
            yield Snapshot(self, conn, self.generation(conn))
        finally:
            conn.execute("COMMIT")

    @staticmethod
    def generation(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT value FROM state WHERE key='generation'").fetchone()[0])

    def counts(self, conn: sqlite3.Connection | None = None) -> tuple[int, int]:
        conn = conn or self.connection()
        articles = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        passages = conn.execute("SELECT count(*) FROM passages").fetchone()[0]
        return articles, passages

    def content_hashes(self, ids: Sequence[str] | None = None) -> dict[str, str]:
        """{id: content hash} of these stored articles (of all, for None): what a writer need not redo."""
        conn = self.connection()
        if ids is None:
            return dict(conn.execute("SELECT id, content_hash FROM articles"))
        return dict(select_in(conn, "SELECT id, content_hash FROM articles WHERE id IN ({})", list(ids)))

    def read_state(self, prefix: str) -> dict[str, str]:
        """The saved state entries whose key starts with `prefix` (see `write`)."""
        rows = self.connection().execute("SELECT key, value FROM state WHERE substr(key, 1, ?) = ?",
                                         (len(prefix), prefix))
        return dict(rows.fetchall())

    def derived(self, conn: sqlite3.Connection, wanted: int | None = None) -> Derived:
        """What the snapshot's generation (`wanted`, read from `conn` when not given) derives from the
        database, made once per generation.

        Copy-on-write: a search holding the previous vector store keeps using it while the new one is made.
        """
        wanted = self.generation(conn) if wanted is None else wanted
        derived = self._derived  # one read: the store and its generation, never two halves
        if derived is not None and derived.generation == wanted:
            return derived
        with self._sync_lock:
            derived = self._derived
            if derived is not None and derived.generation == wanted:
                return derived
            m = self.manifest
            if derived is None:
                stores = [open_vector_store(m.backend, self.folder, m.dim, m.index_type, m.index_params,
                                            uri=settings.open_uri(m.backend_uri), writer=self._lock_file is not None)]
                stores += [open_vector_store("faiss", self.folder / f"vectors-{slot}", extra["dim"], m.index_type,
                                             m.index_params) for slot, extra in enumerate(m.extra_models, 1)]
            else:
                stores = [store.copy() for store in derived.stores()]
            rows = np.fromiter(conn.execute("SELECT pid, article FROM passages ORDER BY pid"),
                               dtype=np.dtype((np.int64, 2))).reshape(-1, 2)
            pids, articles = np.ascontiguousarray(rows[:, 0]), np.ascontiguousarray(rows[:, 1])
            for slot, store in enumerate(stores):
                self.sync(store, conn, pids, slot)
            self._derived = Derived(wanted, stores[0], pids, articles, tuple(stores[1:]))
            return self._derived

    def sync(self, store: VectorStore, conn: sqlite3.Connection, db_ids: np.ndarray, slot: int = 0) -> None:
        """Bring `store` (of model `slot`) to exactly the passage ids the database holds (`db_ids`, sorted)."""
        have = store.ids()
        extra = np.setdiff1d(have, db_ids, assume_unique=True)
        missing = np.setdiff1d(db_ids, have, assume_unique=True)
        if (len(extra) and not store.can_delete) or len(missing) > len(db_ids) // 2 or store.outgrown(len(db_ids)):
            store.rebuild(db_ids, self.embeddings(conn, db_ids, slot))
            return
        store.delete(extra)
        if len(missing):
            store.add(missing, self.embeddings(conn, missing, slot))

    def embeddings(self, conn: sqlite3.Connection, pids: np.ndarray, slot: int = 0) -> np.ndarray:
        """Stored vectors of these passages from model `slot` (0: the index's own), in the order given."""
        dim = self.manifest.dim if slot == 0 else self.manifest.extra_models[slot - 1]["dim"]
        table, where = ("passages", "") if slot == 0 else ("passage_vectors", f"slot = {int(slot)} AND ")
        out = np.zeros((len(pids), dim), dtype=np.float32)
        if not len(pids):
            return out
        position = {int(p): i for i, p in enumerate(pids)}
        if len(pids) * 4 > (conn.execute("SELECT max(pid) FROM passages").fetchone()[0] or 0):
            rows = conn.execute(f"SELECT pid, embedding FROM {table} WHERE {where}1")  # most of them: one scan
            for pid, blob in rows:
                i = position.get(pid)
                if i is not None:
                    out[i] = np.frombuffer(blob, dtype=np.float32)
            return out
        for pid, blob in select_in(conn, f"SELECT pid, embedding FROM {table} WHERE {where}pid IN ({{}})",
                                   [int(p) for p in pids]):
            out[position[pid]] = np.frombuffer(blob, dtype=np.float32)
        return out

    def known_vectors(self, keys: list[bytes]) -> dict[bytes, tuple[np.ndarray, ...]]:
        """The stored vectors (one per model) of passages whose text has one of these keys, each key's first
        passage: what a writer need not encode again. Passages stored before keys were kept are not found."""
        conn = self.connection()
        first = dict(select_in(conn, "SELECT key, min(pid) FROM passage_keys WHERE key IN ({}) GROUP BY key", keys))
        if not first:
            return {}
        pids = np.fromiter(first.values(), dtype=np.int64)
        models = [self.embeddings(conn, pids, slot) for slot in range(1 + len(self.manifest.extra_models))]
        return {key: tuple(m[i] for m in models) for i, key in enumerate(first)}

    # -- writes --------------------------------------------------------------------------------
    def write(
        self,
        upserts: Iterable[tuple[Article, Sequence[Passage], Embedded]] = (),
        deletes: Iterable[str] = (),
        state: Mapping[str, str] | None = None,
    ) -> WriteResult:
        """One atomic batch: every article in it becomes visible, with all its passages, or none does.

        `state` (key -> value) is saved in the same transaction: a client's bookkeeping (a feed's
        validators and seen items) is committed exactly when the articles it describes are."""
        result, now = WriteResult(), _now()
        removed, added = [], []
        with self._transaction() as (conn, result.generation):
            stories = self._stories(conn, result.generation - 1)
            for article_id in deletes:
                rowid = self._delete(conn, article_id)
                if rowid is not None:
                    removed.append(rowid)
                    stories.remove(rowid)
                    result.deleted += 1
            for article, passages, embedded in upserts:
                rowid = self._delete(conn, article.id)
                if rowid is not None:
                    removed.append(rowid)
                    stories.remove(rowid)
                cur = conn.execute(
                    "INSERT INTO articles (id, title, text, url, source, published, language, metadata,"
                    " content_hash, indexed_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (article.id, article.title, article.text, article.url, article.source, article.published,
                     article.language, json.dumps(article.metadata, ensure_ascii=False, default=str),
                     article.content_hash(), now),
                )
                rowid = cur.lastrowid
                added.append(rowid)
                self._group_duplicates(conn, rowid, article.text)
                conn.execute("INSERT INTO articles_fts (rowid, title, text) VALUES (?,?,?)",
                             (rowid, article.title, article.text))
                vectors = embedded.vectors[0]
                for p, key, *rows in zip(passages, embedded.keys, *embedded.vectors, strict=True):
                    pid = conn.execute('INSERT INTO passages (article, ord, start, "end", embedding) '
                                       "VALUES (?,?,?,?,?)", (rowid, p.ord, p.start, p.end,
                                                              np.asarray(rows[0], dtype=np.float32).tobytes())
                                       ).lastrowid
                    conn.execute("INSERT INTO passage_keys (pid, key) VALUES (?, ?)", (pid, key))
                    conn.executemany("INSERT INTO passage_vectors (pid, slot, embedding) VALUES (?,?,?)",
                                     [(pid, slot, np.asarray(v, dtype=np.float32).tobytes())
                                      for slot, v in enumerate(rows[1:], 1)])
                story_store.assign(conn, stories, rowid, article.title, article.text, article.published,
                                   np.asarray(vectors, dtype=np.float32), result.generation)
                result.upserted += 1
                result.passages += len(passages)
            for key, value in (state or {}).items():
                if key == "generation":
                    raise ValueError("state key 'generation' is the index's own")
                conn.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, value))
        # Only now: after a rollback the clusterer, changed in memory, is not kept and the next write reloads.
        story_store.keep(self.folder, result.generation, stories)
        self._apply_lexical(removed, added, result.generation)
        return result

    @contextmanager
    def _transaction(self) -> Iterator[tuple[sqlite3.Connection, int]]:
        """One write transaction that moves the index to the next generation: (connection, that generation).
        Everything done inside commits together with the new generation, or is rolled back."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            generation = self.generation(conn) + 1
            yield conn, generation
            conn.execute("UPDATE state SET value=? WHERE key='generation'", (str(generation),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def story_params(self) -> StoryParams:
        return StoryParams(**self.manifest.stories)

    def _stories(self, conn: sqlite3.Connection, generation: int) -> StoryClusterer:
        """The clusterer in step with the database at `generation` (inside the write transaction)."""
        return story_store.clusterer(self.folder, conn, generation, self.story_params())

    def rebuild_stories(self, params: StoryParams | None = None) -> int:
        """Re-cluster every article (after a parameter change); the stories, counted. One transaction."""
        params = params or self.story_params()
        with self._transaction() as (conn, generation):
            state = story_store.rebuild(conn, params, generation)
        story_store.keep(self.folder, generation, state)
        self.manifest.stories = asdict(params)
        self.manifest.write(self.folder)
        self._apply_lexical([], [], generation)
        return len(state.stories())

    @staticmethod
    def _group_duplicates(conn: sqlite3.Connection, rowid: int, text: str) -> None:
        """Put the article in the group of an earlier near-duplicate (a wire copy), else in its own group."""
        sig = dedup.signature(text)
        keys = dedup.band_keys(sig)
        group = rowid
        candidates = conn.execute(
            "SELECT DISTINCT a.rowid, a.dup_group, a.minhash FROM article_bands b "
            f"JOIN articles a ON a.rowid = b.article WHERE b.band IN ({','.join('?' * len(keys))}) ORDER BY a.rowid",
            keys).fetchall()
        for _, candidate_group, blob in candidates:
            if dedup.similarity(sig, np.frombuffer(blob, dtype=np.uint64)) >= dedup.THRESHOLD:
                group = candidate_group
                break
        conn.execute("UPDATE articles SET dup_group=?, minhash=? WHERE rowid=?", (group, sig.tobytes(), rowid))
        conn.executemany("INSERT INTO article_bands (band, article) VALUES (?, ?)", [(k, rowid) for k in keys])

    @staticmethod
    def _delete(conn: sqlite3.Connection, article_id: str) -> int | None:
        """Remove an article with its passages and BM25 row; its rowid, or None if it was not there."""
        row = conn.execute("SELECT rowid, title, text FROM articles WHERE id=?", (article_id,)).fetchone()
        if row is None:
            return None
        conn.execute("INSERT INTO articles_fts (articles_fts, rowid, title, text) VALUES ('delete', ?, ?, ?)", row)
        conn.execute("DELETE FROM articles WHERE rowid=?", (row[0],))
        return row[0]

    # -- the derived BM25 index ----------------------------------------------------------------
    def _catch_up_lexical(self) -> None:
        """The writer brings the tantivy index to the database's generation (after a crash, a rebuild)."""
        self._lexical = LexicalIndex.open(self.folder, create=True)
        with self.snapshot() as snap:
            if self._lexical.generation() != snap.generation:
                self._lexical.rebuild(snap.conn, snap.generation)

    def _apply_lexical(self, removed: list[int], added: list[int], generation: int) -> None:
        """After a commit: the batch is safe in SQLite already, so a failure here only leaves readers on
        FTS5 until the next writer catches the tantivy index up; it is reported, not raised."""
        if self._lexical is None:
            return
        try:
            self._lexical.apply(self.connection(), removed, added, generation)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            import warnings

            warnings.warn(f"{self.folder}: the BM25 index fell behind ({exc}); FTS5 answers until the next write",
                          stacklevel=2)

    def lexical_search(self, words: Sequence[str], depth: int, generation: int) -> list[tuple[int, float]] | None:
        """Unfiltered BM25 from tantivy at `generation`; None when it cannot answer (ask FTS5)."""
        if self._lexical is None:
            self._lexical = LexicalIndex.open(self.folder)
            if self._lexical is None:
                return None
        return self._lexical.search(list(words), depth, generation)

    def checkpoint(self) -> None:
        """Save the vector store at the database's generation and refresh the manifest's counts."""
        with self.snapshot() as snap:
            stores = snap.derived().stores()
            generation = snap.generation
            articles, passages = snap.counts()
        for store in stores:
            if store.generation() != generation:
                store.save(generation)
        m = self.manifest
        m.articles, m.passages, m.generation, m.updated = articles, passages, generation, _now()
        m.index_type = stores[0].index_type
        m.write(self.folder)

"""The index folder: manifest, SQLite metadata store (the source of truth) and a derived vector store.

Commit protocol (see docs/design.md): a batch of upserts and deletes is one SQLite transaction that
writes articles, passages with their embeddings and the BM25 (FTS5) rows, and bumps `generation`.
The vector store is derived state: `sync` brings it to the ids the database holds, adding stored
embeddings and dropping deleted ids, so a crash anywhere leaves an index that opens and catches up.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np

from indexer import enrich, settings
from indexer.enrich import story_store
from indexer.enrich.stage import Committed, StageBatch, StoredArticle
from indexer.enrich.stories import StoryParams
from indexer.errors import IndexLocked, InvalidInput, ModelMismatch, NotAnIndex
from indexer.files import hold_lock
from indexer.models.embed import Embedded
from indexer.sources.article import Article
from indexer.sources.chunk import Passage
from indexer.sql import select_in
from indexer.store import migrations, schema
from indexer.store.derived import Derived
from indexer.store.lexical import LexicalIndex
from indexer.store.manifest import DATABASE, MANIFEST, Manifest
from indexer.store.snapshot import Snapshot
from indexer.store.vectors import VectorStore, open_vector_store

log = logging.getLogger("newsearch.store")

# The manifest is written before the database, so a creation cut short leaves at most these.
_CREATION_LEFTOVERS = frozenset({"write.lock", MANIFEST + ".tmp"})


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


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
                    raise InvalidInput(f"profile {manifest.profile!r} keeps its models' vectors in FAISS; "
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
    def open(cls, folder: Path, upgrade_wait: bool | float = True) -> IndexStore:
        """Open an existing index for reading. One of an older format is upgraded first, under the writer lock:
        while another process writes it, this waits (`upgrade_wait`: True as long as it takes, or seconds),
        saying so in the log, then fails with `IndexLocked`."""
        folder = Path(folder)
        store = cls(folder, Manifest.read(folder))
        unfinished = f"{folder} was never finished (its creation stopped early); run `newsearch index` into it again"
        try:
            if not (folder / DATABASE).exists():
                raise NotAnIndex(unfinished)
            conn = store.connection()
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name='state'").fetchone() is None:
                raise NotAnIndex(unfinished)
            # Steps to take, or a manifest whose copy of the format missed the last upgrade's commit.
            if migrations.pending(conn, str(folder)) or store.manifest.format_version != migrations.stored_format(conn):
                store._upgrade_for_reading(upgrade_wait)
        except BaseException:
            store.close()
            raise
        return store

    def _upgrade_for_reading(self, wait: bool | float) -> None:
        handle = hold_lock(self.folder / "write.lock", 0)
        if handle is None:
            log.warning("%s is at index format %d and another process is writing it; waiting for its writer lock "
                        "to upgrade it to format %d", self.folder, migrations.stored_format(self.connection()),
                        migrations.FORMAT_VERSION)
            handle = hold_lock(self.folder / "write.lock", wait)
            if handle is None:
                raise IndexLocked(f"{self.folder} needs an upgrade to format {migrations.FORMAT_VERSION} and another "
                                  "process is writing it; try again when it has finished")
        self._lock_file = handle
        try:
            self._upgrade()
        finally:
            self.unlock()

    def _init_db(self) -> None:
        """Make the tables of a new index, or upgrade an existing one (the writer lock is held). A new index is
        made by the same migration steps that upgrade an old one, in one transaction: a crash leaves every table
        or none (and `open` then says to run the indexer)."""
        conn = self.connection()
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name='state'").fetchone() is None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                schema.create(conn)
                migrations.run(conn, migrations.pending(conn, str(self.folder)), str(self.folder))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self._upgrade()

    def _upgrade(self) -> None:
        """Run the migration steps the database lacks, then bring the manifest's copy of the format in line
        (also after a crash between the database's commit and the manifest's write)."""
        conn = self.connection()
        steps = migrations.migrate(conn, str(self.folder))
        for step in steps:
            log.warning("%s: upgraded to index format %d (%s)", self.folder, step.version, step.summary)
        version = migrations.stored_format(conn)
        if self.manifest.format_version != version:
            self.manifest.format_version = version
            self.manifest.write(self.folder)

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
        handle = hold_lock(self.folder / "write.lock", wait)
        if handle is None:
            raise IndexLocked(f"another process is writing to {self.folder}; wait for it to finish")
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
                stores = {m.model: open_vector_store(m.backend, self.folder, m.dim, m.index_type, m.index_params,
                                                     uri=settings.open_uri(m.backend_uri),
                                                     writer=self._lock_file is not None)}
                stores |= {extra["model"]: open_vector_store("faiss", self.folder / f"vectors-{slot}", extra["dim"],
                                                             m.index_type, m.index_params)
                           for slot, extra in enumerate(m.extra_models, 1)}
            else:
                stores = {model: store.copy() for model, store in derived.by_model.items()}
            rows = np.fromiter(conn.execute("SELECT pid, article FROM passages ORDER BY pid"),
                               dtype=np.dtype((np.int64, 2))).reshape(-1, 2)
            pids, articles = np.ascontiguousarray(rows[:, 0]), np.ascontiguousarray(rows[:, 1])
            for model, store in stores.items():
                self.sync(store, conn, pids, model)
            self._derived = Derived(wanted, stores, pids, articles)
            return self._derived

    def sync(self, store: VectorStore, conn: sqlite3.Connection, db_ids: np.ndarray, model: str) -> None:
        """Bring `store` (of `model`) to exactly the passage ids the database holds (`db_ids`, sorted)."""
        have = store.ids()
        extra = np.setdiff1d(have, db_ids, assume_unique=True)
        missing = np.setdiff1d(db_ids, have, assume_unique=True)
        if (len(extra) and not store.can_delete) or len(missing) > len(db_ids) // 2 or store.outgrown(len(db_ids)):
            store.rebuild(db_ids, self.embeddings(conn, db_ids, model))
            return
        store.delete(extra)
        if len(missing):
            store.add(missing, self.embeddings(conn, missing, model))

    def embeddings(self, conn: sqlite3.Connection, pids: np.ndarray, model: str | None = None) -> np.ndarray:
        """Stored vectors of these passages from `model` (None: the index's own), in the order given."""
        model = model or self.manifest.model
        slot, dim = self.manifest.slot_of(model), self.manifest.dim_of(model)
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
        models = [self.embeddings(conn, pids, model) for model in self.manifest.models()]
        return {key: tuple(m[i] for m in models) for i, key in enumerate(first)}

    # -- writes --------------------------------------------------------------------------------
    def write(
        self,
        upserts: Iterable[tuple[Article, Sequence[Passage], Embedded]] = (),
        deletes: Iterable[str] = (),
        state: Mapping[str, str] | None = None,
    ) -> Committed:
        """One atomic batch, the one write path of every writer: every article in it becomes visible, with all
        its passages and what the stages (`indexer.enrich.STAGES`) make of it, or none does.

        `state` (key -> value) is saved in the same transaction: a client's bookkeeping (a feed's validators
        and seen items) is committed exactly when the articles it describes are."""
        stages = list(enrich.STAGES)
        upserts = list(upserts)
        articles = [article for article, _, _ in upserts]
        prepared = {stage.name: stage.prepare(articles, self.connection(), self.folder) for stage in stages}
        now, added, replaced, removed, passages = _now(), [], [], [], 0
        with self._transaction() as (conn, generation):
            batch = StageBatch(conn, self.folder, generation, {"stories": self.manifest.stories}, prepared=prepared)
            for stage in stages:
                stage.begin(batch)
            for article_id in deletes:
                rowid = self._delete(conn, article_id)
                if rowid is not None:
                    batch.removed.append(rowid)
                    removed.append(article_id)
            for article, article_passages, embedded in upserts:
                rowid = self._delete(conn, article.id)
                if rowid is not None:
                    batch.removed.append(rowid)
                (replaced if rowid is not None else added).append(article.id)
                rowid = self._insert(conn, article, article_passages, embedded, generation, now)
                batch.added.append(StoredArticle(rowid, article, np.asarray(embedded.vectors[0], dtype=np.float32)))
                passages += len(article_passages)
            for stage in stages:
                stage.apply(batch)
            for key, value in (state or {}).items():
                if key in ("generation", "format", "migrations"):
                    raise ValueError(f"state key {key!r} is the index's own")
                conn.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, value))
        event = Committed(generation, tuple(added), tuple(replaced), tuple(removed), passages)
        self._apply_lexical(batch.removed, [a.rowid for a in batch.added], generation)
        for stage in stages:
            try:
                stage.committed(batch, event)
            except Exception:  # noqa: BLE001 - the batch is durable; a stage after it must not undo the write
                log.exception("%s: stage %r failed after generation %d committed", self.folder, stage.name,
                              generation)
        return event

    @staticmethod
    def _insert(conn: sqlite3.Connection, article: Article, passages: Sequence[Passage], embedded: Embedded,
                generation: int, now: str) -> int:
        """Write one article, its BM25 row and its passages with every model's vectors; its rowid."""
        rowid = conn.execute(
            "INSERT INTO articles (id, title, text, url, source, published, language, metadata, content_hash,"
            " indexed_at, generation) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (article.id, article.title, article.text, article.url, article.source, article.published,
             article.language, json.dumps(article.metadata, ensure_ascii=False, default=str),
             article.content_hash(), now, generation),
        ).lastrowid
        conn.execute("INSERT INTO articles_fts (rowid, title, text) VALUES (?,?,?)",
                     (rowid, article.title, article.text))
        for p, key, *rows in zip(passages, embedded.keys, *embedded.vectors, strict=True):
            pid = conn.execute('INSERT INTO passages (article, ord, start, "end", embedding) VALUES (?,?,?,?,?)',
                               (rowid, p.ord, p.start, p.end, np.asarray(rows[0], dtype=np.float32).tobytes())
                               ).lastrowid
            conn.execute("INSERT INTO passage_keys (pid, key) VALUES (?, ?)", (pid, key))
            conn.executemany("INSERT INTO passage_vectors (pid, slot, embedding) VALUES (?,?,?)",
                             [(pid, slot, np.asarray(v, dtype=np.float32).tobytes())
                              for slot, v in enumerate(rows[1:], 1)])
        return rowid

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

    @contextmanager
    def edit(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction beside the article writes, for what is not an article (saved searches,
        webhook deliveries): it waits for SQLite's write lock, not the writer's, and moves no generation, so
        readers keep their derived state. Commits on leaving, rolls back on an error."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def story_params(self) -> StoryParams:
        """The clustering settings this index records (see `StoryParams.recorded`)."""
        return StoryParams.recorded(self.manifest.stories)

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

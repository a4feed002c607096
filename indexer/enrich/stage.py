"""The commit event and the stages that follow it (the shape of scrapy's item pipeline).

Every writer (`newsearch index`, the API's upserts and deletes, the feed watcher, Ray) ends in one
`IndexStore.write`, which hands each committed batch to the declared stages (`indexer.enrich.STAGES`) in
order: `prepare` before the transaction (work that needs only the articles, so the write lock is not held
for it), `begin` and `apply` inside the batch's transaction, for what must commit with the articles (duplicate groups,
stories), then `committed` after the commit, for what may follow it (caches, alert matching). The write
returns the same `Committed` record the stages saw.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer.sources.article import Article


@dataclass(frozen=True)
class Committed:
    """What one write committed: the generation it made and the article ids it added (new to the index),
    replaced (stored before, now with new content) and removed."""

    generation: int
    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    passages: int = 0
    unchanged: int = 0  # set by `Indexer.write`: articles skipped because the index holds them as they are

    @property
    def upserted(self) -> int:
        return len(self.added) + len(self.replaced)

    @property
    def deleted(self) -> int:
        return len(self.removed)


@dataclass(frozen=True)
class StoredArticle:
    """An article just inserted: its rowid, what was read, and its passage vectors from the index's model."""

    rowid: int
    article: Article
    vectors: np.ndarray


@dataclass
class StageBatch:
    """One batch inside its write transaction, as the stages see it: rows removed (deleted, or the old copy of
    a replaced article) and articles inserted, in input order. `scratch` carries a stage's own state from
    `apply` to `committed`."""

    conn: sqlite3.Connection
    folder: Path
    generation: int
    settings: dict  # the manifest's enrichment settings ("stories": the clusterer's parameters)
    removed: list[int] = field(default_factory=list)
    added: list[StoredArticle] = field(default_factory=list)
    scratch: dict = field(default_factory=dict)
    prepared: dict = field(default_factory=dict)  # each stage's `prepare` result, by stage name


class Stage:
    """One step after a commit. Subclasses override either or both hooks; `name` keys its scratch state."""

    name = "stage"

    def prepare(self, articles: list[Article], conn: sqlite3.Connection, folder: Path) -> object:
        """Before the transaction (`conn` is outside one; the writer lock is held), over the batch's articles in
        input order: what `apply` will need that takes time (entity recognition, loading saved searches).
        Kept as `batch.prepared[name]`."""
        return None

    def begin(self, batch: StageBatch) -> None:
        """Inside the transaction, before the batch's rows are written: read what the stage needs as of the
        previous generation (`removed` and `added` are still empty)."""

    def apply(self, batch: StageBatch) -> None:
        """Inside the batch's transaction, after its rows are written: what it writes commits with the articles
        or not at all."""

    def committed(self, batch: StageBatch, event: Committed) -> None:
        """After the commit: the batch is durable; an error here is reported, never undoes it."""

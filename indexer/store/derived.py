"""What one generation derives from the database, held in memory and replaced whole per generation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexer.store.vectors import VectorStore


@dataclass(frozen=True)
class Derived:
    """What one generation derives from the database: a vector store per model (by name, the index's own
    first) and the passage -> article map."""

    generation: int
    by_model: dict[str, VectorStore]
    pids: np.ndarray  # every passage id of the generation, sorted
    articles: np.ndarray  # the article rowid of each, aligned with pids

    @property
    def vectors(self) -> VectorStore:
        """The vectors of the index's own model."""
        return next(iter(self.by_model.values()))

    def stores(self) -> tuple[VectorStore, ...]:
        """Every vector store, the index's own model's first."""
        return tuple(self.by_model.values())

    def articles_of(self, pids: np.ndarray) -> np.ndarray:
        """The article rowid of each passage id (-1 for an id this generation does not hold), from memory:
        a dense search maps hundreds of passages per query, which SQL would answer in milliseconds."""
        if not len(self.pids):
            return np.full(len(pids), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.pids, pids), len(self.pids) - 1)
        return np.where(self.pids[at] == pids, self.articles[at], -1)

"""The vector store contract: what the index needs from any engine that holds passage vectors.

Vectors are keyed by passage id (an int64 that is never reused). The metadata store is the truth; a
vector store is brought in step with it by `sync`, so any engine that can add, delete, list its ids and
search can back newsearch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class VectorStore(ABC):
    """Inner-product search over unit vectors keyed by passage id."""

    index_type: str = ""
    # Whether `delete` works in place; `sync` rebuilds a store that cannot (HNSW) when ids go away.
    can_delete: bool = True

    @abstractmethod
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    @abstractmethod
    def delete(self, ids: np.ndarray) -> None: ...

    @abstractmethod
    def ids(self) -> np.ndarray:
        """Every id held, sorted."""

    @abstractmethod
    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of shape (len(queries), k), best first; id -1 pads when fewer exist."""

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def save(self, generation: int) -> None:
        """Persist what is held as the state of `generation`, atomically."""

    @abstractmethod
    def generation(self) -> int:
        """The generation last saved or loaded; -1 for none."""

    @property
    def description(self) -> str:
        """The index as built, for stats (the asked type and, for `auto`, what it chose)."""
        return self.index_type

    def rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Hold exactly these vectors. This default brings the store there by deletes and adds; a store
        whose structure depends on its contents (FAISS IVF centroids, HNSW) builds itself anew instead."""
        self.delete(np.setdiff1d(self.ids(), ids, assume_unique=True))
        missing = np.isin(ids, self.ids(), invert=True)
        if missing.any():
            self.add(ids[missing], vectors[missing])

    def outgrown(self, n: int) -> bool:
        """Whether this store would be built differently for n vectors (sync then rebuilds it)."""
        return False

    def check(self) -> None:  # noqa: B027 - optional hook
        """Raise BackendUnavailable when the engine cannot answer (a server down). An engine inside this
        process, as FAISS is, always can."""

    def copy(self) -> VectorStore:
        """An independent copy that can be changed while searches run on this one."""
        return self

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""

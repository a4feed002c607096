"""Vector stores behind one contract, chosen by configuration."""

from __future__ import annotations

from pathlib import Path

from .base import VectorStore


def open_vector_store(backend: str, folder: Path, dim: int, index_type: str, params: dict | None = None) -> VectorStore:
    """The vector store for `backend` ('faiss' is embedded in the index folder)."""
    if backend == "faiss":
        from .faiss_backend import FaissStore

        return FaissStore(folder, dim, index_type, params)
    raise ValueError(f"unknown vector backend {backend!r}; choose 'faiss'")


__all__ = ["VectorStore", "open_vector_store"]

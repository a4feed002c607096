"""Vector stores behind one contract, chosen by configuration."""

from __future__ import annotations

from pathlib import Path

from indexer.store.vectors.base import VectorStore


def open_vector_store(backend: str, folder: Path, dim: int, index_type: str, params: dict | None = None,
                      uri: str = "", writer: bool = True) -> VectorStore:
    """The vector store for `backend`: 'faiss' is embedded in the index folder; 'milvus' is a Milvus Lite file
    (`uri` a .db path, default in the folder) or a server (`uri` http://host:port). `writer` says whether this
    process holds the folder's write lock (a shared engine is pruned by the writer only)."""
    if backend == "faiss":
        from indexer.store.vectors.faiss_backend import FaissStore

        return FaissStore(folder, dim, index_type, params)
    if backend == "milvus":
        from indexer.store.vectors.milvus_backend import MilvusStore

        return MilvusStore(folder, dim, index_type, params, uri=uri, writer=writer)
    raise ValueError(f"unknown vector backend {backend!r}; choose 'faiss' or 'milvus'")


__all__ = ["VectorStore", "open_vector_store"]

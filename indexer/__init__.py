"""newsearch indexer: read, clean, chunk and embed news articles into an index folder."""

from indexer.errors import BackendUnavailable, IndexLocked, IndexUnavailable, ModelMismatch, NotAnIndex
from indexer.models.embed import DEFAULT_MODEL, Embedder
from indexer.pipeline import IndexConfig, Indexer, IndexReport, index_sources
from indexer.sources.article import Article, Problem
from indexer.sources.readers import read_sources
from indexer.store.index_store import IndexStore, Manifest

__all__ = [
    "DEFAULT_MODEL", "Article", "BackendUnavailable", "Embedder", "IndexConfig", "IndexLocked", "IndexReport",
    "IndexStore", "IndexUnavailable", "Indexer", "Manifest", "ModelMismatch", "NotAnIndex", "Problem",
    "index_sources", "read_sources",
]

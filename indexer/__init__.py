"""newsearch indexer: read, clean, chunk and embed news articles into an index folder."""

from .article import Article, Problem
from .embed import DEFAULT_MODEL, Embedder
from .errors import BackendUnavailable, IndexLocked, IndexUnavailable, ModelMismatch, NotAnIndex
from .pipeline import IndexConfig, Indexer, IndexReport, index_sources
from .readers import read_sources
from .store import IndexStore, Manifest

__all__ = [
    "DEFAULT_MODEL", "Article", "BackendUnavailable", "Embedder", "IndexConfig", "IndexLocked", "IndexReport",
    "IndexStore", "IndexUnavailable", "Indexer", "Manifest", "ModelMismatch", "NotAnIndex", "Problem",
    "index_sources", "read_sources",
]

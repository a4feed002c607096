"""newsearch indexer: read, clean, chunk and embed news articles into an index folder."""

from .article import Article, Problem
from .embed import DEFAULT_MODEL, Embedder
from .pipeline import IndexConfig, Indexer, IndexReport, index_sources
from .readers import read_sources
from .store import Filters, IndexError_, IndexStore, Manifest

__all__ = [
    "DEFAULT_MODEL", "Article", "Embedder", "Filters", "IndexConfig", "IndexError_", "IndexReport",
    "IndexStore", "Indexer", "Manifest", "Problem", "index_sources", "read_sources",
]

"""newsearch search: ranked passages with their sources, in-process."""

from indexer.store import Filters

from .searcher import MODES, Searcher, SearchOptions
from .types import PassageHit, SearchResponse, SearchResult

__all__ = ["MODES", "Filters", "PassageHit", "SearchOptions", "SearchResponse", "SearchResult", "Searcher"]

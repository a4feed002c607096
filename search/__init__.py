"""newsearch search: ranked passages with their sources, in-process."""

from .options import FUSIONS, MODES, SORTS, Filters, SearchOptions
from .searcher import Searcher
from .types import PassageHit, SearchResponse, SearchResult

__all__ = ["FUSIONS", "MODES", "SORTS", "Filters", "PassageHit", "SearchOptions", "SearchResponse", "SearchResult",
           "Searcher"]

"""newsearch search: ranked passages with their sources, in-process."""

from search.options import FUSIONS, MODES, SORTS, Filters, SearchOptions
from search.searcher import Searcher
from search.types import PassageHit, SearchResponse, SearchResult

__all__ = ["FUSIONS", "MODES", "SORTS", "Filters", "PassageHit", "SearchOptions", "SearchResponse", "SearchResult",
           "Searcher"]

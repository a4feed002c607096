"""One interface for reading a news index, whether the index is in this process or behind a server.

`Searcher` (in-process) and `api.client.NewsearchClient` (HTTP) both implement `NewsReader`, so an app, the
MCP server or the LangChain retriever takes either and gets the same dataclasses back (the qdrant-client rule:
one base class, one test suite run against every implementation, `tests/api/test_client.py`). The HTTP
responses are these dataclasses serialized, so a new field reaches every reader without being written twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from indexer.alerts.saved import Match
from search.alerts import Alert, SavedSearchSpec
from search.options import Filters, SearchOptions
from search.timeline import Timeline
from search.types import Article, IndexStats, SearchResponse, StoryPage


class NewsReader(ABC):
    """What can be asked of a news index. Every method returns library dataclasses (never dicts); an id that
    names nothing gives None; invalid arguments raise `indexer.errors.InvalidInput` locally, a 422
    `RemoteError` over HTTP."""

    @abstractmethod
    def search(self, query: str, k: int = 10, offset: int = 0, filters: Filters | None = None,
               options: SearchOptions | None = None) -> SearchResponse:
        """Ranked articles (or stories, `options.group`), each with its best passages and their offsets."""

    @abstractmethod
    def article(self, article_id: str) -> Article | None:
        """The stored article with its passages."""

    @abstractmethod
    def story(self, story_id: int, query: str = "") -> StoryPage | None:
        """A story's articles in time order, each with its best sentence for `query` (else its lead)."""

    @abstractmethod
    def timeline(self, query: str, interval: str = "day", filters: Filters | None = None,
                 options: SearchOptions | None = None) -> Timeline:
        """The query's relevant matches counted per day, week or month, by outlet (`options`: time words)."""

    @abstractmethod
    def similar(self, article_id: str, k: int = 10, exclude_story: bool = False,
                exclude_duplicates: bool = True) -> SearchResponse | None:
        """More like this: the articles nearest to one article by its passage vectors."""

    @abstractmethod
    def stats(self) -> IndexStats:
        """Counts and settings of the index."""

    # -- saved searches: made with the write key over HTTP; only articles committed later fire them
    @abstractmethod
    def add_alert(self, spec: SavedSearchSpec) -> Alert:
        """Save a search (a query with a search's options and filters, or a story to follow)."""

    @abstractmethod
    def alerts(self) -> list[Alert]:
        """Every saved search with its match and delivery counts, in the order they were made."""

    @abstractmethod
    def alert(self, alert_id: str) -> Alert | None:
        """One saved search."""

    @abstractmethod
    def alert_matches(self, alert_id: str, limit: int = 50, offset: int = 0,
                      mark_read: bool = False) -> list[Match] | None:
        """A saved search's matches, newest first: the article, the passage that matched, its score."""

    @abstractmethod
    def remove_alert(self, alert_id: str) -> bool:
        """Delete a saved search with its matches; whether there was one."""

    @abstractmethod
    def close(self) -> None:
        """Release the index (or the connection)."""

    def __enter__(self) -> NewsReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""A Python client for the newsearch HTTP API: a `search.reader.NewsReader`, like `Searcher`, returning the
library's own dataclasses.

    from api.client import NewsearchClient

    with NewsearchClient("http://127.0.0.1:8000") as client:
        response = client.search("Russia stance on DPRK sanctions", k=5)   # a search.SearchResponse
        print(response.results[0].title, response.results[0].passages[0].highlights)
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter

from indexer.alerts.saved import Match
from indexer.errors import NewsearchError
from search.alerts import Alert, SavedSearchSpec, match_from_dict
from search.options import Filters, SearchOptions, to_wire
from search.reader import NewsReader
from search.timeline import Timeline
from search.types import Article, IndexStats, SearchResponse, StoryPage

T = TypeVar("T")


class RemoteError(NewsearchError):
    """The server answered with an error (`status` is the HTTP status, `detail` its explanation),
    or could not be reached (`status` 0)."""

    def __init__(self, status: int, detail: Any, method: str = "", url: str = "") -> None:
        self.status, self.detail, self.method, self.url = status, detail, method, url
        where = f"{method} {url}: " if method else ""
        super().__init__(f"{where}{status} {_describe(detail)}" if status else f"{where}{_describe(detail)}")


def _describe(detail: Any) -> str:
    if isinstance(detail, list):  # FastAPI validation errors: name the fields
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(x) for x in item.get("loc", ()) if x not in ("query", "body"))
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", "")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


@cache
def _adapter(kind: type[T]) -> TypeAdapter[T]:
    return TypeAdapter(kind)


def _read(kind: type[T], response: httpx.Response | None) -> T | None:
    """The response body as the library dataclass the server serialized (None for a 404 allowed)."""
    return None if response is None else _adapter(kind).validate_json(response.content)


class NewsearchClient(NewsReader):
    """Talks to one newsearch server. `api_key` is sent as a Bearer token (needed for writes, and for
    reads when the server has a read key). Thread-safe: one client may be shared by threads."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Accept": "application/json", "User-Agent": "newsearch-client/0.1"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, *, ok_404: bool = False, **kwargs: Any) -> httpx.Response | None:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RemoteError(0, f"cannot reach {self.base_url}: {exc}", method, path) from exc
        if response.status_code == 404 and ok_404:
            return None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except (ValueError, AttributeError):
                detail = response.text or response.reason_phrase
            raise RemoteError(response.status_code, detail, method, path)
        return response

    # -- reads -------------------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, offset: int = 0, filters: Filters | None = None,
               options: SearchOptions | None = None) -> SearchResponse:
        """Ranked articles with their best passages: `Searcher.search`'s signature and result, over HTTP."""
        body = {"q": query, "k": k, "offset": offset, **to_wire(filters, options)}
        return _read(SearchResponse, self._request("POST", "/search", json=body))

    def article(self, article_id: str) -> Article | None:
        """The stored article (text, metadata, passages), or None when the id is unknown."""
        return _read(Article, self._request("GET", f"/articles/{quote(article_id, safe='')}", ok_404=True))

    def story(self, story_id: int, query: str = "") -> StoryPage | None:
        """A story's articles in time order, or None when the id never named a story."""
        return _read(StoryPage, self._request("GET", f"/stories/{story_id}", params={"q": query}, ok_404=True))

    def timeline(self, query: str, interval: str = "day", filters: Filters | None = None,
                 options: SearchOptions | None = None) -> Timeline:
        """The query's matches per day, week or month (of the options, the server reads the time words)."""
        params = {"q": query, "interval": interval, **to_wire(filters, options)}
        return _read(Timeline, self._request("GET", "/timeline", params=params))

    def similar(self, article_id: str, k: int = 10, exclude_story: bool = False,
                exclude_duplicates: bool = True) -> SearchResponse | None:
        """More like this, or None when the id is unknown."""
        params = {"k": k, "exclude_story": exclude_story, "exclude_duplicates": exclude_duplicates}
        return _read(SearchResponse, self._request("GET", f"/articles/{quote(article_id, safe='')}/similar",
                                                   params=params, ok_404=True))

    def stats(self) -> IndexStats:
        return _read(IndexStats, self._request("GET", "/stats"))

    def health(self) -> dict:
        return self._request("GET", "/health").json()

    def ready(self) -> bool:
        """True when the server has its index loaded."""
        try:
            self._request("GET", "/ready")
        except RemoteError:
            return False
        return True

    # -- writes (need the API key) -------------------------------------------------------------------
    def add_articles(self, articles: list[dict]) -> dict:
        """Upsert articles by id ({"id", "title", "text", "url", "source", "published", "language",
        "metadata"}); returns {"indexed", "unchanged", "passages", "ids"}."""
        return self._request("POST", "/articles", json=list(articles)).json()

    def delete_article(self, article_id: str) -> bool:
        """True when the article was deleted, False when there was none with this id."""
        return self._request("DELETE", f"/articles/{quote(article_id, safe='')}", ok_404=True) is not None

    # -- saved searches (`Searcher`'s alert calls, over HTTP) ----------------------------------------
    def add_alert(self, spec: SavedSearchSpec) -> Alert:
        """Save a search (write key); only articles committed from now on fire it."""
        body = {"q": spec.query, "name": spec.name, "story": spec.story, "webhook": spec.webhook,
                "secret": spec.secret, **to_wire(spec.filters, spec.options)}
        return Alert.from_dict(self._request("POST", "/alerts", json=body).json())

    def alerts(self) -> list[Alert]:
        return [Alert.from_dict(a) for a in self._request("GET", "/alerts").json()["alerts"]]

    def alert(self, alert_id: str) -> Alert | None:
        response = self._request("GET", f"/alerts/{quote(alert_id, safe='')}", ok_404=True)
        return None if response is None else Alert.from_dict(response.json())

    def remove_alert(self, alert_id: str) -> bool:
        return self._request("DELETE", f"/alerts/{quote(alert_id, safe='')}", ok_404=True) is not None

    def alert_matches(self, alert_id: str, limit: int = 50, offset: int = 0,
                      mark_read: bool = False) -> list[Match] | None:
        """A saved search's matches, newest first (None for an unknown id)."""
        response = self._request("GET", f"/alerts/{quote(alert_id, safe='')}/matches", ok_404=True,
                                 params={"limit": limit, "offset": offset, "mark_read": mark_read})
        return None if response is None else [match_from_dict(m) for m in response.json()["matches"]]

    def alert_feed(self, alert_id: str, token: str = "") -> bytes:
        """The saved search's Atom feed document."""
        params = {"token": token} if token else {}
        return self._request("GET", f"/alerts/{quote(alert_id, safe='')}/feed.atom", params=params).content

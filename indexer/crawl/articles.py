"""Fetched documents into articles: a feed entry (the feed's text, or its linked page fetched politely),
and a URL given to `newsearch index` (a feed, or one page).

The watcher and `newsearch index URL` share all of it, with the same `Fetcher` (address guard, robots.txt,
size and time limits), the same parser (`indexer.sources.feed`) and the same entry -> article function
(`indexer.sources.readers.feed_article`): an entry read on either path is one article with one id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit

from indexer.crawl.feeds import FeedSpec
from indexer.crawl.fetch import Fetcher, Limits, Response
from indexer.sources.article import Article, Problem, canonical_url
from indexer.sources.feed import Entry, ParsedFeed, looks_like_feed, parse_feed
from indexer.sources.readers import MAX_ARTICLE_CHARS, article_from_html, feed_article

log = logging.getLogger("newsearch.crawl")

MAX_FEED_BYTES = 10 * 1024 * 1024
MAX_PAGE_BYTES = 5 * 1024 * 1024
FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
ANY_ACCEPT = "application/rss+xml, application/atom+xml, text/html;q=0.9, application/xml;q=0.9, */*;q=0.5"


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def entry_article(entry: Entry, feed: ParsedFeed, spec: FeedSpec, fetcher: Fetcher, max_page_bytes: int,
                  max_chars: int = MAX_ARTICLE_CHARS) -> tuple[Article | Problem, str, bool, bool]:
    """The article for a new or changed entry: (article or problem, trouble, transient, page fetched).

    The feed's body when it carries one; else the linked page's main text (robots.txt permitting), with
    the page's date before the feed's. When the page cannot be had the feed's teaser is indexed, and the
    trouble says why (transient: try the page again next round)."""
    source = spec.source or feed.title or _host(spec.url)
    where = f"{spec.url}: {entry.link or entry.key}"
    trouble, transient, fetched = "", False, False
    if not entry.full and entry.link:
        page: Article | None = None
        if not fetcher.allowed(entry.link):
            trouble = "robots.txt disallows the page"
        else:
            response = fetcher.get(entry.link, accept=PAGE_ACCEPT, max_bytes=max_page_bytes)
            fetched = True
            page, trouble, transient = page_article(response, where, max_chars)
        if page is not None:
            made = feed_article(entry, feed, where, max_chars, source=source, feed_ref=spec.url, page=page)
            if isinstance(made, Article):
                return made, "", False, fetched
            trouble = made.message
    made = feed_article(entry, feed, where, max_chars, source=source, feed_ref=spec.url)
    if trouble:
        trouble = f"{entry.link}: {trouble}" + ("; indexed the feed's text instead" if isinstance(made, Article)
                                                 else "")
    return made, trouble, transient, fetched


def page_article(response: Response, where: str, max_chars: int) -> tuple[Article | None, str, bool]:
    """(article, trouble, transient) of a fetched web page: its main text, or why there is none."""
    if not response.ok:
        return None, response.error, response.transient
    kind = response.content_type.split(";", 1)[0].strip().lower()
    if kind and "html" not in kind:
        return None, f"not an HTML page ({kind})", False
    page = article_from_html(response.body, where, max_chars, url=response.final_url)
    if isinstance(page, Problem):
        return None, page.message, False
    return page, "", False


class UrlReader:
    """`newsearch index URL`: one feed (its entries, their teaser pages fetched as the watcher does) or one
    page, through a guarded `Fetcher`; the callable `indexer.sources.readers.read_sources` takes.

    The URL itself is fetched like a subscribed feed (no robots.txt: the operator asked for it); the pages
    its entries link to obey robots.txt. Without `allow_private`, loopback and private addresses are
    refused before any connection. Use it as a context manager: it holds the fetcher's connections."""

    def __init__(self, allow_private: bool = False, contact: str | None = None, limits: Limits | None = None,
                 max_chars: int = MAX_ARTICLE_CHARS, max_feed_bytes: int = MAX_FEED_BYTES,
                 max_page_bytes: int = MAX_PAGE_BYTES) -> None:
        self.fetcher = Fetcher(limits, allow_private=allow_private, contact=contact)
        self.max_chars, self.max_feed_bytes, self.max_page_bytes = max_chars, max_feed_bytes, max_page_bytes

    def close(self) -> None:
        self.fetcher.close()

    def __enter__(self) -> UrlReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, url: str) -> Iterator[Article | Problem]:
        """The articles at `url`, and a Problem for what could not be had (nothing raises for the network)."""
        response = self.fetcher.get(url, accept=ANY_ACCEPT, max_bytes=self.max_feed_bytes)
        if not response.ok:
            yield Problem(url, f"cannot fetch: {response.error}")
            return
        if "html" in response.content_type.lower() and not looks_like_feed(response.body):
            page, trouble, _ = page_article(response, url, self.max_chars)
            # The page's id is its canonical link, as an entry linking to it would have: one article.
            yield Problem(url, trouble) if page is None else replace(page, id=canonical_url(url), url=url)
            return
        feed = parse_feed(response.body, response.final_url)
        if feed.problem:
            yield Problem(url, feed.problem)
        spec = FeedSpec(url)
        for entry in feed.entries:
            article, trouble, _, _ = entry_article(entry, feed, spec, self.fetcher, self.max_page_bytes,
                                                   self.max_chars)
            if trouble and isinstance(article, Article):
                log.warning("%s", trouble)  # the teaser is indexed: a note, not a skipped article
            yield article


__all__ = ["FEED_ACCEPT", "PAGE_ACCEPT", "UrlReader", "entry_article", "page_article"]

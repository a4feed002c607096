"""RSS/Atom documents into entries: the one feed parser, for a feed file, `newsearch index URL` and the watcher.

A feed is parsed here, whatever brought it (a file on disk or a response from `indexer.crawl`), so an entry
has the same key, text and article id on every path: the same story read twice is one article.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urljoin

from indexer.sources.article import canonical_url, feed_date
from indexer.sources.clean import clean_text

MAX_ENTRIES = 500  # per feed document: a feed cannot make one poll hold more than this many entries
MAX_KEY_CHARS = 512
FULL_CONTENT_CHARS = 200  # a <content> body this long (cleaned) is the article; shorter is a teaser
FULL_SUMMARY_CHARS = 1500  # a <description>/<summary> this long is taken as the article too
FEED_MARKERS = (b"<rss", b"<feed", b"<rdf:rdf")  # how a feed served as text/html is still told from a page


@dataclass(frozen=True)
class Entry:
    """One item of a feed document, before any page is fetched."""

    key: str  # what identifies the item within its feed: guid, else link, else a hash of its title
    link: str
    title: str
    text: str  # the body or teaser as the feed carries it (HTML is cleaned later)
    full: bool  # the feed carries the whole article, so no page fetch is needed
    published: str  # ISO 8601 from the feed, '' if none

    @property
    def article_id(self) -> str:
        """The id of the entry's article: the canonical link, else the key (the guid). The link, not the
        guid, so the same story in two feeds, a feed that renumbers its guids, and the page indexed on its
        own (`newsearch index URL`) are all one article."""
        return canonical_url(self.link) if self.link else self.key

    def fingerprint(self) -> str:
        """What decides whether the item changed: its link, title and text, never its date, so a feed
        that only bumps a pubDate costs nothing."""
        digest = hashlib.sha256(f"{self.link}\x00{self.title}\x00{self.text}".encode("utf-8", "replace"))
        return digest.hexdigest()[:16]


@dataclass
class ParsedFeed:
    """A feed document's title, language and entries."""

    title: str
    language: str
    entries: list[Entry]
    problem: str = ""  # set for a document that is not a feed, or a malformed one (entries then recovered)


def looks_like_feed(data: bytes) -> bool:
    """Whether a document's opening names a feed: some servers send RSS as text/html."""
    return any(marker in data[:2048].lower() for marker in FEED_MARKERS)


def parse_feed(data: bytes, base_url: str = "") -> ParsedFeed:
    """The entries of an RSS/Atom document (at most MAX_ENTRIES; a repeated key keeps its first item)."""
    import feedparser

    # No base URL for feedparser: it would resolve a guid like "item-7" against the feed's address, so a
    # feed that moved would present every entry as new. Links are resolved here instead.
    parsed = feedparser.parse(data)
    problem = ""
    if not parsed.entries and not parsed.get("version"):
        reason = f" ({parsed.bozo_exception})" if parsed.get("bozo") else ""
        return ParsedFeed("", "", [], f"not an RSS/Atom feed{reason}")
    if parsed.get("bozo") and "SAX" in type(parsed.get("bozo_exception")).__name__:
        problem = f"malformed XML ({parsed.bozo_exception}); {len(parsed.entries)} entries recovered"
    entries: dict[str, Entry] = {}
    for item in parsed.entries[:MAX_ENTRIES]:
        entry = _entry(item, base_url)
        if entry is not None:
            entries.setdefault(entry.key, entry)
    meta = parsed.get("feed", {})
    return ParsedFeed(str(meta.get("title", "")), str(meta.get("language", "")), list(entries.values()), problem)


def _entry(item, base_url: str) -> Entry | None:
    link = str(item.get("link", "") or "").strip()
    link = urljoin(base_url, link) if base_url and link else link
    title = str(item.get("title", "") or "")
    content = item.get("content") or []
    body = str(content[0].get("value", "")) if content else ""
    summary = str(item.get("summary", "") or "")
    text = body if len(body) >= len(summary) else summary
    full = bool(body) and len(clean_text(body)) >= FULL_CONTENT_CHARS or len(clean_text(summary)) >= FULL_SUMMARY_CHARS
    if not (link or title or text):
        return None
    published = feed_date(str(item.get("published") or item.get("updated") or ""),
                          item.get("published_parsed") or item.get("updated_parsed"))
    guid = str(item.get("id", "") or "").strip()
    key = guid or (canonical_url(link) if link else "") or "title:" + hashlib.sha1(
        f"{title}\x00{text}".encode("utf-8", "replace")).hexdigest()[:20]
    return Entry(key[:MAX_KEY_CHARS], link, title, text, full, published)

"""FEEDS files and feed documents: what the watcher follows, and the entries a feed carries.

A FEEDS file has one feed a line: `URL [INTERVAL] [SOURCE NAME...]`, e.g.

    # world news, every 10 minutes
    https://example.com/world.rss 10m Example World
    https://example.org/atom.xml

`#` starts a comment at the start of a line or after a space (a `#` inside a URL is a fragment).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from indexer.sources.article import canonical_url, normalize_date
from indexer.sources.clean import clean_text

MAX_FEEDS = 10_000
MAX_FEEDS_FILE_BYTES = 4 * 1024 * 1024
MAX_ENTRIES = 500  # per feed document: a feed cannot make one poll hold more than this many entries
MAX_KEY_CHARS = 512
FULL_CONTENT_CHARS = 200  # a <content> body this long (cleaned) is the article; shorter is a teaser
FULL_SUMMARY_CHARS = 1500  # a <description>/<summary> this long is taken as the article too
_INTERVAL = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?$", re.I)
_UNIT = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


class FeedsFileError(ValueError):
    """A FEEDS file that cannot be used; the message names the line."""


def parse_interval(text: str) -> float:
    """Seconds in `15m`, `30s`, `1h`, `1d` or a bare number of seconds; ValueError otherwise."""
    match = _INTERVAL.match(str(text).strip())
    if not match:
        raise ValueError(f"not an interval: {text!r} (use e.g. 30s, 15m, 1h)")
    seconds = float(match.group(1)) * _UNIT[(match.group(2) or "").lower()]
    if seconds <= 0:
        raise ValueError(f"an interval must be more than zero, not {text!r}")
    return seconds


@dataclass(frozen=True)
class FeedSpec:
    """One line of a FEEDS file."""

    url: str
    interval: float | None = None  # None: the watcher's default
    source: str = ""  # '' : the feed's own title


def parse_feeds_file(path: Path) -> list[FeedSpec]:
    """The feeds of a FEEDS file, in order, duplicates (same URL) dropped; FeedsFileError names a bad line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FeedsFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FEEDS_FILE_BYTES:
        raise FeedsFileError(f"{path}: {len(data):,} bytes; a FEEDS file may have at most {MAX_FEEDS_FILE_BYTES:,}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedsFileError(f"{path}: not UTF-8 (byte offset {exc.start})") from None
    feeds: dict[str, FeedSpec] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
        if not line:
            continue
        url, *rest = line.split()
        if not url.lower().startswith(("http://", "https://")):
            raise FeedsFileError(f"{path}:{number}: {url!r} is not an http(s) URL")
        interval = None
        if rest and _INTERVAL.match(rest[0]):
            try:
                interval = parse_interval(rest.pop(0))
            except ValueError as exc:
                raise FeedsFileError(f"{path}:{number}: {exc}") from None
        feeds.setdefault(url, FeedSpec(url, interval, " ".join(rest)))
        if len(feeds) > MAX_FEEDS:
            raise FeedsFileError(f"{path}: more than {MAX_FEEDS:,} feeds")
    return list(feeds.values())


@dataclass(frozen=True)
class Entry:
    """One item of a feed document, before any page is fetched."""

    key: str  # what identifies the item within its feed: guid, else link, else a hash of its title
    link: str
    title: str
    text: str  # the body or teaser as the feed carries it (HTML is cleaned later)
    full: bool  # the feed carries the whole article, so no page fetch is needed
    published: str  # ISO 8601 from the feed, '' if none

    def fingerprint(self) -> str:
        """What decides whether the item changed: its link, title and text, never its date, so a feed
        that only bumps a pubDate costs nothing."""
        digest = hashlib.sha256(f"{self.link}\x00{self.title}\x00{self.text}".encode("utf-8", "replace"))
        return digest.hexdigest()[:16]


@dataclass
class ParsedFeed:
    title: str
    language: str
    entries: list[Entry]
    problem: str = ""  # set for a document that is not a feed, or a malformed one (entries then recovered)


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
    stamp = item.get("published_parsed") or item.get("updated_parsed")
    published = "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z".format(*stamp[:6]) if stamp else ""
    published = published or normalize_date(item.get("published") or item.get("updated") or "")
    guid = str(item.get("id", "") or "").strip()
    key = guid or (canonical_url(link) if link else "") or "title:" + hashlib.sha1(
        f"{title}\x00{text}".encode("utf-8", "replace")).hexdigest()[:20]
    return Entry(key[:MAX_KEY_CHARS], link, title, text, full, published)

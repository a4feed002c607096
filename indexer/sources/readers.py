"""Readers: JSONL, JSON, CSV, text/Markdown/HTML folders and RSS/Atom feed files to Articles.

Every reader yields `Article` or `Problem`; a bad line or file never stops the others, and each problem
names its file and line so the user can fix it. Nothing here touches the network: a URL is read by the
reader the caller passes (`indexer.crawl.articles.UrlReader`: the watcher's guarded fetcher and parser).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from indexer.errors import InvalidInput
from indexer.sources.article import Article, NotOnCalendar, Problem, check_calendar, dateline, normalize_date, stable_id
from indexer.sources.clean import clean_text, scrub
from indexer.sources.feed import Entry, ParsedFeed, parse_feed
from indexer.sources.outlet import outlet_from_url

MAX_ARTICLE_CHARS = 1_000_000
MAX_ID_CHARS = 512
TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
FEED_SUFFIXES = {".rss", ".atom", ".xml"}
RECORD_SUFFIXES = {".jsonl", ".ndjson", ".json", ".csv"}
KNOWN_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | FEED_SUFFIXES | RECORD_SUFFIXES

Item = Article | Problem
ReadUrl = Callable[[str], Iterable[Item]]  # reads one http(s) URL into articles (see `read_sources`)
# Files that sit beside articles in a data folder without being news: licences, read-me files and the gold
# labels of an evaluation set (BEIR's qrels, newsearch's stories.tsv).
_NOT_ARTICLES = re.compile(r"^(licen[cs]e|copying|notice|readme|licensedata|qrels|stories)([-_.].*)?$", re.I)

# Field names accepted for each Article attribute, first match wins (BEIR's `_id`, feeds' `link`...).
_FIELDS = {
    "id": ("id", "_id", "doc_id", "docid", "guid"),
    "title": ("title", "headline"),
    "text": ("text", "body", "content", "article", "summary", "description"),
    "url": ("url", "link", "canonical_url"),
    "source": ("source", "outlet", "publisher", "site_name"),
    "published": ("published", "date", "published_at", "pubdate", "datetime", "timestamp"),
    "language": ("language", "lang"),
}


class ReadError(InvalidInput):
    """A whole file could not be read; the message says why."""


def read_sources(sources: Iterable[str], max_chars: int = MAX_ARTICLE_CHARS,
                 read_url: ReadUrl | None = None) -> Iterator[Item]:
    """Articles and problems from files, folders and URLs, in a stable order.

    URLs go to `read_url` (`indexer.crawl.articles.UrlReader`, which fetches through the watcher's guarded
    `Fetcher`); without one a URL is a problem, never a bare request: the address guard, size caps and
    robots.txt live in the crawler, and the dependency runs crawl -> sources."""
    for source in sources:
        if source.startswith(("http://", "https://")):
            if read_url is None:
                yield Problem(source, "URLs are read through indexer.crawl (newsearch index URL, or pass "
                                      "read_url=indexer.crawl.articles.UrlReader(...))")
            else:
                yield from read_url(source)
            continue
        path = Path(source)
        try:
            path = path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            reason = "symlink loop" if isinstance(exc, RuntimeError) or "loop" in str(exc).lower() else (
                "no such file or folder" if isinstance(exc, FileNotFoundError) else str(exc))
            yield Problem(source, reason)
            continue
        if path.is_dir():
            yield from _read_folder(path, max_chars)
        else:
            yield from read_file(path, max_chars, where=source)


def _read_folder(root: Path, max_chars: int) -> Iterator[Item]:
    # followlinks=False: a symlinked folder cannot send the walk round a loop.
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            if name.startswith(".") or _NOT_ARTICLES.match(name):
                continue
            path = Path(folder) / name
            if path.suffix.lower() not in KNOWN_SUFFIXES:
                yield Problem(str(path), f"unknown file type {path.suffix or '(none)'!r}; skipped")
                continue
            yield from read_file(path, max_chars, where=str(path))


def read_file(path: Path, max_chars: int = MAX_ARTICLE_CHARS, where: str | None = None) -> Iterator[Item]:
    """Articles of one file, by its suffix."""
    where = where or str(path)
    suffix = path.suffix.lower()
    if suffix not in KNOWN_SUFFIXES:
        yield Problem(where, f"unknown file type {suffix or '(none)'!r}; expected one of {sorted(KNOWN_SUFFIXES)}")
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield Problem(where, f"cannot read: {exc.strerror or exc}")
        return
    if not data.strip():
        yield Problem(where, "empty file")
        return
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        yield Problem(where, "binary file (NUL bytes), not text")
        return
    try:
        if suffix in (".jsonl", ".ndjson"):
            yield from _read_jsonl(data, where, max_chars)
        elif suffix == ".json":
            yield from _read_json(data, where, max_chars)
        elif suffix == ".csv":
            yield from _read_csv(data, where, max_chars)
        elif suffix in HTML_SUFFIXES:
            yield article_from_html(data, where, max_chars)
        elif suffix in FEED_SUFFIXES:
            yield from _read_feed_file(data, where, max_chars)
        else:
            yield _article_from_text(decode(data, where), path, where, max_chars)
    except ReadError as exc:
        yield Problem(where, str(exc))


def decode(data: bytes, where: str) -> str:
    """UTF-8 (with or without BOM, or UTF-16 with BOM), else a ReadError naming the line of the bad byte."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ReadError(
            f"line {line}: not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "convert the file to UTF-8, e.g. iconv -f latin1 -t utf-8"
        ) from None


def _read_jsonl(data: bytes, where: str, max_chars: int) -> Iterator[Item]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for number, raw in enumerate(data.split(b"\n"), start=1):
        here = f"{where}:{number}"
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Problem(here, f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})")
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Problem(here, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        yield article_from_record(record, here, max_chars)


def _read_json(data: bytes, where: str, max_chars: int) -> Iterator[Item]:
    try:
        value = json.loads(decode(data, where))
    except json.JSONDecodeError as exc:
        raise ReadError(f"line {exc.lineno}: invalid JSON: {exc.msg} at column {exc.colno}") from None
    records = value if isinstance(value, list) else [value]
    for number, record in enumerate(records, start=1):
        yield article_from_record(record, f"{where}[{number}]", max_chars)


def _read_csv(data: bytes, where: str, max_chars: int) -> Iterator[Item]:
    text = decode(data, where)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        _ = reader.fieldnames  # the header is read first, so that the first record is named by its own line
        line = reader.line_num + 1
        for row in reader:
            here = f"{where}:{line}"
            line = reader.line_num + 1
            if None in row:
                yield Problem(here, f"row has {len(row) - 1 + len(row[None])} fields, header has {len(row) - 1}")
                continue
            yield article_from_record({k: v for k, v in row.items() if v not in (None, "")}, here, max_chars)
    except csv.Error as exc:
        yield Problem(f"{where}:{reader.line_num}", f"invalid CSV: {exc}")


def _pick(record: dict, attribute: str) -> object:
    for name in _FIELDS[attribute]:
        if record.get(name) not in (None, ""):
            return record[name]
    return None


def article_from_record(record: object, where: str, max_chars: int = MAX_ARTICLE_CHARS) -> Item:
    """Article from a JSON/CSV/API record with flexible field names; other fields become metadata."""
    if not isinstance(record, dict):
        return Problem(where, f"expected a JSON object, got {type(record).__name__}")
    values = {}
    for attribute in _FIELDS:
        value = _pick(record, attribute)
        if attribute == "published":
            values[attribute] = value
            continue
        if value is not None and not isinstance(value, str | int | float):
            return Problem(where, f"field {attribute!r} must be text, got {type(value).__name__}")
        values[attribute] = "" if value is None else str(value)
    used = {name for names in _FIELDS.values() for name in names}
    metadata = {k: v for k, v in record.items() if k not in used and isinstance(k, str)}
    return make_article(
        where, max_chars, id=values["id"], title=values["title"], text=values["text"], url=values["url"],
        source=values["source"], published=values["published"], language=values["language"], metadata=metadata,
    )


def dated(value: object, metadata: dict) -> tuple[str, dict]:
    """(ISO date, metadata) from a date-like value: one that cannot be read is kept, as
    metadata['published_raw'], but the article is then not dated (no date filter admits it). A date that
    is not on the calendar ("2013-02-30") raises NotOnCalendar: it is a typo, and indexing the article
    undated would hide it."""
    published = normalize_date(value) if value not in (None, "") else ""
    if value not in (None, "") and not published:
        check_calendar(str(value))
        metadata = {**metadata, "published_raw": str(value)}
    return published, metadata


def make_article(where: str, max_chars: int, *, id: str = "", title: str = "", text: str = "", **rest) -> Item:
    """Clean, check, date and identify one article: the single gate every reader goes through.

    `published` may be any date-like value (see `dated`); one off the calendar makes the article a problem.
    An article that names no outlet but has a URL is credited to the URL's site, marked as derived
    (metadata['source_derived']): an outlet, not a blank, for stories, timelines and the per-outlet cap."""
    if len(text) > max_chars:
        return Problem(where, f"article text is {len(text):,} characters; the limit is {max_chars:,}")
    try:
        published, metadata = dated(rest.get("published"), rest.get("metadata") or {})
    except NotOnCalendar as exc:
        return Problem(where, f"published: {exc}")
    rest = {**rest, "published": published, "metadata": metadata}
    if not str(rest.get("source") or "").strip() and (outlet := outlet_from_url(str(rest.get("url") or ""))):
        rest = {**rest, "source": outlet, "metadata": {**metadata, "source_derived": True}}
    body = clean_text(text)
    title = " ".join(clean_text(title).split())
    if not body:
        if not title:
            return Problem(where, "article has no text and no title")
        body = title  # a headline-only item (common in feeds) is searchable by its headline
    article_id = " ".join(clean_text(str(id)).split()) or stable_id(rest.get("url", ""), title, body)
    if len(article_id) > MAX_ID_CHARS:
        return Problem(where, f"id is {len(article_id)} characters; the limit is {MAX_ID_CHARS}")
    if not rest.get("published") and (opening := dateline(body)):
        # An undated article whose body opens with a date (a dateline) is dated by it, and says so.
        rest = {**rest, "published": opening, "metadata": {**rest.get("metadata", {}), "published_from": "dateline"}}
    return Article(id=article_id, title=title, text=body, **scrub(rest))


def _article_from_text(text: str, path: Path, where: str, max_chars: int) -> Item:
    """A .txt/.md file: its first non-empty line is the title (Markdown '#' removed)."""
    lines = text.strip().split("\n", 1)
    title = lines[0].lstrip("#").strip() if lines else ""
    body = lines[1] if len(lines) > 1 else lines[0]
    return make_article(where, max_chars, title=title, text=body, metadata={"file": path.name})


def article_from_html(data: bytes, where: str, max_chars: int, url: str = "") -> Item:
    """Main text of a web page with trafilatura, with its title, date, author and site when present."""
    import trafilatura

    if len(data) > 20 * max_chars:
        return Problem(where, f"HTML page is {len(data):,} bytes; too large")
    doc = trafilatura.bare_extraction(data, url=url or None, with_metadata=True, favor_recall=True)
    if doc is None or not (doc.text or "").strip():
        return Problem(where, "no article text found in the HTML page")
    metadata = {"author": doc.author} if doc.author else {}
    return make_article(
        where, max_chars, title=doc.title or "", text=doc.text, url=url or doc.url or "",
        source=doc.sitename or "", published=normalize_date(doc.date), language=doc.language or "",
        metadata=metadata,
    )


def feed_article(entry: Entry, feed: ParsedFeed, where: str, max_chars: int, *, source: str = "",
                 feed_ref: str = "", page: Article | None = None) -> Item:
    """The article of one feed entry, on every path (a feed file, `newsearch index URL`, the watcher), so
    one story is one article: id `entry.article_id` (the canonical link, else the guid), the feed's
    language, `source` (else the feed's title), and the body of the linked `page` when the caller fetched
    one (its date before the feed's), else the feed's own text."""
    fields = dict(id=entry.article_id, title=entry.title, url=entry.link, source=source or feed.title,
                  published=entry.published, language=feed.language,
                  metadata={"feed": feed_ref} if feed_ref else {})
    if page is not None:
        fields.update(title=entry.title or page.title, published=page.published or entry.published)
        return make_article(where, max_chars, text=page.text, **fields)
    return make_article(where, max_chars, text=entry.text, **fields)


def _read_feed_file(data: bytes, where: str, max_chars: int) -> Iterator[Item]:
    """The entries of an RSS/Atom file, each with the feed's own text (a file brings no pages)."""
    feed = parse_feed(data)
    if feed.problem:
        yield Problem(where, feed.problem)
    for entry in feed.entries:
        yield feed_article(entry, feed, f"{where}: {entry.link or entry.key}", max_chars)

"""FEEDS files: what the watcher follows (feed documents are parsed by `indexer.sources.feed`).

A FEEDS file has one feed a line: `URL [INTERVAL] [SOURCE NAME...]`, e.g.

    # world news, every 10 minutes
    https://example.com/world.rss 10m Example World
    https://example.org/atom.xml

`#` starts a comment at the start of a line or after a space (a `#` inside a URL is a fragment).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from indexer.errors import InvalidInput

MAX_FEEDS = 10_000
MAX_FEEDS_FILE_BYTES = 4 * 1024 * 1024
_INTERVAL = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?$", re.I)
_UNIT = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


class FeedsFileError(InvalidInput):
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

"""Timeline of a query's matches: articles counted per day, ISO week or month, for `GET /timeline`.

Pure functions over records the caller already has (the articles above its relevance floor), so that the
bucketing can be tested without an index. Buckets form a continuous axis from the first dated article to the
last, empty ones included, so a chart needs no gap logic; articles without a usable date are counted apart,
never guessed into a bucket. The axis is capped (MAX_BUCKETS) because a decade of days is not a chart but a
slow response: the error says which wider interval would fit.
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

from indexer.errors import InvalidOption
from search.types import Interpretation

__all__ = ["INTERVALS", "MAX_BUCKETS", "Bucket", "Timeline", "TimelineHit", "TimelineRelevance", "TimelineTop",
           "bucket_start", "build_timeline"]

INTERVALS = ("day", "week", "month")
MAX_BUCKETS = 400
UNKNOWN_SOURCE = "unknown"


@dataclass(frozen=True)
class TimelineHit:
    """One matching article: `published` is an ISO date or datetime, or '' when unknown; `source_derived`
    when its outlet was taken from its URL."""

    id: str
    published: str
    source: str
    score: float
    passage: str
    title: str = ""
    source_derived: bool = False


@dataclass
class TimelineTop:
    """The best-matching article of a bucket, with its best passage; `date` the day it is filed under."""

    id: str
    title: str
    source: str
    date: str
    score: float
    passage: str
    source_derived: bool = False


@dataclass
class Bucket:
    """The articles of one period: [start, end], both ISO dates, end inclusive; `by_source` the matches per
    outlet ('unknown' for none), most first. `top` is None when empty. `derived_sources`: the outlets of
    `by_source` that only URLs named (see `indexer.sources.outlet`)."""

    start: str
    end: str
    count: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    top: TimelineTop | None = None
    derived_sources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TimelineRelevance:
    """The test the articles were counted by, the one that marks search results `relevant`
    (indexer/relevance.py): an article counts when its best passage's cosine to the query reaches `cosine`,
    or when it holds `words_needed` of the query's `words` words and its cosine reaches `cosine_with_words`."""

    cosine: float
    cosine_with_words: float
    word_share: float
    words: int
    words_needed: int


@dataclass
class Timeline:
    """How coverage of a query unfolds. `interval` is the bucket size used: the one asked for
    (`asked_interval`), or a wider one when the matches span more than MAX_BUCKETS of those. `floor` is the
    cosine that makes an article count alone (`relevance.cosine`); `matched` the articles counted (dated or
    not), `undated` those in no bucket; `capped` is true when more matches may lie beyond the articles a
    timeline considers. `build_timeline` fills the buckets; the searcher the rest."""

    interval: str
    floor: float
    buckets: list[Bucket]
    undated: int = 0
    query: str = ""
    asked_interval: str = ""
    matched: int = 0
    capped: bool = False
    relevance: TimelineRelevance | None = None
    interpreted: Interpretation | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _check(interval: str) -> None:
    if interval not in INTERVALS:
        raise InvalidOption(f"interval {interval!r}: use one of {', '.join(INTERVALS)}")


def bucket_start(day: date, interval: str) -> date:
    """The first day of the bucket holding `day`: the day itself, its ISO week's Monday, or its month's 1st."""
    _check(interval)
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _bucket_end(start: date, interval: str) -> date:
    if interval == "day":
        return start
    if interval == "week":
        return start + timedelta(days=6)
    return start.replace(day=calendar.monthrange(start.year, start.month)[1])


def _bucket_count(first: date, last: date, interval: str) -> int:
    """How many buckets from the one starting at `first` to the one starting at `last`, both included."""
    if interval == "month":
        return (last.year - first.year) * 12 + last.month - first.month + 1
    return (last - first).days // (7 if interval == "week" else 1) + 1


def _day(published: str) -> date | None:
    """The date an article is filed under: the date as written (a datetime's own local date), or None."""
    try:
        return date.fromisoformat(published.strip()[:10])
    except ValueError:
        return None


def _wider(interval: str) -> str:
    return {"day": "use interval=week or interval=month", "week": "use interval=month"}.get(
        interval, "narrow the dates (since/until)")


def build_timeline(hits: Iterable[TimelineHit], interval: str, floor: float = 0.0) -> Timeline:
    """Count `hits` per `interval` bucket, in time order, gaps filled with empty buckets.

    An article id seen twice counts once (its best-scoring record). Raises ValueError for an unknown interval
    or when the axis would need more than MAX_BUCKETS buckets.
    """
    _check(interval)
    best: dict[str, TimelineHit] = {}
    for hit in hits:
        kept = best.get(hit.id)
        if kept is None or hit.score > kept.score:
            best[hit.id] = hit
    dated: dict[date, list[tuple[TimelineHit, date]]] = {}
    undated = 0
    for hit in best.values():
        day = _day(hit.published) if hit.published else None
        if day is None:
            undated += 1
            continue
        dated.setdefault(bucket_start(day, interval), []).append((hit, day))
    if not dated:
        return Timeline(interval=interval, floor=floor, buckets=[], undated=undated)

    first, last = min(dated), max(dated)
    count = _bucket_count(first, last, interval)
    if count > MAX_BUCKETS:
        raise InvalidOption(f"the matches span {count} {interval}s ({first} to {_bucket_end(last, interval)}), more "
                         f"than the {MAX_BUCKETS} a timeline shows: {_wider(interval)}")
    buckets = []
    start = first
    for _ in range(count):
        end = _bucket_end(start, interval)
        members = dated.get(start, [])
        bucket = Bucket(start=start.isoformat(), end=end.isoformat(), count=len(members))
        if members:
            sources = Counter(hit.source or UNKNOWN_SOURCE for hit, _ in members)
            bucket.by_source = dict(sorted(sources.items(), key=lambda item: (-item[1], item[0])))
            derived = ({hit.source for hit, _ in members if hit.source_derived}
                       - {hit.source for hit, _ in members if not hit.source_derived})
            bucket.derived_sources = [name for name in bucket.by_source if name in derived]
            top, day = min(members, key=lambda member: (-member[0].score, member[0].id))
            bucket.top = TimelineTop(id=top.id, title=top.title, source=top.source, date=day.isoformat(),
                                     score=top.score, passage=top.passage, source_derived=top.source_derived)
        buckets.append(bucket)
        start = end + timedelta(days=1)
    return Timeline(interval=interval, floor=floor, buckets=buckets, undated=undated)

"""The article record every reader produces, and the normalisations that make ids and dates stable."""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from indexer.errors import InvalidInput


@dataclass
class Article:
    """One news article, cleaned. `text` is the body that passage offsets point into."""

    id: str
    title: str
    text: str
    url: str = ""
    source: str = ""
    published: str = ""
    language: str = ""
    metadata: dict = field(default_factory=dict)

    def content_hash(self) -> str:
        """Hash of everything that changes what is indexed; an unchanged hash means nothing to re-embed."""
        h = hashlib.sha256()
        for part in (self.title, self.text, self.url, self.source, self.published, self.language):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        h.update(repr(sorted(self.metadata.items())).encode("utf-8"))
        return h.hexdigest()[:32]


@dataclass(frozen=True)
class Problem:
    """Something a reader could not index, with where it was (file:line or URL) and why."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|ref|cmpid)$", re.I)


def canonical_url(url: str) -> str:
    """The URL without fragment and tracking parameters, host lower-cased: copies of a link share an id."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return url.strip()
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)])
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, query, ""))


def stable_id(url: str, title: str, text: str) -> str:
    """An id for an article that brought none: its canonical URL, else a hash of its content."""
    if url.strip():
        return canonical_url(url)
    return "sha1:" + hashlib.sha1(f"{title}\x00{text}".encode()).hexdigest()[:20]


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FORMATS = ("%Y/%m/%d", "%d.%m.%Y", "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%Y%m%d", "%Y-%m-%d %H:%M:%S")


def normalize_date(value: object) -> str:
    """ISO 8601: `YYYY-MM-DD` for a date, UTC `YYYY-MM-DDTHH:MM:SSZ` for a datetime; '' if unreadable.

    One form for every input makes date filters plain string comparisons.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not 0 <= value < 4e9:
            return ""
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = str(value).strip()
    if _DATE_ONLY.match(text):
        try:
            datetime.strptime(text, "%Y-%m-%d")
        except ValueError:
            return ""
        return text
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            for fmt in _FORMATS:
                try:
                    parsed = datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
    if parsed is None:
        return ""
    if parsed.tzinfo is None and parsed.hour == parsed.minute == parsed.second == 0 and ":" not in text:
        return parsed.strftime("%Y-%m-%d")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
          r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
_WEEKDAY = r"(?:(?:Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)[a-z]*\.?,?\s+)?"
# A dateline opens the body: "May 03, 2013 ...", "Friday, 3 May 2013 ...", "2013-05-03 ...". Numeric forms
# such as 05/02/2013 are left alone: day-month and month-day orders cannot be told apart.
_DATELINE = re.compile(
    rf"^\W{{0,3}}{_WEEKDAY}(?:(?P<m1>{_MONTH})\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y1>(?:19|20)\d\d)"
    rf"|(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<m2>{_MONTH}),?\s+(?P<y2>(?:19|20)\d\d)"
    rf"|(?P<iso>(?:19|20)\d\d-\d\d-\d\d))\b", re.I)


def dateline(text: str) -> str:
    """The ISO date an article's body opens with (its dateline), '' when it opens with none.

    Used only for an article that brought no date: news bodies, wire copy above all, often open with one.
    """
    match = _DATELINE.match(text[:60])
    if match is None:
        return ""
    if match["iso"]:
        return normalize_date(match["iso"])
    month, day, year = ((match["m1"], match["d1"], match["y1"]) if match["m1"]
                        else (match["m2"], match["d2"], match["y2"]))
    month = month.rstrip(".")[:3].title()
    try:
        parsed = datetime.strptime(f"{int(day)} {month} {year}", "%d %b %Y")
    except ValueError:
        return ""
    return parsed.strftime("%Y-%m-%d") if parsed.year <= datetime.now(UTC).year + 1 else ""


class NotOnCalendar(InvalidInput):
    """A value shaped like a date whose day does not exist ("2013-02-30", month 13): an error to report, never
    text to keep, because no reading of it is the one its writer meant."""


# Shapes read as a year, a month and a day: ISO or slashed (2013-02-30, 2013/2/30), dotted day first
# (30.02.2013), and a month name before or after the day ("February 30, 2013", "Sat, 30 Feb 2013 10:00 GMT").
_SHAPES = (
    re.compile(r"(?P<y>\d{4})[-/](?P<m>\d{1,2})[-/](?P<d>\d{1,2})(?!\d)"),
    re.compile(r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})(?!\d)"),
    re.compile(rf"{_WEEKDAY}(?P<mon>{_MONTH})\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})(?!\d)", re.I),
    re.compile(rf"{_WEEKDAY}(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<mon>{_MONTH}),?\s+(?P<y>\d{{4}})(?!\d)", re.I),
)
_MONTH_NUMBER = {name.lower(): number for number, name in enumerate(calendar.month_abbr) if name}


def _check_day(year: int, month: int, day: int) -> None:
    """NotOnCalendar saying why there is no such day ("February 2013 has 28 days")."""
    if not 1 <= year <= 9999:
        raise NotOnCalendar(f"year {year} is outside 1 to 9999")
    if not 1 <= month <= 12:
        raise NotOnCalendar(f"there is no month {month}")
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        raise NotOnCalendar(f"{calendar.month_name[month]} {year} has {days} days, so no day {day}")


def check_calendar(text: str) -> None:
    """Raise NotOnCalendar when `text` opens with a date-shaped value whose day does not exist; other text,
    a date or not, passes. The one calendar check of the project: input records' dates (`make_article`),
    the search options' dates (`search.options`) and dates in a query's time words all go through it."""
    text = text.strip()
    for shape in _SHAPES:
        match = shape.match(text)
        if match is None:
            continue
        month = _MONTH_NUMBER[match["mon"].rstrip(".")[:3].lower()] if "mon" in shape.groupindex else int(match["m"])
        try:
            _check_day(int(match["y"]), month, int(match["d"]))
        except NotOnCalendar as exc:
            raise NotOnCalendar(f"{match.group(0).strip()!r} is not on the calendar: {exc}") from None
        return


def feed_date(text: str, stamp: tuple | None) -> str:
    """A feed item's date: feedparser's parsed `stamp` of its date `text` as ISO UTC, else the text read
    here; the text itself when it is off the calendar, for `make_article` to report as a problem, since
    feedparser rolls "2013-02-30" over to March 2 without a word."""
    try:
        check_calendar(text)
    except NotOnCalendar:
        return text
    if stamp:
        return "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z".format(*stamp[:6])
    return normalize_date(text)

"""Time words in a query ("yesterday", "since 2019", "in March 2013") read as a date filter.

People type dates into the search box; embedding "last week" only pulls in articles that talk about weeks.
`interpret` finds such phrases, turns them into an inclusive [since, until] range of ISO dates, and returns
the query without them, so that the caller can filter on the dates and embed the rest. Whether to do this at
all is the caller's option. Everything is relative to `now` so that tests (and replays) are reproducible.

Deliberate choices, each tested:

* A year must be plausible: 1900 to next year. "in 2099" stays text; so does a year glued to other
  characters ("COVID-2019", "G2013", "12013", "2,013", "$2013", "2013.5", "2013's").
* A standalone plausible four-digit number is read as a year ("2013"); "2013 people" is the price of that.
* A month needs a year: "March 2013" is a month, "March" or "May" alone stays text ("May" is a verb, and a
  month without a year is ambiguous about which year).
* A date that is not on the calendar ("2013-02-30", "in February 30 2013") is an error naming the phrase,
  not text: it was meant as a date, and searching its words would quietly answer another question.
* "last week/month/year" and "previous ..." are the calendar period before this one (weeks start on Monday);
  "past week", "the last week", "past month", "last 7 days", "past 24 hours" are rolling periods ending
  today, today included.
  "this week/month/year" run from the start of the period to today. Hours are rounded out to whole days.
* "last Friday" is the most recent Friday before today (a week ago on a Friday); a bare "Friday" stays text.
* "since X" starts with X; "after X" the day after X ends; "before X" ends the day before X starts; "until X"
  (till, through) ends with X; "between X and Y" and "from X to Y" run from X's start to Y's end. A bare
  "from X" is X ("photos from 2013").
* Several phrases intersect ("since 2019 before 2021"); when the result is empty ("since 2019 until 2018",
  "between 2012 and 2010") a ValueError says so: that is a contradiction, not an empty result.
* Matching ignores case; the phrases are reported as written, with the preposition that was read with them
  ("in March 2013") and a possessive ("last week's").
* Not understood (left as text): decades ("1990s"), "N days ago", a month range sharing one year ("from March
  to May 2013" reads only "May 2013"), times of day.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from indexer.errors import InvalidOption
from indexer.sources.article import NotOnCalendar, check_calendar

__all__ = ["Interpreted", "OnlyTimePhrase", "interpret"]


@dataclass(frozen=True)
class Interpreted:
    """What the query's time words meant: an inclusive date range ('' = open) and the words left to search."""

    since: str
    until: str
    text: str
    phrases: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"since": self.since, "until": self.until, "text": self.text, "phrases": list(self.phrases)}


class OnlyTimePhrase(InvalidOption):
    """The query was nothing but a time phrase: there is nothing left to embed, which is the user's to fix."""


Span = tuple[date, date]  # first and last day of what an expression names

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_MONTHS["sept"] = 9
_MONTH = r"(?P<{}>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}

# A phrase starts and ends on its own: not inside a word, a hyphenated token, a path, an amount or a number.
_LEFT = r"(?<![\w\-/$#+@&£€])(?<!\d[.,])"
_RIGHT = r"(?![\w\-/%'’]|[.,:]\d)"
_FLAGS = re.IGNORECASE


def _compile(pattern: str) -> re.Pattern:
    """A phrase on its own, possessive allowed ("last week's protests")."""
    return re.compile(_LEFT + pattern + r"(?:['’]s)?" + _RIGHT, _FLAGS)


@dataclass(frozen=True)
class _Context:
    today: date
    now: datetime | None  # with a time of day, when the caller gave one

    def plausible(self, year: int) -> bool:
        return 1900 <= year <= self.today.year + 1


def _day(ctx: _Context, m: re.Match, month: int) -> Span | None:
    """The day `m` names (its `y` and `d`, in `month`); NotOnCalendar when a plausible year has no such day."""
    if not ctx.plausible(int(m["y"])):
        return None
    try:
        check_calendar(m.group(0))
    except NotOnCalendar as exc:
        raise NotOnCalendar(f"the query's time phrase {exc}") from None
    d = date(int(m["y"]), month, int(m["d"]))
    return d, d


def _month_span(year: int, month: int) -> Span:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _shift_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(d.day, calendar.monthrange(year, month + 1)[1]))


def _iso(ctx: _Context, m: re.Match) -> Span | None:
    return _day(ctx, m, int(m["m"]))


def _month_day_year(ctx: _Context, m: re.Match) -> Span | None:
    return _day(ctx, m, _MONTHS[m["mon"].lower()])


def _month_year(ctx: _Context, m: re.Match) -> Span | None:
    year = int(m["y"])
    return _month_span(year, _MONTHS[m["mon"].lower()]) if ctx.plausible(year) else None


def _year_range(ctx: _Context, m: re.Match) -> Span | None:
    first, last = int(m["y"]), int(m["y2"])
    if not (ctx.plausible(first) and ctx.plausible(last)):
        return None
    if first > last:  # "2012-2010" is more likely a score or a code than a backwards range
        return None
    return date(first, 1, 1), date(last, 12, 31)


def _year(ctx: _Context, m: re.Match) -> Span | None:
    year = int(m["y"])
    return (date(year, 1, 1), date(year, 12, 31)) if ctx.plausible(year) else None


def _simple(ctx: _Context, m: re.Match) -> Span | None:
    today = ctx.today
    if m["word"].lower() == "yesterday":
        return today - timedelta(days=1), today - timedelta(days=1)
    return today, today


def _calendar_period(ctx: _Context, m: re.Match) -> Span | None:
    """this/last/previous/past week, month or year."""
    which, unit, today = m["which"].lower(), m["unit"].lower(), ctx.today
    if which == "past" or (which == "last" and m["the"]):  # "in the last week" is the past seven days
        return _rolling(ctx, 1, unit)
    if unit == "week":
        monday = today - timedelta(days=today.weekday())
        return (monday, today) if which == "this" else (monday - timedelta(days=7), monday - timedelta(days=1))
    if unit == "month":
        if which == "this":
            return today.replace(day=1), today
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    if which == "this":
        return date(today.year, 1, 1), today
    return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)


def _rolling(ctx: _Context, n: int, unit: str) -> Span | None:
    """The last n units ending today, today included."""
    today, unit = ctx.today, unit.lower().rstrip("s")
    try:
        if unit == "hour":
            start = (ctx.now - timedelta(hours=n)).date() if ctx.now else today - timedelta(days=-(-n // 24))
        elif unit in ("day", "week"):
            start = today - timedelta(days=n * (7 if unit == "week" else 1) - 1)
        else:
            start = _shift_months(today, -n * (12 if unit == "year" else 1)) + timedelta(days=1)
    except (OverflowError, ValueError):
        return None
    return (start, today) if start.year >= 1900 else None


def _last_n(ctx: _Context, m: re.Match) -> Span | None:
    n = m["n"].lower()
    count = _NUMBERS[n] if n in _NUMBERS else int(n)
    return _rolling(ctx, count, m["unit"]) if count > 0 else None


def _last_weekday(ctx: _Context, m: re.Match) -> Span | None:
    back = (ctx.today.weekday() - _WEEKDAYS[m["wd"].lower()] - 1) % 7 + 1
    d = ctx.today - timedelta(days=back)
    return d, d


_ONE = r"(?:(?P<the>the)\s+)?"
# Tried in this order at each word; the first whose handler accepts wins. Longer forms come first.
_ATOMS: list[tuple[re.Pattern, Callable[[_Context, re.Match], Span | None]]] = [
    (_compile(r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})"), _iso),
    (_compile(_MONTH.format("mon") + r"\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})"), _month_day_year),
    (_compile(r"(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH.format("mon") + r",?\s+(?P<y>\d{4})"), _month_day_year),
    (_compile(_MONTH.format("mon") + r",?\s+(?:of\s+)?(?P<y>\d{4})"), _month_year),
    (_compile(r"(?P<y>\d{4})\s*[-–]\s*(?P<y2>\d{4})"), _year_range),
    (_compile(r"(?P<y>\d{4})"), _year),
    (_compile(r"(?P<word>today|yesterday)"), _simple),
    (_compile(_ONE + r"(?P<which>this|last|previous|past)\s+(?P<unit>week|month|year)"), _calendar_period),
    (_compile(_ONE + r"(?:last|past|previous)\s+(?P<n>\d{1,6}|" + "|".join(_NUMBERS)
              + r")\s+(?P<unit>hours?|days?|weeks?|months?|years?)"), _last_n),
    (_compile(r"last\s+(?P<wd>" + "|".join(_WEEKDAYS) + ")"), _last_weekday),
]

_PREP = re.compile(_LEFT + r"(?P<prep>since|after|before|until|till|through|up\s+to|in|on|during|of|over|within"
                   r"|from|between)\s+", _FLAGS)
_AND = re.compile(r"\s+and\s+", _FLAGS)
_TO = re.compile(r"\s*(?:-|–|to|until|till|through)\s+", _FLAGS)


def _expression(ctx: _Context, text: str, pos: int) -> tuple[Span, int] | None:
    """The time expression starting exactly at pos, and where it ends."""
    for pattern, handler in _ATOMS:
        m = pattern.match(text, pos)
        if m:
            span = handler(ctx, m)
            if span is not None:
                return span, m.end()
    return None


def _phrase(ctx: _Context, text: str, pos: int) -> tuple[str, str, int] | None:
    """A (preposition +) expression at pos: its (since, until) bound ('' = open) and where it ends."""
    prep = _PREP.match(text, pos)
    if prep:
        word = " ".join(prep["prep"].lower().split())
        first = _expression(ctx, text, prep.end())
        if first is not None:
            (start, end), after = first
            if word in ("between", "from"):
                joint = (_AND if word == "between" else _TO).match(text, after)
                second = _expression(ctx, text, joint.end()) if joint else None
                if second is not None:
                    (_, last), after = second
                    if start > last:
                        raise InvalidOption(f"{text[pos:after]!r} runs backwards: {start} is after {last}")
                    return start.isoformat(), last.isoformat(), after
                if word == "between":  # "between 2010" alone is not a range; read it as the year
                    return start.isoformat(), end.isoformat(), after
            bounds = {
                "since": (start.isoformat(), ""),
                "after": ((end + timedelta(days=1)).isoformat(), ""),
                "before": ("", (start - timedelta(days=1)).isoformat()),
                "until": ("", end.isoformat()),
                "till": ("", end.isoformat()),
                "through": ("", end.isoformat()),
                "up to": ("", end.isoformat()),
            }.get(word, (start.isoformat(), end.isoformat()))
            return *bounds, after
    found = _expression(ctx, text, pos)
    if found is None:
        return None
    (start, end), after = found
    return start.isoformat(), end.isoformat(), after


def _tidy(text: str) -> str:
    """Whitespace and punctuation left dangling where phrases were cut out."""
    text = re.sub(r"\(\s*\)|\[\s*\]", " ", text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,;:.!?)\]])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = text.strip(" ,;:-–")
    # A connective that joined two time phrases, or a query to them, is left dangling: "floods and".
    return re.sub(r"^(?:and|or)(?:\s+|$)|\s+(?:and|or)$", "", text, flags=re.IGNORECASE).strip(" ,;:-–")


def interpret(query: str, now: datetime | date | None = None) -> Interpreted:
    """Read the time phrases of `query` as an inclusive date range relative to `now` (default: the clock).

    Raises OnlyTimePhrase when nothing but time phrases is left, and ValueError when the phrases contradict
    each other or a range runs backwards.
    """
    if now is None:
        now = datetime.now()
    ctx = _Context(today=now.date() if isinstance(now, datetime) else now,
                   now=now if isinstance(now, datetime) else None)
    since, until, phrases, kept, cursor = "", "", [], [], 0
    for word in re.finditer(r"\b\w", query):
        if word.start() < cursor:
            continue
        found = _phrase(ctx, query, word.start())
        if found is None:
            continue
        low, high, end = found
        phrases.append(query[word.start():end])
        kept.append(query[cursor:word.start()])
        cursor = end
        since = max(since, low) if since and low else since or low
        until = min(until, high) if until and high else until or high
    kept.append(query[cursor:])
    if not phrases:
        return Interpreted(since="", until="", text=query.strip(), phrases=())
    written = ", ".join(repr(p) for p in phrases)
    if since and until and since > until:
        raise InvalidOption(f"the time phrases {written} contradict each other: from {since} until {until} "
                         "is no time at all")
    text = _tidy(" ".join(kept))
    if not re.search(r"\w", text):
        meaning = " ".join(part for part in (f"since {since}" if since else "", f"until {until}" if until else "")
                           if part)
        raise OnlyTimePhrase(f"the query is only a time phrase ({written}, read as {meaning}); "
                             "add words to search for")
    return Interpreted(since=since, until=until, text=text, phrases=tuple(phrases))

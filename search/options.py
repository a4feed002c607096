"""Every search option and filter, declared once.

The two dataclasses below are the declaration: name, type, default, limits and help of each knob. The
library validates them here; the HTTP request model (`api/models.py`), the command line (`api/cli.py`) and
the Python client (`api/client.py`) are derived from `declared()`, so a new option is one line in this file.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from functools import cache, cached_property
from typing import Any, Literal

from indexer.errors import InvalidOption
from indexer.sources.article import check_calendar

MAX_QUERY_CHARS = 1000
MAX_K = 100
MAX_OFFSET = 1000
# A day on the calendar (leap years included) as a regular expression, so that the published schema says
# exactly what the server accepts: a client or fuzzer that follows it never sends a date the server refuses.
_YEAR = r"(?:000[1-9]|00[1-9]\d|0[1-9]\d\d|[1-9]\d{3})"
_MONTH_DAY = (r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
              r"|02-(?:0[1-9]|1\d|2[0-8]))")
_LEAP_YEAR = r"(?:\d\d(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
DATE_PATTERN = (rf"^(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
                r"(?:T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?Z?)?$")
FIELD_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
FIELD_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}=.{0,200}$"


def option(default: Any, help: str, *, ge: float | None = None, le: float | None = None, param: str = "",
           cli: str = "", max_items: int | None = None, max_length: int | None = None, pattern: str | None = None,
           wire: type | None = None, public: bool = True, date: bool = False) -> Any:
    """A declared field. `param` is its name on the wire (HTTP, client) when it differs; `cli` its long
    option; `max_items`/`max_length`/`pattern` bound what a request may send (per item for lists); `wire`
    the type a request sends when it is not the field's (a datetime the library keeps as ISO text);
    `public` False keeps a library-only knob off the wire and the command line; `date` marks an ISO date
    or datetime, which `Declared.check` holds to the calendar."""
    return field(default=default, metadata={
        "help": help, "ge": ge, "le": le, "param": param, "cli": cli, "max_items": max_items,
        "max_length": max_length, "pattern": pattern, "wire": wire, "public": public, "date": date})


@dataclass(frozen=True)
class Declared:
    """One declared field, as the derived interfaces need it."""

    name: str  # the dataclass attribute
    param: str  # the name on the wire
    cli: str  # the long option, without dashes
    type: Any  # the annotation (Literal choices, list-ness and optionality are read from it)
    default: Any
    help: str
    ge: float | None
    le: float | None
    max_items: int | None
    max_length: int | None
    pattern: str | None
    wire: type | None
    owner: type
    date: bool = False

    @cached_property
    def choices(self) -> tuple:
        """The allowed values of a Literal field (None excluded); empty for others."""
        args = [self.type] if typing.get_origin(self.type) is Literal else typing.get_args(self.type)
        literal = [a for a in args if typing.get_origin(a) is Literal]
        return typing.get_args(literal[0]) if literal else ()

    @property
    def is_list(self) -> bool:
        return typing.get_origin(self.type) is tuple

    @property
    def base(self) -> type:
        """The scalar Python type of the field (of each item for lists)."""
        if self.choices:
            return type(self.choices[0])
        t = self.type
        if typing.get_origin(t) in (typing.Union, types.UnionType):
            t = next(a for a in typing.get_args(t) if a is not type(None))
        return str if self.is_list else t

    def check(self, value: Any) -> Any:
        """`value`, once a date field's value is shown to be an ISO date or datetime on the calendar; a
        ValueError saying why not. The one check behind the library (`_check`), the HTTP request models and
        the command line: a pattern can say that 2013-02-30 looks like a date, not that the day exists."""
        if not self.date or value in (None, ""):
            return value
        text = value.isoformat() if isinstance(value, datetime) else str(value)
        check_calendar(text)
        try:
            if self.pattern and not re.match(self.pattern, text):
                raise InvalidOption("expected YYYY-MM-DD, optionally with THH:MM[:SS][Z]")
            datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidOption(f"{text!r} is not an ISO date or datetime: {exc}") from None
        return value

    def to_wire(self, value: Any) -> Any:
        """The library value as sent over HTTP."""
        if self.name == "fields":
            return [f"{key}={val}" for key, val in value]
        return list(value) if self.is_list else value

    def from_wire(self, value: Any) -> Any:
        """A value received over HTTP (or the command line) as the library takes it."""
        if self.name == "fields":
            return tuple(parse_field(item) for item in value or ())
        if self.is_list:
            return tuple(value or ())
        if isinstance(value, datetime):
            return value.isoformat()
        return self.default if value is None and self.default is not None else value


def parse_field(item: str) -> tuple[str, str]:
    """'KEY=VALUE' -> (KEY, VALUE), the metadata equality filter as typed on a command line or a URL."""
    key, sep, value = item.partition("=")
    if not sep or not FIELD_KEY.fullmatch(key):
        raise InvalidOption(f"field filter {item!r}: expected KEY=VALUE, KEY of letters, digits and _")
    return key, value


def _check(obj: Any) -> None:
    """The declared choices and ranges, for library callers (the HTTP model checks them before)."""
    for d in declared(type(obj), public_only=False):
        value = getattr(obj, d.name)
        if d.choices and value is not None and value not in d.choices:
            raise InvalidOption(f"{d.param} must be one of {', '.join(map(str, d.choices))}, not {value!r}")
        if d.ge is not None and value < d.ge or d.le is not None and value > d.le:
            raise InvalidOption(f"{d.param} must be between {d.ge} and {d.le}, not {value!r}")
        try:
            d.check(value)
        except ValueError as exc:
            raise InvalidOption(f"{d.param}: {exc}") from None


@dataclass(frozen=True)
class Filters:
    """Restrictions on which articles may match; empty means all."""

    sources: tuple[str, ...] = option((), "only this outlet (repeatable)", param="source", cli="source",
                                      max_items=50, max_length=200)
    since: str = option("", "published on or after (ISO date)", pattern=DATE_PATTERN, date=True)
    until: str = option("", "published on or before (ISO date)", pattern=DATE_PATTERN, date=True)
    language: str = option("", "only this language code", max_length=20)
    fields: tuple[tuple[str, str], ...] = option((), "metadata KEY=VALUE equality (repeatable)", param="field",
                                                 cli="field", max_items=20, pattern=FIELD_PATTERN)
    entities: tuple[str, ...] = option((), "only articles that name this person, organisation or place "
                                       "(repeatable: all of them)", param="entity", cli="entity", max_items=10,
                                       max_length=200)

    def __post_init__(self) -> None:
        for key, _ in self.fields:
            if not FIELD_KEY.fullmatch(key):
                raise InvalidOption(f"filter field {key!r}: use letters, digits and _ only")
        _check(self)

    def __bool__(self) -> bool:
        return bool(self.sources or self.since or self.until or self.language or self.fields or self.entities)


@dataclass(frozen=True)
class SearchOptions:
    """Per-request knobs with explicit defaults; `mode` None means the index default (hybrid).

    fusion (hybrid mode): 'convex', 0.5 * minmax(dense) + 0.5 * minmax(BM25), or 'rrf' (k=60).
    recency_half_life_days: an article this many days older than the newest result loses a quarter of its
    score (multiplier 0.5 + 0.5 * 2^(-age / half_life)), so recency re-orders close calls only.
    max_per_source: at most this many results from one named outlet (0: no cap), for diverse results.
    sort: 'relevance', or 'date' (newest first among the relevant candidates).
    collapse_duplicates: near-duplicates (wire copies, found at index time) become one result, the best
    ranked, whose `also_published_by` names the other outlets. Off by default: each copy is an article a
    caller may count (the search page turns it on).
    time_words: off by default because a year or "today" in a query is more often its topic than a date
    filter ("2014 Oscars", "Euro 2016"; benchmarks/README.md counts them in the test sets); the page turns
    it on, and the response's `interpreted` says what was read.
    """

    mode: Literal["dense", "lexical", "hybrid"] | None = option(None, "retrieval mode (default hybrid)")
    fusion: Literal["convex", "rrf"] = option("convex", "hybrid fusion: convex combination or RRF")
    sort: Literal["relevance", "date"] = option("relevance", "order of the results")
    recency_half_life_days: float = option(0.0, "recency boost half-life in days (0: off)", ge=0, le=36500,
                                           cli="recency-half-life")
    max_per_source: int = option(0, "at most this many results per outlet (0: no cap)", ge=0, le=MAX_K)
    collapse_duplicates: bool = option(False, "near-duplicate copies as one result")
    group: Literal["article", "story"] = option("article", "one result per article, or per story (one event "
                                                "across outlets, found at index time)")
    time_words: bool = option(False, "read time phrases in the query ('last week', 'in March 2013', 'since "
                              "2019') as a date filter and search the rest")
    now: str = option("", "the moment 'yesterday' or 'last week' count from (ISO date or datetime; default: "
                      "the clock)", wire=datetime, date=True)
    passages: int = option(3, "passages per result", ge=1, le=20, public=False)
    depth: int = option(100, "candidates each retriever returns before fusion", ge=1, le=10_000, public=False)

    def __post_init__(self) -> None:
        _check(self)


@cache
def declared(cls: type, public_only: bool = True) -> tuple[Declared, ...]:
    """The declared fields of `Filters` or `SearchOptions`, in declaration order (read once per class:
    resolving the annotations costs more than a search's own bookkeeping)."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        m = f.metadata
        if public_only and not m.get("public", True):
            continue
        out.append(Declared(
            name=f.name, param=m.get("param") or f.name, cli=m.get("cli") or f.name.replace("_", "-"),
            type=hints[f.name], default=None if f.default is MISSING else f.default, help=m.get("help", ""),
            ge=m.get("ge"), le=m.get("le"), max_items=m.get("max_items"), max_length=m.get("max_length"),
            pattern=m.get("pattern"), wire=m.get("wire"), owner=cls, date=m.get("date", False)))
    return tuple(out)


def to_wire(filters: Filters | None, options: SearchOptions | None) -> dict[str, Any]:
    """The filters and options that differ from their defaults, by wire name (a request body)."""
    out: dict[str, Any] = {}
    for obj, cls in ((filters, Filters), (options, SearchOptions)):
        if obj is None:
            continue
        for d in declared(cls):
            value = getattr(obj, d.name)
            if value != d.default:
                out[d.param] = d.to_wire(value)
    return out


def from_wire(values: dict[str, Any]) -> tuple[Filters, SearchOptions]:
    """Filters and options from wire names (a validated request, parsed command-line arguments)."""
    made = []
    for cls in (Filters, SearchOptions):
        made.append(cls(**{d.name: d.from_wire(values[d.param]) for d in declared(cls) if d.param in values}))
    return made[0], made[1]


def choices(cls: type, name: str) -> tuple:
    """The allowed values of one declared Literal field."""
    return next(d.choices for d in declared(cls, public_only=False) if d.name == name)


MODES = choices(SearchOptions, "mode")
FUSIONS = choices(SearchOptions, "fusion")
SORTS = choices(SearchOptions, "sort")

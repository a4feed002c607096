"""The typed results the library, the CLI and the HTTP API all return (the HTTP responses are these
dataclasses serialized, and the client reads them back with their pydantic schemas)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class PassageHit:
    """A passage of the article: `start`/`end` are character offsets into the article body;
    `highlights` are [start, end) offsets of query words within `text`, `sentences` those of its best
    sentence(s): the ones holding the most distinct query words."""

    text: str
    start: int
    end: int
    score: float
    highlights: list[tuple[int, int]] = field(default_factory=list)
    sentences: list[tuple[int, int]] = field(default_factory=list)
    article: str = ""  # the id of the article the offsets point into (a story's passages come from several)


@dataclass
class StoryInfo:
    """The story a grouped result stands for: its size, outlets (most articles first; `derived_outlets`
    those taken from the articles' URLs), the dates it spans, and its articles among the matches, best first
    (the first is the result itself)."""

    id: int
    articles: int
    outlets: list[str]
    first: str
    last: str
    matched: list[str] = field(default_factory=list)
    derived_outlets: list[str] = field(default_factory=list)


@dataclass
class SearchResult:
    """One article, its best passage first. `source_derived`: the article named no outlet, so `source` is its
    URL's registered domain (worth showing as such: a website, not the publisher's own name for itself)."""

    id: str
    title: str
    source: str
    url: str
    published: str
    score: float
    passages: list[PassageHit]
    language: str = ""
    source_derived: bool = False
    also_published_by: list[str] = field(default_factory=list)
    story_id: int = 0
    story: StoryInfo | None = None  # with group=story: the story this result represents
    # Whether the article counts for the query by the relevance test (indexer/relevance.py): a page shows
    # the results that fail it apart, as less related (a story result: its representative article).
    relevant: bool = True
    # For each query word the article's headline or body holds (by the stem rule that marks them, the relevance
    # test's `found`), its first occurrence as written there: what a less related result shares with the query.
    mentions: list[str] = field(default_factory=list)


@dataclass
class Interpretation:
    """What `time_words` read in the query: the date range applied ('' = open) and the text searched."""

    since: str
    until: str
    text: str
    phrases: list[str] = field(default_factory=list)


@dataclass
class Facet:
    """A name among the matching articles and how many of them name it."""

    name: str
    count: int


@dataclass
class SearchResponse:
    query: str
    results: list[SearchResult]
    took_ms: float = 0.0
    mode: str = ""
    interpreted: Interpretation | None = None
    # The names in the matching articles (the first FACET_DEPTH ranked): "people", "organizations", "places",
    # each [{"name", "count"}], count = articles naming it, most named first.
    facets: dict[str, list[Facet]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class StoryArticle:
    """One article of a story page: where and when, and its best sentence (for the query, else its lead)."""

    id: str
    title: str
    source: str
    published: str
    url: str
    sentence: str
    score: float | None = None
    source_derived: bool = False


@dataclass
class StoryPage:
    """A story's articles in time order. `id` is the story now; `asked` the id requested, which a merge may
    have folded into it (`merged_from` lists every id folded in)."""

    id: int
    asked: int
    articles: list[StoryArticle]
    outlets: list[str]
    first: str
    last: str
    merged_from: list[int] = field(default_factory=list)
    query: str = ""
    derived_outlets: list[str] = field(default_factory=list)  # outlets taken from the articles' URLs

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class StoredPassage:
    """A passage as stored: its place in the article (`ord`) and its [start, end) offsets into the body."""

    ord: int
    start: int
    end: int
    text: str


@dataclass
class Entity:
    """A name an article holds: `kind` person, organization or place; `count` its mentions in the headline and
    lead; `first` the offset of the first in the text (-1: only the headline names it)."""

    kind: str
    name: str
    count: int
    first: int


@dataclass
class Article:
    """A stored article with its passages. `metadata` holds the source's extra fields (scalars)."""

    id: str
    title: str
    text: str
    url: str
    source: str
    published: str
    language: str
    metadata: dict[str, Any]
    passages: list[StoredPassage]
    # The people, organisations and places it names (in its headline and lead), most named first.
    entities: list[Entity] = field(default_factory=list)


@dataclass
class IndexStats:
    """Counts and settings of an index. `profile`: fast, or quality (`models` fused with BM25, the index's own
    model first); `generation` goes up with every committed write; `migrations` the format steps taken
    ({"version", "summary", "at"}); `alerts` the saved searches, their matches and webhook deliveries by
    state (saved, matches, pending, delivered, dead letters)."""

    articles: int
    passages: int
    model: str
    dim: int
    profile: str
    models: list[str]
    context: str
    backend: str
    index_type: str
    generation: int
    created: str
    updated: str
    format_version: int
    migrations: list[dict[str, Any]] = field(default_factory=list)
    alerts: dict[str, int] = field(default_factory=dict)
    # Entities: the recogniser ("off" when it is not installed) and how many articles have theirs stored.
    entities: dict[str, Any] = field(default_factory=dict)

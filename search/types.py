"""The typed results the library, the CLI and the HTTP API all return."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


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


@dataclass
class SearchResult:
    """One article, its best passage first."""

    id: str
    title: str
    source: str
    url: str
    published: str
    score: float
    passages: list[PassageHit]
    language: str = ""
    also_published_by: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict) -> SearchResult:
        passages = [PassageHit(**{**p, "highlights": [tuple(h) for h in p.get("highlights", [])],
                                  "sentences": [tuple(h) for h in p.get("sentences", [])]})
                    for p in data.get("passages", [])]
        known = cls.__dataclass_fields__
        return cls(**{**{k: v for k, v in data.items() if k in known}, "passages": passages})


@dataclass
class SearchResponse:
    query: str
    results: list[SearchResult]
    took_ms: float = 0.0
    mode: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SearchResponse:
        return cls(query=data["query"], results=[SearchResult.from_dict(r) for r in data["results"]],
                   took_ms=data.get("took_ms", 0.0), mode=data.get("mode", ""))

"""What a read may be narrowed to, and its one translation into SQL: shared by the search side's reads
(`indexer.store.snapshot`) and the saved searches matched at commit (`indexer.enrich.alerts`), so that a saved
search admits exactly the articles its search would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from indexer.names import name_key


class ArticleFilter(Protocol):
    """What a read may be narrowed to, as the store needs it (the search side's `Filters` is one): outlets,
    a date range (ISO text, inclusive), a language and metadata equalities (keys already checked)."""

    sources: tuple[str, ...]
    since: str
    until: str
    language: str
    fields: tuple[tuple[str, str], ...]
    entities: tuple[str, ...]

    def __bool__(self) -> bool: ...



@dataclass(frozen=True)
class StoredFilter:
    """An `ArticleFilter` as a saved search keeps it (`to_dict`/`from_dict`: its JSON in the index)."""

    sources: tuple[str, ...] = ()
    since: str = ""
    until: str = ""
    language: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    entities: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.sources or self.since or self.until or self.language or self.fields or self.entities)

    @classmethod
    def of(cls, filters: ArticleFilter) -> StoredFilter:
        return cls(tuple(filters.sources), filters.since, filters.until, filters.language,
                   tuple((k, v) for k, v in filters.fields), tuple(filters.entities))

    def to_dict(self) -> dict:
        return {"sources": list(self.sources), "since": self.since, "until": self.until,
                "language": self.language, "fields": [list(f) for f in self.fields],
                "entities": list(self.entities)}

    @classmethod
    def from_dict(cls, data: dict) -> StoredFilter:
        return cls(tuple(data.get("sources", ())), data.get("since", ""), data.get("until", ""),
                   data.get("language", ""), tuple((k, v) for k, v in data.get("fields", ())),
                   tuple(data.get("entities", ())))


def filter_sql(filters: ArticleFilter, alias: str = "a") -> tuple[str, list]:
    """A WHERE fragment over the articles table and its parameters."""
    clauses, params = [], []
    if filters.sources:
        clauses.append(f"{alias}.source IN ({','.join('?' * len(filters.sources))})")
        params.extend(filters.sources)
    if filters.since:
        clauses.append(f"{alias}.published >= ?")
        params.append(filters.since)
    if filters.until:
        # A date bound includes that whole day: '2013-05-03' admits '2013-05-03T23:00:00Z'.
        clauses.append(f"{alias}.published != '' AND {alias}.published <= ?")
        params.append(filters.until + ("T99" if len(filters.until) == 10 else ""))
    if filters.language:
        clauses.append(f"{alias}.language = ?")
        params.append(filters.language)
    for key, value in filters.fields:  # keys are checked by Filters: letters, digits and _ only
        clauses.append(f"json_extract({alias}.metadata, '$.{key}') = ?")
        params.append(value)
    for name in filters.entities:  # the article names each of them (as a person, organisation or place)
        clauses.append(f"EXISTS (SELECT 1 FROM entities e WHERE e.key = ? AND e.article = {alias}.rowid)")
        params.append(name_key(name))
    return (" AND ".join(clauses) or "1"), params

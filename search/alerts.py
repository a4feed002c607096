"""Saved searches as the library offers them: made from a query with the same options and filters as a
search (declared once, `search.options`), compiled here into what the indexer matches at every commit
(`indexer.enrich.alerts`): the query's vector from the index's own model, its words, its filters.

A saved search either holds a query or follows a story. It is refused when it would drift: time words
("last week") read relative to the day of each match would change what it means; it takes `since`/`until`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from indexer.alerts import saved as store
from indexer.alerts.saved import Counts, Match, SavedSearch
from indexer.crawl.fetch import check_url
from indexer.enrich.story_store import resolve
from indexer.errors import InvalidOption, NotFound
from indexer.filters import StoredFilter
from indexer.models.embed import Embedder
from indexer.store.index_store import IndexStore
from search.options import Filters, SearchOptions, to_wire
from search.query import query_words
from search.timewords import interpret

MAX_NAME_CHARS = 200
MAX_SECRET_CHARS = 256


@dataclass(frozen=True)
class SavedSearchSpec:
    """What a saved search is made from (one line of `alerts import`, one POST /alerts)."""

    query: str = ""
    name: str = ""
    filters: Filters = field(default_factory=Filters)
    options: SearchOptions = field(default_factory=SearchOptions)
    story: int | None = None
    webhook: str = ""
    secret: str = ""


@dataclass(frozen=True)
class Alert:
    """A saved search as shown: never its secret or vector. `feed_token` opens its Atom feed where a read key
    is required; `counts` are its matches (unread: since the page last showed them) and its webhook's queue,
    `last_error` why its latest failed delivery failed."""

    id: str
    name: str
    query: str
    options: dict
    story: int | None
    grouping: str
    webhook: str
    has_secret: bool
    created_at: str
    created_generation: int
    feed_token: str
    counts: Counts = Counts()
    last_error: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Alert:
        return cls(**{**data, "counts": Counts(**data.get("counts", {}))})


def match_from_dict(data: dict) -> Match:
    """A Match as the HTTP API sends it (its delivery id is derived again, not read)."""
    return Match(**{k: v for k, v in data.items() if k != "delivery_id"})


def checked_query(spec: SavedSearchSpec) -> str:
    """The query `spec` saves ('' when it follows a story), once `spec` is shown to make a saved search;
    InvalidOption (or UnsafeURL for the webhook) says what is wrong with it."""
    query = spec.query.strip()
    if bool(query) == (spec.story is not None):
        raise InvalidOption("a saved search needs a query or a story to follow (--story ID), not both")
    if spec.options.time_words:
        phrases = interpret(query).phrases if query else ()
        if phrases:
            raise InvalidOption(f"a saved search cannot hold time words ({', '.join(map(repr, phrases))}): read "
                                "against each new day they would drift; give dates with since/until instead")
    if len(spec.name) > MAX_NAME_CHARS or len(spec.secret) > MAX_SECRET_CHARS:
        raise InvalidOption(f"name or secret too long (at most {MAX_NAME_CHARS} and {MAX_SECRET_CHARS} characters)")
    if spec.secret and not spec.webhook:
        raise InvalidOption("a secret signs webhook deliveries: give --webhook URL with it")
    if spec.webhook:
        check_url(spec.webhook)
    return query


def compile_spec(spec: SavedSearchSpec, query: str, vector: np.ndarray | None) -> SavedSearch:
    """The saved search of a checked `spec` (`query` from `checked_query`), with the query's `vector` from the
    index's model, its words and its filters."""
    options = replace(spec.options, time_words=False)
    return SavedSearch(
        id=secrets.token_hex(6), name=spec.name or query or f"story {spec.story}", query=query,
        options=to_wire(spec.filters, options), story=spec.story, words=tuple(query_words(query)) if query else (),
        filters=StoredFilter.of(spec.filters), grouping=options.group or "",
        vector=vector if query else None, webhook=spec.webhook, secret=spec.secret,
        token=secrets.token_urlsafe(18), created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def _shown(saved: SavedSearch, counts: Counts, last_error: str = "") -> Alert:
    return Alert(saved.id, saved.name, saved.query, saved.options, saved.story, saved.grouping, saved.webhook,
                 bool(saved.secret), saved.created_at, saved.created_generation, saved.token, counts, last_error)


def add(index: IndexStore, embedder: Embedder, specs: list[SavedSearchSpec]) -> list[Alert]:
    """Save every spec in one transaction (all or none), as made at the index's current generation: only
    articles committed from now on can fire them. A story to follow must exist."""
    queries = [checked_query(spec) for spec in specs]  # every spec checked before any is encoded
    vectors = iter(embedder.encode([q for q in queries if q], progress=len(queries) > 1000))
    made = [compile_spec(spec, q, next(vectors) if q else None) for spec, q in zip(specs, queries, strict=True)]
    with index.edit() as conn:
        generation = IndexStore.generation(conn)
        for saved in made:
            if saved.story is not None and resolve(conn, saved.story) is None:
                raise NotFound(f"no story with id {saved.story}")
        stored = [store.insert(conn, saved, generation) for saved in made]
    return [_shown(saved, Counts()) for saved in stored]


def every(index: IndexStore) -> list[Alert]:
    conn = index.connection()
    counts, errors = store.counts(conn), store.last_errors(conn)
    return [_shown(s, counts.get(s.id, Counts()), errors.get(s.id, "")) for s in store.every(conn)]


def one(index: IndexStore, alert_id: str) -> Alert | None:
    conn = index.connection()
    saved = store.get(conn, alert_id)
    if saved is None:
        return None
    return _shown(saved, store.counts(conn, alert_id).get(alert_id, Counts()),
                  store.last_errors(conn, alert_id).get(alert_id, ""))


def remove(index: IndexStore, alert_id: str) -> bool:
    with index.edit() as conn:
        return store.remove(conn, alert_id)


def matches(index: IndexStore, alert_id: str, limit: int = 50, offset: int = 0,
            mark_read: bool = False) -> list[Match] | None:
    """A saved search's matches, newest first; None for an unknown id. `mark_read`: the page has shown them."""
    if mark_read:
        with index.edit() as conn:
            store.mark_read(conn, alert_id)
    conn = index.connection()
    if store.get(conn, alert_id) is None:
        return None
    return store.matches(conn, alert_id, limit, offset)


def token_of(index: IndexStore, alert_id: str) -> str | None:
    """The feed token of a saved search (None for an unknown id)."""
    saved = store.get(index.connection(), alert_id)
    return None if saved is None else saved.token

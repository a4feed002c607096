"""The search pipeline: query -> retrieve (dense, lexical) -> fuse -> news order -> present."""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path

import numpy as np

from indexer.alerts.saved import Match, texts, totals
from indexer.enrich.stories import article_vector
from indexer.errors import InvalidOption, ModelMismatch
from indexer.models import ner
from indexer.models.embed import Embedder, canonical_model_name
from indexer.models.profiles import profile
from indexer.relevance import CALIBRATED, Setting, relevant, words_found, words_needed
from indexer.sources.chunk import sentence_spans
from indexer.store.index_store import IndexStore
from search import alerts, fusion
from search.alerts import Alert, SavedSearchSpec
from search.group import by_story, story_results
from search.news import collapse, needs_news_order, news_order
from search.options import Filters, SearchOptions
from search.present import present, result, term_pattern
from search.query import Query, query_words
from search.reader import NewsReader
from search.retrieve import DenseRetriever, LexicalRetriever, Retriever
from search.timeline import INTERVALS, Timeline, TimelineHit, TimelineRelevance, build_timeline
from search.timewords import Interpreted, interpret
from search.types import (
    Article,
    Entity,
    Facet,
    IndexStats,
    Interpretation,
    SearchResponse,
    StoredPassage,
    StoryArticle,
    StoryPage,
)

FACET_DEPTH = 100  # the ranked articles whose names make a response's facets
FACET_KINDS = {"person": "people", "organization": "organizations", "place": "places"}
TIMELINE_DEPTH = 2000  # articles considered per timeline (the response says when the cap was reached)


class Searcher(NewsReader):
    """An open index and its model: load once, search many times, from many threads."""

    default_mode = "hybrid"

    def __init__(self, index_dir: Path | str, model: str | None = None, embedder: Embedder | None = None) -> None:
        self.store = IndexStore.open(Path(index_dir))
        recorded = self.store.manifest.model
        asked = canonical_model_name(model) if model else (embedder.model if embedder else recorded)
        if asked != recorded:
            self.store.close()
            raise ModelMismatch(f"{index_dir} was built with {recorded}; it cannot be queried with {asked}")
        m = self.store.manifest
        self.embedder = embedder or Embedder(recorded, m.encoder, threads=1)
        # The profile's other models (quality: all-mpnet-base-v2), each a dense retriever of its own.
        self.extra_embedders = {name: Embedder(name, m.encoder, threads=1) for name in m.models()[1:]}
        # Retrievers by name ("dense" the index's own model, "dense:<model>" each other, "lexical" BM25) with
        # their convex fusion weights from the profile (indexer/models/profiles.py). A mode fuses the
        # retrievers of its kind: "dense" the dense ones.
        weights = profile(m.profile).weights
        self.retrievers: dict[str, Retriever] = {"dense": DenseRetriever(), "lexical": LexicalRetriever()}
        self.weights = {"dense": weights["dense"], "lexical": weights["lexical"]}
        for name in self.extra_embedders:
            self.retrievers[f"dense:{name.rsplit('/', 1)[-1]}"] = DenseRetriever(name)
            self.weights[f"dense:{name.rsplit('/', 1)[-1]}"] = weights[name]
        with self.store.snapshot() as snap:
            snap.derived()  # load and catch up now, not on the first query

    def close(self) -> None:
        self.store.close()

    def search(self, query: str, k: int = 10, offset: int = 0, filters: Filters | None = None,
               options: SearchOptions | None = None) -> SearchResponse:
        started = time.perf_counter()
        options = options or SearchOptions()
        mode = options.mode or self.default_mode
        filters = filters or Filters()
        depth = max(options.depth, offset + k)
        # Every mode encodes the query: the relevance test of each result needs its cosine (lexical mode ranks
        # passages by the query words all the same).
        parsed, filters, interpreted = self._parse(query, filters, options, extra=mode != "lexical")
        parsed = replace(parsed, by_words=mode == "lexical")
        with self.store.snapshot() as snap:
            ranked = self._retrieve(snap, parsed, mode, depth, filters, options.fusion)
            news = needs_news_order(options)
            rows = snap.articles([rowid for rowid, _ in ranked]) if news or options.collapse_duplicates else {}
            copies: dict[int, list[int]] = {}
            if options.collapse_duplicates:
                ranked, copies = collapse(ranked, {rowid: row.dup_group for rowid, row in rows.items()})
            if news:
                ranked = news_order(ranked, rows, options)
            if options.group == "story":
                keys = snap.stories_of(rowid for rowid, _ in ranked)
                groups = by_story(ranked, {rowid: story for rowid, (_, story) in keys.items()})[offset:offset + k]
                page = [members[0] for _, members in groups]
                results = story_results(snap, parsed, groups, options.passages,
                                        {rowid: article_id for rowid, (article_id, _) in keys.items()})
            else:
                page = ranked[offset:offset + k]
                results = present(snap, parsed, page, options.passages)
            facets = snap.facets([rowid for rowid, _ in ranked[:FACET_DEPTH]])
        for shown, (rowid, _) in zip(results, page, strict=True):
            shown.also_published_by = [rows[c].source or rows[c].id for c in copies.get(rowid, [])]
        return SearchResponse(query=query, results=results, mode=mode, interpreted=interpreted,
                              took_ms=round((time.perf_counter() - started) * 1000, 3),
                              facets={FACET_KINDS[kind]: [Facet(n, c) for n, c in names]
                                      for kind, names in facets.items()})

    def _parse(self, query: str, filters: Filters, options: SearchOptions,
               extra: bool = False) -> tuple[Query, Filters, Interpretation | None]:
        """The query as searched: its time words read into the filters (when asked), the words BM25 looks up
        and results mark, and its vector (`extra`: the profile's other models' vectors too, for their dense
        retrievers)."""
        text, interpreted = query, None
        if options.time_words:
            text, filters, interpreted = read_time_words(query, filters, options.now)
        vector = self.embedder.encode_query(text)
        others = {name: e.encode_query(text) for name, e in self.extra_embedders.items()} if extra else {}
        return Query(text, query_words(text), vector, others), filters, interpreted

    def _retrieve(self, snap, query: Query, mode: str, depth: int, filters: Filters,
                  fuse: str = "convex") -> list[tuple[int, float]]:
        """(article rowid, score) best first: the mode's one retriever, or its retrievers fused."""
        names = [name for name in self.retrievers if mode == "hybrid" or name.split(":")[0] == mode]
        runs = [self.retrievers[name].retrieve(snap, query, depth, filters) for name in names]
        if len(runs) == 1:
            return runs[0]
        if fuse == "rrf":
            return fusion.rrf([[key for key, _ in run] for run in runs])
        weights = [self.weights[name] for name in names]
        return fusion.convex([dict(run) for run in runs], [w / sum(weights) for w in weights])

    # -- stories, timelines, more like this ---------------------------------------------------
    def story(self, story_id: int, query: str = "") -> StoryPage | None:
        """A story's articles in time order, each with its best sentence for `query` (else its lead);
        None for an id that never named a story. An id merged into another gives that story."""
        vector = self.embedder.encode_query(query) if query.strip() else None
        parsed = Query(query, query_words(query), vector)
        pattern = term_pattern(parsed.words)
        with self.store.snapshot() as snap:
            current = snap.resolve_story(story_id)
            if current is None:
                return None
            rows = snap.story_articles(current, text=True)
            passages = snap.passages(row.rowid for row in rows)
            summary = snap.stories([current])[current]
            merged = snap.merged_into(current)
        articles = []
        for row in rows:
            best = result(row, passages.get(row.rowid, []), 0.0, parsed, pattern, 1).passages
            hit = best[0] if best else None
            if hit is not None and vector is not None:
                spans = hit.sentences or sentence_spans(hit.text)[:1]
                sentence, score = (hit.text[spans[0][0]:spans[0][1]] if spans else hit.text), hit.score
            else:
                lead = sentence_spans(row.text)[:1]
                sentence, score = (row.text[lead[0][0]:lead[0][1]] if lead else row.text[:300]), None
            articles.append(StoryArticle(id=row.id, title=row.title, source=row.source, published=row.published,
                                         url=row.url, sentence=" ".join(sentence.split()), score=score,
                                         source_derived=bool(row.source_derived)))
        return StoryPage(id=current, asked=story_id, articles=articles, outlets=summary.outlets,
                         first=summary.first, last=summary.last, merged_from=merged, query=query,
                         derived_outlets=summary.derived_outlets)

    def timeline(self, query: str, interval: str = "day", filters: Filters | None = None,
                 options: SearchOptions | None = None, setting: Setting = CALIBRATED) -> Timeline:
        """Matching articles counted per day, week or month and by outlet, each bucket with its best passage.
        When the matches span too many buckets of `interval`, the next wider interval that fits is used
        (the response's `interval`; `asked_interval` is the one asked for).

        An article counts when it passes the relevance test (indexer/relevance.py), the one that marks search
        results: its best passage's cosine to the query reaches `setting.cosine`, or it holds the query's words
        and its cosine reaches `setting.cosine_with_words`. Both are absolute, unlike the hybrid score
        normalised per query, so a count means the same across queries and intervals; the response states
        them (`relevance`; `floor` is the cosine alone)."""
        parsed, filters, interpreted = self._parse(query, filters or Filters(), options or SearchOptions())
        with self.store.snapshot() as snap:
            ranked, capped = self._matches(snap, parsed, filters, setting)
            rows = snap.articles(rowid for rowid, _ in ranked)
            hits = [TimelineHit(id=rows[r].id, published=rows[r].published, source=rows[r].source, score=s,
                                passage="", title=rows[r].title, source_derived=bool(rows[r].source_derived))
                    for r, s in ranked]
            built = _coarsest_needed(hits, interval, setting.cosine)
            tops = {b.top.id for b in built.buckets if b.top}
            rowid_of = {rows[r].id: r for r, _ in ranked if rows[r].id in tops}
            best = {res.id: res for res in present(snap, parsed, [(rowid_of[i], 0.0) for i in sorted(tops)], 1)}
        for bucket in built.buckets:
            if bucket.top and best[bucket.top.id].passages:
                bucket.top.passage = best[bucket.top.id].passages[0].text
        words = len(parsed.words)
        relevance = TimelineRelevance(**asdict(setting), words=words,
                                      words_needed=words_needed(words, setting.word_share))
        return replace(built, query=query, asked_interval=interval, matched=len(ranked), capped=capped,
                       relevance=relevance, interpreted=interpreted)

    def _matches(self, snap, query: Query, filters: Filters, setting: Setting) -> tuple[list[tuple[int, float]], bool]:
        """(article rowid, best passage cosine) of the articles that pass the relevance test, best first, and
        whether more may lie beyond the TIMELINE_DEPTH candidates considered.

        Candidates are the dense retriever's top TIMELINE_DEPTH; when that list stops above the words clause's
        cosine, BM25's top TIMELINE_DEPTH too, since an article holding the query's words may count below
        where the dense list stopped. The words are counted only where they decide: for the articles whose
        cosine lies between the two floors."""
        dense = self.retrievers["dense"].retrieve(snap, query, TIMELINE_DEPTH, filters)
        cosine = dict(dense)
        cut = len(dense) >= TIMELINE_DEPTH and dense[-1][1] >= setting.cosine_with_words
        if cut:
            lexical = self.retrievers["lexical"].retrieve(snap, query, TIMELINE_DEPTH, filters)
            for rowid, passages in snap.passages(r for r, _ in lexical if r not in cosine).items():
                cosine[rowid] = float((np.stack([p.embedding for p in passages]) @ query.vector).max())
        undecided = [r for r, c in cosine.items() if setting.cosine_with_words <= c < setting.cosine]
        texts = snap.articles(undecided, text=True)
        found = {r: words_found(query.words, texts[r].title + "\n" + texts[r].text) for r in undecided}
        kept = [(r, c) for r, c in cosine.items() if relevant(c, len(query.words), found.get(r, 0), setting)]
        return sorted(kept, key=lambda pair: (-pair[1], pair[0])), cut

    def similar(self, article_id: str, k: int = 10, exclude_story: bool = False,
                exclude_duplicates: bool = True, passages: int = 1) -> SearchResponse | None:
        """Articles nearest to one article by its own vectors (the mean of its passage vectors, not its
        title): more like this. Optionally without its story's articles and its near-duplicates."""
        started = time.perf_counter()
        with self.store.snapshot() as snap:
            row = snap.article(article_id)
            if row is None:
                return None
            own = snap.passages([row.rowid]).get(row.rowid, [])
            if not own:
                return SearchResponse(query=article_id, results=[], mode="dense")
            vector = article_vector(np.stack([p.embedding for p in own]))  # as the story clustering sees it
            parsed = Query(row.title, query_words(row.title), vector)
            ranked = self.retrievers["dense"].retrieve(snap, parsed, 4 * k + 50, Filters())
            info = snap.articles(rowid for rowid, _ in ranked)
            kept = [(rowid, score) for rowid, score in ranked if rowid != row.rowid
                    and not (exclude_story and info[rowid].story == row.story)
                    and not (exclude_duplicates and info[rowid].dup_group == row.dup_group)][:k]
            results = present(snap, parsed, kept, passages)
        return SearchResponse(query=article_id, results=results, mode="dense",
                              took_ms=round((time.perf_counter() - started) * 1000, 3))

    # -- saved searches (search/alerts.py) -----------------------------------------------------
    def add_alerts(self, specs: list[SavedSearchSpec]) -> list[Alert]:
        """Save searches (all or none); only articles committed from now on fire them."""
        return alerts.add(self.store, self.embedder, specs)

    def add_alert(self, spec: SavedSearchSpec) -> Alert:
        return self.add_alerts([spec])[0]

    def alerts(self) -> list[Alert]:
        return alerts.every(self.store)

    def alert(self, alert_id: str) -> Alert | None:
        return alerts.one(self.store, alert_id)

    def remove_alert(self, alert_id: str) -> bool:
        return alerts.remove(self.store, alert_id)

    def alert_matches(self, alert_id: str, limit: int = 50, offset: int = 0,
                      mark_read: bool = False) -> list[Match] | None:
        """A saved search's matches, newest first (None for an unknown id)."""
        return alerts.matches(self.store, alert_id, limit, offset, mark_read)

    def alert_texts(self, found: list[Match]) -> dict[str, str]:
        """The stored text of the matched articles still in the index (a feed's entry contents)."""
        return texts(self.store.connection(), sorted({m.article for m in found}))

    # -- articles and stats --------------------------------------------------------------------
    def article(self, article_id: str) -> Article | None:
        """The stored article with its passages, or None."""
        with self.store.snapshot() as snap:
            row = snap.article(article_id)
            if row is None:
                return None
            passages = snap.passages([row.rowid]).get(row.rowid, [])
            entities = snap.entities(row.rowid)
        return Article(id=row.id, title=row.title, text=row.text, url=row.url, source=row.source,
                       published=row.published, language=row.language, metadata=row.metadata,
                       passages=[StoredPassage(ord=p.ord, start=p.start, end=p.end, text=row.text[p.start:p.end])
                                 for p in passages],
                       entities=[Entity(kind, name, count, first) for kind, name, count, first in entities])

    def check(self) -> None:
        """Raise BackendUnavailable when a vector store does not answer (a Milvus server down). Asked by
        /ready and /health: a searcher whose generation's stores are already open would not notice until a
        dense search reached the engine."""
        with self.store.snapshot() as snap:
            for store in snap.derived().stores():
                store.check()

    def stats(self) -> IndexStats:
        with self.store.snapshot() as snap:
            articles, passages = snap.counts()
            generation = snap.generation
            vectors = snap.derived().vectors
            version, steps = snap.migrations()
            alert_totals = totals(snap.conn)
            named = snap.named_articles()
        m = self.store.manifest
        return IndexStats(articles=articles, passages=passages, model=m.model, dim=m.dim, profile=m.profile,
                          models=[m.model] + [extra["model"] for extra in m.extra_models], context=m.context,
                          backend=m.backend, index_type=vectors.description, generation=generation,
                          created=m.created, updated=m.updated, format_version=version, migrations=steps,
                          alerts=alert_totals,
                          entities={"recogniser": ner.PACKAGE if ner.installed() else "off", "articles": named})


def read_time_words(query: str, filters: Filters, now: str = "") -> tuple[str, Filters, Interpretation]:
    """The query less its time phrases, the filters narrowed to the dates they name, and what was read.

    A query that is only a time phrase raises `OnlyTimePhrase` (a ValueError: the caller's 422)."""
    moment = datetime.fromisoformat(now.replace("Z", "+00:00")) if now else None
    try:
        read = interpret(query, moment)
    except OverflowError:  # a `now` at the edge of the calendar (year 1): its relative dates do not exist
        read = Interpreted("", "", query)
    since = max(filters.since, read.since)
    until = min(u for u in (filters.until, read.until) if u) if filters.until or read.until else ""
    narrowed = replace(filters, since=since, until=until)
    return read.text, narrowed, Interpretation(read.since, read.until, read.text, list(read.phrases))


def _coarsest_needed(hits: list[TimelineHit], interval: str, floor: float) -> Timeline:
    """The timeline at `interval`, or at the first wider one whose bucket count fits (MAX_BUCKETS)."""
    if interval not in INTERVALS:
        raise InvalidOption(f"interval {interval!r}: use one of {', '.join(INTERVALS)}")
    wider = INTERVALS[INTERVALS.index(interval):]
    for candidate in wider[:-1]:
        try:
            return build_timeline(hits, candidate, floor)
        except ValueError:  # too many buckets: try the next wider interval
            continue
    return build_timeline(hits, wider[-1], floor)

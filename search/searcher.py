"""The search pipeline: query -> retrieve (dense, lexical) -> fuse -> news order -> present."""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path

import numpy as np

from indexer.enrich.stories import article_vector
from indexer.errors import ModelMismatch
from indexer.models.embed import Embedder, canonical_model_name
from indexer.sources.chunk import sentence_spans
from indexer.store.index_store import IndexStore
from search import fusion
from search.group import by_story, story_results
from search.news import collapse, needs_news_order, news_order
from search.options import Filters, SearchOptions
from search.present import present, result, term_pattern
from search.query import Query, query_words
from search.retrieve import DenseRetriever, LexicalRetriever, Retriever
from search.timeline import INTERVALS, Timeline, TimelineHit, build_timeline
from search.timewords import Interpreted, interpret
from search.types import Interpretation, SearchResponse, StoryArticle, StoryPage

# Convex fusion weights per index profile, by retriever; chosen on allsides_neus and carried unchanged to the
# other sets (benchmarks/README.md). A mode fuses the retrievers of its kind: "dense" the dense ones.
FUSION_WEIGHTS = {
    "fast": {"dense": 0.5, "lexical": 0.5},
    "quality": {"dense": 0.1, "dense:all-mpnet-base-v2": 0.5, "lexical": 0.4},
}
# A timeline counts articles whose best passage's cosine to the query reaches this (benchmarks/README.md).
TIMELINE_FLOOR = 0.53
TIMELINE_DEPTH = 2000  # articles considered per timeline (the response says when the cap was reached)


class Searcher:
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
        self.extra_embedders = [Embedder(extra["model"], m.encoder, threads=1) for extra in m.extra_models]
        self.retrievers: dict[str, Retriever] = {"dense": DenseRetriever(), "lexical": LexicalRetriever()}
        for slot, extra in enumerate(m.extra_models, 1):
            self.retrievers[f"dense:{extra['model'].rsplit('/', 1)[-1]}"] = DenseRetriever(slot)
        self.weights = FUSION_WEIGHTS[m.profile]
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
        parsed, filters, interpreted = self._parse(query, filters, options, dense=mode != "lexical", extra=True)
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
        for shown, (rowid, _) in zip(results, page, strict=True):
            shown.also_published_by = [rows[c].source or rows[c].id for c in copies.get(rowid, [])]
        return SearchResponse(query=query, results=results, mode=mode, interpreted=interpreted,
                              took_ms=round((time.perf_counter() - started) * 1000, 3))

    def _parse(self, query: str, filters: Filters, options: SearchOptions, dense: bool = True,
               extra: bool = False) -> tuple[Query, Filters, Interpretation | None]:
        """The query as searched: its time words read into the filters (when asked), the words BM25 looks up
        and results mark, and its vector (when a dense retriever needs one; `extra`: the profile's other
        models' vectors too)."""
        text, interpreted = query, None
        if options.time_words:
            text, filters, interpreted = read_time_words(query, filters, options.now)
        vector = self.embedder.encode_query(text) if dense else None
        others = tuple(e.encode_query(text) for e in self.extra_embedders) if dense and extra else ()
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
                 options: SearchOptions | None = None, floor: float = TIMELINE_FLOOR) -> dict:
        """Matching articles counted per day, week or month and by outlet, each bucket with its best passage.
        When the matches span too many buckets of `interval`, the next wider interval that fits is used
        (the response's `interval`; `asked_interval` is the one asked for).

        Matching is dense similarity (cosine of the article's best passage) at or above `floor`: an absolute
        score, unlike the hybrid score normalised per query, so a count means the same across queries and
        intervals (the floor's choice: benchmarks/README.md, timeline floor)."""
        parsed, filters, interpreted = self._parse(query, filters or Filters(), options or SearchOptions())
        with self.store.snapshot() as snap:
            ranked = [(rowid, score) for rowid, score in
                      self.retrievers["dense"].retrieve(snap, parsed, TIMELINE_DEPTH, filters) if score >= floor]
            rows = snap.articles(rowid for rowid, _ in ranked)
            hits = [TimelineHit(id=rows[r].id, published=rows[r].published, source=rows[r].source, score=s,
                                passage="", title=rows[r].title, source_derived=bool(rows[r].source_derived))
                    for r, s in ranked]
            built = _coarsest_needed(hits, interval, floor)
            tops = {b.top["id"] for b in built.buckets if b.top}
            rowid_of = {rows[r].id: r for r, _ in ranked if rows[r].id in tops}
            best = {res.id: res for res in present(snap, parsed, [(rowid_of[i], 0.0) for i in sorted(tops)], 1)}
        for bucket in built.buckets:
            if bucket.top and best[bucket.top["id"]].passages:
                bucket.top["passage"] = best[bucket.top["id"]].passages[0].text
        out = built.to_dict()
        out.update(query=query, asked_interval=interval, matched=len(ranked), capped=len(ranked) >= TIMELINE_DEPTH,
                   interpreted=asdict(interpreted) if interpreted else None)
        return out

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

    # -- articles and stats --------------------------------------------------------------------
    def article(self, article_id: str) -> dict | None:
        """The stored article with its passages, or None."""
        with self.store.snapshot() as snap:
            row = snap.article(article_id)
            if row is None:
                return None
            passages = snap.passages([row.rowid]).get(row.rowid, [])
        article = {key: getattr(row, key) for key in ("id", "title", "text", "url", "source", "published",
                                                      "language", "metadata")}
        article["passages"] = [{"ord": p.ord, "start": p.start, "end": p.end, "text": row.text[p.start:p.end]}
                               for p in passages]
        return article

    def stats(self) -> dict:
        with self.store.snapshot() as snap:
            articles, passages = snap.counts()
            generation = snap.generation
            vectors = snap.derived().vectors
        m = self.store.manifest
        return {"articles": articles, "passages": passages, "model": m.model, "dim": m.dim, "profile": m.profile,
                "models": [m.model] + [extra["model"] for extra in m.extra_models], "context": m.context,
                "backend": m.backend, "index_type": vectors.description, "generation": generation,
                "created": m.created, "updated": m.updated, "format_version": m.format_version}


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
        raise ValueError(f"interval {interval!r}: use one of {', '.join(INTERVALS)}")
    wider = INTERVALS[INTERVALS.index(interval):]
    for candidate in wider[:-1]:
        try:
            return build_timeline(hits, candidate, floor)
        except ValueError:  # too many buckets: try the next wider interval
            continue
    return build_timeline(hits, wider[-1], floor)

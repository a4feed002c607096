"""The search pipeline: query -> retrieve (dense, lexical) -> fuse -> group by article -> present."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.chunk import sentence_spans
from indexer.embed import Embedder, canonical_model_name
from indexer.sql import select_in
from indexer.store import Filters, IndexError_, IndexStore, fts_query, query_words

from . import fusion
from .types import PassageHit, SearchResponse, SearchResult

MODES = ("dense", "lexical", "hybrid")
FUSIONS = ("convex", "rrf")
# Chosen on allsides_neus and carried unchanged to the other sets (benchmarks/README.md).
CONVEX_DENSE_WEIGHT = 0.5
# Below this many allowed passages a filtered dense search is exact over the stored embeddings.
EXACT_FILTER_LIMIT = 50_000


SORTS = ("relevance", "date")


@dataclass(frozen=True)
class SearchOptions:
    """Per-request knobs with explicit defaults; `mode` None means the index default.

    fusion (hybrid mode): 'convex', 0.5 * minmax(dense) + 0.5 * minmax(BM25), or 'rrf' (k=60).

    recency_half_life_days: an article this many days older than the newest result loses a quarter of its
    score (multiplier 0.5 + 0.5 * 2^(-age / half_life)), so recency re-orders close calls only.
    max_per_source: at most this many results from one named outlet (0: no cap), for diverse results.
    sort: 'relevance', or 'date' (newest first among the relevant candidates).
    collapse_duplicates: near-duplicates (wire copies, found at index time) become one result, the best
    ranked, whose `also_published_by` names the other outlets. Off by default: each copy is an article a
    caller may count (the search page turns it on).
    """

    mode: str | None = None
    fusion: str = "convex"
    passages: int = 3
    depth: int = 100
    recency_half_life_days: float = 0.0
    max_per_source: int = 0
    sort: str = "relevance"
    collapse_duplicates: bool = False


class Searcher:
    """An open index and its model: load once, search many times, from many threads."""

    default_mode = "hybrid"

    def __init__(self, index_dir: Path | str, model: str | None = None, embedder: Embedder | None = None) -> None:
        self.store = IndexStore.open(Path(index_dir))
        recorded = self.store.manifest.model
        asked = canonical_model_name(model) if model else (embedder.model if embedder else recorded)
        if asked != recorded:
            raise IndexError_(f"{index_dir} was built with {recorded}; it cannot be queried with {asked}")
        self.embedder = embedder or Embedder(recorded, self.store.manifest.encoder, threads=1)
        with self.store.snapshot() as conn:
            self.store.vectors(conn)  # load and catch up now, not on the first query

    def close(self) -> None:
        self.store.close()

    def search(self, query: str, k: int = 10, offset: int = 0, filters: Filters | None = None,
               options: SearchOptions | None = None) -> SearchResponse:
        started = time.perf_counter()
        options = options or SearchOptions()
        mode = options.mode or self.default_mode
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if options.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}")
        if options.sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}")
        filters = filters or Filters()
        depth = max(options.depth, offset + k)
        qvec = self.embedder.encode_query(query) if mode != "lexical" else None
        words = query_words(query)  # what the lexical index looks up and the results mark
        with self.store.snapshot() as conn:
            ranked = self._retrieve(conn, words, qvec, mode, depth, filters, options.fusion)
            news = options.recency_half_life_days or options.max_per_source or options.sort == "date"
            fields = _article_fields(conn, ranked) if news or options.collapse_duplicates else {}
            copies: dict[int, list[int]] = {}
            if options.collapse_duplicates:
                ranked, copies = collapse(ranked, {rowid: f[2] for rowid, f in fields.items()})
            if news:
                ranked = _news_order(ranked, fields, options)
            page = ranked[offset:offset + k]
            results = self._present(conn, words, qvec, page, options.passages)
            for result, (rowid, _) in zip(results, page, strict=True):
                result.also_published_by = [fields[c][0] or self._id(conn, c) for c in copies.get(rowid, [])]
        return SearchResponse(query=query, results=results, mode=mode,
                              took_ms=round((time.perf_counter() - started) * 1000, 3))

    # -- retrieve + fuse -----------------------------------------------------------------------
    def _retrieve(self, conn, words, qvec, mode, depth, filters, fuse="convex") -> list[tuple[int, float]]:
        """(article rowid, score) best first."""
        if mode == "dense":
            return self._dense(conn, qvec, depth, filters)
        if mode == "lexical":
            return self._lexical(conn, words, depth, filters)
        dense = self._dense(conn, qvec, depth, filters)
        lexical = self._lexical(conn, words, depth, filters)
        if fuse == "rrf":
            return fusion.rrf([[key for key, _ in dense], [key for key, _ in lexical]])
        return fusion.convex([dict(dense), dict(lexical)], [CONVEX_DENSE_WEIGHT, 1 - CONVEX_DENSE_WEIGHT])

    def _dense(self, conn, qvec, depth, filters) -> list[tuple[int, float]]:
        """Articles by their best passage's cosine similarity."""
        derived = self.store.derived(conn)  # one generation for the search and the passage -> article map
        fetch = depth * 8  # passages, so that about `depth` distinct articles come back
        if filters:
            where, params = filters.sql("a")
            allowed = np.fromiter((r[0] for r in conn.execute(
                f"SELECT p.pid FROM passages p JOIN articles a ON a.rowid = p.article WHERE {where}", params)),
                dtype=np.int64)
            if not len(allowed):
                return []
            if len(allowed) <= EXACT_FILTER_LIMIT:
                scores = self.store.embeddings(conn, allowed) @ qvec
                top = np.argsort(-scores, kind="stable")[:fetch]
                pids, sims = allowed[top], scores[top]
            else:
                sims, pids = (a[0] for a in derived.vectors.search(qvec[None, :], fetch, allowed))
        else:
            sims, pids = (a[0] for a in derived.vectors.search(qvec[None, :], fetch))
        keep = pids >= 0
        pids, sims = pids[keep], sims[keep]
        if not len(pids):
            return []
        articles = derived.articles_of(pids)
        known = articles >= 0
        return best_per_key(articles[known], sims[known], depth)

    def _lexical(self, conn, words, depth, filters) -> list[tuple[int, float]]:
        """Articles by BM25 over title (weight 2) and body: tantivy when it holds this generation and no
        filter applies, else FTS5 (its scores are negative, lower is better)."""
        if not words:
            return []
        if not filters:
            hits = self.store.lexical_search(conn, words, depth)
            if hits is not None:
                return hits
        match = fts_query(words)
        score = "-bm25(articles_fts, 2.0, 1.0) AS s"
        if filters:
            where, params = filters.sql("a")
            rows = conn.execute(
                f"SELECT f.rowid, {score} FROM articles_fts f JOIN articles a ON a.rowid = f.rowid "
                f"WHERE articles_fts MATCH ? AND {where} ORDER BY s DESC, f.rowid LIMIT ?", [match, *params, depth])
        else:  # without the join FTS5 answers in about half the time (3.6 vs 6.5 ms on allsides_neus)
            rows = conn.execute(f"SELECT rowid, {score} FROM articles_fts WHERE articles_fts MATCH ? "
                                "ORDER BY s DESC, rowid LIMIT ?", [match, depth])
        return [(rowid, float(score)) for rowid, score in rows]

    # -- present -------------------------------------------------------------------------------
    def _present(self, conn, terms, qvec, page, per_result) -> list[SearchResult]:
        if not page:
            return []
        rowids = [rowid for rowid, _ in page]
        articles = {r[0]: r for r in select_in(
            conn, "SELECT rowid, id, title, text, url, source, published, language FROM articles "
            "WHERE rowid IN ({})", rowids)}
        passages: dict[int, list] = {}
        for row in select_in(conn, 'SELECT article, ord, start, "end", embedding FROM passages '
                             "WHERE article IN ({}) ORDER BY article, ord", rowids):
            passages.setdefault(row[0], []).append(row)
        pattern = term_pattern(terms)
        results = []
        for rowid, score in page:
            _, article_id, title, text, url, source, published, language = articles[rowid]
            rows = passages.get(rowid, [])
            if qvec is not None and rows:
                sims = np.stack([np.frombuffer(r[4], dtype=np.float32) for r in rows]) @ qvec
            else:  # lexical mode: rank passages by how many query words they hold
                sims = np.array([_term_hits(text[r[2]:r[3]], terms) for r in rows], dtype=np.float32)
            order = np.argsort(-sims, kind="stable")[:per_result]
            hits = [_passage_hit(text, rows[i][2], rows[i][3], float(sims[i]), pattern) for i in order]
            results.append(SearchResult(id=article_id, title=title, source=source, url=url, published=published,
                                        score=round(float(score), 6), passages=hits, language=language))
        return results

    @staticmethod
    def _id(conn: sqlite3.Connection, rowid: int) -> str:
        return conn.execute("SELECT id FROM articles WHERE rowid=?", (rowid,)).fetchone()[0]

    # -- articles and stats --------------------------------------------------------------------
    def article(self, article_id: str) -> dict | None:
        """The stored article with its passages, or None."""
        with self.store.snapshot() as conn:
            row = conn.execute("SELECT rowid, id, title, text, url, source, published, language, metadata "
                               "FROM articles WHERE id=?", (article_id,)).fetchone()
            if row is None:
                return None
            passages = conn.execute('SELECT ord, start, "end" FROM passages WHERE article=? ORDER BY ord',
                                    (row[0],)).fetchall()
        keys = ("id", "title", "text", "url", "source", "published", "language")
        article = dict(zip(keys, row[1:8], strict=True))
        article["metadata"] = json.loads(row[8])
        article["passages"] = [{"ord": o, "start": s, "end": e, "text": row[3][s:e]} for o, s, e in passages]
        return article

    def stats(self) -> dict:
        with self.store.snapshot() as conn:
            articles, passages = self.store.counts(conn)
            generation = self.store.generation(conn)
            vectors = self.store.vectors(conn)
        m = self.store.manifest
        return {"articles": articles, "passages": passages, "model": m.model, "dim": m.dim,
                "backend": m.backend, "index_type": vectors.description, "generation": generation,
                "created": m.created, "updated": m.updated, "format_version": m.format_version}


def best_per_key(keys: np.ndarray, scores: np.ndarray, depth: int) -> list[tuple[int, float]]:
    """Each key's best score, best first, ties by key: articles ranked by their best passage (MaxP)."""
    order = np.lexsort((keys, -scores))
    unique, first = np.unique(keys[order], return_index=True)
    best = scores[order][first]
    ranked = np.lexsort((unique, -best))[:depth]
    return list(zip(unique[ranked].tolist(), best[ranked].tolist(), strict=True))


def _article_fields(conn: sqlite3.Connection, ranked: list[tuple[int, float]]) -> dict[int, tuple[str, str, int]]:
    """(source, published, duplicate group) of each ranked article."""
    rows = select_in(conn, "SELECT rowid, source, published, dup_group FROM articles WHERE rowid IN ({})",
                     [r for r, _ in ranked])
    return {rowid: (source, published, group) for rowid, source, published, group in rows}


def collapse(ranked: list[tuple[int, float]], groups: dict[int, int]) -> tuple[list, dict[int, list[int]]]:
    """Keep the best-ranked article of each near-duplicate group; map it to the others it stands for."""
    kept, copies, leader = [], {}, {}
    for rowid, score in ranked:
        group = groups.get(rowid, rowid)
        if group in leader:
            copies.setdefault(leader[group], []).append(rowid)
            continue
        leader[group] = rowid
        kept.append((rowid, score))
    return kept, copies


def recency_multiplier(age_days: float, half_life_days: float) -> float:
    """0.5 + 0.5 * 2^(-age / half_life): 1 for the newest, 0.75 one half-life older, never below 0.5."""
    return 0.5 + 0.5 * 2.0 ** (-max(age_days, 0.0) / half_life_days)


def _days(published: str) -> float | None:
    from datetime import datetime

    if not published:
        return None
    try:
        stamp = datetime.fromisoformat(published.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.replace(tzinfo=None).timestamp() / 86400


def _news_order(ranked: list[tuple[int, float]], fields: dict[int, tuple[str, str, int]],
                options: SearchOptions) -> list[tuple[int, float]]:
    """Recency boost, then date sort, then the per-outlet cap, over the retrieved candidates."""
    if options.recency_half_life_days > 0:
        days = {rowid: _days(fields[rowid][1]) for rowid, _ in ranked}
        newest = max((d for d in days.values() if d is not None), default=None)
        if newest is not None:
            ranked = sorted(
                ((rowid, score * (recency_multiplier(newest - days[rowid], options.recency_half_life_days)
                                  if days[rowid] is not None else 0.5)) for rowid, score in ranked),
                key=lambda item: (-item[1], item[0]))
    if options.sort == "date":
        ranked = sorted(ranked, key=lambda item: (fields[item[0]][1], -item[0]), reverse=True)
    if options.max_per_source > 0:
        seen: dict[str, int] = {}
        capped = []
        for rowid, score in ranked:
            source = fields[rowid][0]
            if not source:  # an unknown outlet is not one outlet
                capped.append((rowid, score))
            elif seen.get(source, 0) < options.max_per_source:
                seen[source] = seen.get(source, 0) + 1
                capped.append((rowid, score))
        ranked = capped
    return ranked


def _passage_hit(body: str, start: int, end: int, score: float, pattern: re.Pattern | None) -> PassageHit:
    text = body[start:end]
    marks = highlight(text, pattern)
    return PassageHit(text=text, start=start, end=end, score=round(score, 6), highlights=marks,
                      sentences=best_sentences(text, marks))


def best_sentences(text: str, marks: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The sentence(s) of `text` holding the most distinct marked words; none when nothing is marked."""
    if not marks:
        return []
    scored = []
    for s, e in sentence_spans(text):
        words = {text[a:b].lower() for a, b in marks if s <= a and b <= e}
        scored.append((len(words), s, e))
    best = max(n for n, _, _ in scored)
    return [(s, e) for n, s, e in scored if n == best]


def _term_hits(text: str, terms: list[str]) -> int:
    lowered = text.lower()
    return sum(term in lowered for term in terms)


def term_pattern(terms: list[str]) -> re.Pattern | None:
    """Words that start with a query word's stem (sanction -> sanctions); None for no terms."""
    if not terms:
        return None
    stems = sorted({t[:max(4, len(t) - 2)] if len(t) > 4 else t for t in terms}, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(s) for s in stems) + r")\w*", re.I)


def highlight(text: str, pattern: re.Pattern | None) -> list[tuple[int, int]]:
    """[start, end) of the words of `text` that `pattern` (from term_pattern) matches."""
    return [(m.start(), m.end()) for m in pattern.finditer(text)] if pattern else []

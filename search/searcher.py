"""The search pipeline: query -> retrieve (dense, lexical) -> fuse -> group by article -> present."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.embed import Embedder, canonical_model_name
from indexer.store import Filters, IndexError_, IndexStore, fts_query

from . import fusion
from .types import PassageHit, SearchResponse, SearchResult

MODES = ("dense", "lexical", "hybrid")
# Below this many allowed passages a filtered dense search is exact over the stored embeddings.
EXACT_FILTER_LIMIT = 50_000


@dataclass(frozen=True)
class SearchOptions:
    """Per-request knobs with explicit defaults; `mode` None means the index default."""

    mode: str | None = None
    passages: int = 3
    depth: int = 100


class Searcher:
    """An open index and its model: load once, search many times, from many threads."""

    default_mode = "hybrid"

    def __init__(self, index_dir: Path | str, model: str | None = None, embedder: Embedder | None = None) -> None:
        self.store = IndexStore.open(Path(index_dir))
        recorded = self.store.manifest.model
        asked = canonical_model_name(model) if model else (embedder.model if embedder else recorded)
        if asked != recorded:
            raise IndexError_(f"{index_dir} was built with {recorded}; it cannot be queried with {asked}")
        self.embedder = embedder or Embedder(recorded, self.store.manifest.encoder)
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
        filters = filters or Filters()
        depth = max(options.depth, offset + k)
        qvec = self.embedder.encode_query(query) if mode != "lexical" else None
        with self.store.snapshot() as conn:
            ranked = self._retrieve(conn, query, qvec, mode, depth, filters)
            page = ranked[offset:offset + k]
            results = self._present(conn, query, qvec, page, options.passages)
        return SearchResponse(query=query, results=results, mode=mode,
                              took_ms=round((time.perf_counter() - started) * 1000, 3))

    # -- retrieve + fuse -----------------------------------------------------------------------
    def _retrieve(self, conn, query, qvec, mode, depth, filters) -> list[tuple[int, float]]:
        """(article rowid, score) best first."""
        if mode == "dense":
            return self._dense(conn, qvec, depth, filters)
        if mode == "lexical":
            return self._lexical(conn, query, depth, filters)
        dense = self._dense(conn, qvec, depth, filters)
        lexical = self._lexical(conn, query, depth, filters)
        return fusion.rrf([[key for key, _ in dense], [key for key, _ in lexical]])

    def _dense(self, conn, qvec, depth, filters) -> list[tuple[int, float]]:
        """Articles by their best passage's cosine similarity."""
        vectors = self.store.vectors(conn)
        fetch = depth * 4
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
                sims, pids = (a[0] for a in vectors.search(qvec[None, :], fetch, allowed))
        else:
            sims, pids = (a[0] for a in vectors.search(qvec[None, :], fetch))
        keep = pids >= 0
        pids, sims = pids[keep], sims[keep]
        if not len(pids):
            return []
        owner = dict(_in(conn, "SELECT pid, article FROM passages WHERE pid IN ({})", pids.tolist()))
        best: dict[int, float] = {}
        for pid, sim in zip(pids.tolist(), sims.tolist(), strict=True):
            article = owner.get(pid)
            if article is not None and sim > best.get(article, -2.0):
                best[article] = sim
        return sorted(best.items(), key=lambda item: (-item[1], item[0]))[:depth]

    def _lexical(self, conn, query, depth, filters) -> list[tuple[int, float]]:
        """Articles by BM25 over title (weight 2) and body (FTS5; its scores are negative, lower is better)."""
        match = fts_query(query)
        if not match:
            return []
        where, params = filters.sql("a")
        rows = conn.execute(
            "SELECT f.rowid, -bm25(articles_fts, 2.0, 1.0) AS s FROM articles_fts f "
            f"JOIN articles a ON a.rowid = f.rowid WHERE articles_fts MATCH ? AND {where} "
            "ORDER BY s DESC, f.rowid LIMIT ?", [match, *params, depth])
        return [(rowid, float(score)) for rowid, score in rows]

    # -- present -------------------------------------------------------------------------------
    def _present(self, conn, query, qvec, page, per_result) -> list[SearchResult]:
        if not page:
            return []
        rowids = [rowid for rowid, _ in page]
        articles = {r[0]: r for r in _in(
            conn, "SELECT rowid, id, title, text, url, source, published, language FROM articles "
            "WHERE rowid IN ({})", rowids)}
        passages: dict[int, list] = {}
        for row in _in(conn, 'SELECT article, ord, start, "end", embedding FROM passages WHERE article IN ({}) '
                       "ORDER BY article, ord", rowids):
            passages.setdefault(row[0], []).append(row)
        terms = query_terms(query)
        results = []
        for rowid, score in page:
            _, article_id, title, text, url, source, published, language = articles[rowid]
            rows = passages.get(rowid, [])
            if qvec is not None and rows:
                sims = np.stack([np.frombuffer(r[4], dtype=np.float32) for r in rows]) @ qvec
            else:  # lexical mode: rank passages by how many query words they hold
                sims = np.array([_term_hits(text[r[2]:r[3]], terms) for r in rows], dtype=np.float32)
            order = np.argsort(-sims, kind="stable")[:per_result]
            hits = [PassageHit(text=text[rows[i][2]:rows[i][3]], start=rows[i][2], end=rows[i][3],
                               score=round(float(sims[i]), 6), highlights=highlight(text[rows[i][2]:rows[i][3]], terms))
                    for i in order]
            results.append(SearchResult(id=article_id, title=title, source=source, url=url, published=published,
                                        score=round(float(score), 6), passages=hits, language=language))
        return results

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
                "backend": m.backend, "index_type": vectors.index_type, "generation": generation,
                "created": m.created, "updated": m.updated, "format_version": m.format_version}


def _in(conn: sqlite3.Connection, sql: str, values: list) -> list:
    """Run `sql` with its IN ({}) list filled, in chunks under SQLite's variable limit."""
    out = []
    for start in range(0, len(values), 900):
        part = values[start:start + 900]
        out.extend(conn.execute(sql.format(",".join("?" * len(part))), part).fetchall())
    return out


def query_terms(query: str) -> list[str]:
    """Lower-cased query words worth marking (the lexical index's stop words dropped)."""
    return [w.strip('"') for w in fts_query(query).split(" OR ") if w]


def _term_hits(text: str, terms: list[str]) -> int:
    lowered = text.lower()
    return sum(term in lowered for term in terms)


def highlight(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """[start, end) of words in `text` that start with a query word's stem (sanction -> sanctions)."""
    if not terms:
        return []
    stems = sorted({t[:max(4, len(t) - 2)] if len(t) > 4 else t for t in terms}, key=len, reverse=True)
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(s) for s in stems) + r")\w*", re.I)
    return [(m.start(), m.end()) for m in pattern.finditer(text)]

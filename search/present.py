"""Presenting ranked articles: each with its best passages, the query words marked, its best sentence."""

from __future__ import annotations

import re

import numpy as np

from indexer.relevance import relevant, stem, words_held
from indexer.sources.chunk import sentence_spans
from indexer.store.snapshot import ArticleRow, PassageRow, Snapshot
from search.query import Query
from search.types import PassageHit, SearchResult


def present(snap: Snapshot, query: Query, page: list[tuple[int, float]], per_result: int) -> list[SearchResult]:
    """One `SearchResult` per (article rowid, score) of `page`, in order."""
    if not page:
        return []
    rowids = [rowid for rowid, _ in page]
    articles = snap.articles(rowids, text=True)
    passages = snap.passages(rowids)
    pattern = term_pattern(query.words)
    return [result(articles[rowid], passages.get(rowid, []), score, query, pattern, per_result)
            for rowid, score in page]


def result(article: ArticleRow, rows: list[PassageRow], score: float, query: Query, pattern: re.Pattern | None,
           per_result: int) -> SearchResult:
    """The article with its `per_result` passages nearest the query (by vector, or by query words), marked
    `relevant` by the relevance test over its best passage's cosine and the query words it holds (`mentions`)."""
    text = article.text
    cosines = np.stack([r.embedding for r in rows]) @ query.vector if query.vector is not None and rows else None
    if cosines is not None and not query.by_words:
        sims = cosines
    else:  # lexical mode: rank passages by how many query words they hold
        sims = np.array([_term_hits(text[r.start:r.end], query.words) for r in rows], dtype=np.float32)
    order = np.argsort(-sims, kind="stable")[:per_result]
    hits = [passage_hit(text, rows[i].start, rows[i].end, float(sims[i]), pattern, article.id) for i in order]
    whole = article.title + "\n" + text
    held = words_held(query.words, whole)
    counts = cosines is not None and relevant(float(cosines.max()), len(query.words), len(held))
    return SearchResult(id=article.id, title=article.title, source=article.source, url=article.url,
                        published=article.published, score=round(float(score), 6), passages=hits,
                        language=article.language, source_derived=bool(article.source_derived), story_id=article.story,
                        relevant=bool(counts), mentions=[as_written(word, whole) for word in held])


def as_written(word: str, text: str) -> str:
    """The first word of `text` that a query word's stem starts ("stance" -> "stan" finds "standing"): what a
    reader sees the article share with the query, so a loose stem match shows as what it is."""
    found = term_pattern([word]).search(text)
    return found.group(0) if found else word


def passage_hit(body: str, start: int, end: int, score: float, pattern: re.Pattern | None,
                article_id: str = "") -> PassageHit:
    text = body[start:end]
    marks = highlight(text, pattern)
    return PassageHit(text=text, start=start, end=end, score=round(score, 6), highlights=marks,
                      sentences=best_sentences(text, marks), article=article_id)


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
    stems = sorted({stem(t) for t in terms}, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(s) for s in stems) + r")\w*", re.I)


def highlight(text: str, pattern: re.Pattern | None) -> list[tuple[int, int]]:
    """[start, end) of the words of `text` that `pattern` (from term_pattern) matches."""
    return [(m.start(), m.end()) for m in pattern.finditer(text)] if pattern else []

"""Retrievers: each turns a query into (article rowid, score) pairs, best first, over one snapshot.

A retriever is one small class with one method (the pyserini shape: a dense and a lexical retriever over
one index, composed by the searcher), so another one (a second model, a learned sparse index) is one class.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from indexer.store.snapshot import Snapshot
from search.options import Filters
from search.query import Query

# Below this many allowed passages a filtered dense search is exact over the stored embeddings.
EXACT_FILTER_LIMIT = 50_000
# Passages fetched per wanted article, so that about `depth` distinct articles come back.
PASSAGES_PER_ARTICLE = 8


class Retriever(Protocol):
    def retrieve(self, snap: Snapshot, query: Query, depth: int, filters: Filters) -> list[tuple[int, float]]:
        """(article rowid, score) best first, at most `depth`."""


class DenseRetriever:
    """Articles by their best passage's cosine similarity to the query vector (MaxP), in the vectors of one
    model of the index (`model` None: its own; else one of its profile's others, by name)."""

    def __init__(self, model: str | None = None) -> None:
        self.model = model

    def retrieve(self, snap: Snapshot, query: Query, depth: int, filters: Filters) -> list[tuple[int, float]]:
        derived = snap.derived()  # one generation for the search and the passage -> article map
        vectors = derived.by_model[self.model] if self.model else derived.vectors
        fetch = depth * PASSAGES_PER_ARTICLE
        qvec = query.vector_for(self.model)
        if filters:
            allowed = snap.allowed_passages(filters)
            if not len(allowed):
                return []
            if len(allowed) <= EXACT_FILTER_LIMIT:
                scores = snap.embeddings(allowed, self.model) @ qvec
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
        articles = derived.articles_of(pids)
        known = articles >= 0
        return best_per_key(articles[known], sims[known], depth)


class LexicalRetriever:
    """Articles by BM25 over the headline (weight 2) and the body."""

    def retrieve(self, snap: Snapshot, query: Query, depth: int, filters: Filters) -> list[tuple[int, float]]:
        return snap.lexical(query.words, depth, filters)


def best_per_key(keys: np.ndarray, scores: np.ndarray, depth: int) -> list[tuple[int, float]]:
    """Each key's best score, best first, ties by key: articles ranked by their best passage (MaxP).
    One sort by key and a maximum per run of equal keys: cheaper than sorting the pairs by score first."""
    if not len(keys):
        return []
    order = np.argsort(keys, kind="stable")
    keys, scores = keys[order], scores[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    unique, best = keys[starts], np.maximum.reduceat(scores, starts)
    ranked = np.lexsort((unique, -best))[:depth]
    return list(zip(unique[ranked].tolist(), best[ranked].tolist(), strict=True))

"""Retrievers: each turns a query into (article rowid, score) pairs, best first, over one snapshot.

A retriever is one small class with one method (the pyserini shape: a dense and a lexical retriever over
one index, composed by the searcher), so another one (a second model, a learned sparse index) is one class.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from indexer.snapshot import Snapshot

from .options import Filters
from .query import Query

# Below this many allowed passages a filtered dense search is exact over the stored embeddings.
EXACT_FILTER_LIMIT = 50_000
# Passages fetched per wanted article, so that about `depth` distinct articles come back.
PASSAGES_PER_ARTICLE = 8


class Retriever(Protocol):
    def retrieve(self, snap: Snapshot, query: Query, depth: int, filters: Filters) -> list[tuple[int, float]]:
        """(article rowid, score) best first, at most `depth`."""


class DenseRetriever:
    """Articles by their best passage's cosine similarity to the query vector (MaxP)."""

    def retrieve(self, snap: Snapshot, query: Query, depth: int, filters: Filters) -> list[tuple[int, float]]:
        derived = snap.derived()  # one generation for the search and the passage -> article map
        fetch = depth * PASSAGES_PER_ARTICLE
        qvec = query.vector
        if filters:
            allowed = snap.allowed_passages(filters)
            if not len(allowed):
                return []
            if len(allowed) <= EXACT_FILTER_LIMIT:
                scores = snap.embeddings(allowed) @ qvec
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


class LexicalRetriever:
    """Articles by BM25 over the headline (weight 2) and the body."""

    def retrieve(self, snap: Snapshot, query: Query, depth: int, filters: Filters) -> list[tuple[int, float]]:
        return snap.lexical(query.words, depth, filters)


def best_per_key(keys: np.ndarray, scores: np.ndarray, depth: int) -> list[tuple[int, float]]:
    """Each key's best score, best first, ties by key: articles ranked by their best passage (MaxP)."""
    order = np.lexsort((keys, -scores))
    unique, first = np.unique(keys[order], return_index=True)
    best = scores[order][first]
    ranked = np.lexsort((unique, -best))[:depth]
    return list(zip(unique[ranked].tolist(), best[ranked].tolist(), strict=True))

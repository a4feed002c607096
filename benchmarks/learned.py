"""Learned fusion for `learned_fusion.py`: a linear learning-to-rank model over the dense and lexical candidates
of one query. Research code beside the benchmark, not part of the search engine: measured, it is not better
than convex fusion on any set (benchmarks/README.md, "Learned fusion"), and the issue's rule ships it only if
it were not worse anywhere.

Convex fusion weighs two min-max normalised scores with one fixed weight. This model sees a little more of
each candidate (raw cosine, ranks, which list it is missing from, how much of the query its headline holds)
and weighs it all with coefficients learned on allsides_neus. It reranks exactly the candidate union convex
fusion sees, so it changes the order, never the candidates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from indexer.store.snapshot import Snapshot
from search.fusion import min_max
from search.query import Query

FORMAT = 1
_WORD = re.compile(r"\w+")
FEATURES = (
    "dense_minmax",  # (cos - min) / (max - min) over the dense list; 0 when missing (convex fusion's input)
    "lexical_minmax",  # the same for BM25
    "dense_cosine",  # raw MaxP cosine, comparable across queries; the list's lowest when missing (an upper bound)
    "lexical_ratio",  # BM25 / the list's best BM25; 0 when missing
    "dense_log_rank",  # log2(1 + rank), ranks from 1; log2(2 + list length) when missing
    "lexical_log_rank",
    "dense_missing",  # 1 when the article is not in the dense list
    "lexical_missing",
    "title_overlap",  # |query words among the headline's words| / |query words| (0 without query words)
)


@dataclass(frozen=True)
class LearnedModel:
    """A linear scorer over standardised features: score = sum_i coef_i * (x_i - mean_i) / scale_i."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    info: dict  # what the file says about its training (set, queries, objective, date, metrics)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """One score per row of `x` (columns in `FEATURES` order)."""
        return ((x - self.mean) / self.scale) @ self.coef

    def rank(self, rowids: Sequence[int], x: np.ndarray) -> list[tuple[int, float]]:
        """(rowid, score) best first, ties by rowid: the shape `fusion.convex` returns."""
        keys = np.asarray(rowids, dtype=np.int64)
        scores = self.scores(x)
        order = np.lexsort((keys, -scores))
        return list(zip(keys[order].tolist(), scores[order].tolist(), strict=True))

    def to_json(self) -> dict:
        return {"format": FORMAT, "features": list(FEATURES), "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "coef": self.coef.tolist(), **self.info}


def features(words: Sequence[str], dense: Sequence[tuple[int, float]], lexical: Sequence[tuple[int, float]],
             titles: Mapping[int, str]) -> tuple[list[int], np.ndarray]:
    """The candidate union (rowids, ascending) and its feature matrix, one row each, columns as `FEATURES`.

    `dense` and `lexical` are the retrievers' (rowid, score) lists best first; `words` the query's words;
    `titles` the headline of each candidate (missing: none). Pure, so training and search compute the same.
    """
    dense_score, lexical_score = dict(dense), dict(lexical)
    rowids = sorted(dense_score.keys() | lexical_score.keys())
    dense_norm, lexical_norm = min_max(dense_score), min_max(lexical_score)
    dense_rank = {key: rank for rank, (key, _) in enumerate(dense, start=1)}
    lexical_rank = {key: rank for rank, (key, _) in enumerate(lexical, start=1)}
    floor = min(dense_score.values(), default=0.0)
    best_bm25 = max(lexical_score.values(), default=0.0) or 1.0
    d_rank = np.array([dense_rank.get(key, 0) for key in rowids], dtype=np.float64)  # 0: missing
    l_rank = np.array([lexical_rank.get(key, 0) for key in rowids], dtype=np.float64)
    columns = (
        [dense_norm.get(key, 0.0) for key in rowids],
        [lexical_norm.get(key, 0.0) for key in rowids],
        [dense_score.get(key, floor) for key in rowids],
        [lexical_score.get(key, 0.0) / best_bm25 for key in rowids],
        np.log2(np.where(d_rank > 0, 1 + d_rank, 2 + len(dense))),
        np.log2(np.where(l_rank > 0, 1 + l_rank, 2 + len(lexical))),
        d_rank == 0,
        l_rank == 0,
        title_overlap(words, [titles.get(key, "") for key in rowids]),
    )
    x = np.empty((len(rowids), len(FEATURES)), dtype=np.float64)
    for i, column in enumerate(columns):
        x[:, i] = column
    return rowids, x


def title_overlap(words: Sequence[str], titles: Sequence[str]) -> np.ndarray:
    """|query words among each headline's words| / |query words| (0 without query words); a headline's words
    as `query.query_words` splits text (runs of \\w, lower-cased). One findall per headline: a single regex
    of the query's words over all headlines was slower, its compilation costing more than it saved."""
    asked = set(words)
    if not asked:
        return np.zeros(len(titles), dtype=np.float64)
    return np.array([len(asked.intersection(_WORD.findall(title.lower()))) for title in titles],
                    dtype=np.float64) / len(asked)


def candidate_features(snap: Snapshot, query: Query, dense: Sequence[tuple[int, float]],
                       lexical: Sequence[tuple[int, float]]) -> tuple[list[int], np.ndarray]:
    """`features` with the candidates' headlines read from the snapshot (one select)."""
    rows = snap.articles(dict(dense).keys() | dict(lexical).keys())
    return features(query.words, dense, lexical, {rowid: row.title for rowid, row in rows.items()})


def rank(snap: Snapshot, query: Query, dense: Sequence[tuple[int, float]], lexical: Sequence[tuple[int, float]],
         model: LearnedModel) -> list[tuple[int, float]]:
    """The candidate union reranked by the model, best first, ties by rowid."""
    rowids, x = candidate_features(snap, query, dense, lexical)
    return model.rank(rowids, x)

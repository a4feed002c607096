"""Rank fusion as small pure functions. Ties break on the key, so equal inputs give equal outputs."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

RRF_K = 60


def rrf(rankings: Sequence[Sequence[Hashable]], k: int = RRF_K, weights: Sequence[float] | None = None) -> list:
    """Reciprocal rank fusion (Cormack, Clarke & Buettcher, SIGIR 2009): score(d) = sum_i w_i / (k + rank_i(d)).

    Ranks start at 1. Returns (key, score) pairs, best first, ties by key.
    """
    weights = weights or [1.0] * len(rankings)
    scores: dict = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def min_max(scores: Mapping[Hashable, float]) -> dict:
    """Scale scores to [0, 1]: (s - min) / (max - min); all equal -> 1."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    span = high - low
    return {key: (value - low) / span if span > 0 else 1.0 for key, value in scores.items()}


def convex(runs: Sequence[Mapping[Hashable, float]], weights: Sequence[float]) -> list:
    """Convex combination of min-max normalised scores (Bruch et al., TOIS 2023): sum_i w_i * norm_i(d).

    A document missing from a run scores 0 there. Returns (key, score) pairs, best first, ties by key.
    """
    fused: dict = {}
    for run, weight in zip(runs, weights, strict=True):
        for key, value in min_max(run).items():
            fused[key] = fused.get(key, 0.0) + weight * value
    for run in runs:
        for key in run:
            fused.setdefault(key, 0.0)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))

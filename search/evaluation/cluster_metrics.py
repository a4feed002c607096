"""Clustering metrics as pure functions over two labelings of the same items (gold first, predicted second).

Labels may be any hashable values (ints, strings); only equality matters. Every function works from the
contingency table n_ij = |{items in gold class i and predicted cluster j}|, with class sizes a_i = sum_j n_ij,
cluster sizes b_j = sum_i n_ij and N items.

- B-cubed (Bagga & Baldwin 1998): per item, precision = |own cluster ∩ own class| / |own cluster| and
  recall = |own cluster ∩ own class| / |own class|, averaged over items; in table form
  P = (1/N) sum_ij n_ij^2 / b_j, R = (1/N) sum_ij n_ij^2 / a_i, F1 = 2PR / (P + R).
- ARI (Hubert & Arabie 1985): (sum_ij C(n_ij,2) - E) / (mean(sum_i C(a_i,2), sum_j C(b_j,2)) - E) with
  E = sum_i C(a_i,2) sum_j C(b_j,2) / C(N,2); computed from pair counts as scikit-learn does.
- NMI with the arithmetic-mean normalisation (scikit-learn's default): MI / ((H(gold) + H(pred)) / 2).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def _codes(labels: Sequence[Hashable]) -> np.ndarray:
    index: dict[Hashable, int] = {}
    return np.fromiter((index.setdefault(x, len(index)) for x in labels), dtype=np.int64, count=len(labels))


def contingency(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nonzero cells n_ij of the table, and the class sizes a_i and cluster sizes b_j (all float64)."""
    if len(gold) != len(pred):
        raise ValueError(f"labelings differ in length: {len(gold)} gold, {len(pred)} predicted")
    g, p = _codes(gold), _codes(pred)
    if not len(g):
        return np.zeros(0), np.zeros(0), np.zeros(0)
    width = int(p.max()) + 1
    _, cells = np.unique(g * width + p, return_counts=True)
    return cells.astype(np.float64), np.bincount(g).astype(np.float64), np.bincount(p).astype(np.float64)


def bcubed(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> tuple[float, float, float]:
    """B-cubed (precision, recall, F1); all 0.0 for no items."""
    n = len(gold)
    if n == 0:
        return 0.0, 0.0, 0.0
    g, p = _codes(gold), _codes(pred)
    width = int(p.max()) + 1
    keys, cells = np.unique(g * width + p, return_counts=True)
    gi, pj = np.divmod(keys, width)
    a, b = np.bincount(g)[gi], np.bincount(p)[pj]
    squares = cells.astype(np.float64) ** 2
    precision = float(np.sum(squares / b) / n)
    recall = float(np.sum(squares / a) / n)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, float(f1)


def adjusted_rand_index(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> float:
    """ARI from the pair confusion counts; 1.0 when the labelings agree on every pair (as scikit-learn)."""
    n = float(len(gold))
    cells, a, b = contingency(gold, pred)
    sum_squares = float(np.sum(cells**2))
    tp = sum_squares - n  # ordered pairs together in both
    fp = float(np.sum(b**2)) - sum_squares  # together in pred, apart in gold
    fn = float(np.sum(a**2)) - sum_squares  # together in gold, apart in pred
    tn = n**2 - fp - fn - sum_squares
    if fn == 0 and fp == 0:
        return 1.0
    return float(2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn)))


def _entropy(sizes: np.ndarray, n: float) -> float:
    p = sizes[sizes > 0] / n
    return float(-np.sum(p * np.log(p)))


def normalized_mutual_info(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> float:
    """NMI = MI / mean(H(gold), H(pred)) in nats; 1.0 when both are one cluster (or empty), as scikit-learn."""
    n = float(len(gold))
    if len(set(gold)) == len(set(pred)) <= 1:
        return 1.0
    g, p = _codes(gold), _codes(pred)
    width = int(p.max()) + 1
    keys, counts = np.unique(g * width + p, return_counts=True)
    gi, pj = np.divmod(keys, width)
    a, b = np.bincount(g).astype(np.float64), np.bincount(p).astype(np.float64)
    cells = counts.astype(np.float64)
    # MI = sum_ij n_ij/N log(N n_ij / (a_i b_j))
    mi = max(float(np.sum(cells / n * (np.log(cells) + np.log(n) - np.log(a[gi]) - np.log(b[pj])))), 0.0)
    if mi == 0:
        return 0.0
    return float(mi / ((_entropy(a, n) + _entropy(b, n)) / 2))


def all_metrics(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> dict[str, float]:
    """B-cubed precision/recall/F1, ARI and NMI in one dict (the benchmark's JSON keys)."""
    precision, recall, f1 = bcubed(gold, pred)
    return {"b3_precision": precision, "b3_recall": recall, "b3_f1": f1,
            "ari": adjusted_rand_index(gold, pred), "nmi": normalized_mutual_info(gold, pred)}

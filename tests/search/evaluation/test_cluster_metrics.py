"""Clustering metrics: parity with scikit-learn on random labelings, B-cubed on a worked example."""

import numpy as np
import pytest

from search.evaluation.cluster_metrics import adjusted_rand_index, all_metrics, bcubed, normalized_mutual_info

sklearn_metrics = pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("seed", range(20))
def test_ari_and_nmi_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    gold = rng.integers(0, int(rng.integers(1, 40)), n)
    pred = rng.integers(0, int(rng.integers(1, 40)), n)
    if seed % 4 == 0:  # a close labeling, not only noise
        pred = np.where(rng.random(n) < 0.8, gold, pred)
    assert adjusted_rand_index(gold, pred) == pytest.approx(sklearn_metrics.adjusted_rand_score(gold, pred), abs=1e-9)
    assert normalized_mutual_info(gold, pred) == pytest.approx(
        sklearn_metrics.normalized_mutual_info_score(gold, pred), abs=1e-9)


@pytest.mark.parametrize("gold,pred", [([0, 0, 0], [1, 1, 1]), ([0, 1, 2], [0, 1, 2]), ([0, 1, 2], [5, 5, 5]),
                                       ([0, 0, 1], [0, 1, 2]), (["a", "b", "b"], ["x", "x", "y"])])
def test_edge_cases_match_sklearn(gold, pred):
    assert adjusted_rand_index(gold, pred) == pytest.approx(sklearn_metrics.adjusted_rand_score(gold, pred), abs=1e-9)
    assert normalized_mutual_info(gold, pred) == pytest.approx(
        sklearn_metrics.normalized_mutual_info_score(gold, pred), abs=1e-9)


def test_bcubed_worked_example():
    # gold: {1,2,3,4,5} {6,7} ; pred: {1,2,3} {4,5,6,7}
    gold = ["A"] * 5 + ["B"] * 2
    pred = [0, 0, 0, 1, 1, 1, 1]
    # precision per item: 1,2,3 -> 3/3; 4,5 -> 2/4; 6,7 -> 2/4      => (3 + 1 + 1) / 7 = 5/7
    # recall per item:    1,2,3 -> 3/5; 4,5 -> 2/5; 6,7 -> 2/2      => (9/5 + 4/5 + 2) / 7 = 23/35
    p, r, f = bcubed(gold, pred)
    assert p == pytest.approx(5 / 7)
    assert r == pytest.approx(23 / 35)
    assert f == pytest.approx(2 * (5 / 7) * (23 / 35) / (5 / 7 + 23 / 35))


def test_bcubed_extremes():
    assert bcubed([0, 0, 1], [7, 7, 3]) == (1.0, 1.0, 1.0)
    p, r, _ = bcubed([0, 0, 0, 0], [0, 1, 2, 3])  # all singletons: perfect precision, recall 1/4
    assert (p, r) == (1.0, 0.25)
    assert bcubed([], []) == (0.0, 0.0, 0.0)


def test_all_metrics_keys():
    assert set(all_metrics([0, 1], [0, 0])) == {"b3_precision", "b3_recall", "b3_f1", "ari", "nmi"}

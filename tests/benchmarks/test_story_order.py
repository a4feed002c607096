"""The local-moves variant measured by benchmarks/story_order.py: a misplaced article moves to its mates, and a
clusterer restarted from the stored (article, story) pairs decides as one that never restarted."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from indexer.enrich.stories import StoryClusterer, StoryFeatures, StoryParams, Terms

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "story_order.py"
_SPEC = importlib.util.spec_from_file_location("story_order", _PATH)
story_order = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(story_order)

DENSE_ONLY = StoryParams(lexical_weight=0.0)  # sim = the dense cosine: the geometry below is exact
NO_TERMS = Terms(np.zeros(0, np.int64), np.zeros(0, np.float32))


def _article(rowid: int, *coords: float, day: float = 100.0) -> StoryFeatures:
    v = np.zeros(8, dtype=np.float32)
    v[: len(coords)] = coords
    return StoryFeatures(rowid, day, v / np.linalg.norm(v), NO_TERMS)


def test_an_early_article_moves_to_its_mates_when_they_arrive():
    """a (between topics x and y, nearer y) arrives while only x's story exists and joins it; when y's articles
    arrive, a's average link to them beats its link to x's story, and it moves (the shipped clusterer keeps it)."""
    first = [_article(1, 1.0, 0.0), _article(2, 1.0, 0.05), _article(3, 1.0, 1.2)]
    then = [_article(4, 0.0, 1.0), _article(5, 0.05, 1.0)]
    moving = story_order.LocalMoves(DENSE_ONLY, slack=0.1)
    shipped = StoryClusterer(DENSE_ONLY)
    for f in first:
        moving.add(f)
        shipped.add(f)
    assert moving.story_of(3) == shipped.story_of(3) == 1
    for f in then:
        moving.add(f)
        shipped.add(f)
    assert shipped.story_of(3) == 1
    assert moving.story_of(3) == moving.story_of(4) == moving.story_of(5) == 4
    assert moving.stories() == {1: [1, 2], 4: [3, 4, 5]}
    assert moving.moves == 1


def test_restarted_from_stored_pairs_decides_as_one_pass():
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((6, 8))
    features = []
    for rowid in range(1, 61):
        v = centres[rowid % 6] + 0.9 * rng.standard_normal(8)
        features.append(StoryFeatures(rowid, float(100 + rng.integers(0, 6)), (v / np.linalg.norm(v)).astype(
            np.float32), NO_TERMS))
    order = [features[i] for i in rng.permutation(len(features))]
    one = story_order.LocalMoves(DENSE_ONLY)
    for f in order:
        one.add(f)
    by_rowid = {f.rowid: f for f in features}
    first = story_order.LocalMoves(DENSE_ONLY)
    for f in order[:30]:
        first.add(f)
    restarted = story_order.LocalMoves(DENSE_ONLY)
    restarted.load((by_rowid[r], s) for r, s in sorted(first.assignments().items()))
    for f in order[30:]:
        restarted.add(f)
    assert restarted.assignments() == one.assignments()
    assert one.moves > 0

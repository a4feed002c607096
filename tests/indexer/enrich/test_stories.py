"""The online story clusterer on small synthetic articles: ids, merges, removal, restarts, time windows."""

import math

import numpy as np
import pytest

from indexer.enrich.stories import (
    BEFORE_MOVES,
    Assignment,
    StoryClusterer,
    StoryFeatures,
    StoryParams,
    Terms,
    article_features,
    day_number,
    terms_of,
)

DIM = 16


def unit(seed: int, base: np.ndarray | None = None, noise: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=DIM) if base is None else base + noise * rng.normal(size=DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


TOPICS = {
    "quake": "earthquake magnitude Sulawesi Indonesia tsunami warning rescuers collapsed buildings",
    "rehab": "Lindsay Lohan rehab Betty Ford Center probation court judge actress",
    "oscars": "Academy Awards ceremony Oscar best picture host nominations Hollywood",
}
CENTERS = {name: unit(i) for i, name in enumerate(TOPICS)}


def article(rowid: int, topic: str, day: float = 100.0, extra: str = "", seed: int | None = None) -> StoryFeatures:
    seed = rowid if seed is None else seed
    vector = unit(seed, CENTERS[topic], noise=0.05)
    text = f"{TOPICS[topic]} {extra} report number {rowid}"
    return article_features(rowid, day, f"{topic} news", text, vector[None, :])


def test_terms_round_trip_and_ignore_stop_words():
    t = terms_of("The Quake", "the quake hit the city; the quake was strong. 6.1")
    assert Terms.from_bytes(t.to_bytes()) == t
    assert len(t.idx) == len(set(t.idx.tolist())) == 6  # quake city hit strong 6 1
    assert np.all(np.diff(t.idx) > 0)
    assert Terms.from_bytes(terms_of("", "").to_bytes()) == terms_of("", "")
    with pytest.raises(ValueError):
        Terms.from_bytes(t.to_bytes()[:-1])


def test_article_vector_is_normalised_mean_of_passages():
    passages = np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32)
    f = article_features(1, 0.0, "t", "x", passages)
    assert np.allclose(f.vector, np.array([1, 1, 0]) / np.sqrt(2))
    assert f.vector.dtype == np.float32
    empty = article_features(2, 0.0, "t", "", np.zeros((0, 3), dtype=np.float32))
    assert not empty.vector.any()


def test_day_number():
    assert day_number("1970-01-02") == 1.0
    assert day_number("1970-01-03T12:00:00Z") == 2.5
    assert math.isnan(day_number("")) and math.isnan(day_number("garbage"))


def test_ids_are_stable_as_stories_grow():
    c = StoryClusterer()
    first = c.add(article(1, "quake"))
    assert first == Assignment(1)
    assert c.add(article(2, "rehab")).story == 2
    for rowid in range(3, 9):
        topic = "quake" if rowid % 2 else "rehab"
        assert c.add(article(rowid, topic)).story == (1 if topic == "quake" else 2)
    assert c.stories() == {1: [1, 3, 5, 7], 2: [2, 4, 6, 8]}
    assert c.story_of(7) == 1 and len(c) == 8


def test_merge_keeps_the_older_id_and_is_reported():
    # Two events' articles (disjoint words, different vectors) and a bridge made of both, nearer the first:
    # the bridge links to story 1 at ~0.82 and to story 2 at ~0.52, and the stories' average link with the
    # bridge in story 1 is (sim(1, 2) + sim(5, 2)) / 2 = (-0.06 + 0.52) / 2 ~ 0.23.
    a = "alpha bravo charlie delta echo foxtrot"
    b = "golf hotel india juliet kilo lima"
    va, vb = unit(10), unit(11)
    mix = 0.55 * va + 0.45 * vb
    bridge = StoryFeatures(5, 0.0, (mix / np.linalg.norm(mix)).astype(np.float32), terms_of("", f"{a} {a} {b}"))

    def two_stories(threshold: float) -> StoryClusterer:
        c = StoryClusterer(StoryParams(threshold=threshold, **BEFORE_MOVES))  # the merge rule on its own
        assert c.add(StoryFeatures(1, 0.0, va, terms_of("", a))) == Assignment(1)
        assert c.add(StoryFeatures(2, 0.0, vb, terms_of("", b))) == Assignment(2)
        return c

    c = two_stories(0.3)  # the bridge passes for both stories, but their average link (0.23) does not
    assert c.add(bridge) == Assignment(1)
    assert c.stories() == {1: [1, 5], 2: [2]}
    c = two_stories(0.2)  # now it does: story 2 is absorbed by the older story 1, and the merge is reported
    assert c.add(bridge) == Assignment(1, ((2, 1),))
    assert c.stories() == {1: [1, 2, 5]}
    assert c.assignments() == {1: 1, 2: 1, 5: 1}


def test_newer_story_absorbed_even_when_the_article_joins_it():
    c = StoryClusterer(StoryParams(threshold=0.2, **BEFORE_MOVES))
    a, b = "alpha bravo charlie delta echo foxtrot", "golf hotel india juliet kilo lima"
    va, vb = unit(10), unit(11)
    c.add(StoryFeatures(1, 0.0, va, terms_of("", a)))
    c.add(StoryFeatures(2, 0.0, vb, terms_of("", b)))
    # Nearer story 2 (the newer): it joins 2, then 2 merges into the older 1, which keeps its id.
    mix = 0.45 * va + 0.55 * vb
    result = c.add(StoryFeatures(3, 0.0, (mix / np.linalg.norm(mix)).astype(np.float32),
                                 terms_of("", f"{a} {b} {b}")))
    assert result == Assignment(1, ((2, 1),))
    assert c.story_of(2) == 1 and c.story_of(3) == 1


def test_remove_then_add():
    c = StoryClusterer()
    for rowid in (1, 2, 3):
        c.add(article(rowid, "quake"))
    c.remove(1)  # the founder leaves: the story keeps its id
    assert c.stories() == {1: [2, 3]} and len(c) == 2
    assert c.add(article(4, "quake")).story == 1
    c.remove(2), c.remove(3), c.remove(4)
    assert c.stories() == {} and len(c) == 0
    c.remove(99)  # unknown: nothing happens
    assert c.add(article(5, "quake")).story == 5  # an empty story is gone; a new one opens
    # an update re-adds the same rowid: it is replaced, not duplicated
    assert c.add(article(5, "quake", extra="corrected")).story == 5
    assert len(c) == 1
    assert int(c._df.sum()) == len(article(5, "quake", extra="corrected").terms.idx)  # df counts it once


def _stream(n: int = 60) -> list[StoryFeatures]:
    topics = list(TOPICS)
    rng = np.random.default_rng(7)
    out = []
    for rowid in range(1, n + 1):
        topic = topics[int(rng.integers(0, 3))]
        event = int(rng.integers(0, 2))  # two events per topic, told apart by their names and places
        extra = ["Palu Donggala Friday", "Aceh Banda Monday"][event] + f" {topic}{event}"
        out.append(article(rowid, topic, day=100.0 + rowid / 20, extra=extra))
    return out


def _restarting(stream: list[StoryFeatures], params: StoryParams,
                every: int = 10) -> tuple[list[Assignment], dict[int, int], dict[int, int]]:
    """Add `stream`, restarting a clusterer after every `every` articles from what a store keeps: features and
    story ids, with each add's merges applied, then its moves. The assignments, the stored ids, absorbed ids."""
    by_rowid = {f.rowid: f for f in stream}
    stored: dict[int, int] = {}
    absorbed: dict[int, int] = {}
    results = []
    for start in range(0, len(stream), every):
        c = StoryClusterer(params)
        c.load((by_rowid[r], s) for r, s in sorted(stored.items()))
        for f in stream[start:start + every]:
            result = c.add(f)
            results.append(result)
            stored[f.rowid] = result.story
            for gone, keep in result.merged:
                stored = {r: keep if s == gone else s for r, s in stored.items()}
                absorbed[gone] = keep
            stored.update(result.moved)
    return results, stored, absorbed


def test_load_round_trip_matches_never_restarting():
    stream = _stream()
    once = StoryClusterer()
    results = [once.add(f) for f in stream]
    restarted, stored, _ = _restarting(stream, StoryParams())
    assert restarted == results
    assert stored == once.assignments()
    # features survive the round trip through bytes
    f = stream[0]
    again = StoryFeatures(f.rowid, f.day, f.vector.copy(), Terms.from_bytes(f.terms.to_bytes()))
    assert again.terms == f.terms


def test_time_window_separates_far_apart_dates():
    c = StoryClusterer(StoryParams(window_days=3.0))
    assert c.add(article(1, "quake", day=100.0)).story == 1
    assert c.add(article(2, "quake", day=102.5)).story == 1  # inside the window
    assert c.add(article(3, "quake", day=200.0)).story == 3  # the same words months later: a new story
    assert c.add(article(4, "quake", day=99.5)).story == 1  # late arrival dated back into the first
    assert c.add(article(5, "quake", day=105.0)).story == 1  # 5 days from the first, 2.5 from article 2
    assert c.add(article(6, "quake", day=109.0)).story == 6  # 4 days from the nearest (105): out of reach


def test_deterministic():
    stream = _stream(40)
    runs = []
    for _ in range(2):
        c = StoryClusterer()
        runs.append([c.add(f) for f in stream])
    assert runs[0] == runs[1]


def test_an_undated_article_joins_a_dated_story():
    """Undated coverage can be of any day: it is compared with every article, whatever its date."""
    c = StoryClusterer(StoryParams())
    assert c.add(article(1, "quake", day=100.0)).story == 1
    assert c.add(article(2, "quake", day=float("nan"))).story == 1
    assert c.add(article(3, "quake", day=500.0)).story == 3  # far from day 100: a story of its own
    assert c.story_of(2) == 1


def test_arrival_order_does_not_change_the_stories():
    """Articles of three topics over three days: any arrival order gives the same partition."""
    stream = _stream(60)
    once = StoryClusterer()
    for f in stream:
        once.add(f)
    expected = sorted(sorted(m) for m in once.stories().values())
    assert len(expected) == 3
    for seed in range(5):
        c = StoryClusterer()
        for k in np.random.default_rng(seed).permutation(len(stream)):
            c.add(stream[k])
        assert sorted(sorted(m) for m in c.stories().values()) == expected


# --- local moves (StoryParams.move_slack) ------------------------------------------------------------------

NO_TERMS = Terms(np.zeros(0, np.int64), np.zeros(0, np.float32))
MOVES = StoryParams(lexical_weight=0.0, move_slack=0.1, merge_margin=0.0)  # sim = the dense cosine: exact geometry


def planar(rowid: int, x: float, y: float, day: float = 100.0) -> StoryFeatures:
    v = np.zeros(DIM, dtype=np.float32)
    v[:2] = x, y
    return StoryFeatures(rowid, day, v / np.linalg.norm(v), NO_TERMS)


def test_an_early_article_moves_to_its_own_story_when_it_arrives():
    """3 (between topics x and y, nearer y) arrives while only x's story exists and joins it; once y's articles
    arrive its average link to them beats its link to x's story, so it moves, and the move is reported."""
    before, moving = StoryClusterer(StoryParams(lexical_weight=0.0, **BEFORE_MOVES)), StoryClusterer(MOVES)
    results = []
    for f in [planar(1, 1.0, 0.0), planar(2, 1.0, 0.05), planar(3, 1.0, 1.2), planar(4, 0.0, 1.0),
              planar(5, 0.05, 1.0)]:
        before.add(f)
        results.append(moving.add(f))
    assert before.stories() == {1: [1, 2, 3], 4: [4, 5]}
    assert moving.stories() == {1: [1, 2], 4: [3, 4, 5]}
    assert results[3] == Assignment(4, (), ((3, 4),))  # 4 founds a story and takes 3 with it
    assert results[4] == Assignment(4)


def test_a_member_alone_that_could_join_stops_the_moves():
    """1 founds a story alone; 2 and 3 found another that 1 links to (.355 >= .35): 1 is left where it is,
    and no other move is made in that add."""
    c = StoryClusterer(StoryParams(lexical_weight=0.0, merge=False, move_slack=0.1))
    assert c.add(planar(1, 1.0, 0.0)) == Assignment(1)
    assert c.add(planar(2, 0.2, 1.0)) == Assignment(2)
    assert c.add(planar(3, 0.6, 1.0)) == Assignment(2)
    assert c.stories() == {1: [1], 2: [2, 3]}


def test_moves_restart_from_stored_pairs_and_decide_as_one_pass():
    """A store applies merges, then moves; a clusterer loaded from what it holds decides as one that never
    restarted, and every id ever given still leads to a story through the reported merges."""
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((6, DIM))
    stream = []
    for rowid in range(1, 81):
        v = centres[rowid % 6] + 0.9 * rng.standard_normal(DIM)
        stream.append(StoryFeatures(rowid, float(100 + rng.integers(0, 6)), (v / np.linalg.norm(v)).astype(
            np.float32), NO_TERMS))
    stream = [stream[i] for i in rng.permutation(len(stream))]
    once = StoryClusterer(MOVES)
    results = [once.add(f) for f in stream]
    assert any(r.moved for r in results)
    restarted, stored, absorbed = _restarting(stream, MOVES)
    assert restarted == results
    assert stored == once.assignments()
    live = set(stored.values())
    for r in results:
        story = r.story
        while story not in live:
            story = absorbed[story]


def test_recorded_settings_missing_a_later_setting_decide_as_before_it():
    """A manifest written before local moves lacks their settings: they read as off, not as today's defaults."""
    old = {"threshold": 0.35, "window_days": 3.0, "lexical_weight": 0.7, "candidates": 64, "max_members": 64,
           "merge": True}
    assert StoryParams.recorded(old) == StoryParams(move_slack=None, merge_margin=0.0)
    assert StoryParams.recorded({**old, "move_slack": 0.2, "merge_margin": 0.1}).move_slack == 0.2

"""Stories in a real index: assigned in the article's own transaction, stable under growth, updates,
deletes and restarts, re-clustered on demand."""

from __future__ import annotations

import json

import pytest

from indexer.enrich import story_store
from indexer.pipeline import Indexer
from indexer.sources.readers import read_sources
from indexer.store.index_store import IndexStore
from tests.conftest import DATA, write_jsonl

ARTICLES = [json.loads(line) for line in
            (DATA / "ecbplus" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:40]]


def _articles(records: list[dict], tmp_path, name: str) -> list:
    return [a for a in read_sources([str(write_jsonl(tmp_path / f"{name}.jsonl", records))])]


def _stories(folder) -> dict[str, int]:
    store = IndexStore.open(folder)
    try:
        with store.snapshot() as snap:
            return {article_id: story for _, article_id, _, story in snap.story_members()}
    finally:
        store.close()


def _resolve(folder, story: int) -> int | None:
    store = IndexStore.open(folder)
    try:
        with store.snapshot() as snap:
            return snap.resolve_story(story)
    finally:
        store.close()


@pytest.fixture(scope="module")
def grown(tmp_path_factory, embedder):
    """An index of 20 articles, then 20 more in a second run: (folder, stories after the first run)."""
    tmp = tmp_path_factory.mktemp("stories")
    folder = tmp / "idx"
    with Indexer(folder, embedder=embedder) as indexer:
        indexer.add(_articles(ARTICLES[:20], tmp, "first"))
    first = _stories(folder)
    story_store._CACHE.clear()  # the second run starts as a new process would: from the database
    with Indexer(folder, embedder=embedder) as indexer:
        indexer.add(_articles(ARTICLES[20:], tmp, "second"))
    return folder, first


def test_every_article_has_a_story_named_by_its_founder(grown):
    folder, _ = grown
    stories = _stories(folder)
    assert len(stories) == 40 and all(stories.values())
    store = IndexStore.open(folder)
    with store.snapshot() as snap:
        rowids = {article_id: rowid for rowid, article_id, _, _ in snap.story_members()}
    store.close()
    for story in set(stories.values()):  # a story's id is the rowid of its earliest member
        assert story == min(rowids[a] for a, s in stories.items() if s == story)
    assert 1 < len(set(stories.values())) < 40


def test_ids_are_stable_as_the_index_grows(grown):
    folder, first = grown
    now = _stories(folder)
    for article_id, story in first.items():
        assert _resolve(folder, story) == now[article_id], f"{article_id}: story {story} was lost"
    assert _resolve(folder, 10**9) is None


def test_a_restart_decides_as_a_process_that_never_stopped(grown, tmp_path, embedder):
    folder, _ = grown
    twin = tmp_path / "twin"
    with Indexer(twin, embedder=embedder) as indexer:  # one process, the clusterer kept between the runs
        indexer.add(_articles(ARTICLES[:20], tmp_path, "first"))
        indexer.add(_articles(ARTICLES[20:], tmp_path, "second"))
    assert _stories(twin) == _stories(folder)


def test_updates_and_deletes_keep_stories_consistent(grown, tmp_path, embedder):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(grown[0], folder)
    before = _stories(folder)
    story = max(set(before.values()), key=lambda s: sum(v == s for v in before.values()))
    members = sorted(a for a, s in before.items() if s == story)
    assert len(members) >= 2
    changed = dict(next(r for r in ARTICLES if r["_id"] == members[0]))
    changed["text"] += " Officials confirmed the details later on Friday."
    with Indexer(folder, embedder=embedder) as indexer:
        indexer.add(_articles([changed], tmp_path, "update"))
        assert indexer.delete([members[1]]) == 1
    after = _stories(folder)
    assert members[1] not in after and after[members[0]]  # deleted; the update is in a story
    for article_id in after:  # everyone else keeps their story, or the story a merge folded it into
        if article_id not in members[:2]:
            assert _resolve(folder, before[article_id]) == after[article_id], article_id


def test_rebuild_reclusters_and_keeps_old_ids_resolvable(grown, tmp_path):
    import shutil
    from dataclasses import replace

    folder = tmp_path / "rebuild"
    shutil.copytree(grown[0], folder)
    before = _stories(folder)
    store = IndexStore.create_or_open(folder, IndexStore.open(folder).manifest, lock=True)
    try:
        count = store.rebuild_stories(replace(store.story_params(), threshold=0.9))  # stricter: more stories
    finally:
        store.close()
    after = _stories(folder)
    assert count == len(set(after.values())) >= len(set(before.values()))
    assert all(after.values())
    for article_id, story in before.items():
        assert _resolve(folder, story) is not None, f"old story {story} of {article_id} leads nowhere"
    assert IndexStore.open(folder).manifest.stories["threshold"] == 0.9


def test_rebuild_decides_as_indexing_in_date_order_did(tmp_path, embedder):
    """`stories rebuild` replays date order, the undated after the dated (as `bench stories` indexes a set):
    an index whose undated articles came first rebuilds to the stories of one indexed in that order. (An
    undated article's day is NaN, which sorts neither before nor after a date: sorted on the day alone,
    the replayed order depended on where the undated articles stood.)"""
    articles = _articles(ARTICLES[:30], tmp_path, "mixed")
    dated = sorted((a for a in articles if a.published), key=lambda a: a.published)
    undated = [a for a in articles if not a.published]
    assert dated and undated
    in_date_order, undated_first = tmp_path / "date-order", tmp_path / "undated-first"
    with Indexer(in_date_order, embedder=embedder) as indexer:
        indexer.add(dated + undated)
    with Indexer(undated_first, embedder=embedder) as indexer:
        indexer.add(undated)
        indexer.add(dated)
    store = IndexStore.create_or_open(undated_first, IndexStore.open(undated_first).manifest, lock=True)
    try:
        store.rebuild_stories()
    finally:
        store.close()
    expected, rebuilt = _stories(in_date_order), _stories(undated_first)
    pairs = {(expected[i], rebuilt[i]) for i in expected}
    assert len(pairs) == len(set(expected.values())) == len(set(rebuilt.values()))


def test_moves_are_persisted():
    """With local moves on (StoryParams.move_slack), `assign` rewrites each moved article's row after the
    merges, so the stored stories are the clusterer's after every add."""
    import sqlite3

    import numpy as np

    from indexer.enrich.stories import StoryClusterer, StoryParams

    conn = sqlite3.connect(":memory:")  # the two tables `assign` writes, as the index schema declares them
    conn.executescript("CREATE TABLE articles (rowid INTEGER PRIMARY KEY, story INTEGER NOT NULL DEFAULT 0, "
                       "story_terms BLOB); CREATE TABLE story_merges (absorbed INTEGER PRIMARY KEY, "
                       "survivor INTEGER NOT NULL, generation INTEGER NOT NULL);")
    state = StoryClusterer(StoryParams(lexical_weight=0.0, move_slack=0.1))
    points = [(1.0, 0.0), (1.0, 0.05), (1.0, 1.2), (0.0, 1.0), (0.05, 1.0)]  # 3 moves to 4's story at the 4th
    for rowid, (x, y) in enumerate(points, start=1):
        conn.execute("INSERT INTO articles (rowid) VALUES (?)", (rowid,))
        vector = np.zeros(8, dtype=np.float32)
        vector[:2] = x, y
        story_store.assign(conn, state, rowid, "", "", "", vector[None, :], generation=rowid)
        assert dict(conn.execute("SELECT rowid, story FROM articles")) == state.assignments()
    assert state.stories() == {1: [1, 2], 4: [3, 4, 5]}

"""Results grouped by story: one result per event, standing for all its outlets' articles."""

from __future__ import annotations

from indexer.store.snapshot import Snapshot
from search.present import present
from search.query import Query
from search.types import SearchResult, StoryInfo

# A story result shows the best passages of at most this many of its matched articles.
ARTICLES_PER_STORY = 2


def by_story(ranked: list[tuple[int, float]], story_of: dict[int, int]) -> list[tuple[int, list[tuple[int, float]]]]:
    """(story id, its ranked members) in the order of each story's best member; members keep their order.

    A story is ranked by its best article (MaxP one level up, as an article is ranked by its best passage):
    a story that many outlets covered is not lifted above a better answer by its size alone."""
    groups: dict[int, list[tuple[int, float]]] = {}
    for rowid, score in ranked:
        groups.setdefault(story_of.get(rowid, -rowid), []).append((rowid, score))
    return list(groups.items())


def story_results(snap: Snapshot, query: Query, groups: list[tuple[int, list[tuple[int, float]]]],
                  per_result: int, ids: dict[int, str]) -> list[SearchResult]:
    """One result per story: its representative article (the best-ranked match: the one that answers the
    query best, where the story's earliest or most central article need not) with the best passages across
    the story's matched articles, and the story's size, outlets and dates. `ids`: article id by rowid."""
    summaries = snap.stories(story for story, _ in groups)
    shown = [member for _, members in groups for member in members[:ARTICLES_PER_STORY]]
    presented = dict(zip((rowid for rowid, _ in shown), present(snap, query, shown, per_result), strict=True))
    results = []
    for story, members in groups:
        lead = presented[members[0][0]]
        passages = [p for rowid, _ in members[:ARTICLES_PER_STORY] for p in presented[rowid].passages]
        lead.passages = sorted(passages, key=lambda p: -p.score)[:per_result]
        s = summaries.get(story)
        lead.story = StoryInfo(id=story, articles=s.articles if s else 1, outlets=s.outlets if s else [],
                               first=s.first if s else "", last=s.last if s else "",
                               matched=[ids[rowid] for rowid, _ in members],
                               derived_outlets=s.derived_outlets if s else [])
        results.append(lead)
    return results

"""Stories, timelines, "more like this" and time words over the session's real index (the seed article and
60 ECB+ articles, some dated by their datelines)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

import pytest

from indexer.relevance import CALIBRATED, Setting
from search import Filters, SearchOptions
from search.timeline import TimelineRelevance
from search.timewords import OnlyTimePhrase
from tests.conftest import SEED_QUERY

STORY = SearchOptions(group="story")


def test_group_by_story_puts_the_seed_story_first(searcher):
    response = searcher.search(SEED_QUERY, k=5, options=STORY)
    first = response.results[0]
    assert first.title.startswith("Russia Vows") and first.story is not None
    assert first.story.id == first.story_id and first.id in first.story.matched
    assert len({r.story.id for r in response.results}) == len(response.results)  # one result per story


def test_a_story_result_stands_for_its_matched_articles(searcher):
    response = searcher.search("Lindsay Lohan rehab", k=5, options=STORY)
    top = response.results[0]
    assert top.story.articles >= len(top.story.matched) >= 2, "Lohan's rehab is covered by several articles"
    assert top.story.matched[0] == top.id  # the representative is its best-ranked match
    assert {p.article for p in top.passages} <= set(top.story.matched)
    assert top.story.first <= top.story.last
    plain = searcher.search("Lindsay Lohan rehab", k=1).results[0]
    assert (plain.id, plain.story_id) == (top.id, top.story.id)  # stories ranked by their best article


def test_story_page_in_time_order_with_best_sentences(searcher):
    top = searcher.search("Lindsay Lohan rehab", k=1, options=STORY).results[0]
    page = searcher.story(top.story.id, "Betty Ford")
    assert page.id == page.asked == top.story.id and len(page.articles) == top.story.articles
    dated = [a.published for a in page.articles if a.published]
    assert dated == sorted(dated) and all(a.sentence for a in page.articles)
    undated = [i for i, a in enumerate(page.articles) if not a.published]
    assert undated == list(range(len(dated), len(page.articles)))  # undated last
    assert searcher.story(10**9) is None


def test_timeline_counts_matches_per_interval(searcher):
    timeline = searcher.timeline("Lindsay Lohan rehab", "day")
    buckets = timeline.buckets
    assert buckets and timeline.floor > 0
    assert sum(b.count for b in buckets) + timeline.undated == timeline.matched
    assert all(b.top.passage for b in buckets if b.count)
    days = [date.fromisoformat(b.start) for b in buckets]
    assert days == sorted(days) and all((b - a).days == 1 for a, b in zip(days, days[1:], strict=False))
    assert all(b.start.startswith("2013-") for b in buckets if b.count)  # Lohan, May-June 2013
    monthly = searcher.timeline("Lindsay Lohan rehab", "month")
    assert sum(b.count for b in monthly.buckets) == sum(b.count for b in buckets)


def test_more_like_this(searcher):
    top = searcher.search("Lindsay Lohan rehab", k=1).results[0]
    similar = searcher.similar(top.id, k=5)
    assert similar.results and top.id not in [r.id for r in similar.results]
    outside = searcher.similar(top.id, k=5, exclude_story=True)
    assert outside.results and all(r.story_id != top.story_id for r in outside.results)
    assert searcher.similar("no such article") is None


def test_time_words_become_a_date_filter(searcher):
    options = SearchOptions(time_words=True, now="2013-06-10")
    response = searcher.search("Lindsay Lohan rehab in May 2013", k=10, options=options)
    assert response.interpreted.since == "2013-05-01" and response.interpreted.until == "2013-05-31"
    assert response.interpreted.text == "Lindsay Lohan rehab"
    assert response.results and all(r.published.startswith("2013-05") for r in response.results)
    last_month = searcher.search("Lindsay Lohan rehab last month", options=options)
    assert [r.id for r in last_month.results] == [r.id for r in response.results]
    narrowed = searcher.search("Lindsay Lohan rehab since 2013", filters=Filters(until="2013-05-02"),
                               options=options)
    assert all("2013-01-01" <= r.published[:10] <= "2013-05-02" for r in narrowed.results)
    with pytest.raises(OnlyTimePhrase):
        searcher.search("last week", options=options)
    assert searcher.search("Lindsay Lohan rehab in May 2013", k=10).interpreted is None  # off by default


def test_a_short_query_counts_its_coverage_in_the_timeline(searcher):
    """A topic word sits far from any article by its vector ("rehab": .3 to .5 for the rehab stays), so a
    cosine floor alone counted almost none of them; the relevance test counts the articles that hold the word
    and are still near it, exactly those a search for it marks relevant."""
    timeline = searcher.timeline("rehab", "month")
    former = searcher.timeline("rehab", "month", setting=Setting(cosine=0.53, cosine_with_words=0.53, word_share=1))
    assert timeline.matched >= 10 and former.matched <= 2, (timeline.matched, former.matched)
    assert timeline.relevance == TimelineRelevance(**asdict(CALIBRATED), words=1, words_needed=1)
    assert timeline.floor == CALIBRATED.cosine
    results = searcher.search("rehab", k=100).results
    assert len(results) == 61  # every article of the index was a candidate
    assert timeline.matched == sum(r.relevant for r in results)
    counted = [r.passages[0].score for r in results if r.relevant]  # the best passage's cosine, in hybrid mode
    assert min(counted) >= CALIBRATED.cosine_with_words and min(counted) < CALIBRATED.cosine  # the words clause


def test_results_and_story_cards_are_marked_relevant_or_not(searcher):
    """The seed answers its query; the ECB+ articles beside it (celebrities, earthquakes, sport) do not."""
    for options in (SearchOptions(), STORY, SearchOptions(mode="lexical")):
        results = searcher.search(SEED_QUERY, k=10, options=options).results
        assert results[0].title.startswith("Russia Vows") and results[0].relevant, options
        assert not any(r.relevant for r in results[1:]), [(r.title, r.passages[0].score) for r in results]

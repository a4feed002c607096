"""News-aware ordering: recency boost, date sort, per-outlet cap, best-sentence highlights."""

from __future__ import annotations

import pytest

from indexer.store.snapshot import ArticleRow
from search import SearchOptions
from search.news import news_order, recency_multiplier
from search.present import best_sentences, highlight, term_pattern

FIELDS = {rowid: ArticleRow(rowid, f"a{rowid}", "", "", source, published, "", rowid, "", rowid)
          for rowid, (source, published) in {1: ("A", "2024-01-01"), 2: ("A", "2024-01-10"), 3: ("B", "2023-01-10"),
                                             4: ("A", "")}.items()}
RANKED = [(1, 1.0), (2, 0.95), (3, 0.9), (4, 0.85)]


def test_recency_multiplier():
    assert recency_multiplier(0, 7) == 1.0
    assert recency_multiplier(7, 7) == pytest.approx(0.75)
    assert recency_multiplier(10_000, 7) == pytest.approx(0.5)


def test_recency_boost_lifts_the_newer_close_call():
    ranked = news_order(RANKED, FIELDS, SearchOptions(recency_half_life_days=7))
    assert [r for r, _ in ranked][:2] == [2, 1]
    assert dict(ranked)[2] == pytest.approx(0.95)  # newest keeps its score


def test_sort_by_date_and_cap_per_source():
    assert [r for r, _ in news_order(RANKED, FIELDS, SearchOptions(sort="date"))] == [2, 1, 3, 4]
    assert [r for r, _ in news_order(RANKED, FIELDS, SearchOptions(max_per_source=1))] == [1, 3]


def test_best_sentence_holds_most_query_words():
    text = "Markets were calm. Russia rejected new sanctions on North Korea. Russia spoke."
    marks = highlight(text, term_pattern(["russia", "sanctions", "korea"]))
    assert [text[a:b] for a, b in marks] == ["Russia", "sanctions", "Korea", "Russia"]
    assert [text[a:b] for a, b in best_sentences(text, marks)] == ["Russia rejected new sanctions on North Korea."]
    assert best_sentences(text, []) == []


def test_options_reach_the_searcher(searcher):
    response = searcher.search("police", k=5, options=SearchOptions(sort="date", max_per_source=2))
    assert len(response.results) <= 5
    with pytest.raises(ValueError, match="sort"):
        searcher.search("police", options=SearchOptions(sort="random"))

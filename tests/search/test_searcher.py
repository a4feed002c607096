"""The search pipeline over a real index of bundled news, with the real model and FAISS."""

from __future__ import annotations

import pytest

from search import MODES, Filters, SearchOptions
from tests.conftest import SEED_QUERY


@pytest.mark.parametrize("mode", MODES)
def test_seed_query_finds_seed_article_first(searcher, mode):
    response = searcher.search(SEED_QUERY, k=5, options=SearchOptions(mode=mode))
    top = response.results[0]
    assert top.title.startswith("Russia Vows to Develop Equal and Fair Interaction with North Korea")
    assert "sanction" in top.passages[0].text.lower()


def test_passage_offsets_point_into_the_article(searcher):
    response = searcher.search("police shooting in Athens", k=5)
    assert response.results
    for result in response.results:
        body = searcher.article(result.id).text
        for passage in result.passages:
            assert body[passage.start:passage.end] == passage.text
            for start, end in passage.highlights:
                assert 0 <= start < end <= len(passage.text)


def test_one_result_per_article_best_passage_first(searcher):
    response = searcher.search("earthquake", k=10, options=SearchOptions(mode="dense"))
    ids = [r.id for r in response.results]
    assert len(ids) == len(set(ids)) == 10
    scores = [r.score for r in response.results]
    assert scores == sorted(scores, reverse=True)
    for result in response.results:
        passage_scores = [p.score for p in result.passages]
        assert passage_scores == sorted(passage_scores, reverse=True)
        assert result.score == pytest.approx(passage_scores[0], abs=1e-5)


def test_offset_pages_do_not_overlap(searcher):
    first = searcher.search("court case", k=5)
    second = searcher.search("court case", k=5, offset=5)
    both = searcher.search("court case", k=10)
    assert [r.id for r in first.results + second.results] == [r.id for r in both.results]


def test_source_filter_returns_only_that_source(searcher):
    response = searcher.search(SEED_QUERY, k=5, filters=Filters(sources=("nobody",)))
    assert response.results == []


def test_unknown_mode_is_refused(searcher):
    with pytest.raises(ValueError, match="mode"):
        searcher.search("x", options=SearchOptions(mode="magic"))


def test_stats_counts(searcher):
    stats = searcher.stats()
    assert stats.articles == 61
    assert stats.passages >= 61
    assert stats.model == "sentence-transformers/all-MiniLM-L6-v2"

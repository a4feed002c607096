"""Filters: a filter that matches 1% of passages still returns k results, in every mode and path."""

from __future__ import annotations

import json

import pytest

from indexer.pipeline import IndexConfig, Indexer
from indexer.sources.article import Article
from indexer.sources.chunk import sentence_spans
from search import MODES, Filters, Searcher, SearchOptions
from search import retrieve as searcher_module
from tests.conftest import DATA


@pytest.fixture(scope="module")
def sentence_index(tmp_path_factory, embedder):
    """1,000 one-sentence articles from bundled news; every 100th is from 'Rare Wire', dated 2020."""
    sentences = []
    for line in (DATA / "ecbplus" / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text"]
        sentences += [text[s:e] for s, e in sentence_spans(text) if 60 < e - s < 200]
        if len(sentences) >= 1000:
            break
    articles = [
        Article(id=f"s{i}", title="", text=sentence, source="Rare Wire" if i % 100 == 0 else "Common Wire",
                published="2020-06-01" if i % 100 == 0 else "2013-05-03", language="en",
                metadata={"desk": "rare" if i % 100 == 0 else "common"})
        for i, sentence in enumerate(sentences[:1000])
    ]
    folder = tmp_path_factory.mktemp("filters") / "idx"
    with Indexer(folder, IndexConfig(batch_articles=500), embedder=embedder) as indexer:
        indexer.add(articles)
    s = Searcher(folder, embedder=embedder)
    yield s
    s.close()


FILTERS = [
    Filters(sources=("Rare Wire",)),
    Filters(since="2020-01-01"),
    Filters(until="2020-06-01", since="2020-06-01"),
    Filters(fields=(("desk", "rare"),)),
]


@pytest.mark.parametrize("filters", FILTERS)
@pytest.mark.parametrize("mode", ["dense", "hybrid"])
@pytest.mark.parametrize("exact_limit", [searcher_module.EXACT_FILTER_LIMIT, 0])
def test_one_percent_filter_returns_k(sentence_index, monkeypatch, filters, mode, exact_limit):
    monkeypatch.setattr(searcher_module, "EXACT_FILTER_LIMIT", exact_limit)  # 0: FAISS ID selector path
    response = sentence_index.search("police arrested a man", k=10, filters=filters,
                                     options=SearchOptions(mode=mode))
    assert len(response.results) == 10
    assert all(r.source == "Rare Wire" and r.published == "2020-06-01" for r in response.results)


def test_filtered_lexical_returns_only_matches(sentence_index):
    response = sentence_index.search("the", k=10, filters=FILTERS[0], options=SearchOptions(mode="lexical"))
    assert response.results and all(r.source == "Rare Wire" for r in response.results)


@pytest.mark.parametrize("mode", MODES)
def test_filter_with_no_match_is_empty(sentence_index, mode):
    response = sentence_index.search("police", k=10, filters=Filters(language="xx"), options=SearchOptions(mode=mode))
    assert response.results == []


def test_bad_field_name_is_refused(sentence_index):
    with pytest.raises(ValueError, match="filter field"):
        sentence_index.search("x", filters=Filters(fields=(("a'); DROP", "x"),)))

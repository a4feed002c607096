"""Near-duplicate wire copies are grouped at index time and collapsed into one result."""

from __future__ import annotations

import pytest

from indexer.enrich.dedup import signature, similarity
from indexer.pipeline import Indexer
from indexer.sources.article import Article
from search import Searcher, SearchOptions

WIRE = (
    "Firefighters battled a wildfire that forced thousands of residents to flee their homes north of Athens on "
    "Tuesday, as strong winds pushed the flames towards the suburbs. The fire service said more than 200 "
    "firefighters, 60 engines and nine water-dropping aircraft were deployed. Officials ordered the evacuation "
    "of six villages and a children's hospital as thick smoke covered parts of the capital. No injuries were "
    "reported, but several houses were damaged, the civil protection ministry said in a statement. Greece has "
    "endured a prolonged heatwave, with temperatures above 40 degrees Celsius for more than a week."
)


@pytest.fixture(scope="module")
def dup_searcher(tmp_path_factory, embedder):
    articles = [
        Article(id="wire-1", title="Wildfire forces evacuations near Athens", text=WIRE, source="Wire Agency"),
        Article(id="paper-1", title="Athens wildfire: villages evacuated", source="Daily Paper",
                text="ATHENS (Wire) - " + WIRE + " Reporting by the Wire Agency."),
        Article(id="site-1", title="Fire near Athens", source="News Site", text=WIRE.replace("Tuesday", "Tuesday,")),
        Article(id="other-1", title="Heatwave grips southern Europe", source="Daily Paper",
                text="Temperatures soared across Italy and Spain as a heatwave settled over southern Europe. "
                     "Authorities urged people to stay indoors during the hottest hours of the day."),
    ]
    folder = tmp_path_factory.mktemp("dups") / "idx"
    with Indexer(folder, embedder=embedder) as indexer:
        indexer.add(articles)
    searcher = Searcher(folder, embedder=embedder)
    yield searcher
    searcher.close()


def test_signatures_separate_copies_from_other_news():
    assert similarity(signature(WIRE), signature("ATHENS (Wire) - " + WIRE)) >= 0.8
    assert similarity(signature(WIRE), signature("Temperatures soared across Italy and Spain.")) < 0.2


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_wire_copies_collapse_into_one_result(dup_searcher, mode):
    response = dup_searcher.search("wildfire evacuations Athens", k=10,
                                   options=SearchOptions(mode=mode, collapse_duplicates=True))
    ids = [r.id for r in response.results]
    copies = {"wire-1", "paper-1", "site-1"}
    assert len(copies.intersection(ids)) == 1
    top = next(r for r in response.results if r.id in copies)
    assert sorted([top.source, *top.also_published_by]) == ["Daily Paper", "News Site", "Wire Agency"]


def test_copies_stay_separate_by_default(dup_searcher):
    response = dup_searcher.search("wildfire evacuations Athens", k=10, options=SearchOptions(mode="dense"))
    assert {"wire-1", "paper-1", "site-1"} <= {r.id for r in response.results}
    assert all(r.also_published_by == [] for r in response.results)

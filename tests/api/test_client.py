"""The one reading interface (`search.reader.NewsReader`), in-process and over HTTP: every test taking `engine`
runs against `Searcher` and against `NewsearchClient` on a real server, and must get the library's own answer
(the qdrant-client rule). Then the client's own concerns: errors, writes."""

from __future__ import annotations

import inspect
from dataclasses import replace

import pytest

from api.client import NewsearchClient, RemoteError
from search import Filters, Searcher, SearchOptions, SearchResponse
from search.options import to_wire
from search.reader import NewsReader
from search.timeline import Timeline
from search.types import Article, IndexStats, StoryPage
from tests.api.conftest import API_KEY, NO_ALERTS
from tests.conftest import SEED_QUERY

LOHAN = "Lindsay Lohan rehab"


def test_search_returns_the_library_type(engine):
    response = engine.search(SEED_QUERY, k=3)
    assert isinstance(response, SearchResponse)
    assert response.results[0].title.startswith("Russia Vows")
    assert response.results[0].passages[0].highlights
    paged = engine.search(SEED_QUERY, k=2, offset=1, options=SearchOptions(mode="dense"))
    assert paged.mode == "dense" and len(paged.results) == 2
    assert engine.search(SEED_QUERY, filters=Filters(sources=("no such outlet",))).results == []
    assert engine.search(SEED_QUERY, filters=Filters(since="2100-01-01")).results == []
    assert engine.search(SEED_QUERY, filters=Filters(fields=(("file", "seed.txt"),))).results


@pytest.mark.parametrize("options", [
    SearchOptions(),
    SearchOptions(mode="lexical"),
    SearchOptions(fusion="rrf"),
    SearchOptions(sort="date"),
    SearchOptions(recency_half_life_days=30),
    SearchOptions(max_per_source=1),
    SearchOptions(collapse_duplicates=True),
], ids=lambda o: ",".join(f"{k}={v}" for k, v in to_wire(None, o).items()) or "defaults")
def test_every_option_means_the_same_local_and_remote(engine, searcher, options):
    """Each option reaches the engine: the remote answer equals the library's, result for result."""
    local = searcher.search("earthquake", k=5, options=options)
    got = engine.search("earthquake", k=5, options=options)
    assert [(r.id, r.score, r.also_published_by) for r in got.results] == \
        [(r.id, r.score, r.also_published_by) for r in local.results]
    assert got.mode == local.mode


def test_invalid_options_fail_the_same_way(engine):
    with pytest.raises((ValueError, RemoteError)):
        engine.search(SEED_QUERY, options=SearchOptions(max_per_source=-1))


def untimed(response: SearchResponse | None) -> SearchResponse | None:
    """The response less its timing, the one field two answers to the same question may differ in."""
    return response and replace(response, took_ms=0.0)


def test_every_method_of_the_interface_is_tested_here_on_both():
    """Each method of `NewsReader` has a `test_<method>...` below, and both readers take its arguments."""
    tested = {name for name, _ in inspect.getmembers(inspect.getmodule(test_search_returns_the_library_type),
                                                     inspect.isfunction) if name.startswith("test_")}
    for method in NewsReader.__abstractmethods__ - {"close"}:
        assert any(name.startswith(f"test_{method}") for name in tested), f"no shared test for {method}"
        declared = list(inspect.signature(getattr(NewsReader, method)).parameters.values())
        for reader in (Searcher, NewsearchClient):
            own = list(inspect.signature(getattr(reader, method)).parameters.values())
            assert own[:len(declared)] == declared, (reader.__name__, method)


def test_article(engine, searcher):
    top = searcher.search(SEED_QUERY, k=1).results[0]
    article = engine.article(top.id)
    assert isinstance(article, Article) and article == searcher.article(top.id)
    assert article.title == top.title and article.passages
    assert all(article.text[p.start:p.end] == p.text for p in article.passages)
    assert engine.article("no/such?article#id") is None


def test_story(engine, searcher):
    top = searcher.search(LOHAN, k=1, options=SearchOptions(group="story")).results[0]
    page = engine.story(top.story.id, "Betty Ford")
    assert isinstance(page, StoryPage) and page == searcher.story(top.story.id, "Betty Ford")
    assert [a.id for a in page.articles if a.id == top.id] and page.query == "Betty Ford"
    assert engine.story(10**9) is None


def test_timeline(engine, searcher):
    timeline = engine.timeline(LOHAN, "week")
    assert isinstance(timeline, Timeline) and timeline == searcher.timeline(LOHAN, "week")
    assert timeline.matched and timeline.relevance.words == 3 and timeline.buckets[0].top.passage
    options, filters = SearchOptions(time_words=True, now="2013-07-01"), Filters(sources=("no such outlet",))
    dated = engine.timeline(f"{LOHAN} in May 2013", "day", options=options)
    assert dated == searcher.timeline(f"{LOHAN} in May 2013", "day", options=options)
    assert dated.interpreted.since == "2013-05-01" and dated.matched < timeline.matched
    assert engine.timeline(LOHAN, filters=filters).matched == 0


def test_similar(engine, searcher):
    top = searcher.search(LOHAN, k=1).results[0]
    similar = engine.similar(top.id, k=3, exclude_story=True)
    assert untimed(similar) == untimed(searcher.similar(top.id, k=3, exclude_story=True))
    assert len(similar.results) == 3 and all(r.story_id != top.story_id for r in similar.results)
    assert untimed(engine.similar(top.id, 2, False, False)) == untimed(searcher.similar(top.id, 2, False, False))
    assert engine.similar("no such article") is None


def test_stats(engine, searcher):
    stats = engine.stats()
    assert isinstance(stats, IndexStats) and stats == searcher.stats()
    assert stats.articles == 61 and stats.format_version


def test_service_reads(api_server):
    with NewsearchClient(api_server) as client:
        assert client.health() == {"status": "ok", "vectors": {"backend": "faiss", "ok": True, "error": None},
                                   "feeds": [], "alerts": NO_ALERTS} and client.ready()


def test_errors_carry_status_and_detail(api_server):
    with NewsearchClient(api_server) as client:
        with pytest.raises(RemoteError) as info:
            client.search(SEED_QUERY, k=0)
        assert info.value.status == 422 and "k" in str(info.value)
        with pytest.raises(RemoteError) as info:
            client.add_articles([{"text": "x"}])
        assert info.value.status == 401
    with NewsearchClient(api_server, api_key="wrong") as client, pytest.raises(RemoteError) as info:
        client.delete_article("anything")
    assert info.value.status == 403 and info.value.detail == "wrong API key"
    with NewsearchClient("http://127.0.0.1:9", timeout=2) as client, pytest.raises(RemoteError) as info:
        client.health()
    assert info.value.status == 0 and not NewsearchClient("http://127.0.0.1:9", timeout=1).ready()


def test_write_round_trip(write_server):
    article = {"id": "https://example.org/2024/okapi", "title": "Okapi calf born at Epulu reserve",
               "text": "Rangers at the Epulu okapi reserve in Congo reported the birth of a healthy calf this week.",
               "source": "Client Wire", "published": "2024-05-06"}
    with NewsearchClient(write_server, api_key=API_KEY) as client:
        report = client.add_articles([article])
        assert report["indexed"] == 1 and report["ids"] == [article["id"]]
        assert client.search("okapi calf Epulu", k=1).results[0].id == article["id"]
        assert client.article(article["id"]).source == "Client Wire"
        assert client.delete_article(article["id"]) is True
        assert client.delete_article(article["id"]) is False
        assert client.article(article["id"]) is None


# -- saved searches: the same calls on both readers, each over its own copy of the index ---------------------
@pytest.fixture(scope="module")
def writable(small_index, tmp_path_factory, start_server, embedder):
    """reader name -> (reader, add_articles): a Searcher over one copy of the index (articles written with an
    Indexer), a client over a server on another copy (articles written with the write key)."""
    from api.settings import Settings
    from indexer.pipeline import Indexer
    from indexer.sources.readers import read_sources
    from tests.api.conftest import copy_index
    from tests.conftest import write_jsonl

    local = copy_index(small_index, tmp_path_factory.mktemp("alerts-library"))
    server = start_server(copy_index(small_index, tmp_path_factory.mktemp("alerts-client")), Settings(api_key=API_KEY))

    def index_locally(articles: list[dict]) -> None:
        path = write_jsonl(tmp_path_factory.mktemp("batch") / "batch.jsonl", articles)
        with Indexer(local, embedder=embedder) as indexer:
            assert indexer.add(read_sources([str(path)])).ok

    searcher = Searcher(local, embedder=embedder)
    client = NewsearchClient(server.url, api_key=API_KEY)
    yield {"library": (searcher, index_locally), "client": (client, client.add_articles)}
    searcher.close()
    client.close()


@pytest.fixture(params=["library", "client"])
def alerting(request, writable):
    return writable[request.param]


REHAB = {"id": "rehab-again", "title": "Lindsay Lohan checks into rehab again",
         "text": "Lindsay Lohan checked into a rehab facility in Malibu on Friday, her lawyer said. The actress "
                 "had left the Betty Ford Center earlier in the week.", "url": "https://news.example/rehab"}


def test_add_alert_and_alert(alerting):
    from search.alerts import Alert, SavedSearchSpec

    reader, _ = alerting
    made = reader.add_alert(SavedSearchSpec("Tara Reid rehab", name="Reid", filters=Filters(sources=("People",))))
    assert isinstance(made, Alert) and made.options == {"source": ["People"]} and made.name == "Reid"
    assert reader.alert(made.id) == made
    assert reader.alert("0123456789ab") is None
    with pytest.raises((ValueError, RemoteError), match="time words"):
        reader.add_alert(SavedSearchSpec("rehab last week", options=SearchOptions(time_words=True)))


def test_alerts_in_the_order_made(alerting):
    from search.alerts import SavedSearchSpec

    reader, _ = alerting
    made = [reader.add_alert(SavedSearchSpec(q)).id for q in ("first saved", "second saved")]
    assert [a.id for a in reader.alerts()][-2:] == made


def test_alert_matches_after_a_commit(alerting):
    from indexer.alerts.saved import Match
    from search.alerts import SavedSearchSpec

    reader, add_articles = alerting
    made = reader.add_alert(SavedSearchSpec("Lindsay Lohan checks into rehab"))
    assert reader.alert_matches(made.id) == []
    add_articles([REHAB])
    (match,) = reader.alert_matches(made.id, mark_read=True)
    assert isinstance(match, Match) and match.article == "rehab-again" and match.score > 0.5
    assert REHAB["text"][match.start:match.end] == match.passage
    assert reader.alert(made.id).counts.unread == 0 and reader.alert(made.id).counts.matches == 1
    assert reader.alert_matches("0123456789ab") is None


def test_remove_alert(alerting):
    from search.alerts import SavedSearchSpec

    reader, _ = alerting
    made = reader.add_alert(SavedSearchSpec("to be removed"))
    assert reader.remove_alert(made.id) and reader.alert(made.id) is None
    assert not reader.remove_alert(made.id)

"""The Python client against a real server: the same typed results as the library, clear errors."""

from __future__ import annotations

import pytest

from api.client import NewsearchClient, RemoteError
from search import Filters, SearchOptions, SearchResponse
from search.options import to_wire
from tests.api.conftest import API_KEY, NO_ALERTS
from tests.conftest import SEED_QUERY


@pytest.fixture(params=["library", "client"])
def engine(request, searcher, api_server):
    """The same search interface, local and remote (the qdrant-client rule): every test below runs on both."""
    if request.param == "library":
        yield searcher
        return
    with NewsearchClient(api_server) as client:
        yield client


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


def test_reads(api_server):
    with NewsearchClient(api_server) as client:
        top = client.search(SEED_QUERY, k=1).results[0]
        assert client.article(top.id)["title"] == top.title
        assert client.article("no/such?article#id") is None
        assert client.stats()["articles"] == 61
        assert client.health() == {"status": "ok", "feeds": [], "alerts": NO_ALERTS} and client.ready()


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
        assert client.article(article["id"])["source"] == "Client Wire"
        assert client.delete_article(article["id"]) is True
        assert client.delete_article(article["id"]) is False
        assert client.article(article["id"]) is None

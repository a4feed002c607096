"""The Python client against a real server: the same typed results as the library, clear errors."""

from __future__ import annotations

import pytest

from api.client import NewsearchClient, NewsearchError
from search import SearchResponse
from tests.api.conftest import API_KEY
from tests.conftest import SEED_QUERY


def test_search_returns_the_library_type(api_server, searcher):
    with NewsearchClient(api_server) as client:
        response = client.search(SEED_QUERY, k=3)
        assert isinstance(response, SearchResponse)
        assert response.results[0].title.startswith("Russia Vows")
        assert response.results[0].passages[0].highlights
        local = searcher.search(SEED_QUERY, k=3)
        assert [r.id for r in response.results] == [r.id for r in local.results]
        paged = client.search(SEED_QUERY, k=2, offset=1, mode="dense")
        assert paged.mode == "dense" and len(paged.results) == 2
        assert client.search(SEED_QUERY, sources=["no such outlet"]).results == []
        assert client.search(SEED_QUERY, since="2100-01-01").results == []


def test_reads(api_server):
    with NewsearchClient(api_server) as client:
        top = client.search(SEED_QUERY, k=1).results[0]
        assert client.article(top.id)["title"] == top.title
        assert client.article("no/such?article#id") is None
        assert client.stats()["articles"] == 61
        assert client.health() == {"status": "ok"} and client.ready()


def test_errors_carry_status_and_detail(api_server):
    with NewsearchClient(api_server) as client:
        with pytest.raises(NewsearchError) as info:
            client.search(SEED_QUERY, k=0)
        assert info.value.status == 422 and "k" in str(info.value)
        with pytest.raises(NewsearchError) as info:
            client.add_articles([{"text": "x"}])
        assert info.value.status == 401
    with NewsearchClient(api_server, api_key="wrong") as client, pytest.raises(NewsearchError) as info:
        client.delete_article("anything")
    assert info.value.status == 403 and info.value.detail == "wrong API key"
    with NewsearchClient("http://127.0.0.1:9", timeout=2) as client, pytest.raises(NewsearchError) as info:
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

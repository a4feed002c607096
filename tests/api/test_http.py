"""The HTTP API over a real uvicorn server and a real index: searches, limits, keys, writes, metrics."""

from __future__ import annotations

import re
import threading

import httpx
import pytest
from pydantic import TypeAdapter

from indexer.relevance import stem
from tests.api.conftest import API_KEY, NO_ALERTS, copy_index
from tests.conftest import SEED_QUERY

SEED_TITLE = "Russia Vows to Develop Equal and Fair Interaction"


@pytest.fixture(scope="module")
def http(api_server):
    with httpx.Client(base_url=api_server, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def writer(write_server):
    with httpx.Client(base_url=write_server, timeout=120) as client:
        yield client


def _fields(response: httpx.Response) -> set[str]:
    """The names of the fields a 422 complains about."""
    return {part for e in response.json()["detail"] for part in e["loc"] if isinstance(part, str)}


def test_get_search_finds_seed_first(http):
    response = http.get("/search", params={"q": SEED_QUERY, "k": 5})
    assert response.status_code == 200, response.text
    data = response.json()
    assert set(data) == {"query", "results", "took_ms", "mode", "interpreted", "facets"}
    assert data["interpreted"] is None  # time words are read only when asked
    assert data["query"] == SEED_QUERY and data["mode"] == "hybrid"
    top = data["results"][0]
    assert top["title"].startswith(SEED_TITLE)
    passage = top["passages"][0]
    assert set(passage) == {"text", "start", "end", "score", "highlights", "sentences", "article"}
    assert any("sanction" in passage["text"][s:e].lower() for s, e in passage["highlights"])


def test_post_search_matches_get_and_library_shape(http, searcher):
    from search import SearchResponse

    body = http.post("/search", json={"q": SEED_QUERY, "k": 3, "mode": "dense"}).json()
    got = http.get("/search", params={"q": SEED_QUERY, "k": 3, "mode": "dense"}).json()
    assert [r["id"] for r in body["results"]] == [r["id"] for r in got["results"]]
    assert body["results"][0]["title"].startswith(SEED_TITLE)
    library = searcher.search(SEED_QUERY, k=3).to_dict()
    assert set(library) == set(body) and set(library["results"][0]) == set(body["results"][0])
    assert TypeAdapter(SearchResponse).validate_python(body).results[0].passages[0].highlights


def test_filters_and_paging(http):
    first = http.get("/search", params={"q": "rehab", "k": 2, "mode": "lexical"}).json()["results"]
    second = http.get("/search", params={"q": "rehab", "k": 2, "offset": 2, "mode": "lexical"}).json()["results"]
    assert first and not {r["id"] for r in first} & {r["id"] for r in second}
    none = http.get("/search", params={"q": SEED_QUERY, "source": ["no such outlet"]}).json()
    assert none["results"] == []
    late = http.get("/search", params={"q": SEED_QUERY, "since": "2100-01-01"}).json()
    assert late["results"] == []


@pytest.mark.parametrize(("params", "field"), [
    ({"q": SEED_QUERY, "k": 0}, "k"),
    ({"q": SEED_QUERY, "k": 101}, "k"),
    ({"q": SEED_QUERY, "offset": -1}, "offset"),
    ({"q": SEED_QUERY, "offset": 1001}, "offset"),
    ({"k": 5}, "q"),
    ({"q": ""}, "q"),
    ({"q": "   "}, "q"),
    ({"q": "x" * 1001}, "q"),
    ({"q": SEED_QUERY, "mode": "magic"}, "mode"),
    ({"q": SEED_QUERY, "since": "last week"}, "since"),
    ({"q": SEED_QUERY, "since": "2013-13-45"}, "since"),  # shaped like a date, not on the calendar
    ({"q": SEED_QUERY, "since": "2013-02-30"}, "since"),
    ({"q": SEED_QUERY, "until": "2013-02-29T10:00Z"}, "until"),
    ({"q": SEED_QUERY, "time_words": True, "now": "2013-02-30"}, "now"),
    ({"q": SEED_QUERY, "field": "no-equals"}, "field"),
])
def test_invalid_search_is_422_naming_the_field(http, params, field):
    response = http.get("/search", params=params)
    assert response.status_code == 422, response.text
    assert field in _fields(response)
    body = {k: v for k, v in params.items()}
    if "field" in body:
        body["field"] = [body["field"]]
    response = http.post("/search", json=body)
    assert response.status_code == 422 and field in _fields(response)


def test_post_search_rejects_bad_json_and_unknown_fields(http):
    assert http.post("/search", content=b"{not json", headers={"Content-Type": "application/json"}
                     ).status_code == 422
    response = http.post("/search", json={"q": SEED_QUERY, "kk": 3})
    assert response.status_code == 422 and "kk" in _fields(response)
    lone = b'{"q": "\\ud800 lone surrogate"}'  # valid JSON, not valid Unicode
    repaired = http.post("/search", content=lone, headers={"Content-Type": "application/json"})
    assert repaired.status_code == 200 and repaired.json()["query"] == "\ufffd lone surrogate"


def test_articles_get_and_404(http):
    top = http.get("/search", params={"q": SEED_QUERY, "k": 1}).json()["results"][0]
    article = http.get(f"/articles/{top['id']}").json()
    assert article["title"].startswith(SEED_TITLE) and "Lavrov" in article["text"]
    assert article["passages"][0]["start"] == 0
    missing = http.get("/articles/no-such-article")
    assert missing.status_code == 404 and "no-such-article" in missing.json()["detail"]


def test_health_ready_stats(http):
    assert http.get("/health").json() == {"status": "ok", "vectors": {"backend": "faiss", "ok": True, "error": None},
                                          "feeds": [], "alerts": NO_ALERTS}
    ready = http.get("/ready").json()
    assert ready["status"] == "ready" and ready["articles"] == 61
    stats = http.get("/stats").json()
    assert stats["articles"] == 61 and stats["passages"] > 61 and stats["model"]


def test_writes_need_the_key(http):
    article = [{"id": "x", "title": "t", "text": "some text"}]
    no_key = http.post("/articles", json=article)
    assert no_key.status_code == 401 and no_key.headers["www-authenticate"] == "Bearer"
    wrong = http.post("/articles", json=article, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 403
    assert http.post("/articles", json=article, headers={"X-API-Key": "wrong"}).status_code == 403
    assert http.delete("/articles/x").status_code == 401
    assert http.delete("/articles/x", headers={"X-API-Key": "nope"}).status_code == 403


def test_no_key_configured_refuses_writes(small_index, tmp_path, start_server):
    from api.app import Settings

    server = start_server(copy_index(small_index, tmp_path), Settings())
    with httpx.Client(base_url=server.url, timeout=60) as client:
        response = client.post("/articles", json=[{"text": "x"}], headers={"Authorization": "Bearer anything"})
        assert response.status_code == 403 and "no API key is configured" in response.json()["detail"]
        assert client.get("/search", params={"q": SEED_QUERY, "k": 1}).status_code == 200


def test_read_key_makes_reads_keyed(small_index, tmp_path, start_server):
    from api.app import Settings

    server = start_server(copy_index(small_index, tmp_path), Settings(api_key=API_KEY, read_key="reader"))
    with httpx.Client(base_url=server.url, timeout=60) as client:
        params = {"q": SEED_QUERY, "k": 1}
        assert client.get("/search", params=params).status_code == 401
        assert client.get("/search", params=params, headers={"X-API-Key": "bad"}).status_code == 403
        assert client.get("/search", params=params, headers={"X-API-Key": "reader"}).status_code == 200
        assert client.get("/search", params=params, headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200
        assert client.get("/health").status_code == 200 and client.get("/ready").status_code == 200


def test_settings_from_env_reads_key_file_and_origins(tmp_path, monkeypatch):
    from api.app import Settings

    key_file = tmp_path / "key"
    key_file.write_text("from-file\n")
    monkeypatch.delenv("NEWSEARCH_API_KEY", raising=False)
    monkeypatch.setenv("NEWSEARCH_API_KEY_FILE", str(key_file))
    monkeypatch.setenv("NEWSEARCH_CORS_ORIGINS", "https://a.example, https://b.example")
    settings = Settings.from_env()
    assert settings.api_key == "from-file" and "from-file" not in repr(settings)
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    monkeypatch.setenv("NEWSEARCH_API_KEY", "from-env")
    assert Settings.from_env().api_key == "from-env"


def test_upsert_search_get_delete(writer):
    key = {"Authorization": f"Bearer {API_KEY}"}
    article = {"id": "test/pangolin-1", "title": "Pangolin sanctuary opens in Kathmandu valley",
               "text": "A new sanctuary for rescued pangolins opened near Kathmandu on Monday. "
                       "Conservationists said the scaly mammals are the most trafficked animals in the world.",
               "url": "https://example.org/pangolin", "source": "Test Wire", "published": "2024-03-04",
               "metadata": {"section": "nature"}}
    response = writer.post("/articles", json=[article], headers=key)
    assert response.status_code == 200, response.text
    assert response.json()["indexed"] == 1 and response.json()["ids"] == ["test/pangolin-1"]
    again = writer.post("/articles", json=[article], headers=key).json()
    assert again["indexed"] == 0 and again["unchanged"] == 1

    found = writer.get("/search", params={"q": "pangolin sanctuary Kathmandu", "k": 1}).json()["results"]
    assert found[0]["id"] == "test/pangolin-1" and found[0]["source"] == "Test Wire"
    fetched = writer.get("/articles/test%2Fpangolin-1").json()
    assert fetched["metadata"] == {"section": "nature"} and fetched["published"] == "2024-03-04"
    only = writer.get("/search", params={"q": "pangolin", "field": "section=nature"}).json()["results"]
    assert [r["id"] for r in only] == ["test/pangolin-1"]

    assert writer.delete("/articles/test%2Fpangolin-1", headers=key).json() == {"id": "test/pangolin-1",
                                                                                 "deleted": True}
    assert writer.get("/articles/test%2Fpangolin-1").status_code == 404
    after = writer.get("/search", params={"q": "pangolin sanctuary Kathmandu", "k": 3}).json()["results"]
    assert "test/pangolin-1" not in [r["id"] for r in after]
    assert writer.delete("/articles/test%2Fpangolin-1", headers=key).status_code == 404


def test_write_limits(writer):
    key = {"X-API-Key": API_KEY}
    assert writer.post("/articles", json=[], headers=key).status_code == 422
    empty = writer.post("/articles", json=[{"id": "e", "title": "", "text": "   "}], headers=key)
    assert empty.status_code == 422
    blank = writer.post("/articles", json=[{"text": " \n "}], headers=key)
    assert blank.status_code == 422 and "text" in _fields(blank)
    odd_date = writer.post("/articles", json=[{"id": "odd", "text": "words", "published": "someday"}], headers=key)
    assert odd_date.status_code == 200
    assert writer.get("/articles/odd").json()["metadata"] == {"published_raw": "someday"}
    off_calendar = writer.post("/articles", json=[{"id": "feb30", "text": "words", "published": "2013-02-30"}],
                               headers=key)
    assert off_calendar.status_code == 422
    assert off_calendar.json()["detail"] == [{"loc": ["body", 0], "msg": "published: '2013-02-30' is not on the "
                                              "calendar: February 2013 has 28 days, so no day 30"}]
    assert writer.get("/articles/feb30").status_code == 404
    too_many = writer.post("/articles", json=[{"text": "x"}] * 1001, headers=key)
    assert too_many.status_code == 422
    huge = writer.post("/articles", content=b"[" + b" " * (11 * 1024 * 1024) + b"]",
                       headers={**key, "Content-Type": "application/json"})
    assert huge.status_code == 413
    assert writer.get("/health").status_code == 200


def test_concurrent_searches_all_answer(http, api_server):
    errors: list[object] = []

    def one(i: int) -> None:
        try:
            with httpx.Client(base_url=api_server, timeout=60) as client:
                r = client.get("/search", params={"q": f"{SEED_QUERY} {i}", "k": 3})
                assert r.status_code == 200 and r.json()["results"]
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors


def test_openapi_lists_every_endpoint_with_examples(http):
    spec = http.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths) >= {"/search", "/articles", "/articles/{article_id}", "/health", "/ready", "/stats", "/metrics",
                          "/stories/{story_id}", "/timeline", "/articles/{article_id}/similar"}
    assert set(paths["/search"]) == {"get", "post"}
    assert set(paths["/articles/{article_id}"]) == {"get", "delete"}
    assert SEED_QUERY in http.get("/openapi.json").text
    assert http.get("/docs").status_code == 200


def test_metrics_count_requests(http):
    http.get("/search", params={"q": SEED_QUERY, "k": 1})
    http.get("/articles/no-such-article")
    text = http.get("/metrics")
    assert text.headers["content-type"].startswith("text/plain")
    body = text.text
    assert "# TYPE newsearch_requests_total counter" in body
    assert 'newsearch_requests_total{method="GET",route="/search",status="200"}' in body
    assert 'route="/articles/{article_id:path}",status="404"' in body
    assert 'newsearch_request_duration_seconds_bucket{method="GET",route="/search",le="+Inf"}' in body
    assert "newsearch_index_articles 61" in body


def test_errors_never_leak_tracebacks(small_index, tmp_path, embedder):
    from api.app import Settings, create_app
    from tests.api.conftest import ServerThread

    app = create_app(copy_index(small_index, tmp_path), Settings(), embedder=embedder)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    server = ServerThread(app).start()
    try:
        response = httpx.get(server.url + "/boom", timeout=30)
    finally:
        server.stop()
    assert response.status_code == 500 and response.json() == {"detail": "internal error"}
    assert "secret" not in response.text and "Traceback" not in response.text


def test_page_is_served(http):
    page = http.get("/")
    assert page.status_code == 200 and "<form" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert http.get("/static/app.js").status_code == 200


def test_news_options_over_http(http):
    params = {"q": "police", "k": 10, "mode": "dense"}
    capped = http.get("/search", params={**params, "max_per_source": 1}).json()["results"]
    named = [r["source"] for r in capped if r["source"]]  # unknown outlets are not capped
    assert capped and len(named) == len(set(named))
    dated = http.post("/search", json={**params, "sort": "date"}).json()["results"]
    assert [r["published"] for r in dated] == sorted((r["published"] for r in dated), reverse=True)
    rrf = http.get("/search", params={"q": SEED_QUERY, "fusion": "rrf"}).json()["results"]
    assert rrf[0]["title"].startswith(SEED_TITLE)
    bad = http.get("/search", params={**params, "sort": "random", "recency_half_life_days": -1})
    assert bad.status_code == 422 and {"sort", "recency_half_life_days"} <= _fields(bad)


def test_time_words_filter_and_report(http):
    params = {"q": "Lindsay Lohan rehab in May 2013", "time_words": "true", "now": "2024-06-05", "k": 3}
    data = http.get("/search", params=params).json()
    assert data["interpreted"] == {"since": "2013-05-01", "until": "2013-05-31", "text": "Lindsay Lohan rehab",
                                   "phrases": ["in May 2013"]}
    assert data["results"] and all(r["published"].startswith("2013-05") for r in data["results"])
    only = http.get("/search", params={"q": "last week", "time_words": "true"})
    assert only.status_code == 422 and "only a time phrase" in only.json()["detail"]
    assert http.get("/search", params={"q": "last week"}).status_code == 200  # off: just words


def test_dates_off_the_calendar_in_the_timeline_and_in_time_words(http):
    timeline = http.get("/timeline", params={"q": "Lindsay Lohan rehab", "since": "2013-02-30"})
    assert timeline.status_code == 422 and "since" in _fields(timeline)
    phrase = http.get("/search", params={"q": "Lindsay Lohan rehab in February 30 2013", "time_words": "true"})
    assert phrase.status_code == 422
    assert phrase.json()["detail"] == ("the query's time phrase 'February 30 2013' is not on the calendar: "
                                       "February 2013 has 28 days, so no day 30")


def test_an_outlet_taken_from_the_url_is_shown_and_marked(http):
    """ECB+ records bring a URL and no outlet: ecb-1_7ecbplus, from www.etonline.com, is credited to
    etonline.com, marked as derived in the article, its result, its story and the timeline."""
    article = http.get("/articles/ecb-1_7ecbplus").json()
    assert article["url"].startswith("http://www.etonline.com/")
    assert article["source"] == "etonline.com" and article["metadata"]["source_derived"] is True
    params = {"q": "Lindsay Lohan checks into court-ordered rehab", "k": 10, "mode": "dense"}
    results = {r["id"]: r for r in http.get("/search", params=params).json()["results"]}
    assert (results["ecb-1_7ecbplus"]["source"], results["ecb-1_7ecbplus"]["source_derived"]) == ("etonline.com", True)
    grouped = http.get("/search", params={**params, "group": "story"}).json()["results"]
    story = next(r["story"] for r in grouped if "ecb-1_7ecbplus" in r["story"]["matched"])
    assert "etonline.com" in story["outlets"] and "etonline.com" in story["derived_outlets"]
    page = http.get(f"/stories/{story['id']}").json()
    own = next(a for a in page["articles"] if a["id"] == "ecb-1_7ecbplus")
    assert own["source_derived"] is True and "etonline.com" in page["derived_outlets"]
    buckets = http.get("/timeline", params={"q": "Lindsay Lohan rehab"}).json()["buckets"]
    assert all(set(b["derived_sources"]) <= set(b["by_source"]) for b in buckets)
    assert any(b["derived_sources"] for b in buckets)


def test_story_timeline_and_similar_endpoints(http):
    grouped = http.get("/search", params={"q": SEED_QUERY, "k": 3, "group": "story"}).json()
    seed = grouped["results"][0]
    assert seed["title"].startswith(SEED_TITLE) and seed["story"]["id"] == seed["story_id"]
    story = http.get(f"/stories/{seed['story_id']}", params={"q": "sanctions"})
    assert story.status_code == 200 and story.json()["articles"][0]["id"] == seed["id"]
    assert http.get("/stories/999999999").status_code == 404
    assert http.get("/stories/0").status_code == 422
    timeline = http.get("/timeline", params={"q": "Lindsay Lohan rehab", "interval": "week"})
    assert timeline.status_code == 200, timeline.text
    data = timeline.json()
    assert data["floor"] > 0 and any(b["count"] for b in data["buckets"])
    assert http.get("/timeline", params={"q": "x", "interval": "hour"}).status_code == 422
    similar = http.get(f"/articles/{seed['id']}/similar", params={"k": 3, "exclude_story": "true"})
    assert similar.status_code == 200 and len(similar.json()["results"]) == 3
    assert http.get("/articles/no-such-article/similar").status_code == 404


def test_each_result_names_the_query_words_it_mentions(http):
    """`mentions`: for each query word the article's headline or body holds by the stem rule, in query order,
    its first occurrence as written there; read back against each article's own text."""
    words = ["russia", "stance", "dprk", "sanctions"]
    results = http.get("/search", params={"q": SEED_QUERY, "k": 10}).json()["results"]
    assert results[0]["mentions"][0] == "Russia" and "Sanctions" in results[0]["mentions"]  # the seed's headline
    for result in results:
        article = http.get(f"/articles/{result['id']}").json()
        text = article["title"] + "\n" + article["text"]
        firsts = [re.search(r"\b" + stem(w) + r"\w*", text, re.I) for w in words]
        assert result["mentions"] == [m.group(0) for m in firsts if m], result["title"]
    assert any(r["mentions"] for r in results if not r["relevant"])


def test_each_result_says_whether_it_is_relevant(http):
    """`relevant` per result (the relevance test, indexer/relevance.py), in both groupings and through the
    client's dataclasses; the timeline states the test it counted by."""
    from search import SearchResponse

    for group in ("article", "story"):
        data = http.get("/search", params={"q": SEED_QUERY, "k": 10, "group": group}).json()
        flags = [r["relevant"] for r in data["results"]]
        assert flags[0] is True and False in flags and all(isinstance(f, bool) for f in flags), (group, flags)
        assert [r.relevant for r in TypeAdapter(SearchResponse).validate_python(data).results] == flags
    timeline = http.get("/timeline", params={"q": "rehab"}).json()
    assert timeline["relevance"]["words"] == 1 and timeline["relevance"]["words_needed"] == 1
    assert timeline["floor"] == timeline["relevance"]["cosine"] and timeline["matched"] >= 10

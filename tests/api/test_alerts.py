"""Saved searches over HTTP, the client and the CLI: a real server on 127.0.0.1 with a read key, its webhook
deliverer posting to a receiver on 127.0.0.1, its Atom feed read by feedparser and by another `newsearch watch`."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time

import feedparser
import httpx
import pytest

from api.client import NewsearchClient, RemoteError
from indexer.crawl.testing import FeedServer, Route, feeds_file
from search.alerts import SavedSearchSpec
from search.options import SearchOptions
from tests.api.conftest import API_KEY, ServerThread, copy_index
from tests.api.test_cli import run
from tests.conftest import DATA

READ_KEY = "test-read-key"
SECRET = "hook-secret"


def _lohan(n: int) -> list[dict]:
    """Lohan rehab articles from the bundled data under new ids (not in the session's index)."""
    records = [json.loads(line) for line in (DATA / "ecbplus" / "corpus.jsonl").read_text().splitlines()]
    lohan = [r for r in records if r["_id"].startswith("ecb-1_") and r["_id"].endswith("ecbplus")][-n:]
    return [{"id": f"copy-{r['_id']}", "title": r["title"], "text": r["text"],
             "url": f"http://news.example/{r['_id']}", "source": "news.example", "published": "2013-05-03"}
            for r in lohan]


@pytest.fixture(scope="module")
def server(small_index, tmp_path_factory, embedder):
    """A server with a write key and a read key, allowed to post webhooks to 127.0.0.1, retrying fast."""
    from api.app import create_app
    from api.settings import Settings

    index = copy_index(small_index, tmp_path_factory.mktemp("alerts-http"))
    saved = {k: os.environ.get(k) for k in ("NEWSEARCH_WEBHOOK_BACKOFF", "NEWSEARCH_WEBHOOK_ATTEMPTS")}
    os.environ.update(NEWSEARCH_WEBHOOK_BACKOFF="0.05", NEWSEARCH_WEBHOOK_ATTEMPTS="4")
    try:
        thread = ServerThread(create_app(index, Settings(api_key=API_KEY, read_key=READ_KEY), embedder=embedder,
                                         allow_private=True)).start()
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    yield thread.url, index
    thread.stop()


def _wait(condition, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # bounded in time
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def test_a_saved_search_fires_delivers_signed_and_feeds(server, tmp_path):
    url, _ = server
    answers = iter([500, 200] + [200] * 50)
    with FeedServer() as receiver, NewsearchClient(url, api_key=API_KEY) as client:
        receiver.routes["/hook"] = Route(handler=lambda req: (next(answers), {}, b""))
        alert = client.add_alert(SavedSearchSpec("Lindsay Lohan checks into rehab", name="Lohan",
                                                 webhook=receiver.url("/hook"), secret=SECRET))
        assert alert.has_secret and client.alert(alert.id).name == "Lohan"
        assert client.alert_matches(alert.id) == []
        articles = _lohan(3)
        client.add_articles(articles + [{"id": "ferry", "title": "Harbour ferry timetable changes",
                                         "text": "Boats will leave every twenty minutes from Monday, the port said."}])
        matches = _wait(lambda: (m := client.alert_matches(alert.id)) and all(x.delivery == "delivered" for x in m)
                        and m)
        assert {m.article for m in matches} == {a["id"] for a in articles}
        assert all(m.passage and m.score > 0.5 and m.published == "2013-05-03" for m in matches)
        posts = receiver.posts
        assert len(posts) == 4  # one 500, then one delivery per match
        assert {h["X-Newsearch-Delivery"] for _, h, _ in posts} == {m.delivery_id for m in matches}
        for _, headers, body in posts:
            assert headers["X-Newsearch-Signature"] == "sha256=" + hmac.new(SECRET.encode(), body,
                                                                            hashlib.sha256).hexdigest()
        listed = {a.id: a for a in client.alerts()}[alert.id]
        assert (listed.counts.matches, listed.counts.delivered, listed.counts.dead) == (3, 3, 0)
        assert client.health()["alerts"]["delivered"] >= 3

        # The feed: valid Atom, stable entry ids, the passage as summary; readable with the token alone.
        feed = feedparser.parse(client.alert_feed(alert.id))
        assert not feed.bozo and feed.version == "atom10"
        assert {e.link for e in feed.entries} == {a["url"] for a in articles}
        assert all(e.summary in {m.passage for m in matches} for e in feed.entries)
        again = feedparser.parse(client.alert_feed(alert.id))
        assert [e.id for e in again.entries] == [e.id for e in feed.entries]
        feed_url = f"{url}/alerts/{alert.id}/feed.atom"
        assert httpx.get(feed_url).status_code == 401
        assert httpx.get(feed_url, params={"token": "wrong"}).status_code == 401
        assert httpx.get(feed_url, params={"token": alert.feed_token}).status_code == 200

        # Another newsearch follows the feed: the matched articles, with their text, land in its index.
        feeds = feeds_file(tmp_path, [f"{feed_url}?token={alert.feed_token}"])
        out = run("watch", str(feeds), "--index", str(tmp_path / "follower"), "--once", "--allow-private",
                  "--quiet")
        assert out.returncode == 0, out.stderr
        stats = json.loads(run("stats", "--index", str(tmp_path / "follower"), "--json").stdout)
        assert stats["articles"] == 3

        assert client.remove_alert(alert.id) and client.alert(alert.id) is None
        assert not client.remove_alert(alert.id)


def test_a_saved_search_made_after_an_article_does_not_fire_on_it(server):
    url, _ = server
    with NewsearchClient(url, api_key=API_KEY) as client:
        client.add_articles([{"id": "early", "title": "Lindsay Lohan checks into rehab at Betty Ford",
                              "text": "Lindsay Lohan checked into the Betty Ford Center on Friday, her lawyer said."}])
        alert = client.add_alert(SavedSearchSpec("Lindsay Lohan checks into rehab"))
        client.add_articles([{"id": "late", "title": "Lindsay Lohan leaves rehab at Betty Ford",
                              "text": "Lindsay Lohan checked out of the Betty Ford Center, her lawyer said."}])
        assert [m.article for m in client.alert_matches(alert.id)] == ["late"]


def test_story_grouped_feed_has_one_entry_per_story(server):
    url, _ = server
    with NewsearchClient(url, api_key=API_KEY) as client:
        alert = client.add_alert(SavedSearchSpec("Lindsay Lohan rehab", options=SearchOptions(group="story")))
        client.add_articles([{**a, "id": a["id"] + "-g"} for a in _lohan(4)])
        matches = client.alert_matches(alert.id)
        feed = feedparser.parse(client.alert_feed(alert.id, token=alert.feed_token))
    assert len(matches) == 4 and not feed.bozo
    assert len(feed.entries) == len({m.story for m in matches}) < len(matches)


def test_bad_saved_searches_are_refused_naming_why(server):
    url, _ = server
    with NewsearchClient(url, api_key=API_KEY) as client:
        with pytest.raises(RemoteError, match="time words") as refused:
            client.add_alert(SavedSearchSpec("North Korea sanctions last week",
                                             options=SearchOptions(time_words=True)))
        assert refused.value.status == 422
        with pytest.raises(RemoteError) as missing:
            client.add_alert(SavedSearchSpec(story=987654321))
        assert missing.value.status == 404 and "987654321" in str(missing.value)
    answer = httpx.post(f"{url}/alerts", json={"q": "x", "webhook": "ftp://x"},
                        headers={"Authorization": f"Bearer {API_KEY}"})
    assert answer.status_code == 422 and "webhook" in answer.text
    assert httpx.post(f"{url}/alerts", json={"q": "x"}).status_code == 401
    assert httpx.get(f"{url}/alerts").status_code == 401


def test_alerts_from_the_command_line(small_index, tmp_path):
    index = copy_index(small_index, tmp_path)
    lines = tmp_path / "saved.jsonl"
    lines.write_text('{"query": "Lindsay Lohan rehab", "name": "Lohan"}\n{"query": "x", "k": 3}\n'
                     '{"query": "North Korea sanctions", "source": ["Reuters"]}\n', encoding="utf-8")
    out = run("alerts", "import", str(lines), "--index", str(index))
    assert out.returncode == 1 and f"{lines}:2" in out.stderr and "saved 2 searches" in out.stderr, out.stderr
    out = run("alerts", "add", "Tara Reid rehab", "--index", str(index), "--source", "People", "--json")
    assert out.returncode == 0, out.stderr
    added = json.loads(out.stdout)
    assert added["options"] == {"source": ["People"]}
    listed = json.loads(run("alerts", "list", "--index", str(index), "--json").stdout)
    assert [a["name"] for a in listed] == ["Lohan", "North Korea sanctions", "Tara Reid rehab"]
    assert "0 matches" in run("alerts", "list", "--index", str(index)).stdout
    shown = run("alerts", "show", added["id"], "--index", str(index))
    assert shown.returncode == 0 and "0 matches" in shown.stdout
    assert run("alerts", "remove", added["id"], "--index", str(index)).returncode == 0
    gone = run("alerts", "show", added["id"], "--index", str(index))
    assert gone.returncode == 2 and "no saved search" in gone.stderr
    delivered = run("alerts", "deliver", "--index", str(index))
    assert delivered.returncode == 0 and "0 delivered" in delivered.stderr
    refused = run("alerts", "add", "sanctions last week", "--time-words", "--index", str(index))
    assert refused.returncode == 2 and "time words" in refused.stderr

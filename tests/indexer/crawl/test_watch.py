"""The feed watcher against a real HTTP server on 127.0.0.1 that serves feeds and pages and records every
request: conditional GET, Retry-After, every kind of broken feed or page, updates, moves, a live server.

The server is `indexer.crawl.testing.FeedServer` (bound to 127.0.0.1). Nothing here talks to any other
address; every loop is bounded in count and time.
"""

from __future__ import annotations

import gzip
import threading
import time
from pathlib import Path

import pytest

from indexer.crawl.feeds import parse_feeds_file, parse_interval
from indexer.crawl.testing import FeedServer, Route, feeds_file, page, rss, story
from indexer.crawl.watch import WatchLimits, feed_health, watch


def limits(**kw) -> WatchLimits:
    """Short timeouts and no host delay: the tests' server is ours, and the suite must stay quick."""
    base = dict(connect_timeout=2.0, read_timeout=1.0, total_timeout=5.0, host_delay=0.0, max_retry_wait=3.0,
                max_feed_bytes=2 * 1024 * 1024, max_page_bytes=2 * 1024 * 1024, workers=4, backoff=5.0)
    return WatchLimits(**{**base, **kw})


def articles(index: Path) -> dict[str, tuple]:
    """id -> (title, text, published, content_hash) straight from the database."""
    import sqlite3

    conn = sqlite3.connect(index / "meta.sqlite")
    try:
        return {r[0]: r[1:] for r in conn.execute("SELECT id, title, text, published, content_hash FROM articles")}
    finally:
        conn.close()


@pytest.fixture
def server():
    s = FeedServer()
    yield s
    s.close()


# -- FEEDS files and intervals ------------------------------------------------------------------------
def test_intervals_and_feeds_file(tmp_path):
    assert [parse_interval(t) for t in ("15m", "30s", "1h", "2d", "90", "1.5m")] == [900, 30, 3600, 172800, 90, 90]
    for bad in ("", "0s", "-1m", "15x", "m"):
        with pytest.raises(ValueError):
            parse_interval(bad)
    path = tmp_path / "feeds"
    path.write_text("# comment\n\nhttps://a.example/rss 10m A News  # trailing comment\n"
                    "https://b.example/feed#frag\nhttps://a.example/rss 1h duplicate\nhttp://c.example/x Just Name\n")
    specs = parse_feeds_file(path)
    assert [(s.url, s.interval, s.source) for s in specs] == [
        ("https://a.example/rss", 600.0, "A News"), ("https://b.example/feed#frag", None, ""),
        ("http://c.example/x", None, "Just Name")]
    path.write_text("ftp://x.example/feed\n")
    with pytest.raises(ValueError, match=":1:"):
        parse_feeds_file(path)


# -- conditional GET ----------------------------------------------------------------------------------
def test_second_poll_is_answered_304_and_fetches_no_page(tmp_path, server, embedder):
    server.routes["/etag.xml"] = Route(rss("Etag News", [
        {"guid": f"e{i}", "title": f"Harbour story {i}", "link": server.url(f"/e/{i}"),
         "date": "Mon, 06 Sep 2021 16:45:00 GMT", "description": "teaser only"} for i in range(3)]))
    for i in range(3):
        server.routes[f"/e/{i}"] = Route(page(f"Harbour story {i}", story(f"harbour dredging {i}"),
                                              "2021-09-01T08:00:00Z"), content_type="text/html; charset=utf-8")
    server.routes["/lm.xml"] = Route(rss("LM News", [
        {"guid": f"l{i}", "title": f"Glacier story {i}", "link": server.url(f"/l/{i}"),
         "content": story(f"glacier melt {i}")} for i in range(2)]), etag=False, last_modified=True)
    feeds = feeds_file(tmp_path, [server.url("/etag.xml"), server.url("/lm.xml") + " 1m Glacier Weekly"])
    index = tmp_path / "idx"

    first = watch(feeds, index, once=True, allow_private=True, embedder=embedder, limits=limits())
    assert first.ok, first.feeds
    assert first.indexed == 5
    stored = articles(index)
    assert stored[server.url("/e/0")][2] == "2021-09-01", "the page's date comes before the feed's"
    assert "harbour dredging 0" in stored[server.url("/e/0")][1]
    assert sorted(p for p in server.paths() if p.startswith(("/e/", "/l/"))) == ["/e/0", "/e/1", "/e/2"]

    mark = server.mark()
    second = watch(feeds, index, once=True, allow_private=True, embedder=embedder, limits=limits())
    assert second.ok and second.indexed == 0
    assert [f.status for f in second.feeds] == ["not-modified", "not-modified"]
    assert sorted(server.paths(mark)) == ["/etag.xml", "/lm.xml"], "no page, no robots.txt re-fetched"
    sent = [h for _, p, h in server.requests[mark:]]
    assert any("If-None-Match" in h for h in sent) and any("If-Modified-Since" in h for h in sent)
    assert all(h["User-Agent"].startswith("newsearch/") for _, _, h in server.requests)

    from indexer.store.index_store import IndexStore

    store = IndexStore.open(index)
    try:
        health = {h["url"]: h for h in feed_health(store)}
    finally:
        store.close()
    glacier = health[server.url("/lm.xml")]
    assert glacier["source"] == "Glacier Weekly" and glacier["consecutive_errors"] == 0
    assert glacier["items_seen"] == 2 and glacier["last_success"] and 0 <= glacier["lag_seconds"] < 60


# -- Retry-After --------------------------------------------------------------------------------------
def test_429_retry_after_is_honoured(tmp_path, server, embedder):
    calls = {"n": 0}
    doc = rss("Busy", [{"guid": "b1", "title": "Volcano wakes", "link": server.url("/b/1"),
                        "content": story("volcano ash")}])

    def busy(req):
        calls["n"] += 1
        if calls["n"] == 1:
            return 429, {"Retry-After": "1", "Content-Type": "text/plain"}, b"slow down"
        return 200, {"Content-Type": "application/rss+xml"}, doc

    server.routes["/busy.xml"] = Route(handler=busy)
    server.routes["/never.xml"] = Route(handler=lambda req: (429, {"Retry-After": "3600"}, b"go away"))
    feeds = feeds_file(tmp_path, [server.url("/busy.xml")])
    index = tmp_path / "idx"
    report = watch(feeds, index, once=True, allow_private=True, embedder=embedder, limits=limits())
    assert report.ok and report.indexed == 1
    times = [t for t, p, _ in server.requests if p == "/busy.xml"]
    assert len(times) == 2 and times[1] - times[0] >= 0.95, "the retry waited for Retry-After"

    # A long Retry-After is not waited out: the feed is reported and left alone until then.
    feeds.write_text(server.url("/never.xml") + "\n")
    report = watch(feeds, index, once=True, allow_private=True, embedder=embedder, limits=limits())
    assert not report.ok and "429" in report.feeds[0].error
    mark = server.mark()
    report = watch(feeds, index, once=True, allow_private=True, embedder=embedder, limits=limits())
    assert report.feeds[0].status == "deferred" and server.paths(mark) == []


# -- everything that goes wrong, each reported for its feed -----------------------------------------------
def test_broken_feeds_and_pages_are_reported_and_the_rest_indexed(tmp_path, server, embedder):
    u = server.url
    server.routes["/robots.txt"] = Route(b"User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    server.routes["/good.xml"] = Route(rss("Good", [
        {"guid": "g1", "title": "Bridge reopens", "link": u("/p/bridge"), "description": "teaser bridge"},
        {"guid": "g2", "title": "Report as PDF", "link": u("/p/report.pdf"), "description": "pdf teaser text"},
        {"guid": "g3", "title": "Huge page", "link": u("/p/huge"), "description": "huge teaser text"},
        {"guid": "g4", "title": "Members only", "link": u("/private/x"), "description": "private teaser"},
        {"guid": "g5", "title": "Bomb page", "link": u("/p/bomb"), "description": "bomb teaser"},
    ]))
    server.routes["/p/bridge"] = Route(page("Bridge reopens", story("bridge reopening")), content_type="text/html")
    server.routes["/p/report.pdf"] = Route(b"%PDF-1.4 not html", content_type="application/pdf")
    server.routes["/p/huge"] = Route(stream=lambda: (b"<p>" + b"x" * 65533 for _ in range(800)),
                                     content_type="text/html")  # 50 MB, no Content-Length
    bomb = gzip.compress(b"<html>" + b" " * (60 * 1024 * 1024), compresslevel=9)
    server.routes["/p/bomb"] = Route(bomb, content_type="text/html", encoding="gzip")
    server.routes["/private/x"] = Route(page("Members", story("secret")), content_type="text/html")
    server.routes["/500.xml"] = Route(b"oops", status=500, content_type="text/plain")
    server.routes["/slow.xml"] = Route(rss("Slow", []), delay=2.5)
    server.routes["/loop1.xml"] = Route(status=302, headers={"Location": "/loop2.xml"}, etag=False)
    server.routes["/loop2.xml"] = Route(status=302, headers={"Location": "/loop1.xml"}, etag=False)
    server.routes["/malformed.xml"] = Route(
        rss("Bad", [{"guid": "m1", "title": "Salvaged item", "link": u("/m/1"), "content": story("salvage")}])[:-40]
        + b"<item><title>Cut & broken</ti")
    server.routes["/html.xml"] = Route(page("Not a feed", story("homepage")), content_type="text/html")
    server.routes["/bomb.xml"] = Route(bomb, encoding="gzip")
    dup = [{"guid": "d1", "title": "Storm warning", "link": u("/d/1"), "date": "Mon, 06 Sep 2021 10:00:00 GMT",
            "content": story("storm warning")},
           {"guid": "d1", "title": "Storm warning", "link": u("/d/1"), "date": "Mon, 06 Sep 2021 11:00:00 GMT",
            "content": story("storm warning")}]
    server.routes["/dup.xml"] = Route(rss("Dup", dup))
    server.routes["/old.xml"] = Route(status=301, headers={"Location": "/new.xml"}, etag=False)
    server.routes["/new.xml"] = Route(rss("Moved", [{"guid": "n1", "title": "Election night",
                                                     "link": u("/n/1"), "content": story("election count")}]))
    names = ["/good.xml", "/500.xml", "/slow.xml", "/loop1.xml", "/malformed.xml", "/html.xml", "/bomb.xml",
             "/dup.xml", "/old.xml"]
    feeds = feeds_file(tmp_path, [u(n) for n in names])
    index = tmp_path / "idx"

    report = watch(feeds, index, once=True, allow_private=True, embedder=embedder, limits=limits())
    assert not report.ok
    by = {f.url[len(server.base):]: f for f in report.feeds}
    assert {n for n, f in by.items() if f.failed} == {"/500.xml", "/slow.xml", "/loop1.xml", "/malformed.xml",
                                                       "/html.xml", "/bomb.xml"}
    assert "500" in by["/500.xml"].error
    assert "timed out" in by["/slow.xml"].error
    assert "redirects" in by["/loop1.xml"].error
    assert "malformed XML" in by["/malformed.xml"].error and by["/malformed.xml"].new == 1
    assert "not an RSS/Atom feed" in by["/html.xml"].error
    assert "limit" in by["/bomb.xml"].error
    problems = " | ".join(by["/good.xml"].problems)
    assert "not an HTML page (application/pdf)" in problems and "robots.txt" in problems
    assert problems.count("limit") == 2, problems  # the 50 MB page and the bomb page
    stored = articles(index)
    assert "bridge reopening" in stored[u("/p/bridge")][1]
    for teaser in ("/p/report.pdf", "/p/huge", "/private/x", "/p/bomb"):
        assert u(teaser) in stored, f"{teaser}: the feed's teaser is indexed when the page cannot be"
    assert "/private/x" not in server.paths(), "robots.txt was not honoured"
    assert u("/m/1") in stored and u("/n/1") in stored and u("/d/1") in stored
    assert stored[u("/d/1")][2] == "2021-09-06T10:00:00Z"
    assert len(stored) == 8

    from indexer.store.index_store import IndexStore

    store = IndexStore.open(index)
    try:
        health = {h["url"][len(server.base):]: h for h in feed_health(store)}
    finally:
        store.close()
    assert health["/500.xml"]["consecutive_errors"] == 1 and "500" in health["/500.xml"]["last_error"]
    assert health["/old.xml"]["location"] == u("/new.xml") and health["/old.xml"]["last_error"] is None
    assert health["/good.xml"]["items_seen"] == 5

    # Round two: a story is updated, the duplicate's dates move, the moved feed is asked at its new home.
    server.routes["/p/bridge"] = Route(page("Bridge reopens", story("bridge reopening delayed")),
                                       content_type="text/html")
    items = rss("Good", [{"guid": "g1", "title": "Bridge reopens (updated)", "link": u("/p/bridge"),
                          "description": "teaser bridge, now delayed"}])
    server.routes["/good.xml"] = Route(items)
    for item in dup:
        item["date"] = item["date"].replace("2021", "2022")
    server.routes["/dup.xml"] = Route(rss("Dup", dup))
    mark = server.mark()
    report = watch(feeds, index, once=True, allow_private=True, embedder=embedder, limits=limits())
    by = {f.url[len(server.base):]: f for f in report.feeds}
    assert by["/good.xml"].updated == 1 and report.indexed == 1, "only the updated story is re-embedded"
    assert by["/dup.xml"].unchanged == 1 and by["/dup.xml"].new == 0
    after = articles(index)
    assert len(after) == 8, "an update replaces; new dates make no copy"
    assert "bridge reopening delayed" in after[u("/p/bridge")][1]
    assert after[u("/d/1")] == stored[u("/d/1")]
    asked = server.paths(mark)
    assert "/new.xml" in asked and "/old.xml" not in asked
    assert "/malformed.xml" in asked and by["/malformed.xml"].failed, "a broken feed keeps being reported"
    assert by["/500.xml"].failed
    store = IndexStore.open(index)
    try:
        health = {h["url"][len(server.base):]: h for h in feed_health(store)}
    finally:
        store.close()
    assert health["/500.xml"]["consecutive_errors"] == 2


# -- one writer, stopping, a live server ----------------------------------------------------------------
def test_second_watcher_is_refused_and_stop_ends_the_loop(tmp_path, server, embedder):
    from indexer.errors import IndexLocked

    server.routes["/a.xml"] = Route(rss("A", [{"guid": "a", "title": "Ferry strike", "link": server.url("/a/1"),
                                               "content": story("ferry strike")}]))
    feeds = feeds_file(tmp_path, [server.url("/a.xml")])
    index = tmp_path / "idx"
    stop = threading.Event()
    holder: dict = {}
    thread = threading.Thread(target=lambda: holder.setdefault("report", watch(
        feeds, index, interval=0.2, stop=stop, allow_private=True, embedder=embedder, limits=limits())))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not (index / "watch.lock").exists() or not articles_ready(index):
            assert time.monotonic() < deadline and thread.is_alive(), "the watcher did not start"
            time.sleep(0.05)
        with pytest.raises(IndexLocked, match="watch"):
            watch(feeds, index, once=True, allow_private=True, embedder=embedder, limits=limits())
        time.sleep(0.6)  # a few more rounds: each is one 304
    finally:
        stop.set()
        thread.join(timeout=15)
    assert not thread.is_alive(), "the watcher did not stop"
    report = holder["report"]
    assert report.rounds >= 2 and report.indexed == 1 and report.ok


def test_fetching_holds_no_writer_lock(tmp_path, server, embedder):
    """While the watcher waits on a slow feed, another writer (an API write, `newsearch index`) gets the
    index at once; the watcher takes the lock only to commit."""
    from indexer.pipeline import Indexer
    from indexer.sources.article import Article

    arrived, release = threading.Event(), threading.Event()

    def slow(req):
        arrived.set()
        release.wait(20)  # bounded: the test releases it as soon as its own write is done
        return 200, {"Content-Type": "application/rss+xml"}, rss("Slow", [
            {"guid": "s1", "title": "Bridge toll scrapped", "link": server.url("/s/1"), "content": story("toll")}])

    server.routes["/slow.xml"] = Route(handler=slow)
    index = tmp_path / "idx"
    with Indexer(index, embedder=embedder):  # an existing index, as under `serve --watch`
        pass
    holder: dict = {}
    thread = threading.Thread(target=lambda: holder.setdefault("report", watch(
        feeds_file(tmp_path, [server.url("/slow.xml")]), index, once=True, allow_private=True, embedder=embedder,
        limits=limits(read_timeout=25.0, total_timeout=30.0))))
    thread.start()
    try:
        assert arrived.wait(30), "the watcher never asked for the feed"
        with Indexer(index, embedder=embedder) as other:  # no wait: the lock must be free during the fetch
            other.write([Article(id="api-1", title="Written while the watcher fetched", text="Ferry fares frozen.")])
    finally:
        release.set()
        thread.join(timeout=60)
    assert not thread.is_alive() and holder["report"].ok and holder["report"].indexed == 1
    assert set(articles(index)) == {"api-1", server.url("/s/1")}


def articles_ready(index: Path) -> bool:
    try:
        return bool(articles(index))
    except Exception:
        return False


def test_a_running_server_sees_new_articles_without_errors(tmp_path, server, embedder):
    import httpx

    from api.app import Settings, create_app
    from tests.api.conftest import ServerThread

    items = [{"guid": "s0", "title": "Orchard frost", "link": server.url("/s/0"), "content": story("orchard frost")}]
    server.routes["/live.xml"] = Route(lambda: rss("Live", items))
    feeds = feeds_file(tmp_path, [server.url("/live.xml")])
    index = tmp_path / "idx"
    assert watch(feeds, index, once=True, allow_private=True, embedder=embedder, limits=limits()).indexed == 1
    api = ServerThread(create_app(index, Settings(), embedder=embedder)).start()
    stop, errors, answers = threading.Event(), [], []

    def searching() -> None:
        with httpx.Client(base_url=api.url, timeout=10) as client:
            for _ in range(2000):  # bounded: the loop ends by count or by the stop flag
                if stop.is_set():
                    return
                response = client.get("/search", params={"q": "lighthouse keeper retires", "k": 5})
                if response.status_code != 200:
                    errors.append(response.status_code)
                else:
                    answers.append([r["id"] for r in response.json()["results"]])
                time.sleep(0.01)

    reader = threading.Thread(target=searching)
    watcher = threading.Thread(target=lambda: watch(feeds, index, interval=0.3, stop=stop, allow_private=True,
                                                   embedder=embedder, limits=limits()))
    reader.start()
    watcher.start()
    try:
        time.sleep(0.5)
        items.append({"guid": "s1", "title": "Lighthouse keeper retires", "link": server.url("/s/1"),
                      "content": story("lighthouse keeper retirement")})
        deadline, found = time.monotonic() + 30, False
        # Until the new article shows and the reader has searched more than 10 times alongside the watcher (it
        # can show within the first 10 searches: waiting only for it made the count below a race).
        while not (found and len(answers) > 10) and time.monotonic() < deadline:
            found = found or any(server.url("/s/1") in ids for ids in answers[-5:])
            time.sleep(0.1)
    finally:
        stop.set()
        reader.join(timeout=15)
        watcher.join(timeout=15)
        api.stop()
    assert not errors, f"searches failed during watch: {errors[:5]}"
    assert found, "the running server never showed the new article"
    assert len(answers) > 10


# -- `newsearch index URL`: the watcher's fetcher, parser and ids -----------------------------------------------
def test_index_url_and_watch_make_one_article_per_entry(tmp_path, server, embedder):
    from indexer.crawl.articles import UrlReader
    from indexer.crawl.fetch import Limits
    from indexer.pipeline import Indexer
    from indexer.sources.article import Article, Problem
    from indexer.sources.readers import read_sources

    u = server.url
    server.routes["/t/1"] = Route(page("Dam opens", story("dam opening")), content_type="text/html")
    server.routes["/feed.rss"] = Route(rss("Valley News", [
        {"guid": "v1", "title": "Rail line reopens", "link": u("/r/1?utm_source=feed"), "content": story("rail")},
        {"guid": "v2", "title": "Dam opens", "link": u("/t/1"), "description": "teaser dam"},
        {"guid": "v3", "title": "Market day", "link": u("/m/1#top"), "content": story("market day")},
    ]))
    feed, index = u("/feed.rss"), tmp_path / "idx"
    fast = Limits(host_delay=0.0, total_timeout=5.0)

    with UrlReader(limits=fast) as guarded:  # the default: loopback refused before any connection
        [refused] = guarded(feed)
    assert isinstance(refused, Problem) and "loopback" in refused.message and server.paths() == []

    with UrlReader(allow_private=True, limits=fast) as reader, Indexer(index, embedder=embedder) as indexer:
        items = list(read_sources([feed], read_url=reader))
        assert all(isinstance(i, Article) for i in items), items
        assert indexer.add(items).indexed == 3
    stored = articles(index)
    assert set(stored) == {u("/r/1"), u("/t/1"), u("/m/1")}, "the canonical link, not the guid"
    assert "dam opening" in stored[u("/t/1")][1], "a teaser's page is fetched, as the watcher does"
    assert "/robots.txt" in server.paths(), "the linked page obeys robots.txt"

    report = watch(feeds_file(tmp_path, [feed]), index, once=True, allow_private=True, embedder=embedder,
                   limits=limits())
    assert report.ok and report.indexed == 0 and report.unchanged == 3, "the same entries, the same articles"
    assert articles(index) == stored

    with UrlReader(allow_private=True, limits=fast) as reader, Indexer(index, embedder=embedder) as indexer:
        [dam] = read_sources([u("/t/1")], read_url=reader)  # the page on its own: the entry's article
        assert isinstance(dam, Article) and dam.id == u("/t/1") and "dam opening" in dam.text
        indexer.add([dam])
    assert set(articles(index)) == set(stored)

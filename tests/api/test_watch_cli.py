"""`newsearch watch` and `newsearch serve --watch` as a user runs them, against a feed server on 127.0.0.1:
exit codes, feed freshness in `stats` and `/health`, and the watcher inside the server."""

from __future__ import annotations

import json
import time

import httpx

from indexer.crawl.testing import FeedServer, Route, feeds_file, rss, story
from tests.api.conftest import ServerThread
from tests.api.test_cli import run


def test_watch_once_then_stats_report_each_feed(tmp_path):
    server = FeedServer()
    try:
        items = [{"guid": "w0", "title": "Harbour ferry strike ends", "link": server.url("/w/0"),
                  "content": story("harbour ferry strike")}]
        server.routes["/ok.xml"] = Route(rss("Harbour News", items))
        server.routes["/broken.xml"] = Route(b"<rss><channel><item>", status=200)
        feeds = feeds_file(tmp_path, [server.url("/ok.xml"), server.url("/broken.xml")])
        index = tmp_path / "idx"
        out = run("watch", str(feeds), "--index", str(index), "--once", "--allow-private", "--quiet")
        assert out.returncode == 1, out.stderr  # one feed failed
        assert "broken.xml" in out.stderr and "indexed 1 articles" in out.stderr
        stats = json.loads(run("stats", "--index", str(index), "--json").stdout)
        health = {f["url"].rsplit("/", 1)[-1]: f for f in stats["feeds"]}
        assert health["ok.xml"]["last_success"] and health["ok.xml"]["consecutive_errors"] == 0
        assert health["broken.xml"]["consecutive_errors"] == 1 and health["broken.xml"]["last_error"]
        refused = run("watch", str(feeds), "--index", str(tmp_path / "other"), "--once", "--quiet")
        assert refused.returncode == 1 and "127.0.0.1" in refused.stderr  # loopback refused by default
    finally:
        server.close()


def test_serve_watch_follows_feeds_inside_the_server(tmp_path, small_index, embedder):
    import shutil

    from api.app import Settings, create_app

    index = tmp_path / "idx"
    shutil.copytree(small_index, index)
    server = FeedServer()
    try:
        items = [{"guid": "v0", "title": "Volcano ash grounds flights", "link": server.url("/v/0"),
                  "content": story("volcano ash flights")}]
        server.routes["/live.xml"] = Route(rss("Live", items))
        feeds = feeds_file(tmp_path, [server.url("/live.xml") + " 1s Live Desk"])
        api = ServerThread(create_app(index, Settings(), embedder=embedder, feeds=feeds, allow_private=True)).start()
        try:
            with httpx.Client(base_url=api.url, timeout=30) as client:
                deadline, health = time.monotonic() + 90, []
                while time.monotonic() < deadline:  # bounded: the watcher's first round
                    health = client.get("/health").json()["feeds"]
                    if health and health[0]["last_success"]:
                        break
                    time.sleep(0.3)
                assert health and health[0]["source"] == "Live Desk" and health[0]["consecutive_errors"] == 0
                found = client.get("/search", params={"q": "volcano ash grounds flights", "k": 1}).json()
                assert found["results"][0]["id"] == server.url("/v/0")
        finally:
            api.stop()
    finally:
        server.close()


def test_index_url_is_guarded_and_shares_articles_with_watch(tmp_path):
    """`newsearch index URL` fetches like the watcher: loopback refused without --allow-private (no request
    reaches the server), and an entry indexed by `index URL` and by `watch --once` is one article."""
    with FeedServer() as server:
        items = [{"guid": f"x{i}", "title": f"Tram line {i} extended", "link": server.url(f"/x/{i}?utm_medium=rss"),
                  "content": story(f"tram extension {i}")} for i in range(3)]
        server.routes["/feed.rss"] = Route(rss("Tram Times", items))
        feed, index = server.url("/feed.rss"), tmp_path / "idx"

        refused = run("index", feed, "--index", str(index), "--quiet")
        assert refused.returncode == 1 and "loopback" in refused.stderr and "--allow-private" in refused.stderr
        assert server.paths() == [], "no request may reach the server without --allow-private"

        indexed = run("index", feed, "--index", str(index), "--quiet", "--allow-private",
                      "--contact", "ops@example.org")
        assert indexed.returncode == 0, indexed.stderr
        assert "indexed 3 articles" in indexed.stderr
        assert server.requests[0][2]["User-Agent"].endswith("(+ops@example.org)")

        watched = run("watch", str(feeds_file(tmp_path, [feed])), "--index", str(index), "--once", "--quiet",
                      "--allow-private")
        assert watched.returncode == 0, watched.stderr
        assert "indexed 0 articles" in watched.stderr and "3 unchanged" in watched.stderr
        stats = json.loads(run("stats", "--index", str(index), "--json").stdout)
        assert stats["articles"] == 3
        assert all(h["User-Agent"] == server.requests[-1][2]["User-Agent"] for _, _, h in server.requests[1:])
        assert "(" not in server.requests[-1][2]["User-Agent"], "no contact given: newsearch and its version only"

"""`newsearch watch` and `newsearch serve --watch` as a user runs them, against a feed server on 127.0.0.1:
exit codes, feed freshness in `stats` and `/health`, and the watcher inside the server."""

from __future__ import annotations

import json
import time

import httpx

from tests.api.conftest import ServerThread
from tests.api.test_cli import run
from tests.indexer.crawl.test_watch import FeedServer, Route, feeds_file, rss, story


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

"""The feed watcher against a real HTTP server on 127.0.0.1 that serves feeds and pages and records every
request: conditional GET, Retry-After, every kind of broken feed or page, updates, moves, a live server.

`FeedServer` is also what tests/indexer/crawl/test_watch_crash.py and benchmarks/watch.py serve feeds with.
Nothing here talks to any other address; every loop is bounded in count and time.
"""

from __future__ import annotations

import gzip
import hashlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from indexer.crawl.feeds import parse_feeds_file, parse_interval
from indexer.crawl.watch import WatchLimits, feed_health, watch


# -- the local feed server -------------------------------------------------------------------------
@dataclass
class Route:
    """What one path answers. `body` may be a callable (called per request) for answers that change."""

    body: bytes | Callable[[], bytes] = b""
    content_type: str = "application/rss+xml"
    status: int = 200
    headers: dict = field(default_factory=dict)
    etag: bool = True
    last_modified: bool = False
    delay: float = 0.0  # seconds before answering (a timeout test)
    encoding: str = ""  # "gzip": the body is sent as is with Content-Encoding: gzip
    stream: Callable[[], Iterator[bytes]] | None = None  # sent without Content-Length, then the connection closes
    handler: Callable[[BaseHTTPRequestHandler], tuple[int, dict, bytes]] | None = None


class FeedServer:
    """A threaded HTTP server on 127.0.0.1, on a free port, serving `routes` and logging requests."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[float, str, dict]] = []  # (time, path, headers)
        self.statuses: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                outer._serve(self)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:
                if not isinstance(sys.exc_info()[1], ConnectionError):  # a client we killed or cut off
                    super().handle_error(request, client_address)

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def paths(self, since: int = 0) -> list[str]:
        with self._lock:
            return [p for _, p, _ in self.requests[since:]]

    def mark(self) -> int:
        with self._lock:
            return len(self.requests)

    def _serve(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path
        with self._lock:
            self.requests.append((time.time(), path, dict(req.headers)))
        route = self.routes.get(path)
        try:
            if route is None:
                self._send(req, 404, {"Content-Type": "text/plain"}, b"not found")
                return
            if route.delay:
                time.sleep(route.delay)
            if route.handler is not None:
                status, headers, body = route.handler(req)
                self._send(req, status, headers, body)
                return
            if route.stream is not None:
                req.send_response(route.status)
                req.send_header("Content-Type", route.content_type)
                req.send_header("Connection", "close")
                req.end_headers()
                for chunk in route.stream():
                    req.wfile.write(chunk)
                req.close_connection = True
                return
            body = route.body() if callable(route.body) else route.body
            headers = {"Content-Type": route.content_type, **route.headers}
            tag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            modified = formatdate(1_700_000_000 + int(hashlib.sha1(body).hexdigest()[:6], 16), usegmt=True)
            if route.etag:
                headers["ETag"] = tag
            if route.last_modified:
                headers["Last-Modified"] = modified
            if route.status == 200 and ((route.etag and req.headers.get("If-None-Match") == tag) or (
                    not route.etag and route.last_modified and req.headers.get("If-Modified-Since") == modified)):
                self._send(req, 304, {k: v for k, v in headers.items() if k != "Content-Type"}, b"")
                return
            if route.encoding:
                headers["Content-Encoding"] = route.encoding
            self._send(req, route.status, headers, body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on purpose (a size cap): nothing to answer

    def _send(self, req: BaseHTTPRequestHandler, status: int, headers: dict, body: bytes) -> None:
        with self._lock:
            self.statuses.append((req.path, status))
        req.send_response(status)
        for key, value in headers.items():
            req.send_header(key, value)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        if body:
            req.wfile.write(body)


def rss(title: str, items: list[dict]) -> bytes:
    """An RSS 2.0 document; item keys: guid, title, link, date (RFC 822), description, content."""
    out = [f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
           f'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>{escape(title)}</title>'
           f"<link>http://127.0.0.1/</link><description>test</description>"]
    for item in items:
        out.append("<item>")
        for key, tag in (("guid", "guid"), ("title", "title"), ("link", "link"), ("date", "pubDate"),
                         ("description", "description")):
            if key in item:
                out.append(f"<{tag}>{escape(item[key])}</{tag}>")
        if "content" in item:
            out.append(f"<content:encoded>{escape(item['content'])}</content:encoded>")
        out.append("</item>")
    out.append("</channel></rss>")
    return "".join(out).encode("utf-8")


def page(title: str, body: str, date: str = "") -> bytes:
    """An article page trafilatura extracts: headline, date in the metadata, paragraphs."""
    meta = f'<meta property="article:published_time" content="{date}">' if date else ""
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in body.split("\n\n"))
    return (f"<!doctype html><html><head><title>{escape(title)}</title>{meta}</head><body><header>Site</header>"
            f"<article><h1>{escape(title)}</h1>{paragraphs}</article><footer>footer</footer></body></html>"
            ).encode()


def story(topic: str, n: int = 6) -> str:
    """A body long enough to count as a full article (FULL_CONTENT_CHARS) with words unique to `topic`."""
    return "\n\n".join(f"Paragraph {i} about {topic}: reporters describe how the {topic} unfolded, what "
                       f"officials said about the {topic}, and what residents expect next." for i in range(n))


def limits(**kw) -> WatchLimits:
    """Short timeouts and no host delay: the tests' server is ours, and the suite must stay quick."""
    base = dict(connect_timeout=2.0, read_timeout=1.0, total_timeout=5.0, host_delay=0.0, max_retry_wait=3.0,
                max_feed_bytes=2 * 1024 * 1024, max_page_bytes=2 * 1024 * 1024, workers=4, backoff=5.0)
    return WatchLimits(**{**base, **kw})


def feeds_file(tmp_path: Path, urls: list[str]) -> Path:
    path = tmp_path / "feeds.txt"
    path.write_text("# test feeds\n" + "\n".join(urls) + "\n")
    return path


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
        while not found and time.monotonic() < deadline:
            found = any(server.url("/s/1") in ids for ids in answers[-5:])
            time.sleep(0.1)
    finally:
        stop.set()
        reader.join(timeout=15)
        watcher.join(timeout=15)
        api.stop()
    assert not errors, f"searches failed during watch: {errors[:5]}"
    assert found, "the running server never showed the new article"
    assert len(answers) > 10

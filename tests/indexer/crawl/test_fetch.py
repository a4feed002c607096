"""indexer.crawl.fetch: the URL guard on the function itself (addresses passed in or resolution replaced: no
request is ever aimed at a private address), and the polite client against a server on 127.0.0.1."""

from __future__ import annotations

import gzip
import time
import zlib

import pytest

from indexer.crawl import fetch
from indexer.crawl.fetch import Fetcher, Limits, UnsafeURL, check_url, retry_after_seconds
from tests.indexer.crawl.test_watch import FeedServer, Route


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/feed", "http://localhost.localdomain.invalid/", "https://10.1.2.3/", "http://192.168.0.1/",
    "http://172.16.5.4/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[fe80::1]/",
    "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://224.0.0.1/", "http://100.64.0.1/",
    "http://[fc00::1]/",
])
def test_non_public_addresses_are_refused(url, monkeypatch):
    monkeypatch.setattr(fetch, "_resolve", lambda host: ["127.0.0.1"])  # any name: loopback
    with pytest.raises(UnsafeURL):
        check_url(url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/", "javascript:alert(1)",
                                 "/relative/feed.xml", "http://user:pw@example.com/", "http:///nohost",
                                 "http://example.com:0/", "http://example.com:99999/"])
def test_other_schemes_and_odd_urls_are_refused_even_when_private_is_allowed(url):
    with pytest.raises(UnsafeURL):
        check_url(url, allow_private=True)


def test_names_are_judged_by_every_address_they_resolve_to(monkeypatch):
    monkeypatch.setattr(fetch, "_resolve", lambda host: ["93.184.216.34"])
    assert check_url("https://news.example.com/rss") == "https://news.example.com/rss"
    monkeypatch.setattr(fetch, "_resolve", lambda host: ["93.184.216.34", "10.0.0.7"])  # one private: refused
    with pytest.raises(UnsafeURL, match="private"):
        check_url("https://news.example.com/rss")

    def unresolvable(host):
        raise OSError("Name or service not known")

    monkeypatch.setattr(fetch, "_resolve", unresolvable)
    with pytest.raises(UnsafeURL, match="cannot resolve"):
        check_url("https://nowhere.example/")
    assert check_url("http://8.8.8.8/") == "http://8.8.8.8/"
    assert check_url("http://127.0.0.1:8080/x", allow_private=True)


def test_retry_after_forms():
    assert retry_after_seconds("120", 5) == 120
    assert retry_after_seconds(None, 5) == 5 and retry_after_seconds("soon", 5) == 5
    from email.utils import formatdate

    assert 25 < retry_after_seconds(formatdate(time.time() + 30, usegmt=True), 5) <= 31


def test_decompression_is_bounded():
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))
    decoder = fetch._Decoder("gzip")
    with pytest.raises(fetch._TooLarge):
        decoder.feed(bomb, 1024 * 1024)
    assert fetch._Decoder("gzip").feed(gzip.compress(b"hello"), 100) == b"hello"
    raw = zlib.compressobj(wbits=-15)
    assert fetch._Decoder("deflate").feed(raw.compress(b"hi there") + raw.flush(), 100) == b"hi there"
    with pytest.raises(ValueError):
        fetch._Decoder("br")


@pytest.fixture
def server():
    s = FeedServer()
    yield s
    s.close()


def test_client_is_polite_and_bounded(server):
    server.routes["/a"] = Route(b"a" * 100, content_type="text/plain")
    server.routes["/big"] = Route(b"b" * 5000, content_type="text/plain")
    server.routes["/r1"] = Route(status=301, headers={"Location": "/r2"}, etag=False)
    server.routes["/r2"] = Route(status=302, headers={"Location": "/a"}, etag=False)
    server.routes["/p1"] = Route(status=308, headers={"Location": "/a"}, etag=False)
    server.routes["/evil"] = Route(status=302, headers={"Location": "file:///etc/passwd"}, etag=False)
    limits = Limits(host_delay=0.3, max_bytes=1000, read_timeout=1, total_timeout=3, max_redirects=3)
    with Fetcher(limits, allow_private=True) as client:
        started = time.monotonic()
        first, second = client.get(server.url("/a")), client.get(server.url("/a"))
        assert first.ok and second.ok and time.monotonic() - started >= 0.3, "the per-host delay was not kept"
        tagged = client.get(server.url("/a"))
        assert client.get(server.url("/a"), etag=tagged.etag).not_modified
        assert "limit" in client.get(server.url("/big")).error
        moved = client.get(server.url("/r1"))
        assert moved.ok and moved.final_url == server.url("/a") and not moved.moved_to, "301 then 302: not moved"
        assert client.get(server.url("/p1")).moved_to == server.url("/a")
        assert "only http and https" in client.get(server.url("/evil")).error
    with Fetcher(limits) as strict:  # the default: no loopback, checked before any connection
        mark = server.mark()
        assert "loopback" in strict.get(server.url("/a")).error and server.paths(mark) == []
    with Fetcher(Limits(host_delay=0, max_redirects=1), allow_private=True) as client:
        assert "more than 1 redirects" in client.get(server.url("/r1")).error
    agents = {h.get("User-Agent") for _, _, h in server.requests}
    assert len(agents) == 1 and agents.pop().startswith("newsearch/")


def test_robots_rules_are_cached_and_obeyed(server):
    server.routes["/robots.txt"] = Route(b"User-agent: newsearch\nDisallow: /no/\n\nUser-agent: *\nDisallow: /\n",
                                         content_type="text/plain")
    with Fetcher(Limits(host_delay=0), allow_private=True) as client:
        assert client.allowed(server.url("/yes/1")) and not client.allowed(server.url("/no/1"))
        assert client.allowed(server.url("/yes/2"))
    assert server.paths().count("/robots.txt") == 1
    other = FeedServer()  # no robots.txt at all (404): everything allowed
    try:
        with Fetcher(Limits(host_delay=0), allow_private=True) as client:
            assert client.allowed(other.url("/anything"))
    finally:
        other.close()

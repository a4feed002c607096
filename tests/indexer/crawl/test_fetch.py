"""indexer.crawl.fetch: the URL guard on the functions themselves (addresses passed in, resolution replaced,
the dialler replaced: no request is ever aimed at a private or public address), the pinned connection
(one resolution, the checked address dialled, Host and TLS for the name), and the polite client against
servers on 127.0.0.1."""

from __future__ import annotations

import gzip
import time
import zlib
from urllib.parse import urlsplit

import httpcore
import pytest

from indexer.crawl import fetch
from indexer.crawl.fetch import (
    Fetcher,
    Limits,
    PinnedBackend,
    UnsafeURL,
    check_contact,
    check_url,
    checked_addresses,
    retry_after_seconds,
    user_agent,
)
from indexer.crawl.testing import FeedServer, Route


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/feed", "http://localhost.localdomain.invalid/", "https://10.1.2.3/", "http://192.168.0.1/",
    "http://172.16.5.4/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[fe80::1]/",
    "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://224.0.0.1/", "http://100.64.0.1/",
    "http://[fc00::1]/",
])
def test_non_public_addresses_are_refused(url, monkeypatch):
    monkeypatch.setattr(fetch, "_resolve", lambda host: ["127.0.0.1"])  # any name: loopback
    with pytest.raises(UnsafeURL):
        checked_addresses(urlsplit(check_url(url)).hostname)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/", "javascript:alert(1)",
                                 "/relative/feed.xml", "http://user:pw@example.com/", "http:///nohost",
                                 "http://example.com:0/", "http://example.com:99999/"])
def test_other_schemes_and_odd_urls_are_refused_whatever_the_address(url):
    with pytest.raises(UnsafeURL):
        check_url(url)


def test_names_are_judged_by_every_address_they_resolve_to(monkeypatch):
    monkeypatch.setattr(fetch, "_resolve", lambda host: ["93.184.216.34", "93.184.216.34"])
    assert checked_addresses("news.example.com") == ["93.184.216.34"]
    monkeypatch.setattr(fetch, "_resolve", lambda host: ["93.184.216.34", "10.0.0.7"])  # one private: refused
    with pytest.raises(UnsafeURL, match="private"):
        checked_addresses("news.example.com")
    assert checked_addresses("news.example.com", allow_private=True) == ["93.184.216.34", "10.0.0.7"]

    def unresolvable(host):
        raise OSError("Name or service not known")

    monkeypatch.setattr(fetch, "_resolve", unresolvable)
    with pytest.raises(OSError, match="not known"):
        checked_addresses("nowhere.example")
    assert checked_addresses("8.8.8.8") == ["8.8.8.8"]  # an address is not resolved
    assert checked_addresses("127.0.0.1", allow_private=True) == ["127.0.0.1"]


class Dialled:
    """Stands in for httpcore's socket connect: records the address and connects nowhere."""

    def __init__(self) -> None:
        self.addresses: list[str] = []

    def __call__(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.addresses.append(host)
        raise httpcore.ConnectError(f"test: not connecting to {host}")


def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch):
    """DNS rebinding: the name answers a public address, then loopback. The pinned backend resolves once,
    checks, and dials the checked address; the second answer is never asked for."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    asked: list[str] = []

    def rebinding(host):
        asked.append(host)
        return next(answers)

    dialled = Dialled()
    monkeypatch.setattr(fetch, "_resolve", rebinding)
    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", dialled)
    with pytest.raises(httpcore.ConnectError, match="not connecting"):
        PinnedBackend().connect_tcp("rebind.example", 443, timeout=1)
    assert asked == ["rebind.example"] and dialled.addresses == ["93.184.216.34"]

    # The other order: the first answer is private, so nothing is dialled at all.
    monkeypatch.setattr(fetch, "_resolve", lambda host: ["169.254.169.254"])
    with pytest.raises(UnsafeURL, match="link-local"):
        PinnedBackend().connect_tcp("metadata.example", 80, timeout=1)
    assert dialled.addresses == ["93.184.216.34"]

    # Several checked addresses: each is tried in turn, none other.
    monkeypatch.setattr(fetch, "_resolve", lambda host: ["93.184.216.34", "2606:2800:220:1::1"])
    with pytest.raises(httpcore.ConnectError):
        PinnedBackend().connect_tcp("two.example", 80, timeout=1)
    assert dialled.addresses[1:] == ["93.184.216.34", "2606:2800:220:1::1"]


def test_contact_and_user_agent():
    assert user_agent().startswith("newsearch/") and "(" not in user_agent() and "github" not in user_agent()
    assert user_agent("ops@example.org").endswith(" (+ops@example.org)")
    assert user_agent("https://example.org/crawler").endswith(" (+https://example.org/crawler)")
    for bad in ("not a contact", "ops@example.org) evil", "ops@example.org\r\nX-Injected: 1", "ftp://x.example",
                "mailto:", "https://exa mple.org"):
        with pytest.raises(ValueError):
            check_contact(bad)


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
        refused = strict.get(server.url("/a"))
        assert "loopback" in refused.error and not refused.transient and server.paths(mark) == []
    with Fetcher(Limits(host_delay=0, max_redirects=1), allow_private=True) as client:
        assert "more than 1 redirects" in client.get(server.url("/r1")).error
    agents = {h.get("User-Agent") for _, _, h in server.requests}
    assert agents == {user_agent()}
    with Fetcher(Limits(host_delay=0), allow_private=True, contact="ops@example.org") as client:
        mark = server.mark()
        assert client.get(server.url("/a")).ok
        assert server.requests[mark][2]["User-Agent"] == user_agent("ops@example.org")


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


def test_a_pinned_connection_keeps_the_name_for_host_and_tls(server, monkeypatch, tmp_path):
    """The name resolves (by the stub) to our 127.0.0.1 servers: one resolution, the request's Host header is
    the name, and HTTPS verifies the certificate against the name (SNI), not against the address dialled."""
    import shutil
    import ssl
    import subprocess

    asked: list[str] = []
    monkeypatch.setattr(fetch, "_resolve", lambda host: asked.append(host) or ["127.0.0.1"])
    server.routes["/a"] = Route(b"plain", content_type="text/plain")
    with Fetcher(Limits(host_delay=0, total_timeout=5), allow_private=True) as client:
        name = f"http://feeds.pinned.test:{server.port}/a"
        assert client.get(name).body == b"plain" and client.get(name).ok
    assert asked == ["feeds.pinned.test"], "one resolution for the connection, none by httpx"
    assert server.requests[-1][2]["Host"] == f"feeds.pinned.test:{server.port}"

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=feeds.pinned.test",
                    "-addext", "subjectAltName=DNS:feeds.pinned.test"], check=True, capture_output=True, timeout=30)
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert, key)
    seen_names: list[str | None] = []
    served.sni_callback = lambda sock, name, context: seen_names.append(name)
    trusted = ssl.create_default_context(cafile=str(cert))
    with FeedServer(tls=served, timeout=5) as tls_server:
        tls_server.routes["/s"] = Route(b"secret", content_type="text/plain")
        with Fetcher(Limits(host_delay=0, total_timeout=5), allow_private=True, ssl_context=trusted) as client:
            answer = client.get(f"https://feeds.pinned.test:{tls_server.port}/s")
            assert answer.ok and answer.body == b"secret", answer.error
            mismatch = client.get(f"https://127.0.0.1:{tls_server.port}/s")  # the certificate names the name only
            assert not mismatch.ok and "certificate" in mismatch.error.lower()
        assert seen_names[0] == "feeds.pinned.test"
        assert tls_server.paths() == ["/s"] and tls_server.requests[0][2]["Host"].startswith("feeds.pinned.test:")

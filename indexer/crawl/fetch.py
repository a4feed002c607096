"""Polite, bounded HTTP for the crawler: every URL is untrusted and every host is someone else's.

One `Fetcher` serves a whole watcher (or one `newsearch index URL` run). Per host (scheme + host + port) it
keeps one request in flight and a minimum delay between requests, remembers a Retry-After, and caches
robots.txt. Every response is read under a byte cap that also counts decompressed bytes (we decompress
ourselves, with a bound), under a total deadline as well as socket timeouts, and redirects are followed by
hand so that each hop is checked by `check_url` and counted. Addresses are checked where the connection is
made: the transport resolves a name once, refuses it unless every address is public, and connects to one
of those very addresses (`PinnedBackend`), so a second DNS answer (DNS rebinding) never reaches a socket.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpcore
import httpx

from indexer.errors import InvalidInput

ROBOTS_AGENT = "newsearch"
MAX_REDIRECTS = 5
MAX_ROBOTS_BYTES = 512 * 1024
MAX_HOSTS = 4096  # per-host bookkeeping is forgotten oldest first beyond this: memory stays bounded
ROBOTS_TTL = 3600.0
MAX_CRAWL_DELAY = 60.0
_NOT_PUBLIC = ("is_private", "is_loopback", "is_link_local", "is_multicast", "is_reserved", "is_unspecified")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _version() -> str:
    try:
        return version("newsearch")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


def check_contact(contact: str) -> str:
    """`contact` if it is an email address or an http(s) URL with a host, else ValueError: it goes into a
    header, so nothing but those (no spaces, no parentheses, no control characters) is let through."""
    contact = contact.strip()
    parts = urlsplit(contact)
    url = parts.scheme in ("http", "https") and bool(parts.hostname)
    if not (_EMAIL.match(contact) or url) or any(c.isspace() or c in "()" or not c.isprintable() or ord(c) > 126
                                                  for c in contact):
        raise ValueError(f"contact {contact!r} is neither an email address nor an http(s) URL")
    return contact


def user_agent(contact: str | None = None) -> str:
    """`newsearch/<version>`, with `(+contact)` when the operator gives one: a site owner who sees the
    requests reaches whoever runs this crawler, not the authors of newsearch."""
    base = f"newsearch/{_version()}"
    return f"{base} (+{check_contact(contact)})" if contact else base


class UnsafeURL(InvalidInput):
    """A URL the crawler will not fetch: not http(s), no host, or (by default) a non-public address."""


def _resolve(host: str) -> list[str]:
    """The addresses `host` resolves to (a seam the tests replace: they never resolve real names)."""
    return [info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    return not any(getattr(ip, flag) for flag in _NOT_PUBLIC) and ip.is_global


def check_url(url: str) -> str:
    """`url` if its form lets the crawler fetch it, else `UnsafeURL` saying why: only http and https, with
    a host, no user:password, a real port. Run before every request and every redirect hop; the address
    rule is `checked_addresses`, applied where the connection is made."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL(f"only http and https URLs are fetched, not {parts.scheme or 'a relative URL'!r}")
    if not parts.hostname:
        raise UnsafeURL("URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("URLs with user names or passwords are not fetched")
    if port == 0:
        raise UnsafeURL("port 0 is not a port")
    return url


def checked_addresses(host: str, allow_private: bool = False) -> list[str]:
    """The addresses to connect to for `host`, resolved once; `UnsafeURL` unless every one is public (no
    loopback, private, link-local, multicast or reserved range, IPv4-mapped IPv6 included), so a feed
    cannot point the crawler at the machine's own services or its cloud metadata endpoint.
    `allow_private` lifts the address rule (the tests' 127.0.0.1 servers). OSError: the name does not
    resolve. A name with one private address among public ones is refused whole."""
    addresses = [host] if _is_ip(host) else list(dict.fromkeys(_resolve(host)))
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    if not allow_private:
        for address in addresses:
            if not _public(address):
                raise UnsafeURL(f"{host} is a loopback, private or link-local address ({address}); pass "
                                "--allow-private (allow_private=True) to fetch from local networks")
    return addresses


class PinnedBackend(httpcore.SyncBackend):
    """httpcore's sockets, connected only to the addresses `checked_addresses` returned for the name.

    httpcore hands `connect_tcp` the URL's host; the name is resolved here once, checked, and one of those
    checked addresses is dialled. The request's Host header, TLS SNI and certificate verification still
    use the name (httpcore takes them from the URL, not from the socket), so HTTPS works as usual while a
    name that answers differently the second time (DNS rebinding) has no second time."""

    def __init__(self, allow_private: bool = False) -> None:
        self.allow_private = allow_private

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable | None = None) -> httpcore.NetworkStream:
        try:
            addresses = checked_addresses(host, self.allow_private)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        failure: Exception | None = None
        for address in addresses:  # in the resolver's order, as socket.create_connection tries them
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure  # addresses is never empty, so one attempt was made


class _PinnedTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool whose network backend is a `PinnedBackend`.

    httpx takes no network backend of its own (encode/httpx#3749 proposes one), so the pool that
    `HTTPTransport` builds is replaced by an equal one, made through httpcore's public constructor."""

    def __init__(self, backend: PinnedBackend, ssl_context: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def host_key(url: str) -> str:
    """What politeness is counted per: scheme, host and port."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def retry_after_seconds(value: str | None, default: float) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), else `default`."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return default
    return max(0.0, when.timestamp() - time.time())


@dataclass
class Response:
    """What one fetch came to. `error` set: it failed, and says why in words for the feed's health."""

    url: str  # the URL asked for
    final_url: str = ""  # after redirects
    status: int = 0
    body: bytes = b""
    content_type: str = ""
    etag: str = ""
    last_modified: str = ""
    error: str = ""
    transient: bool = False  # worth trying again later (5xx, 429, timeout, connection error)
    retry_at: float = 0.0  # wall-clock time before which the host asked not to be asked again
    moved_to: str = ""  # set when every redirect hop was permanent (301/308): the new address to use
    headers: dict = field(default_factory=dict)
    held: bool = False  # never sent (stopping, or the host's Retry-After still holds): no try was spent

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass
class Limits:
    """The bounds every request runs under; the tests shrink them."""

    max_bytes: int = 10 * 1024 * 1024  # after decompression
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0  # a server that drips one byte a second still ends here
    host_delay: float = 1.0  # minimum seconds between two requests to one host
    max_redirects: int = MAX_REDIRECTS
    max_retry_wait: float = 30.0  # a Retry-After up to this is waited out (once); longer ones defer the feed
    backoff: float = 60.0  # wait after a 429/503 without Retry-After


class _Host:
    """One host's politeness state: its lock keeps one request in flight (so one connection)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next_at = 0.0  # monotonic time of the earliest next request
        self.retry_at = 0.0  # wall-clock time from a Retry-After
        self.robots: RobotFileParser | None = None
        self.robots_until = 0.0
        self.crawl_delay = 0.0


class _TooLarge(Exception):
    pass


class _Decoder:
    """gzip/deflate/identity decoding that never produces more than the bytes still allowed."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._z = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self._z = zlib.decompressobj(47)  # 32 + 15: gzip or zlib header, found by zlib
            self._deflate = encoding == "deflate"
        else:
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")
        self._first = True

    def feed(self, data: bytes, room: int) -> bytes:
        """Decoded bytes of `data`; raises `_TooLarge` past `room`."""
        if self._z is None:
            if len(data) > room:
                raise _TooLarge
            return data
        if self._first and self._deflate and data and (data[0] & 0x0F) != 8:
            self._z = zlib.decompressobj(-15)  # raw deflate, as some servers send it
        self._first = False
        out = self._z.decompress(data, room + 1)
        if len(out) > room or self._z.unconsumed_tail:
            raise _TooLarge
        return out


class Fetcher:
    """Polite HTTP GETs shared by all of a watcher's threads (and the POSTs of webhooks).

    `contact` (an email or URL) names the operator in the User-Agent; `ssl_context` replaces the default
    certificate store (certifi), e.g. for an intranet's CA."""

    def __init__(self, limits: Limits | None = None, allow_private: bool = False,
                 stop: threading.Event | None = None, contact: str | None = None,
                 on_request: Callable[[str], None] | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.limits = limits or Limits()
        self.stop = stop or threading.Event()
        self.user_agent = user_agent(contact)
        self.on_request = on_request
        self.requests = 0
        self._hosts: OrderedDict[str, _Host] = OrderedDict()
        self._hosts_lock = threading.Lock()
        lim = self.limits
        transport = _PinnedTransport(
            PinnedBackend(allow_private), ssl_context or httpx.create_ssl_context(trust_env=False),
            httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=30))
        self._client = httpx.Client(
            transport=transport, follow_redirects=False, trust_env=False,  # no proxy or .netrc from the env
            timeout=httpx.Timeout(lim.read_timeout, connect=lim.connect_timeout),
            headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _host(self, url: str) -> _Host:
        key = host_key(url)
        with self._hosts_lock:
            host = self._hosts.get(key)
            if host is None:
                host = self._hosts[key] = _Host()
                while len(self._hosts) > MAX_HOSTS:
                    self._hosts.popitem(last=False)
            self._hosts.move_to_end(key)
            return host

    # -- the public calls ------------------------------------------------------------------------
    def get(self, url: str, etag: str = "", last_modified: str = "", accept: str = "*/*",
            max_bytes: int | None = None) -> Response:
        """GET with conditional headers, redirects checked hop by hop, a 429/503 waited out once when the
        server asks for a short wait. Never raises for the network: the Response says what went wrong."""
        result = self._get(url, etag, last_modified, accept, max_bytes)
        if result.status in (429, 503) and result.retry_at:
            wait = result.retry_at - time.time()
            if wait <= self.limits.max_retry_wait and not self.stop.wait(max(0.0, wait)):
                result = self._get(url, etag, last_modified, accept, max_bytes)
        return result

    def post(self, url: str, body: bytes, headers: dict[str, str], max_bytes: int = 64 * 1024) -> Response:
        """POST `body` once (a webhook): the same address guard, timeouts and per-host Retry-After as a GET, no
        redirect followed (a webhook that moved must be updated by its owner). Never raises for the network."""
        try:
            check_url(url)
        except UnsafeURL as exc:
            return Response(url=url, error=f"refused {url}: {exc}")
        result = self._request(url, headers, max_bytes, time.monotonic() + self.limits.total_timeout, False,
                               method="POST", content=body)
        if 300 <= result.status < 400 and not result.error:
            result.error = f"HTTP {result.status}: the webhook redirects (not followed)"
        return result

    def allowed(self, url: str) -> bool:
        """Whether robots.txt of the URL's host lets newsearch fetch it (cached per host for an hour)."""
        host = self._host(url)
        if host.robots is None or time.monotonic() >= host.robots_until:
            robots = RobotFileParser()
            answer = self._get(urljoin(url, "/robots.txt"), max_bytes=MAX_ROBOTS_BYTES, robots=True)
            if answer.status in (401, 403):
                robots.disallow_all = True
            elif answer.ok:
                robots.parse(answer.body.decode("utf-8", "replace").splitlines())
            elif answer.transient:
                robots.disallow_all = True  # the server is in trouble: ask again in a while, not now
            else:
                robots.allow_all = True  # 404 and other 4xx: no rules
            delay = robots.crawl_delay(ROBOTS_AGENT) if not (robots.allow_all or robots.disallow_all) else None
            host.crawl_delay = min(float(delay or 0), MAX_CRAWL_DELAY)
            host.robots, host.robots_until = robots, time.monotonic() + (60 if answer.transient else ROBOTS_TTL)
        robots = host.robots
        if robots.disallow_all:
            return False
        return robots.allow_all or robots.can_fetch(ROBOTS_AGENT, url)

    # -- one request, redirects by hand ------------------------------------------------------------
    def _get(self, url: str, etag: str = "", last_modified: str = "", accept: str = "*/*",
             max_bytes: int | None = None, robots: bool = False) -> Response:
        lim = self.limits
        result = Response(url=url)
        current, permanent = url, True
        deadline = time.monotonic() + lim.total_timeout
        for _ in range(lim.max_redirects + 1):
            try:
                check_url(current)
            except UnsafeURL as exc:
                result.error = f"refused {current}: {exc}"
                return result
            headers = {"Accept": accept}
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
            hop = self._request(current, headers, max_bytes or lim.max_bytes, deadline, robots)
            if hop.status in (301, 302, 303, 307, 308) and not hop.error:
                location = hop.headers.get("location", "")
                if not location:
                    hop.error = f"HTTP {hop.status} redirect without a Location"
                    return hop
                permanent = permanent and hop.status in (301, 308)
                current = urljoin(current, location)
                continue
            hop.url, hop.final_url = url, current
            if permanent and current != url:
                hop.moved_to = current
            return hop
        result.final_url, result.status = current, 0
        result.error = f"more than {lim.max_redirects} redirects (a redirect loop?), last to {current}"
        return result

    def _request(self, url: str, headers: dict, max_bytes: int, deadline: float, robots: bool,
                 method: str = "GET", content: bytes | None = None) -> Response:
        result = Response(url=url, final_url=url)
        host = self._host(url)
        if self.stop.is_set():
            result.error, result.transient, result.held = "stopped", True, True
            return result
        if host.retry_at > time.time() and not robots:
            result.error, result.transient, result.retry_at = "host asked us to wait (Retry-After)", True, host.retry_at
            result.status, result.held = 429, True
            return result
        with host.lock:  # one request in flight per host
            pause = host.next_at - time.monotonic()
            if pause > 0 and self.stop.wait(pause):
                result.error, result.transient = "stopped", True
                return result
            try:
                self.requests += 1
                if self.on_request:
                    self.on_request(url)
                self._send(url, headers, max_bytes, deadline, result, method, content)
            finally:
                host.next_at = time.monotonic() + max(self.limits.host_delay, host.crawl_delay)
        if result.status in (429, 503):
            wait = retry_after_seconds(result.headers.get("retry-after"), self.limits.backoff)
            result.retry_at = host.retry_at = time.time() + min(wait, 24 * 3600.0)
        return result

    def _send(self, url: str, headers: dict, max_bytes: int, deadline: float, result: Response,
              method: str = "GET", content: bytes | None = None) -> None:
        try:
            with self._client.stream(method, url, headers=headers, content=content) as response:
                result.status = response.status_code
                result.headers = {k.lower(): v for k, v in response.headers.items()
                                  if k.lower() in ("location", "retry-after", "content-type", "etag",
                                                   "last-modified", "content-length", "content-encoding")}
                result.content_type = result.headers.get("content-type", "")
                result.etag = result.headers.get("etag", "")
                result.last_modified = result.headers.get("last-modified", "")
                if response.status_code == 304 or 300 <= response.status_code < 400:
                    return
                if response.status_code >= 400:
                    result.error = f"HTTP {response.status_code} {response.reason_phrase}".strip()
                    result.transient = response.status_code in (408, 425, 429) or response.status_code >= 500
                    return
                length = result.headers.get("content-length", "")
                if length.isdigit() and int(length) > max_bytes and not result.headers.get("content-encoding"):
                    result.error = f"body of {int(length):,} bytes is over the {max_bytes:,}-byte limit"
                    return
                decoder = _Decoder(result.headers.get("content-encoding", ""))
                body = bytearray()
                for raw in response.iter_raw(65536):
                    body += decoder.feed(raw, max_bytes - len(body))
                    if time.monotonic() > deadline:
                        result.error, result.transient = "took longer than the total time limit", True
                        return
                    if self.stop.is_set():
                        result.error, result.transient = "stopped", True
                        return
                result.body = bytes(body)
        except UnsafeURL as exc:  # raised where the connection is made (PinnedBackend): nothing was sent
            result.error = f"refused {url}: {exc}"
        except _TooLarge:
            result.error = f"body is over the {max_bytes:,}-byte limit (after decompression)"
        except (ValueError, zlib.error) as exc:
            result.error = f"cannot decode the body: {exc}"
        except httpx.TimeoutException:
            result.error, result.transient = "timed out", True
        except httpx.HTTPError as exc:
            result.error, result.transient = f"{type(exc).__name__}: {exc}", True

"""A feed server to test against, shipped as a test double (as httpx ships `MockTransport`): `FeedServer`
serves `Route`s on 127.0.0.1 and records every request (a POST's body too: it is a webhook receiver as well);
`rss`, `page` and `story` build what it serves.

The tests, `benchmarks/watch.py` and anyone testing code that follows feeds use it; nothing else in newsearch
imports it. It listens on 127.0.0.1 only, and is bounded: a connection that sends nothing is dropped after
`timeout` seconds, at most `max_connections` are served at once, and past `max_log` requests it answers
503 instead of growing its log (a test or benchmark that gets there says so, rather than eating memory).
"""

from __future__ import annotations

import hashlib
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

MAX_POST_BYTES = 1024 * 1024

__all__ = ["FeedServer", "Route", "feeds_file", "page", "rss", "story"]


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
    """A threaded HTTP server on 127.0.0.1, on a free port, serving `routes` and logging requests.

    `tls` (a server-side `ssl.SSLContext`) makes it HTTPS. `requests` holds (time, path, headers) of every
    request, `statuses` (path, status) of every answer, `posts` (path, headers, body) of every POST; a route's
    `handler` sees a POST's body as `req.body`."""

    def __init__(self, tls: ssl.SSLContext | None = None, timeout: float = 30.0, max_connections: int = 64,
                 max_log: int = 1_000_000) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[float, str, dict]] = []
        self.statuses: list[tuple[str, int]] = []
        self.posts: list[tuple[str, dict, bytes]] = []
        self.max_log = max_log
        self._lock = threading.Lock()
        slots = threading.BoundedSemaphore(max_connections)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                self.timeout = timeout  # a client that stops sending frees its thread
                if tls is not None:  # the handshake runs here, in this connection's thread, under the timeout
                    self.request.settimeout(timeout)
                    self.request = tls.wrap_socket(self.request, server_side=True)
                super().setup()

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                outer._serve(self)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(min(length, MAX_POST_BYTES))
                with outer._lock:
                    if len(outer.posts) < outer.max_log:
                        outer.posts.append((self.path, dict(self.headers), self.body))
                outer._serve(self)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def process_request(self, request, client_address) -> None:
                if not slots.acquire(timeout=timeout):  # all busy for a whole timeout: turn this one away
                    self.shutdown_request(request)
                    return
                super().process_request(request, client_address)

            def process_request_thread(self, request, client_address) -> None:
                try:
                    super().process_request_thread(request, client_address)
                finally:
                    slots.release()

            def handle_error(self, request, client_address) -> None:
                if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError | ssl.SSLError):
                    super().handle_error(request, client_address)  # not a client we cut off or that left

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FeedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def paths(self, since: int = 0) -> list[str]:
        """The paths asked for since `mark()` returned `since`."""
        with self._lock:
            return [p for _, p, _ in self.requests[since:]]

    def mark(self) -> int:
        """A position in the request log, for `paths(since=...)`."""
        with self._lock:
            return len(self.requests)

    def _serve(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path
        with self._lock:
            full = len(self.requests) >= self.max_log
            if not full:
                self.requests.append((time.time(), path, dict(req.headers)))
        route = self.routes.get(path)
        try:
            if full:
                self._send(req, 503, {"Content-Type": "text/plain"}, b"FeedServer: request log full (max_log)")
                return
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
            if len(self.statuses) < self.max_log:
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


def feeds_file(folder: Path, urls: list[str]) -> Path:
    """A FEEDS file in `folder` listing `urls` (each line may add an interval and a source name)."""
    path = Path(folder) / "feeds.txt"
    path.write_text("# test feeds\n" + "\n".join(urls) + "\n")
    return path

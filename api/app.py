"""The HTTP API and the search page: FastAPI over one `Searcher`, loaded once at start-up.

Endpoints (OpenAPI at /openapi.json, interactive docs at /docs):

    GET  /search?q=...&k=10&offset=0&mode=&source=&since=&until=&language=&field=KEY=VALUE
    POST /search                       the same fields as a JSON body
    GET  /articles/{id}                one stored article (404 if unknown)
    POST /articles                     upsert a JSON list of articles by id (write key)
    DELETE /articles/{id}              delete one article (write key)
    GET  /health  /ready  /stats  /metrics (Prometheus text)
    GET  /                             the search page (api/static/)

Keys are never in code. The write key comes from the environment variable NEWSEARCH_API_KEY, or from
the file named by NEWSEARCH_API_KEY_FILE; it is sent as `Authorization: Bearer KEY` or `X-API-Key: KEY`
and compared in constant time. With no write key configured every write is refused (403). A missing
key is 401, a wrong one 403. NEWSEARCH_READ_KEY (or NEWSEARCH_READ_KEY_FILE), when set, makes the
searches, articles, stats and metrics need the read key (or the write key) too; /health, /ready, the
page and the docs stay open. NEWSEARCH_CORS_ORIGINS is a comma-separated list of allowed origins.

Searches and writes are plain `def` endpoints, so they run in the thread pool and never block the
event loop; the searcher is thread-safe and sees every committed generation, including writes made
through this API (the indexer takes the index's single-writer lock only for the length of a write).
"""

import hmac
import logging
import os
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from search.types import SearchResponse

_SEARCH_RESPONSE = TypeAdapter(SearchResponse)

log = logging.getLogger("newsearch.api")

STATIC = Path(__file__).resolve().parent / "static"
EXAMPLE_QUERY = "Russia stance on DPRK sanctions"
EXAMPLE_ID = "ecb-1_10ecbplus"
MAX_QUERY_CHARS = 1000
MAX_K = 100
MAX_OFFSET = 1000
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_ARTICLES_PER_POST = 1000
MAX_ID_CHARS = 512
QUERY_PATTERN = r"\S"  # something other than spaces
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?Z?)?$"
FIELD_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}=.{0,200}$"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# -- settings ----------------------------------------------------------------------------------
def _secret(name: str) -> str:
    """A key from NAME or from the file named by NAME_FILE (stripped); '' when neither is set."""
    value = os.environ.get(name, "").strip()
    if value:
        return value
    path = os.environ.get(f"{name}_FILE", "").strip()
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise RuntimeError(f"{name}_FILE={path}: cannot read the key file ({exc.strerror})") from None
    return ""


@dataclass(frozen=True)
class Settings:
    """Server settings. `api_key` empty: writes are refused (403). `read_key` set: reads need a key."""

    api_key: str = field(default="", repr=False)
    read_key: str = field(default="", repr=False)
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = MAX_BODY_BYTES
    max_articles: int = MAX_ARTICLES_PER_POST

    @classmethod
    def from_env(cls) -> "Settings":
        origins = tuple(o.strip() for o in os.environ.get("NEWSEARCH_CORS_ORIGINS", "").split(",") if o.strip())
        return cls(api_key=_secret("NEWSEARCH_API_KEY"), read_key=_secret("NEWSEARCH_READ_KEY"), cors_origins=origins)


# -- request and response models -----------------------------------------------------------------
def _no_surrogates(value):
    """The text with lone surrogates (valid JSON escapes, not valid Unicode) replaced by U+FFFD."""
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


class SearchRequest(BaseModel):
    """The body of POST /search; the same fields and limits as GET /search's parameters."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"q": EXAMPLE_QUERY, "k": 5},
        {"q": "Lindsay Lohan rehab", "k": 3, "mode": "lexical", "since": "2013-01-01"},
    ]})

    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, pattern=QUERY_PATTERN, description="the query")
    k: int = Field(10, ge=1, le=MAX_K, description="results per page")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="results to skip (paging)")
    mode: Literal["dense", "lexical", "hybrid"] | None = Field(None, description="retrieval mode; default hybrid")
    source: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=50, description="only these outlets")
    since: str | None = Field(None, pattern=DATE_PATTERN, description="published on or after (ISO date)")
    until: str | None = Field(None, pattern=DATE_PATTERN, description="published on or before (ISO date)")
    language: str | None = Field(None, max_length=20, description="only this language code")
    field: list[Annotated[str, Field(pattern=FIELD_PATTERN)]] = Field(
        default_factory=list, max_length=20, description="metadata KEY=VALUE equality")
    fusion: Literal["convex", "rrf"] = Field("convex", description="hybrid fusion: convex combination or RRF")
    sort: Literal["relevance", "date"] = Field("relevance", description="order of the results")
    recency_half_life_days: float = Field(0.0, ge=0, le=36500, description="recency boost half-life (0: off)")
    max_per_source: int = Field(0, ge=0, le=MAX_K, description="at most this many results per outlet (0: no cap)")
    collapse_duplicates: bool = Field(False, description="near-duplicate copies as one result")

    def options(self):
        from search import SearchOptions

        return SearchOptions(mode=self.mode, fusion=self.fusion, sort=self.sort,
                             recency_half_life_days=self.recency_half_life_days,
                             max_per_source=self.max_per_source, collapse_duplicates=self.collapse_duplicates)

    @field_validator("q", "language", mode="before")
    @classmethod
    def _check_text(cls, value):
        return _no_surrogates(value)

    @field_validator("source", "field", mode="before")
    @classmethod
    def _check_list(cls, values):
        return [_no_surrogates(v) for v in values] if isinstance(values, list) else values


ScalarValue = str | int | float | bool | None


class ArticleIn(BaseModel):
    """An article to upsert; `id` defaults to the canonical URL, else a hash of the content."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "example-1", "title": "Russia Vows to Develop Equal and Fair Interaction with North Korea",
        "text": "Russian Foreign Minister Sergei Lavrov has affirmed Moscow's commitment to relations with "
                "North Korea, despite the sanctions imposed on Pyongyang by the UN Security Council.",
        "url": "https://example.org/news/1", "source": "Example News", "published": "2023-09-01",
        "language": "en", "metadata": {"section": "world"}}]})

    id: str = Field("", max_length=MAX_ID_CHARS)
    title: str = Field("", max_length=2000)
    text: str = Field(min_length=1, max_length=1_000_000, pattern=QUERY_PATTERN, description="the body")
    url: str = Field("", max_length=4000)
    source: str = Field("", max_length=200)
    published: str = Field("", max_length=64, description="a date or datetime (ISO 8601 preferred); one that "
                           "cannot be read is kept as metadata.published_raw")
    language: str = Field("", max_length=20)
    metadata: dict[Annotated[str, Field(max_length=64)], ScalarValue] = Field(default_factory=dict, max_length=50)

    @field_validator("id", "title", "text", "url", "source", "published", "language", mode="before")
    @classmethod
    def _check_text(cls, value):
        return _no_surrogates(value)

    @field_validator("metadata", mode="before")
    @classmethod
    def _check_metadata(cls, value):
        if not isinstance(value, dict):
            return value
        return {_no_surrogates(k): _no_surrogates(v) for k, v in value.items()}

    @field_validator("metadata")
    @classmethod
    def _check_metadata_size(cls, value: dict) -> dict:
        for key, item in value.items():
            if isinstance(item, str) and len(item) > 10_000:
                raise ValueError(f"metadata {key!r}: at most 10000 characters")
        return value


class WriteOut(BaseModel):
    indexed: int = Field(description="articles added or changed")
    unchanged: int = Field(description="articles already stored with the same content")
    passages: int
    ids: list[str] = Field(description="the stored id of each article, in the order sent")


class DeleteOut(BaseModel):
    id: str
    deleted: bool


class StoredPassage(BaseModel):
    ord: int
    start: int
    end: int
    text: str


class ArticleOut(BaseModel):
    id: str
    title: str
    text: str
    url: str
    source: str
    published: str
    language: str
    metadata: dict[str, Any]
    passages: list[StoredPassage]


class StatsOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    articles: int
    passages: int
    model: str
    index_type: str
    generation: int
    updated: str


class Detail(BaseModel):
    detail: Any


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {401: "no key sent", 403: "wrong key, or writes disabled", 404: "unknown article",
            413: "request body too large", 422: "invalid input; `detail` names the field",
            500: "internal error", 503: "index not loaded or unavailable"}
    return {code: {"model": Detail, "description": text[code]} for code in codes}


# -- metrics -------------------------------------------------------------------------------------
class Metrics:
    """Request counts and latency histograms per route, in Prometheus' text format, by hand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[tuple[str, str, str], int] = {}
        self.latency: dict[tuple[str, str], list[float]] = {}  # bucket counts..., sum, count
        self.in_flight = 0

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, route, str(status))
            self.counts[key] = self.counts.get(key, 0) + 1
            row = self.latency.setdefault((method, route), [0.0] * (len(LATENCY_BUCKETS) + 2))
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    row[i] += 1
            row[-2] += seconds
            row[-1] += 1

    def render(self, gauges: dict[str, tuple[str, float]]) -> str:
        out = ["# HELP newsearch_requests_total HTTP requests by method, route and status.",
               "# TYPE newsearch_requests_total counter"]
        with self._lock:
            counts = sorted(self.counts.items())
            latency = sorted((k, list(v)) for k, v in self.latency.items())
            in_flight = self.in_flight
        for (method, route, status), n in counts:
            out.append(f'newsearch_requests_total{{method="{method}",route="{_label(route)}",status="{status}"}} {n}')
        out += ["# HELP newsearch_request_duration_seconds HTTP request latency by method and route.",
                "# TYPE newsearch_request_duration_seconds histogram"]
        for (method, route), row in latency:
            labels = f'method="{method}",route="{_label(route)}"'
            for bound, n in zip(LATENCY_BUCKETS, row, strict=False):
                out.append(f'newsearch_request_duration_seconds_bucket{{{labels},le="{bound}"}} {int(n)}')
            out.append(f'newsearch_request_duration_seconds_bucket{{{labels},le="+Inf"}} {int(row[-1])}')
            out.append(f"newsearch_request_duration_seconds_sum{{{labels}}} {row[-2]:.6f}")
            out.append(f"newsearch_request_duration_seconds_count{{{labels}}} {int(row[-1])}")
        out += ["# HELP newsearch_requests_in_flight HTTP requests being served.",
                "# TYPE newsearch_requests_in_flight gauge", f"newsearch_requests_in_flight {in_flight}"]
        for name, (help_text, value) in gauges.items():
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value:g}"]
        return "\n".join(out) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class MetricsMiddleware:
    """Times every HTTP request; the route is the matched path template (or 'unmatched')."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with self.metrics._lock:
            self.metrics.in_flight += 1
        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None)
            if route is None:
                route = "/static" if scope["path"].startswith("/static/") else "unmatched"
            with self.metrics._lock:
                self.metrics.in_flight -= 1
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)


class BodyLimitMiddleware:
    """Refuses request bodies over `limit` bytes with 413, by Content-Length or by counting."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        too_big = JSONResponse({"detail": f"request body is over {self.limit} bytes"}, status_code=413)
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await too_big(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            if size > self.limit:
                await too_big(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body, sent = b"".join(chunks), False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# -- the app -------------------------------------------------------------------------------------
class State:
    """What the endpoints share: settings, the searcher (None until loaded) and a writer lock."""

    def __init__(self, index_dir: Path, settings: Settings, embedder=None) -> None:
        self.index_dir, self.settings, self.embedder = Path(index_dir), settings, embedder
        self.searcher = None
        self.write_lock = threading.Lock()
        self.started = time.time()


_bearer = HTTPBearer(auto_error=False, description="the key as `Authorization: Bearer KEY`")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the key as `X-API-Key: KEY`")


def _sent_keys(bearer: HTTPAuthorizationCredentials | None, header: str | None) -> list[str]:
    """Every key the request carries; when both headers are sent, both must be right."""
    return [k for k in (bearer.credentials if bearer is not None else None, header) if k]


def _matches(sent: str, key: str) -> bool:
    return bool(key) and hmac.compare_digest(sent.encode("utf-8", "replace"), key.encode("utf-8"))


def create_app(index_dir: Path | str, settings: Settings | None = None, embedder=None) -> FastAPI:
    """The FastAPI app over the index at `index_dir`; the model and index load once, at start-up.

    `settings` default to `Settings.from_env()`; `embedder` lets a caller share an already loaded model.
    """
    settings = settings if settings is not None else Settings.from_env()
    state = State(Path(index_dir), settings, embedder)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from starlette.concurrency import run_in_threadpool

        from search import Searcher

        state.searcher = await run_in_threadpool(Searcher, state.index_dir, None, state.embedder)
        log.info("newsearch: index %s loaded: %s", state.index_dir, state.searcher.stats())
        try:
            yield
        finally:
            searcher, state.searcher = state.searcher, None
            searcher.close()

    app = FastAPI(
        title="newsearch",
        version="0.1.0",
        summary="Semantic search over news: ranked articles with the passages that answer the query.",
        description=__doc__,
        lifespan=lifespan,
    )
    app.state.newsearch = state

    # -- errors: never a stack trace to the client -----------------------------------------------
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("newsearch: unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.add_exception_handler(Exception, internal_error)

    from indexer.store import IndexError_

    async def index_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("newsearch: index unavailable: %s", exc)
        return JSONResponse({"detail": "index unavailable"}, status_code=503)

    app.add_exception_handler(IndexError_, index_error)

    async def value_error(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    app.add_exception_handler(ValueError, value_error)

    # -- keys --------------------------------------------------------------------------------------
    # Dependencies are async: FastAPI runs a plain `def` dependency in the thread pool, a hop per request
    # that costs more than these checks.
    async def searcher():
        if state.searcher is None:
            raise HTTPException(503, "index not loaded")
        return state.searcher

    async def write_key(bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                  header: Annotated[str | None, Depends(_api_key_header)]) -> None:
        if not settings.api_key:
            raise HTTPException(403, "writes are disabled on this server: no API key is configured "
                                     "(set NEWSEARCH_API_KEY or NEWSEARCH_API_KEY_FILE)")
        sent = _sent_keys(bearer, header)
        if not sent:
            raise HTTPException(401, "this needs the API key (Authorization: Bearer KEY or X-API-Key: KEY)",
                                headers={"WWW-Authenticate": "Bearer"})
        if not all([_matches(key, settings.api_key) for key in sent]):  # a list: every key compared
            raise HTTPException(403, "wrong API key")

    async def read_key(bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                 header: Annotated[str | None, Depends(_api_key_header)]) -> None:
        if not settings.read_key:
            return
        sent = _sent_keys(bearer, header)
        if not sent:
            raise HTTPException(401, "this server needs a read key (Authorization: Bearer KEY or X-API-Key: KEY)",
                                headers={"WWW-Authenticate": "Bearer"})
        # Both keys compared, always: the time taken does not say which one was close.
        if not all([_matches(key, settings.read_key) | _matches(key, settings.api_key) for key in sent]):
            raise HTTPException(403, "wrong read key")

    Searching = Annotated[Any, Depends(searcher)]
    # Without a read key, reads declare no security (so the OpenAPI document says they are open).
    reads = [Depends(read_key)] if settings.read_key else []

    def run_search(s, request: SearchRequest):
        from indexer.store import Filters

        filters = Filters(sources=tuple(request.source), since=request.since or "", until=request.until or "",
                          language=request.language or "",
                          fields=tuple(tuple(f.split("=", 1)) for f in request.field))
        response = s.search(request.q, k=request.k, offset=request.offset, filters=filters,
                            options=request.options())
        # The searcher's dataclass is already the response model: serialize it straight to JSON instead of
        # FastAPI's dict conversion, re-validation and encoding (1.5 ms of a 10-result page).
        return Response(_SEARCH_RESPONSE.dump_json(response), media_type="application/json")

    # -- reads ------------------------------------------------------------------------------------
    @app.get("/search", response_model=SearchResponse, dependencies=reads, tags=["search"],
             responses=_errors(401, 403, 422, 503), summary="Search (query parameters)")
    def search_get(
        s: Searching,
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, pattern=QUERY_PATTERN,
                                description="the query", examples=[EXAMPLE_QUERY])],
        k: Annotated[int, Query(ge=1, le=MAX_K, description="results per page")] = 10,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="results to skip (paging)")] = 0,
        mode: Annotated[Literal["dense", "lexical", "hybrid"] | None, Query(description="default hybrid")] = None,
        source: Annotated[list[Annotated[str, Query(max_length=200)]] | None,
                          Query(max_length=50, description="only this outlet (repeatable)")] = None,
        since: Annotated[str | None, Query(pattern=DATE_PATTERN, description="published on or after",
                                           examples=["2013-01-01"])] = None,
        until: Annotated[str | None, Query(pattern=DATE_PATTERN, description="published on or before")] = None,
        language: Annotated[str | None, Query(max_length=20, description="only this language code")] = None,
        field: Annotated[list[Annotated[str, Query(pattern=FIELD_PATTERN)]] | None,
                         Query(max_length=20, description="metadata KEY=VALUE equality (repeatable)")] = None,
        fusion: Annotated[Literal["convex", "rrf"], Query(description="hybrid fusion")] = "convex",
        sort: Annotated[Literal["relevance", "date"], Query(description="order of the results")] = "relevance",
        recency_half_life_days: Annotated[float, Query(ge=0, le=36500, description="recency boost (0: off)")] = 0.0,
        max_per_source: Annotated[int, Query(ge=0, le=MAX_K, description="cap per outlet (0: none)")] = 0,
        collapse_duplicates: Annotated[bool, Query(description="near-duplicates as one result")] = False,
    ):
        """Ranked articles, each with its best passages and the offsets of the query words in them."""
        try:
            request = SearchRequest(q=q, k=k, offset=offset, mode=mode, source=source or [], since=since,
                                    until=until, language=language, field=field or [], fusion=fusion, sort=sort,
                                    recency_half_life_days=recency_half_life_days, max_per_source=max_per_source,
                                    collapse_duplicates=collapse_duplicates)
        except Exception as exc:  # the same rules as the body; report them as query errors
            raise RequestValidationError(_as_query_errors(exc)) from None
        return run_search(s, request)

    @app.post("/search", response_model=SearchResponse, dependencies=reads, tags=["search"],
              responses=_errors(401, 403, 413, 422, 503), summary="Search (JSON body)")
    def search_post(s: Searching, request: SearchRequest):
        """The same as GET /search with the fields in a JSON body."""
        return run_search(s, request)

    @app.get("/articles/{article_id:path}", response_model=ArticleOut, dependencies=reads, tags=["articles"],
             responses=_errors(401, 403, 404, 503), summary="One stored article")
    def get_article(s: Searching, article_id: Annotated[str, PathParam(max_length=MAX_ID_CHARS,
                                                                        examples=[EXAMPLE_ID])]):
        """The article's text, metadata and passages (with their offsets)."""
        article = s.article(article_id)
        if article is None:
            raise HTTPException(404, f"no article with id {article_id!r}")
        return article

    @app.get("/stats", response_model=StatsOut, dependencies=reads, tags=["service"],
             responses=_errors(401, 403, 503))
    def stats(s: Searching):
        """Counts and settings of the index (generation goes up with every committed write)."""
        return s.stats()

    @app.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        """Alive (the process answers); see /ready for the index."""
        return {"status": "ok"}

    @app.get("/ready", tags=["service"], responses=_errors(503))
    def ready(s: Searching) -> dict[str, Any]:
        """Ready when the model and index are loaded and the index answers."""
        st = s.stats()
        return {"status": "ready", "articles": st["articles"], "generation": st["generation"]}

    @app.get("/metrics", dependencies=reads, tags=["service"], response_class=PlainTextResponse,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **_errors(401, 403)})
    def prometheus() -> PlainTextResponse:
        """Prometheus text format: request counts and latency histograms per route, index gauges."""
        gauges = {"newsearch_ready": ("1 when the index is loaded.", float(state.searcher is not None)),
                  "newsearch_uptime_seconds": ("Seconds since the app was created.", time.time() - state.started)}
        if state.searcher is not None:
            st = state.searcher.stats()
            gauges["newsearch_index_articles"] = ("Articles in the index.", st["articles"])
            gauges["newsearch_index_passages"] = ("Passages in the index.", st["passages"])
            gauges["newsearch_index_generation"] = ("Committed write generation of the index.", st["generation"])
        return PlainTextResponse(metrics.render(gauges), media_type="text/plain; version=0.0.4; charset=utf-8")

    # -- writes -----------------------------------------------------------------------------------
    @app.post("/articles", response_model=WriteOut, dependencies=[Depends(write_key)], tags=["articles"],
              responses=_errors(401, 403, 413, 422, 503), summary="Upsert articles")
    def add_articles(s: Searching, articles: Annotated[list[ArticleIn], Body(
            min_length=1, max_length=settings.max_articles,
            description=f"1 to {settings.max_articles} articles; an id already stored is replaced")]):
        """Clean, chunk, embed and store the articles in one atomic batch; unchanged ones are skipped.

        Any article that cannot be indexed (e.g. no text left after cleaning) makes the whole request 422.
        """
        from indexer.article import Problem, normalize_date
        from indexer.pipeline import Indexer
        from indexer.readers import make_article

        items, problems = [], []
        for i, a in enumerate(articles):
            published, metadata = normalize_date(a.published) if a.published else "", dict(a.metadata)
            if a.published and not published:  # kept, as the file readers keep it, but not filterable
                metadata["published_raw"] = a.published
            item = make_article(f"body[{i}]", 1_000_000, id=a.id, title=a.title, text=a.text, url=a.url,
                                source=a.source, published=published, language=a.language, metadata=metadata)
            if isinstance(item, Problem):
                problems.append({"loc": ["body", i], "msg": item.message})
            else:
                items.append(item)
        if problems:
            raise HTTPException(422, problems)
        with state.write_lock:
            indexer = Indexer(state.index_dir, embedder=s.embedder, wait_for_lock=True)
            try:
                report = indexer.add(items)
            finally:
                indexer.close()
        return {"indexed": report.indexed, "unchanged": report.unchanged, "passages": report.passages,
                "ids": [item.id for item in items]}

    @app.delete("/articles/{article_id:path}", response_model=DeleteOut, dependencies=[Depends(write_key)],
                tags=["articles"], responses=_errors(401, 403, 404, 503), summary="Delete an article")
    def delete_article(s: Searching, article_id: Annotated[str, PathParam(max_length=MAX_ID_CHARS)]):
        """Delete the article and its passages; 404 when no article has this id."""
        from indexer.pipeline import Indexer

        if s.article(article_id) is None:
            raise HTTPException(404, f"no article with id {article_id!r}")
        with state.write_lock:
            indexer = Indexer(state.index_dir, embedder=s.embedder, wait_for_lock=True)
            try:
                deleted = indexer.delete([article_id])
            finally:
                indexer.close()
        if not deleted:
            raise HTTPException(404, f"no article with id {article_id!r}")
        return {"id": article_id, "deleted": True}

    # -- the page ---------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; base-uri 'none'; "
                                       "frame-ancestors 'none'; form-action 'self'",
            "Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # Outermost last: metrics see everything, including 413s from the body limit and CORS preflights.
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(_SecurityHeaders)
    return app


class _SecurityHeaders:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add_headers(message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-content-type-options", b"nosniff")]
            await send(message)

        await self.app(scope, receive, add_headers)


def _as_query_errors(exc: Exception) -> list[dict]:
    """Pydantic errors from building a SearchRequest, located at the query string."""
    errors = getattr(exc, "errors", None)
    if errors is None:
        return [{"loc": ["query"], "msg": str(exc), "type": "value_error"}]
    return [{"loc": ["query", *e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "value_error")}
            for e in errors(include_url=False, include_context=False, include_input=False)]


def serve(index_dir: Path | str, host: str = "127.0.0.1", port: int = 8000,
          settings: Settings | None = None, log_level: str = "info") -> None:
    """Run the API with uvicorn until interrupted; the model and index load before it accepts requests.

    Writes need NEWSEARCH_API_KEY (or NEWSEARCH_API_KEY_FILE); without one they are refused with 403.
    """
    import uvicorn

    app = create_app(index_dir, settings)
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)

"""The HTTP API and the search page: FastAPI over one application object (`api.service.Service`).

Endpoints (OpenAPI at /openapi.json, interactive docs at /docs):

    GET  /search?q=...&k=10&offset=0&mode=&source=&since=&until=&language=&field=KEY=VALUE&...
    POST /search                       the same fields as a JSON body
    GET  /articles/{id}                one stored article (404 if unknown)
    GET  /articles/{id}/similar        more like this: articles nearest by its vectors
    GET  /stories/{id}                 a story's articles in time order (search with group=story)
    GET  /timeline?q=...&interval=day  matches per day/week/month by outlet, with each bucket's best passage
    POST /articles                     upsert a JSON list of articles by id (write key)
    DELETE /articles/{id}              delete one article (write key)
    GET  /health  /ready  /stats  /metrics (Prometheus text)
    POST /mcp                          the same reads as MCP tools (streamable HTTP; api/mcp_server.py)
    GET  /                             the search page (api/static/)

Keys and their rules: `api/security.py`; settings from the environment: `api/settings.py`. Searches and
writes are plain `def` endpoints, so they run in the thread pool and never block the event loop; the
searcher is thread-safe and sees every committed generation, including writes made through this API.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route

from api.errors import add_error_handlers
from api.mcp_server import HttpEndpoint, create_server
from api.metrics import MetricsMiddleware
from api.middleware import BodyLimitMiddleware, SecurityHeaders
from api.routers import alerts, articles, search, service, stories
from api.security import check_read_key
from api.service import Service
from api.settings import Settings

log = logging.getLogger("newsearch.api")
STATIC = Path(__file__).resolve().parent / "static"


def create_app(index_dir: Path | str, settings: Settings | None = None, embedder=None,
               feeds: Path | None = None, allow_private: bool = False, host: str = "127.0.0.1") -> FastAPI:
    """The FastAPI app over the index at `index_dir`; the model and index load once, at start-up.

    `settings` default to `Settings.from_env()`; `embedder` lets a caller share an already loaded model;
    `feeds` runs the feed watcher (`newsearch watch`) in the server process; `host` is where it listens (on
    loopback, MCP refuses requests naming another host).
    """
    settings = settings if settings is not None else Settings.from_env()
    app_service = Service(index_dir, settings, embedder, feeds=feeds, allow_private=allow_private)
    agents = HttpEndpoint(create_server(lambda: app_service.searcher), check_read_key, host)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(app_service.load)
        log.info("newsearch: index %s loaded: %s", app_service.index_dir, app_service.searcher.stats())
        try:
            async with agents.run():
                yield
        finally:
            app_service.close()

    app = FastAPI(title="newsearch", version="0.1.0", lifespan=lifespan, description=__doc__,
                  summary="Semantic search over news: ranked articles with the passages that answer the query.")
    app.state.newsearch = app_service
    add_error_handlers(app)
    app.include_router(search.router(bool(settings.read_key)))
    app.include_router(stories.router(bool(settings.read_key)))  # before /articles/{id:path}: .../similar
    app.include_router(articles.router(bool(settings.read_key), settings.max_articles))
    app.include_router(service.router(bool(settings.read_key)))
    app.include_router(alerts.router(bool(settings.read_key)))
    app.router.routes.append(Route("/mcp", agents))  # an ASGI endpoint: every method, the read key checked

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
    app.add_middleware(MetricsMiddleware, metrics=app_service.metrics)
    app.add_middleware(SecurityHeaders)
    return app


def serve(index_dir: Path | str, host: str = "127.0.0.1", port: int = 8000, settings: Settings | None = None,
          log_level: str = "info", feeds: Path | None = None, allow_private: bool = False) -> None:
    """Run the API with uvicorn until interrupted; the model and index load before it accepts requests.

    Writes need NEWSEARCH_API_KEY (or NEWSEARCH_API_KEY_FILE); without one they are refused with 403.
    """
    import uvicorn

    one_blas_thread()
    app = create_app(index_dir, settings, feeds=feeds, allow_private=allow_private, host=host)
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)


def one_blas_thread() -> None:
    """Run numpy's BLAS on the calling thread only, for this whole process. A server's searches already run
    side by side in its thread pool, and each product a search makes is small: BLAS's worker threads spin
    after every one of them, taking a core from the other searches, and on two cores cost more CPU time
    than they save (benchmarks/README.md, "Query latency, second round")."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


__all__ = ["STATIC", "Settings", "create_app", "one_blas_thread", "serve"]

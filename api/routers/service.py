"""The service's own endpoints: liveness, readiness, index stats and Prometheus metrics."""

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from api.models import errors
from api.routers import App, Searching
from api.security import reads
from search.types import IndexStats


def router(read_key_set: bool) -> APIRouter:
    api = APIRouter(tags=["service"])

    @api.get("/stats", response_model=IndexStats, dependencies=reads(read_key_set), responses=errors(401, 403, 503))
    def stats(s: Searching):
        """Counts and settings of the index (generation goes up with every committed write)."""
        return s.stats()

    @api.get("/health")
    def health(app: App) -> dict[str, Any]:
        """Alive (the process answers; see /ready for the index), with whether the vector backend answers
        (`vectors`; status "degraded" while a Milvus server is down, when searches fail with 503), the freshness
        of each followed feed (last success, lag in seconds, consecutive errors; empty when no feed is followed)
        and the saved searches' webhook deliveries (pending, and dead letters: given up after the retry budget)."""
        if not app.ready:
            return {"status": "ok", "vectors": None, "feeds": [], "alerts": {}}
        problem = app.vectors_problem()
        vectors = {"backend": app.searcher.store.manifest.backend, "ok": not problem, "error": problem or None}
        return {"status": "degraded" if problem else "ok", "vectors": vectors, "feeds": app.feed_health(),
                "alerts": app.alert_totals()}

    @api.get("/ready", responses=errors(503))
    def ready(s: Searching) -> dict[str, Any]:
        """Ready when the model and index are loaded and the index answers, its vector backend included
        (503 naming it while a Milvus server is down)."""
        s.check()
        st = s.stats()
        return {"status": "ready", "articles": st.articles, "generation": st.generation}

    @api.get("/metrics", dependencies=reads(read_key_set), response_class=PlainTextResponse,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **errors(401, 403)})
    def prometheus(app: App) -> PlainTextResponse:
        """Prometheus text format: request counts and latency histograms per route, index gauges."""
        gauges = {"newsearch_ready": ("1 when the index is loaded.", float(app.ready)),
                  "newsearch_uptime_seconds": ("Seconds since the app was created.", time.time() - app.started)}
        if app.ready:
            st = app.searcher.stats()
            gauges["newsearch_index_articles"] = ("Articles in the index.", st.articles)
            gauges["newsearch_index_passages"] = ("Passages in the index.", st.passages)
            gauges["newsearch_index_generation"] = ("Committed write generation of the index.", st.generation)
        return PlainTextResponse(app.metrics.render(gauges), media_type="text/plain; version=0.0.4; charset=utf-8")

    return api

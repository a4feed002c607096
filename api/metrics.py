"""Request counts and latency histograms per route, in Prometheus' text format (no client library)."""

from __future__ import annotations

import threading
import time

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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

"""HTTP load test: N concurrent clients searching (and optionally writing to) a newsearch server for T seconds.

    .venv/bin/newsearch serve --index index &
    .venv/bin/python benchmarks/load.py --url http://127.0.0.1:8000 --clients 8 --seconds 20 \
        --out benchmarks/results/load.json

Each client is a thread with its own keep-alive httpx connection, sending GET /search with queries
taken round-robin from --queries-file (one per line) or a built-in list of news questions. Prints
requests, errors, QPS and latency percentiles; writes JSON to --out and, when matplotlib is installed,
a latency histogram beside it (same name, .png). Loopback only: the URL must point at this machine.

With --write-every N and --write-key, every Nth request of a client is a write instead: it upserts a
small article of its own (POST /articles) or deletes the one it wrote before (DELETE /articles/{id}),
so reads run against a changing index; latencies and server errors are reported per kind.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np

QUERIES = [
    "Russia stance on DPRK sanctions",
    "Lindsay Lohan rehab",
    "earthquake in Indonesia",
    "Red Sox trade",
    "election in Turkmenistan",
    "who was arrested for the murder",
    "new smartphone announced",
    "Oscar nominations",
    "North Korea nuclear test",
    "hurricane damage",
]
MAX_SECONDS = 600
MAX_CLIENTS = 256


def _loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def _request(client: httpx.Client, n: int, i: int, queries: list[str], k: int, extra: dict,
             write_every: int, write_headers: dict) -> tuple[str, httpx.Response]:
    """The client's i-th request: a search, or (every write_every-th) an upsert or a delete of its own article."""
    if write_every and i % write_every == write_every - 1:
        article_id = f"load-{n}-{(i // write_every) // 2}"
        if (i // write_every) % 2 == 0:
            article = {"id": article_id, "title": f"Load test article {n}", "source": "Load Wire",
                       "text": f"{queries[i % len(queries)]}. Reported by load client {n} as update {i}."}
            return "write", client.post("/articles", json=[article], headers=write_headers)
        return "write", client.delete(f"/articles/{article_id}", headers=write_headers)
    return "read", client.get("/search", params={"q": queries[i % len(queries)], "k": k, **extra})


def run_client(url: str, queries: list[str], n: int, deadline: float, k: int, extra: dict, headers: dict,
               latencies: dict[str, list[float]], errors: list[str], write_every: int = 0,
               write_headers: dict | None = None) -> None:
    i = 0
    with httpx.Client(base_url=url, timeout=60, headers=headers) as client:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                kind, response = _request(client, n, i + n, queries, k, extra, write_every, write_headers or {})
                ok = response.status_code == 200
                why = f"{kind} HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                kind, ok, why = "read", False, type(exc).__name__
            i += 1
            if ok:
                latencies.setdefault(kind, []).append(time.perf_counter() - started)
            else:
                errors.append(why)
                time.sleep(0.05)  # do not spin on a failing server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--queries-file", type=Path)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--mode", choices=("dense", "lexical", "hybrid"))
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="another search parameter, e.g. group=story (repeatable)")
    parser.add_argument("--api-key", help="read key, when the server has one")
    parser.add_argument("--write-every", type=int, default=0, help="every Nth request writes (0: reads only)")
    parser.add_argument("--write-key", help="write key (NEWSEARCH_API_KEY of the server) for --write-every")
    parser.add_argument("--out", type=Path, help="write JSON here (and a PNG beside it)")
    args = parser.parse_args(argv)
    if not _loopback(args.url):
        parser.error("--url must be a loopback address (127.0.0.1, localhost, ::1)")
    if not 1 <= args.clients <= MAX_CLIENTS or not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--clients must be 1..{MAX_CLIENTS} and --seconds 0..{MAX_SECONDS}")
    queries = QUERIES
    if args.queries_file:
        queries = [q.strip() for q in args.queries_file.read_text(encoding="utf-8").splitlines() if q.strip()]
        if not queries:
            parser.error(f"{args.queries_file} has no queries")
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    try:
        stats = httpx.get(args.url + "/stats", timeout=10, headers=headers).json()
    except (httpx.HTTPError, ValueError) as exc:
        print(f"load: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 2

    if args.write_every and not args.write_key:
        parser.error("--write-every needs --write-key")
    write_headers = {"X-API-Key": args.write_key} if args.write_key else {}
    per_client: list[dict[str, list[float]]] = [{} for _ in range(args.clients)]
    errors: list[str] = []
    started = time.perf_counter()
    deadline = started + args.seconds
    extra = dict(item.split("=", 1) for item in args.param) | ({"mode": args.mode} if args.mode else {})
    threads = [threading.Thread(target=run_client, args=(args.url, queries, n, deadline, args.k, extra,
                                                         headers, per_client[n], errors, args.write_every,
                                                         write_headers), daemon=True)
               for n in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=args.seconds + 60)
    elapsed = time.perf_counter() - started
    latencies = np.array([x for c in per_client for x in c.get("read", [])]) * 1000
    writes = np.array([x for c in per_client for x in c.get("write", [])]) * 1000
    ok = len(latencies)
    pct = {f"p{p}": round(float(np.percentile(latencies, p)), 2) if ok else None for p in (50, 95, 99)}
    result = {
        "url": args.url, "clients": args.clients, "seconds": round(elapsed, 2), "k": args.k,
        "mode": args.mode or "default", "params": extra, "queries": len(queries), "requests": ok,
        "errors": len(errors),
        "server_errors": sum(" HTTP 5" in e for e in errors),
        "error_kinds": sorted(set(errors)), "qps": round(ok / elapsed, 2),
        "writes": len(writes), "write_latency_ms": {
            f"p{p}": round(float(np.percentile(writes, p)), 2) for p in (50, 95, 99)} if len(writes) else None,
        "latency_ms": {**pct, "mean": round(float(latencies.mean()), 2) if ok else None,
                       "max": round(float(latencies.max()), 2) if ok else None},
        "index": {key: stats.get(key) for key in ("articles", "passages", "model", "index_type")},
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(f"{args.clients} clients, {elapsed:.1f} s: {ok} searches, {len(writes)} writes, {len(errors)} errors "
          f"({result['server_errors']} server errors), {result['qps']} searches/s; "
          f"search latency ms p50 {pct['p50']} p95 {pct['p95']} p99 {pct['p99']}")
    if len(writes):
        print(f"write latency ms {result['write_latency_ms']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        _plot(latencies, result, args.out.with_suffix(".png"))
    return 0 if ok and not errors else 1


def _plot(latencies: np.ndarray, result: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    if not len(latencies):
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(latencies, bins=50, color="#2451b7")
    for name, style in (("p50", "-"), ("p95", "--"), ("p99", ":")):
        ax.axvline(result["latency_ms"][name], color="black", linestyle=style, label=f"{name} "
                   f"{result['latency_ms'][name]} ms")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("requests")
    ax.set_title(f"GET /search, {result['clients']} clients: {result['qps']} QPS")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())

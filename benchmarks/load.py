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

Each search's own time as the server measured it (`took_ms` in the response) is reported beside the
client's, so the difference is the HTTP cost (framework, thread hop, serialization, the client itself).

With --server-pid, the server's CPU time per request is reported too (and the client's always): on a
shared machine a steadier figure than latency.

With --index DIR instead of --url, one client searches in process (no server) and each search is split
into query encoding, retrieval (dense, lexical, fusion) and presenting (passages, sentences, highlights);
the split's stages are timed by wrapping the searcher's own calls, so they add up to its `took_ms`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
from plots import pyplot  # beside this script (its directory is on sys.path when run)

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
    """One client's loop; `latencies` gets each kind's client seconds and, under "server", each search's
    `took_ms` in seconds (read from the response after the clock stopped)."""
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
                if kind == "read":
                    latencies.setdefault("server", []).append(response.json()["took_ms"] / 1000)
            else:
                errors.append(why)
                time.sleep(0.05)  # do not spin on a failing server


STAGES = ("encode", "retrieve", "present")


def in_process(index: Path, queries: list[str], seconds: float, k: int,
               params: dict) -> dict[str, dict[str, np.ndarray]]:
    """Sequential searches in this process for `seconds`: per search, wall and CPU (this thread's) ms in
    all ("total") and per stage (STAGES, and "other": the rest of `Searcher.search`), as
    {"wall": {stage: ms}, "cpu": {stage: ms}}. On a shared machine the CPU times are the steadier figure."""
    from unittest import mock

    from api.app import one_blas_thread
    from api.models import SearchQuery
    from search import Searcher
    from search import searcher as module

    one_blas_thread()  # as `newsearch serve` runs
    searcher = Searcher(index)
    spent: dict[tuple[str, str], float] = {}

    def timed(stage: str, call):
        def wrapper(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return call(*args, **kwargs)
            finally:
                spent["wall", stage] = spent.get(("wall", stage), 0.0) + time.perf_counter() - wall
                spent["cpu", stage] = spent.get(("cpu", stage), 0.0) + time.thread_time() - cpu
        return wrapper

    rows: dict[str, dict[str, list[float]]] = {
        clock: {name: [] for name in ("total", *STAGES, "other")} for clock in ("wall", "cpu")}
    with mock.patch.object(searcher.embedder, "encode_query", timed("encode", searcher.embedder.encode_query)), \
            mock.patch.object(searcher, "_retrieve", timed("retrieve", searcher._retrieve)), \
            mock.patch.object(module, "present", timed("present", module.present)):
        def ask(i: int) -> None:
            q, k_, offset, filters, options = SearchQuery(q=queries[i % len(queries)], k=k, **params).call()
            spent.clear()
            timed("total", searcher.search)(q, k=k_, offset=offset, filters=filters, options=options)

        for i in range(20):  # warm-up: first-use costs are not a search's
            ask(i)
        deadline = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < deadline:
            ask(i)
            for clock, stages in rows.items():
                for stage in ("total", *STAGES):
                    stages[stage].append(spent.get((clock, stage), 0.0))
                stages["other"].append(stages["total"][-1] - sum(stages[s][-1] for s in STAGES))
            i += 1
    searcher.close()
    return {clock: {name: np.array(v) * 1000 for name, v in stages.items()} for clock, stages in rows.items()}


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _summary(ms: np.ndarray) -> dict[str, float | None]:
    if not len(ms):
        return {f"p{p}": None for p in (50, 95, 99)} | {"mean": None, "max": None}
    return {**{f"p{p}": round(float(np.percentile(ms, p)), 3) for p in (50, 95, 99)},
            "mean": round(float(ms.mean()), 3), "max": round(float(ms.max()), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--index", type=Path, help="search this index in process instead (one client, split by stage)")
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
    parser.add_argument("--server-pid", type=int, help="the server's process id: report its CPU time per search")
    parser.add_argument("--out", type=Path, help="write JSON here (and a PNG beside it)")
    args = parser.parse_args(argv)
    if not _loopback(args.url):
        parser.error("--url must be a loopback address (127.0.0.1, localhost, ::1)")
    if not 1 <= args.clients <= MAX_CLIENTS or not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--clients must be 1..{MAX_CLIENTS} and --seconds 0..{MAX_SECONDS}")
    if args.write_every and not args.write_key:
        parser.error("--write-every needs --write-key")
    queries = QUERIES
    if args.queries_file:
        queries = [q.strip() for q in args.queries_file.read_text(encoding="utf-8").splitlines() if q.strip()]
        if not queries:
            parser.error(f"{args.queries_file} has no queries")
    extra = dict(item.split("=", 1) for item in args.param) | ({"mode": args.mode} if args.mode else {})
    common = {"k": args.k, "mode": args.mode or "default", "params": extra, "queries": len(queries),
              "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
              "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if args.index:
        ms = in_process(args.index, queries, args.seconds, args.k, extra)
        result = {"index": str(args.index), "clients": 1, "seconds": args.seconds, **common,
                  "requests": len(ms["wall"]["total"]), "latency_ms": _summary(ms["wall"]["total"]),
                  **{f"stages_{clock}_ms": {name: _summary(v) for name, v in stages.items()}
                     for clock, stages in ms.items()}}
        print(f"in process, {result['requests']} searches; ms p50 (wall / cpu): " + ", ".join(
            f"{name} {np.median(ms['wall'][name]):.2f} / {np.median(ms['cpu'][name]):.2f}" for name in ms["wall"]))
        return _write(args.out, ms["wall"]["total"], result, "in process")

    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    try:
        stats = httpx.get(args.url + "/stats", timeout=10, headers=headers).json()
    except (httpx.HTTPError, ValueError) as exc:
        print(f"load: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 2
    write_headers = {"X-API-Key": args.write_key} if args.write_key else {}
    per_client: list[dict[str, list[float]]] = [{} for _ in range(args.clients)]
    errors: list[str] = []
    cpu = (time.process_time(), _cpu_seconds(args.server_pid) if args.server_pid else 0.0)
    started = time.perf_counter()
    deadline = started + args.seconds
    threads = [threading.Thread(target=run_client, args=(args.url, queries, n, deadline, args.k, extra,
                                                         headers, per_client[n], errors, args.write_every,
                                                         write_headers), daemon=True)
               for n in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=args.seconds + 60)
    elapsed = time.perf_counter() - started
    used = (time.process_time() - cpu[0], _cpu_seconds(args.server_pid) - cpu[1] if args.server_pid else None)
    latencies, server, writes = (np.array([x for c in per_client for x in c.get(kind, [])]) * 1000
                                 for kind in ("read", "server", "write"))
    ok = len(latencies)
    result = {
        "url": args.url, "clients": args.clients, "seconds": round(elapsed, 2), **common, "requests": ok,
        "errors": len(errors),
        "server_errors": sum(" HTTP 5" in e for e in errors),
        "error_kinds": sorted(set(errors)), "qps": round(ok / elapsed, 2),
        "writes": len(writes), "write_latency_ms": _summary(writes) if len(writes) else None,
        "latency_ms": _summary(latencies),
        "server_ms": _summary(server),  # the searcher's own took_ms
        "http_overhead_ms": _summary(latencies - server),  # per request: client time less took_ms
        "cpu_ms_per_request": {name: round(1000 * seconds / max(ok + len(writes), 1), 3) if seconds is not None
                               else None for name, seconds in zip(("client", "server"), used, strict=True)},
        "index": {key: stats.get(key) for key in ("articles", "passages", "model", "index_type")},
    }
    pct = result["latency_ms"]
    print(f"{args.clients} clients, {elapsed:.1f} s: {ok} searches, {len(writes)} writes, {len(errors)} errors "
          f"({result['server_errors']} server errors), {result['qps']} searches/s; "
          f"search latency ms p50 {pct['p50']} p95 {pct['p95']} p99 {pct['p99']}; server took_ms p50 "
          f"{result['server_ms']['p50']}, HTTP overhead p50 {result['http_overhead_ms']['p50']}; CPU ms per request "
          f"{result['cpu_ms_per_request']}")
    if len(writes):
        print(f"write latency ms {result['write_latency_ms']}")
    status = _write(args.out, latencies, result, f"GET /search, {args.clients} clients: {result['qps']} QPS")
    return status if not errors else 1


def _write(out: Path | None, latencies: np.ndarray, result: dict, title: str) -> int:
    """The JSON (and the histogram beside it) when asked; 0 when there was something to report."""
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        _plot(latencies, result, out.with_suffix(".png"), title)
    return 0 if len(latencies) else 1


def _plot(latencies: np.ndarray, result: dict, path: Path, title: str) -> None:
    plt = pyplot()
    if plt is None:
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
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())

"""Retrieval quality as a client sees it: `newsearch serve` on an index, every query over HTTP, scored.

    .venv/bin/python -m benchmarks.http_recall /work/shared/eval/ecbplus --index IDX [--mode hybrid] [--k 100]

Serves IDX (built from the BEIR folder's corpus with `newsearch index`) on a free loopback port, sends every
query as GET /search?q=...&k=100 (the server's default mode unless --mode), one at a time, and scores the
returned article ids with nDCG@10, R@10, R@100 and MRR@10 (search/metrics.py, checked against pytrec_eval
in the tests). Prints them with the HTTP latency percentiles and writes benchmarks/results/http-recall-SET.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import httpx
import numpy as np

from benchmarks.backends import free_port, newsearch, wait_ready
from search.evaluation.evaluate import load_beir
from search.evaluation.metrics import evaluate

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="BEIR folder: queries.jsonl, qrels.tsv")
    parser.add_argument("--index", type=Path, required=True, help="an index of the folder's corpus.jsonl")
    parser.add_argument("--mode", help="dense, lexical or hybrid (default: the server's)")
    parser.add_argument("--k", type=int, default=100)
    args = parser.parse_args()
    data = load_beir(args.folder)
    url = f"http://127.0.0.1:{free_port()}"
    server = newsearch("serve", "--index", str(args.index), "--port", url.rsplit(":", 1)[1], backend="faiss",
                       quiet=True)
    run, latencies, took = {}, [], []
    try:
        wait_ready(url, server)
        params = {"k": args.k} | ({"mode": args.mode} if args.mode else {})
        with httpx.Client(base_url=url, timeout=60) as http:
            for qid, text in data.queries.items():
                started = time.perf_counter()
                response = http.get("/search", params={"q": text, **params})
                latencies.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                body = response.json()
                took.append(body["took_ms"])
                run[qid] = [r["id"] for r in body["results"]]
    finally:
        server.terminate()
        server.wait()
    metrics = evaluate(run, data.qrels)
    out = {"set": args.folder.name, "index": str(args.index), "mode": args.mode or "default", "k": args.k,
           "queries": len(run), **{key: round(value, 4) for key, value in metrics.items()},
           "http_ms_p50": round(float(np.percentile(latencies, 50)), 2),
           "http_ms_p95": round(float(np.percentile(latencies, 95)), 2),
           "server_took_ms_p50": round(float(np.percentile(took, 50)), 2),
           "machine": platform.machine(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(" ".join(f"{key} {value}" for key, value in out.items()))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"http-recall-{args.folder.name}.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

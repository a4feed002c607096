"""FAISS against Milvus Lite, as a user runs them: `newsearch index` + `newsearch serve`, scored over HTTP.

    .venv/bin/python benchmarks/backends.py /work/shared/eval/ecbplus

Builds one index per backend from the BEIR folder's corpus (NEWSEARCH_BACKEND=faiss|milvus, the Milvus one a
Milvus Lite file in its folder), serves both, and sends every query to both servers in turn (GET /search,
k=100, mode dense by default), so that the two latency samples see the same machine load. Scores articles
with nDCG@10, R@10, R@100, MRR@10; prints a table and writes benchmarks/results/backends.json with the
p50/p95 HTTP latency, the server's own took_ms, the vector store's own search time (in this process, after
the servers stop) and the bytes each backend keeps per passage.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from indexer.store.index_store import IndexStore
from search.evaluation.evaluate import load_beir
from search.evaluation.metrics import evaluate

RESULTS = Path(__file__).resolve().parent / "results"
BACKENDS = ("faiss", "milvus")
VECTOR_FILES = {"faiss": ("vectors.faiss",), "milvus": ("vectors.milvus.db",)}


def newsearch(*args: str, backend: str, quiet: bool = False) -> subprocess.Popen:
    env = {**os.environ, "NEWSEARCH_BACKEND": backend, "HF_HUB_OFFLINE": "1"}
    out = subprocess.DEVNULL if quiet else None  # a server logs every request
    return subprocess.Popen([sys.executable, "-m", "api.cli", *args], env=env, stdout=out, stderr=out)


def build(corpus: Path, folder: Path, backend: str) -> float:
    """Index the corpus into `folder` (unless it is there already); the seconds it took."""
    if (folder / "manifest.json").exists():
        return 0.0
    started = time.perf_counter()
    if newsearch("index", str(corpus), "--index", str(folder), "--quiet", backend=backend).wait() != 0:
        raise SystemExit(f"newsearch index failed for {backend}")
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, server: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server for {url} stopped (exit {server.returncode})")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} was not ready in {timeout:.0f} s")


def vector_bytes(folder: Path, backend: str) -> int:
    return sum((folder / name).stat().st_size for name in VECTOR_FILES[backend] if (folder / name).exists())


def vector_search_ms(folder: Path, queries: int = 250, fetch: int = 800) -> float:
    """Median time of the vector store's own search, as the searcher asks it (800 passages for 100 articles),
    with stored passage vectors as queries: the engine without the model and HTTP around it."""
    store = IndexStore.open(folder)
    try:
        with store.snapshot() as conn:
            vectors = store.vectors(conn)
            pids = np.fromiter((r[0] for r in conn.execute("SELECT pid FROM passages")), dtype=np.int64)
            sample = store.embeddings(conn, pids[:: max(1, len(pids) // queries)][:queries])
        times = []
        for query in sample:
            started = time.perf_counter()
            vectors.search(query[None, :], fetch)
            times.append((time.perf_counter() - started) * 1000)
        return float(np.percentile(times, 50))
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="BEIR folder: corpus.jsonl, queries.jsonl, qrels.tsv")
    parser.add_argument("--work", type=Path, default=Path("/tmp"), help="where the indexes go (<backend>_<set>)")
    parser.add_argument("--mode", default="dense")
    parser.add_argument("--out", type=Path, default=RESULTS / "backends.json")
    args = parser.parse_args()
    data = load_beir(args.folder)
    folders = {b: args.work / f"{b}_{args.folder.name}" for b in BACKENDS}
    index_seconds = {b: round(build(data.corpus, folders[b], b), 1) for b in BACKENDS}

    urls, servers = {}, {}
    try:
        for b in BACKENDS:
            port = free_port()
            urls[b] = f"http://127.0.0.1:{port}"
            servers[b] = newsearch("serve", "--index", str(folders[b]), "--port", str(port), backend=b, quiet=True)
        for b in BACKENDS:
            wait_ready(urls[b], servers[b])
        runs = {b: {} for b in BACKENDS}
        latency = {b: [] for b in BACKENDS}
        took = {b: [] for b in BACKENDS}
        clients = {b: httpx.Client(base_url=urls[b], timeout=60) for b in BACKENDS}
        for b in BACKENDS:  # warm-up: first requests pay for lazy imports
            clients[b].get("/search", params={"q": "warm up", "k": 100, "mode": args.mode}).raise_for_status()
        for i, (qid, text) in enumerate(data.queries.items()):
            for b in BACKENDS if i % 2 == 0 else BACKENDS[::-1]:
                started = time.perf_counter()
                response = clients[b].get("/search", params={"q": text, "k": 100, "mode": args.mode})
                latency[b].append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                body = response.json()
                took[b].append(body["took_ms"])
                runs[b][qid] = [r["id"] for r in body["results"]]
        stats = {b: clients[b].get("/stats").json() for b in BACKENDS}
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=30)

    results = {}
    for b in BACKENDS:
        passages = stats[b]["passages"]
        results[b] = {**evaluate(runs[b], data.qrels),
                      "http_ms_p50": float(np.percentile(latency[b], 50)),
                      "http_ms_p95": float(np.percentile(latency[b], 95)),
                      "took_ms_p50": float(np.percentile(took[b], 50)),
                      "vector_search_ms_p50": vector_search_ms(folders[b]),
                      "vector_bytes_per_passage": round(vector_bytes(folders[b], b) / passages, 1),
                      "passages": passages, "backend": stats[b]["backend"], "index_seconds": index_seconds[b]}
    same_top10 = float(np.mean([runs["faiss"][q][:10] == runs["milvus"][q][:10] for q in data.queries]))
    print(f"{args.folder.name}: {len(data.queries)} queries over HTTP, mode {args.mode}, k=100")
    print(f"{'backend':8} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7} {'MRR@10':>7} {'HTTP p50':>9} {'HTTP p95':>9} "
          f"{'took p50':>9} {'vec p50':>8} {'B/passage':>10}")
    for b, m in results.items():
        print(f"{b:8} {m['ndcg@10']:8.4f} {m['recall@10']:7.4f} {m['recall@100']:7.4f} {m['mrr@10']:7.4f} "
              f"{m['http_ms_p50']:9.2f} {m['http_ms_p95']:9.2f} {m['took_ms_p50']:9.2f} "
              f"{m['vector_search_ms_p50']:8.2f} {m['vector_bytes_per_passage']:10.1f}")
    delta = results["milvus"]["ndcg@10"] - results["faiss"]["ndcg@10"]
    print(f"nDCG@10 milvus - faiss: {delta:+.4f}; identical top 10 on {same_top10:.1%} of queries")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "dataset": args.folder.name, "mode": args.mode, "k": 100, "queries": len(data.queries),
        "ndcg10_delta": delta, "identical_top10": same_top10, "results": results,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "note": "each query goes to both servers in turn (alternating order); HTTP latency is the client's"}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

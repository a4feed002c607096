"""A million vectors: FAISS IVF (embedded) against a real Milvus server (IVF_FLAT), side by side in one run,
each through newsearch's own vector store (indexer/store/vectors), the code the index uses.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/million.py --index index --sizes 250000 1000000

Vectors: real passage embeddings from an index's meta.sqlite, each repeated with Gaussian noise (sigma 0.03
per dimension on unit vectors, then re-normalised) up to the size, as benchmarks/ann.py makes them; queries
are held-out real vectors with the same noise; truth is exact inner-product search (numpy).

Per backend and size:
- ingest: `add` (FAISS: IVF training on the first call, then adds; Milvus: upserts of ~1 MB, 680 rows each,
  newsearch's write path) and vectors/s;
- build: FAISS has nothing left to build after ingest; Milvus seals and flushes (`save`), builds IVF_FLAT per
  segment in the background, and is timed until every row is indexed;
- memory: FAISS, the saved index file and the process's resident growth; Milvus, the server process's
  resident set (VmRSS, after loading) and its data folder on disk;
- recall@10 against exact and latency per query (one query per call, as the server asks; p50 and p99) for
  each nprobe, and the smallest nprobe reaching recall@10 >= .95. Milvus searches are swept at consistency
  Bounded (NEWSEARCH_MILVUS_CONSISTENCY=Bounded); newsearch's default, Strong, is timed at that nprobe too
  (50 queries): it waits for the server's time tick.
Milvus is the `milvus` 2.3.5 wheel (standalone, embedded etcd, local storage; pip install -e '.[test]') on
loopback in a namespace of its own (benchmarks/milvusserver.py, root only), reached through a TCP relay on
127.0.0.1, whose cost is in its latencies. Both use nlist = 4 * sqrt(n) rounded down to a power of two
(FAISS `auto`'s choice). Prints a table; writes benchmarks/results/million.json (after every backend).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ann import exact_top, held_out_queries, load_vectors, recall_at_k, synthesize  # beside this script
from milvusserver import MilvusServer  # beside this script

from indexer.store.vectors import VectorStore, open_vector_store
from indexer.store.vectors.faiss_backend import auto_index, omp_threads

RESULTS = Path(__file__).resolve().parent / "results"
NPROBE = [4, 8, 16, 32, 64, 128]
TARGET = 0.95


def rss_bytes(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def sweep(store: VectorStore, queries: np.ndarray, truth: np.ndarray, nprobes: list[int] = NPROBE) -> list[dict]:
    """recall@10 and per-query latency at each nprobe, one query per call."""
    rows = []
    for nprobe in nprobes:
        store.params["nprobe"] = nprobe
        if hasattr(store, "_apply_params"):
            store._apply_params()  # FAISS reads nprobe into its index; Milvus sends it with every search
        found, seconds = np.empty((len(queries), 10), dtype=np.int64), np.empty(len(queries))
        with omp_threads(1):
            for i, q in enumerate(queries):
                t = time.perf_counter()
                found[i] = store.search(q, 10)[1][0]
                seconds[i] = time.perf_counter() - t
        rows.append({"nprobe": nprobe, "recall@10": recall_at_k(found, truth),
                     "p50_ms": float(np.percentile(seconds, 50) * 1e3),
                     "p99_ms": float(np.percentile(seconds, 99) * 1e3)})
        print(f"    nprobe {nprobe:4d}  recall@10 {rows[-1]['recall@10']:.3f}  p50 {rows[-1]['p50_ms']:.2f} ms  "
              f"p99 {rows[-1]['p99_ms']:.2f} ms", flush=True)
    return rows


def run_faiss(base: np.ndarray, queries: np.ndarray, truth: np.ndarray, nlist: int, work: Path) -> dict:
    ids = np.arange(len(base), dtype=np.int64)
    before = rss_bytes()
    store = open_vector_store("faiss", work, base.shape[1], "ivf", {"nlist": nlist})
    started = time.perf_counter()
    store.add(ids, base)  # untrained: trains on these vectors, then adds them
    ingest = time.perf_counter() - started
    store.save(0)
    out = {"backend": "faiss", "index": f"IVF{nlist},Flat", "ingest_s": ingest, "build_s": 0.0,
           "ingest_per_s": len(base) / ingest, "index_bytes": (work / "vectors.faiss").stat().st_size,
           "rss_growth_bytes": rss_bytes() - before}
    out["sweep"] = sweep(store, queries, truth)
    store.close()
    return out


def run_milvus(base: np.ndarray, queries: np.ndarray, truth: np.ndarray, nlist: int, work: Path) -> dict:
    ids = np.arange(len(base), dtype=np.int64)
    with MilvusServer(work / "server") as server:
        store = open_vector_store("milvus", work, base.shape[1], "ivf", {"nlist": nlist}, uri=server.uri)
        started = time.perf_counter()
        store.add(ids, base)
        ingest = time.perf_counter() - started
        started = time.perf_counter()
        store.save(0)  # flush: seals the segments, whose IVF_FLAT indexes are built in the background
        client, deadline = store._client, time.monotonic() + 3600
        while time.monotonic() < deadline:
            info = client.describe_index("newsearch_passages", "vector")
            if int(info.get("indexed_rows", 0)) >= len(base) and int(info.get("pending_index_rows", 0)) == 0:
                break
            time.sleep(1)
        build = time.perf_counter() - started
        client.release_collection("newsearch_passages")
        client.load_collection("newsearch_passages")  # searches every segment through its index
        out = {"backend": "milvus-server", "index": f"IVF_FLAT nlist={nlist}", "ingest_s": ingest, "build_s": build,
               "ingest_per_s": len(base) / ingest, "index_state": info,
               "server_rss_bytes": rss_bytes(server.process.pid),
               "data_bytes": folder_bytes(server.base_dir / "data"), "consistency": "Bounded"}
        store.consistency = "Bounded"  # NEWSEARCH_MILVUS_CONSISTENCY=Bounded
        out["sweep"] = sweep(store, queries, truth)
        if point := operating_point(out):  # newsearch's default, Strong, at the same nprobe
            store.consistency = "Strong"
            print("    Strong consistency:", flush=True)
            out["strong"] = sweep(store, queries[:50], truth[:50], [point["nprobe"]])[0]
        store.close()
    return out


def operating_point(result: dict) -> dict | None:
    """The cheapest nprobe at recall@10 >= TARGET."""
    return next((row for row in result["sweep"] if row["recall@10"] >= TARGET), None)


def print_table(results: list[dict]) -> None:
    print(f"\n{'vectors':>9} {'backend':14} {'ingest/s':>9} {'ingest s':>9} {'build s':>8} {'memory':>24} "
          f"{'nprobe':>6} {'R@10':>6} {'p50 ms':>7} {'p99 ms':>7} {'Strong p50':>10}")
    for r in results:
        point = operating_point(r) or {"nprobe": "-", "recall@10": float("nan"), "p50_ms": float("nan"),
                                        "p99_ms": float("nan")}
        memory = (f"{r['index_bytes'] / 2**20:.0f} MiB file" if r["backend"] == "faiss"
                  else f"{r['server_rss_bytes'] / 2**20:.0f} MiB RSS")
        print(f"{r['n']:>9,} {r['backend']:14} {r['ingest_per_s']:>9,.0f} {r['ingest_s']:>9.1f} {r['build_s']:>8.1f} "
              f"{memory:>24} {point['nprobe']:>6} {point['recall@10']:>6.3f} {point['p50_ms']:>7.2f} "
              f"{point['p99_ms']:>7.2f} {r.get('strong', {}).get('p50_ms', float('nan')):>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="an index folder whose embeddings seed the data")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--backends", nargs="+", choices=["faiss", "milvus-server"], default=["faiss", "milvus-server"])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sigma", type=float, default=0.03)
    parser.add_argument("--out", type=Path, default=RESULTS / "million.json")
    args = parser.parse_args()
    queries, pool = held_out_queries(load_vectors(args.index), args.queries, args.sigma)
    report = {"command": "python benchmarks/million.py " + " ".join(sys.argv[1:]), "sigma": args.sigma,
              "queries": args.queries, "source": str(args.index), "real_vectors": len(pool),
              "cpus": os.cpu_count(), "results": []}
    for n in args.sizes:
        base = synthesize(pool, n, args.sigma, seed=n)
        truth = exact_top(base, queries, 10)
        nlist = auto_index(n)[1].get("nlist", 128)
        for backend in args.backends:
            work = Path(tempfile.mkdtemp(prefix=f"million-{backend}-"))
            print(f"{n:,} vectors, {backend} (nlist {nlist}), load {os.getloadavg()[0]:.1f}", flush=True)
            try:
                run = run_faiss if backend == "faiss" else run_milvus
                result = {"n": n, "load_before": os.getloadavg(), **run(base, queries, truth, nlist, work)}
            finally:
                shutil.rmtree(work, ignore_errors=True)
            result["load_after"] = os.getloadavg()
            result["operating_point"] = operating_point(result)
            report["results"].append(result)
            args.out.write_text(json.dumps(report, indent=2, default=str))
        del base, truth
    print_table(report["results"])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""ANN operating points: recall@10 against exact search vs queries/s, memory per vector, build time.

    OMP_WAIT_POLICY=PASSIVE nice -n 5 .venv/bin/python benchmarks/ann.py --index INDEX_DIR --sizes 100000 1000000

Base vectors are real passage embeddings read from an index's meta.sqlite. To reach sizes beyond the
corpus, each synthetic vector is a real one plus Gaussian noise (sigma per dimension, default 0.03 on
unit vectors, about 0.6 in norm before re-normalising), so neighbourhoods keep the shape of real
embeddings without being copies. Queries are held-out real vectors with the same noise. Ground truth is
exact inner-product search (numpy matmul).

Every index, exact included, is timed one query at a time, the way the server asks, on one faiss thread
(a one-query HNSW or IVF search uses one thread anyway; a flat scan would split over both cores, which on
a shared machine makes it slower, not faster); builds use every core. QPS is 1 / median latency. Exact
search (faiss IndexFlatIP) is timed on the first --exact-queries queries right before each index's sweep
and that index's "x exact" uses this figure, so both sides of a ratio ran under the same machine load.
Each index is built once and its search knob swept. The two IVF indexes share one k-means (on 64 x nlist
sampled vectors) and one coarse assignment of the base; each IVF row's build time counts both, as if
built alone. Memory is the serialized index size. A flat-latency curve over prefixes of the largest base
backs the flat -> ANN size threshold. Results are written after every index, so an interrupted run keeps
what it measured. Prints a table; writes benchmarks/results/ann.json and ann.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from indexer.store.vectors.faiss_backend import _factory, omp_threads

RESULTS = Path(__file__).resolve().parent / "results"
EF = [16, 32, 64, 128, 256, 512]
NPROBE = [4, 8, 16, 32, 64, 128, 256]
# name: (index type, build params, search parameter name, values)
CONFIGS: dict[str, tuple[str, dict, str | None, list]] = {
    "flat": ("flat", {}, None, [None]),
    "hnsw16": ("hnsw", {"M": 16, "efConstruction": 100}, "efSearch", EF),
    "hnsw24": ("hnsw", {"M": 24, "efConstruction": 100}, "efSearch", EF),
    "hnsw32": ("hnsw", {"M": 32, "efConstruction": 200}, "efSearch", EF),
    "ivf": ("ivf", {}, "nprobe", NPROBE),
    "ivf-sq8": ("ivf-sq8", {}, "nprobe", NPROBE),
}
TRAIN_PER_LIST = 64


def load_vectors(index_dir: Path) -> np.ndarray:
    conn = sqlite3.connect(index_dir / "meta.sqlite")
    blobs = [row[0] for row in conn.execute("SELECT embedding FROM passages ORDER BY pid")]
    return np.stack([np.frombuffer(b, dtype=np.float32) for b in blobs])


def synthesize(real: np.ndarray, n: int, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        end = min(n, start + 100_000)
        block = real[rng.integers(0, len(real), end - start)] + rng.normal(0, sigma, (end - start, real.shape[1]))
        out[start:end] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def held_out_queries(real: np.ndarray, n: int, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(queries, pool): `n` real vectors held out and made queries (noisy copies), the rest the pool the base
    is synthesized from, so no query is a copy of a base vector's source. Fixed seeds: reruns compare."""
    held_out = np.random.default_rng(1).choice(len(real), n, replace=False)
    return synthesize(real[held_out], n, sigma, seed=2), np.delete(real, held_out, axis=0)


def exact_top(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    top = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), 64):
        scores = queries[start:start + 64] @ base.T
        part = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.take_along_axis(scores, part, 1).argsort(axis=1)[:, ::-1]
        top[start:start + 64] = np.take_along_axis(part, order, 1)
    return top


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean |found ∩ truth| / k over queries (the faiss contrib definition of k-recall@k)."""
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def index_bytes(index: faiss.Index) -> int:
    with tempfile.NamedTemporaryFile() as handle:
        faiss.write_index(index, handle.name)
        return Path(handle.name).stat().st_size


def set_param(index: faiss.Index, name: str | None, value) -> None:
    inner = faiss.downcast_index(index)
    if name == "efSearch":
        inner.hnsw.efSearch = value
    elif name == "nprobe":
        inner.nprobe = value


def time_queries(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids found and per-query seconds, one query per search call on one faiss thread."""
    found, seconds = np.empty((len(queries), k), dtype=np.int64), np.empty(len(queries))
    with omp_threads(1):
        for i, q in enumerate(queries):
            t = time.perf_counter()
            _, ids = index.search(q[None, :], k)
            seconds[i] = time.perf_counter() - t
            found[i] = ids[0]
    return found, seconds


class IvfShared:
    """One k-means and one coarse assignment of the base, reused by every IVF index of a size."""

    def __init__(self, base: np.ndarray) -> None:
        self.base = base
        self.centroids: np.ndarray | None = None
        self.sample: np.ndarray | None = None
        self.assign: np.ndarray | None = None
        self.seconds = 0.0

    def build(self, index: faiss.Index) -> float:
        """Train and fill an empty IVF index; returns its build seconds including the shared work."""
        ivf = faiss.extract_index_ivf(index)
        started = time.perf_counter()
        if self.centroids is None:
            rng = np.random.default_rng(0)
            self.sample = self.base[rng.choice(len(self.base), min(len(self.base), TRAIN_PER_LIST * ivf.nlist),
                                               replace=False)]
            ivf.train_q1(len(self.sample), faiss.swig_ptr(self.sample), False, ivf.metric_type)  # the k-means
            self.centroids = ivf.quantizer.reconstruct_n(0, ivf.nlist)
            _, self.assign = ivf.quantizer.search(self.base, 1)
            self.seconds = time.perf_counter() - started
            started = time.perf_counter()
        else:
            ivf.quantizer.add(self.centroids)
        index.train(self.sample)  # quantizer already holds nlist centroids: only the encoder (SQ8) trains
        ivf.add_core(len(self.base), faiss.swig_ptr(self.base), None, faiss.swig_ptr(self.assign.ravel()))
        return self.seconds + time.perf_counter() - started


def build(name: str, base: np.ndarray, shared: IvfShared) -> tuple[faiss.Index, float]:
    """One index of a configuration over the base, and its build seconds."""
    index_type, params, _, _ = CONFIGS[name]
    index = _factory(index_type, base.shape[1], len(base), params)
    if index_type.startswith("ivf"):
        return index, shared.build(index)
    started = time.perf_counter()
    index.add(base)
    return index, time.perf_counter() - started


def sweep(name: str, index: faiss.Index, build_s: float, queries: np.ndarray, truth: np.ndarray) -> list[dict]:
    """One row per value of the configuration's search knob."""
    index_type, params, knob, values = CONFIGS[name]
    per_vector = index_bytes(index) / index.ntotal
    rows = []
    for value in values:
        set_param(index, knob, value)
        found, seconds = time_queries(index, queries, truth.shape[1])
        median = float(np.median(seconds))
        rows.append({"n": index.ntotal, "config": name, "index": index_type, "params": params, "knob": knob,
                     "value": value, "queries": len(queries), "recall@10": recall_at_k(found, truth),
                     "latency_ms_p50": median * 1000, "latency_ms_p95": float(np.percentile(seconds, 95)) * 1000,
                     "latency_ms_mean": float(seconds.mean()) * 1000, "qps": 1.0 / median,
                     "bytes_per_vector": per_vector, "memory_ratio": per_vector / (4 * index.d), "build_s": build_s})
    return rows


def flat_curve(base: np.ndarray, queries: np.ndarray, sizes: list[int]) -> list[dict]:
    """Single-query flat (exact) latency over prefixes of the base: where brute force stops being cheap."""
    out = []
    for n in sorted(s for s in sizes if s <= len(base)):
        index = faiss.IndexFlatIP(base.shape[1])
        index.add(base[:n])
        _, seconds = time_queries(index, queries, 10)
        out.append({"n": n, "latency_ms_p50": float(np.median(seconds)) * 1000,
                    "latency_ms_p95": float(np.percentile(seconds, 95)) * 1000})
        print(f"flat {n:>9,}: p50 {out[-1]['latency_ms_p50']:8.2f} ms  p95 {out[-1]['latency_ms_p95']:8.2f} ms")
    return out


def print_rows(rows: list[dict]) -> None:
    for r in rows:
        knob = f"{r['knob']}={r['value']}" if r["knob"] else "exact"
        print(f"{r['n']:>9} {r['config']:8} {json.dumps(r['params']):34} {knob:>13} {r['recall@10']:6.3f} "
              f"{r['latency_ms_p50']:8.3f} {r['qps']:8.0f} {r['speedup_vs_exact']:8.1f} "
              f"{r['bytes_per_vector']:6.0f} {r['memory_ratio']:6.3f} {r['build_s']:8.1f}", flush=True)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r["n"] for r in rows})
    fig, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4.5), squeeze=False)
    for ax, n in zip(axes[0], sizes, strict=True):
        for name in dict.fromkeys(r["config"] for r in rows if r["n"] == n):
            pts = [r for r in rows if r["n"] == n and r["config"] == name]
            ax.plot([p["recall@10"] for p in pts], [p["qps"] for p in pts], marker="o",
                    label=f"{name} {pts[0]['params'] or ''} ({pts[0]['memory_ratio']:.2f}x raw)")
        ax.set_yscale("log")
        ax.set_xlabel("recall@10 vs exact")
        ax.set_ylabel("queries/s (one at a time, 1 / p50)")
        ax.set_title(f"{n:,} vectors")
        ax.axvline(0.98, color="grey", linestyle=":")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="an index folder whose embeddings seed the data")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--only", nargs="+", choices=list(CONFIGS), default=["flat", "hnsw16", "ivf", "ivf-sq8",
                                                                              "hnsw32"], help="indexes to build")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--exact-queries", type=int, default=50, help="queries timed on the flat index")
    parser.add_argument("--flat-sizes", type=int, nargs="*",
                        default=[5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000],
                        help="prefix sizes of the largest base for the flat latency curve")
    parser.add_argument("--sigma", type=float, default=0.03)
    parser.add_argument("--out", type=Path, default=RESULTS / "ann.json")
    args = parser.parse_args()
    queries, pool = held_out_queries(load_vectors(args.index), args.queries, args.sigma)
    report = {"command": "python benchmarks/ann.py " + " ".join(sys.argv[1:]), "sigma": args.sigma,
              "queries": args.queries, "exact_queries": args.exact_queries,
              "source": str(args.index), "base_vectors": len(pool), "cpus": os.cpu_count(),
              "omp_threads": faiss.omp_get_max_threads(), "load_start": os.getloadavg(), "rows": [],
              "flat_curve": []}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    print(f"{'n':>9} {'config':8} {'build params':34} {'knob':>13} {'R@10':>6} {'p50 ms':>8} {'QPS':>8} "
          f"{'x exact':>8} {'B/vec':>6} {'x raw':>6} {'build s':>8}")
    for n in sorted(args.sizes):
        base = synthesize(pool, n, args.sigma, seed=n)
        truth = exact_top(base, queries, 10)
        shared = IvfShared(base)
        flat, flat_s = build("flat", base, shared)
        exact_q, exact_truth = queries[:args.exact_queries], truth[:args.exact_queries]
        for name in ["flat"] + [name for name in args.only if name != "flat"]:
            if name == "flat":
                rows = sweep(name, flat, flat_s, exact_q, exact_truth)
                exact_qps = rows[0]["qps"]
                if n == max(args.sizes):
                    report["flat_curve"] = flat_curve(base, exact_q, args.flat_sizes)
            else:
                index, seconds = build(name, base, shared)
                exact_qps = 1.0 / float(np.median(time_queries(flat, exact_q, 10)[1]))  # just before, same load
                rows = sweep(name, index, seconds, queries, truth)
                del index
            for r in rows:
                r["exact_qps"], r["speedup_vs_exact"], r["load"] = exact_qps, r["qps"] / exact_qps, os.getloadavg()
            print_rows(rows)
            report["rows"] += rows
            args.out.write_text(json.dumps(report, indent=2))
            plot(report["rows"], args.out.with_suffix(".png"))
        del base, truth, shared, flat
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()

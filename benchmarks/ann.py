"""ANN operating points: recall@10 against exact search vs queries/s, memory per vector, build time.

    .venv/bin/python benchmarks/ann.py --index INDEX_DIR --sizes 100000 1000000

Base vectors are real passage embeddings read from an index's meta.sqlite. To reach sizes beyond the
corpus, each synthetic vector is a real one plus Gaussian noise (sigma per dimension, default 0.03 on
unit vectors, about 0.6 in norm before re-normalising), so neighbourhoods keep the shape of real
embeddings without being copies. Queries are held-out real vectors with the same noise. Ground truth is
exact inner-product search (numpy matmul). Latency is one query at a time, the way the server asks.
Prints a table; writes benchmarks/results/ann.json and ann.png.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from indexer.vectors.faiss_backend import _factory

RESULTS = Path(__file__).resolve().parent / "results"

# (index type, build params, search parameter name, values)
CONFIGS = [
    ("flat", {}, None, [None]),
    ("hnsw", {"M": 16, "efConstruction": 100}, "efSearch", [16, 32, 64, 128, 256]),
    ("hnsw", {"M": 32, "efConstruction": 200}, "efSearch", [16, 32, 64, 128, 256]),
    ("ivf", {}, "nprobe", [4, 8, 16, 32, 64, 128]),
    ("ivf-sq8", {}, "nprobe", [4, 8, 16, 32, 64, 128]),
]


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


def run_size(base: np.ndarray, queries: np.ndarray, k: int) -> list[dict]:
    truth = exact_top(base, queries, k)
    rows = []
    for index_type, params, knob, values in CONFIGS:
        started = time.perf_counter()
        index = _factory(index_type, base.shape[1], len(base), params)
        if not index.is_trained:
            index.train(base[np.random.default_rng(0).choice(len(base), min(len(base), 200_000), replace=False)])
        index.add(base)
        build = time.perf_counter() - started
        per_vector = index_bytes(index) / len(base)
        for value in values:
            set_param(index, knob, value)
            found, latencies = np.empty_like(truth), []
            for i, q in enumerate(queries):
                t = time.perf_counter()
                _, ids = index.search(q[None, :], k)
                latencies.append(time.perf_counter() - t)
                found[i] = ids[0]
            median = float(np.median(latencies))
            rows.append({"n": len(base), "index": index_type, "params": params, "knob": knob, "value": value,
                         "recall@10": recall_at_k(found, truth), "latency_ms_p50": median * 1000,
                         "qps": 1.0 / median, "bytes_per_vector": per_vector,
                         "memory_ratio": per_vector / (4 * base.shape[1]), "build_s": build})
        del index
    exact_qps = next(r["qps"] for r in rows if r["index"] == "flat")
    for r in rows:
        r["speedup_vs_exact"] = r["qps"] / exact_qps
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r["n"] for r in rows})
    fig, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4.5), squeeze=False)
    for ax, n in zip(axes[0], sizes, strict=True):
        for label in dict.fromkeys(f"{r['index']} {r['params'] or ''}" for r in rows if r["n"] == n):
            pts = [r for r in rows if r["n"] == n and f"{r['index']} {r['params'] or ''}" == label]
            ax.plot([p["recall@10"] for p in pts], [p["qps"] for p in pts], marker="o", label=label)
        ax.set_yscale("log")
        ax.set_xlabel("recall@10 vs exact")
        ax.set_ylabel("queries/s (one at a time)")
        ax.set_title(f"{n:,} vectors")
        ax.axvline(0.98, color="grey", linestyle=":")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="an index folder whose embeddings seed the data")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--sigma", type=float, default=0.03)
    parser.add_argument("--out", type=Path, default=RESULTS / "ann.json")
    args = parser.parse_args()
    real = load_vectors(args.index)
    rng = np.random.default_rng(1)
    held_out = rng.choice(len(real), args.queries, replace=False)
    queries = synthesize(real[held_out], args.queries, args.sigma, seed=2)
    pool = np.delete(real, held_out, axis=0)
    rows = []
    for n in args.sizes:
        rows += run_size(synthesize(pool, n, args.sigma, seed=n), queries, 10)
        print(f"{'n':>9} {'index':8} {'build params':28} {'knob':>13} {'R@10':>6} {'p50 ms':>8} {'QPS':>8} "
              f"{'x exact':>8} {'B/vec':>6} {'x raw':>6} {'build s':>8}")
        for r in (r for r in rows if r["n"] == n):
            knob = f"{r['knob']}={r['value']}" if r["knob"] else "exact"
            print(f"{r['n']:>9} {r['index']:8} {json.dumps(r['params']):28} {knob:>13} {r['recall@10']:6.3f} "
                  f"{r['latency_ms_p50']:8.3f} {r['qps']:8.0f} {r['speedup_vs_exact']:8.1f} "
                  f"{r['bytes_per_vector']:6.0f} {r['memory_ratio']:6.2f} {r['build_s']:8.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"sigma": args.sigma, "queries": args.queries, "source": str(args.index),
                                    "base_vectors": len(pool), "rows": rows}, indent=2))
    plot(rows, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()

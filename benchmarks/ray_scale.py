"""Indexing throughput on a Ray cluster of 1 and 2 nodes against the local path, whole processes.

    .venv/bin/python benchmarks/ray_scale.py [--articles 1000] [--rounds 1] [--configs local ray-1x1 ray-2x1 ray-1x2]

Input: the first N BBC articles of /work/shared/eval/xsum1k/corpus.jsonl (a temporary copy when N is less
than the file). Every timed run is a fresh `newsearch index CORPUS --index FRESH --quiet` (default config:
onnx-int8, 128-token passages, 256-article batches), timed from process start to exit, so interpreter
start, imports, `ray.init`, model loads, reading, embedding and committing are all in:
- local: the local path, one process whose encoder uses every core;
- ray-NxC: `--ray` against a loopback cluster of N nodes with C CPUs each (benchmarks/raycluster.py, needs
  root), hence N*C embedding actors of one thread. The cluster is started before the clock and stopped after.
Rounds interleave the configurations and the table shows medians. The machine may be shared: the load
average before each run is recorded. Every Ray index is checked against the local one (same passages, same
vectors). Prints a table; writes benchmarks/results/ray_scale.json and ray_scale.png.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from raycluster import LoopbackCluster, unavailable  # beside this script

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CORPUS = Path("/work/shared/eval/xsum1k/corpus.jsonl")
NEWSEARCH = str(Path(sys.executable).with_name("newsearch"))
CONFIGS = ("local", "ray-1x1", "ray-2x1", "ray-1x2")
_SUMMARY = re.compile(r"indexed (\d+) articles \((\d+) passages")


def shape(config: str) -> tuple[int, int]:
    """Nodes and CPUs per node of a 'ray-NxC' configuration."""
    nodes, cpus = config.removeprefix("ray-").split("x")
    return int(nodes), int(cpus)


def timed_index(corpus: Path, index: Path, cluster: LoopbackCluster | None) -> dict:
    """One `newsearch index` run into a fresh folder: wall seconds, articles, passages."""
    cmd = [NEWSEARCH, "index", str(corpus), "--index", str(index), "--quiet"]
    load = round(os.getloadavg()[0], 2)
    started = time.perf_counter()
    if cluster:
        done = cluster.run([*cmd, "--ray", cluster.address], capture_output=True, text=True)
    else:
        done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    found = _SUMMARY.search(done.stderr)
    if done.returncode or not found:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    articles, passages = int(found[1]), int(found[2])
    return {"seconds": round(seconds, 2), "articles": articles, "passages": passages, "load_before": load,
            "passages_per_s": round(passages / seconds, 2), "articles_per_s": round(articles / seconds, 2)}


def stored(index: Path) -> tuple[list, np.ndarray]:
    conn = sqlite3.connect(index / "meta.sqlite")
    rows = conn.execute('SELECT a.id, p.ord, p.start, p."end", p.embedding FROM passages p '
                        "JOIN articles a ON a.rowid = p.article ORDER BY p.pid").fetchall()
    conn.close()
    return [r[:4] for r in rows], np.stack([np.frombuffer(r[4], dtype=np.float32) for r in rows])


def same_as_local(index: Path, local: Path) -> float:
    """Max abs vector difference to the local index; raises if the passages differ."""
    (keys, vectors), (local_keys, local_vectors) = stored(index), stored(local)
    if keys != local_keys:
        raise RuntimeError(f"{index} holds other passages than the local index {local}")
    return float(np.abs(vectors - local_vectors).max())


def measure(args: argparse.Namespace, work: Path) -> dict:
    corpus = CORPUS
    if args.articles < sum(1 for _ in CORPUS.open(encoding="utf-8")):
        corpus = work / "corpus.jsonl"
        with CORPUS.open(encoding="utf-8") as source:
            corpus.write_text("".join(line for _, line in zip(range(args.articles), source, strict=False)))
    runs: dict[str, list[dict]] = {c: [] for c in args.configs}
    starts: dict[str, list[float]] = {c: [] for c in args.configs if c != "local"}
    local_index = None
    for round_ in range(args.rounds):
        for config in args.configs:
            index = work / f"{config}-{round_}"
            if config == "local":
                runs[config].append(timed_index(corpus, index, None))
                local_index = local_index or index
            else:
                nodes, cpus = shape(config)
                started = time.perf_counter()
                with LoopbackCluster(Path(tempfile.mkdtemp(prefix="r", dir=work)), nodes, cpus) as cluster:
                    starts[config].append(round(time.perf_counter() - started, 2))
                    runs[config].append(timed_index(corpus, index, cluster))
            print(f"round {round_ + 1} {config}: {runs[config][-1]}", flush=True)
    differences = {c: same_as_local(work / f"{c}-0", local_index) for c in args.configs if c != "local" and local_index}
    return {"runs": runs, "cluster_start_seconds": starts, "max_abs_vector_difference_to_local": differences,
            "corpus": str(CORPUS), "articles": args.articles, "rounds": args.rounds, "cores": os.cpu_count()}


def summarize(result: dict) -> list[dict]:
    rows = []
    for config, runs in result["runs"].items():
        seconds = statistics.median(r["seconds"] for r in runs)
        passages, articles = runs[0]["passages"], runs[0]["articles"]
        actors = 0 if config == "local" else shape(config)[0] * shape(config)[1]
        rows.append({"config": config, "seconds": seconds, "passages": passages, "articles": articles,
                     "passages_per_s": round(passages / seconds, 2), "articles_per_s": round(articles / seconds, 2),
                     "passages_per_s_per_actor": round(passages / seconds / actors, 2) if actors else None,
                     "load_before": [r["load_before"] for r in runs]})
    return rows


def report(result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["table"] = summarize(result)
    print(f"\n{result['articles']} articles, {result['rounds']} round(s), {result['cores']} cores")
    print(f"{'config':10} {'seconds':>8} {'passages/s':>11} {'articles/s':>11} {'per actor':>10}  load before")
    for r in rows:
        per = f"{r['passages_per_s_per_actor']:10.2f}" if r["passages_per_s_per_actor"] else f"{'-':>10}"
        print(f"{r['config']:10} {r['seconds']:8.1f} {r['passages_per_s']:11.2f} {r['articles_per_s']:11.2f} "
              f"{per}  {r['load_before']}")
    print("cluster start (s):", result["cluster_start_seconds"])
    print("max |vector - local vector|:", result["max_abs_vector_difference_to_local"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ray_scale.json").write_text(json.dumps(result, indent=2) + "\n")
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.bar([r["config"] for r in rows], [r["passages_per_s"] for r in rows], color="#4a7ab0")
    for i, r in enumerate(rows):
        ax.text(i, r["passages_per_s"], f"{r['passages_per_s']:.1f}", ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("passages / s (whole process)")
    ax.set_title(f"newsearch index, {result['articles']} BBC articles, {result['cores']} cores: local vs Ray nodes")
    fig.tight_layout()
    fig.savefig(RESULTS / "ray_scale.png", dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    args = parser.parse_args()
    if reason := unavailable():
        sys.exit(f"ray_scale: {reason}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    work = Path(tempfile.mkdtemp(prefix="ray_scale-"))
    try:
        report(measure(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

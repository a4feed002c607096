"""Encode less: what reusing the vectors of identical passages saves, and proof that results do not move.

    .venv/bin/python benchmarks/reuse.py ../shared/eval/allsides_neus ../shared/eval/xsum1k \\
        --out benchmarks/results/reuse.json

Each BEIR corpus is indexed twice into temporary folders, side by side in one run: once encoding every
passage (`reuse_vectors=False`) and once reusing stored vectors (the default), in alternating order over
`--rounds`. Reports passages, how many were reused (not encoded), the median seconds of each, how many
queries' top 10 (ids, default hybrid search) are identical on the two indexes, and nDCG@10 of each (the
rule for defaults: not worse on any set).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.models.embed import Embedder  # noqa: E402
from indexer.pipeline import IndexConfig, index_sources  # noqa: E402
from search.evaluation.evaluate import load_beir  # noqa: E402
from search.evaluation.metrics import evaluate  # noqa: E402
from search.searcher import Searcher  # noqa: E402


def top10s(index: Path, queries: dict[str, str], embedder: Embedder) -> dict[str, list[tuple[str, float]]]:
    searcher = Searcher(index, embedder=embedder)
    try:
        return {qid: [(r.id, r.score) for r in searcher.search(text, k=10).results] for qid, text in queries.items()}
    finally:
        searcher.close()


def measure(folder: Path, rounds: int, embedder: Embedder, query_embedder: Embedder) -> dict:
    data = load_beir(folder)
    seconds: dict[bool, list[float]] = {False: [], True: []}
    reports = {}
    with tempfile.TemporaryDirectory(prefix="newsearch-reuse-") as tmp:
        for round_ in range(rounds):
            for reuse in ((False, True) if round_ % 2 == 0 else (True, False)):
                target = Path(tmp) / f"{reuse}-{round_}"
                started = time.perf_counter()
                reports[reuse] = index_sources([str(data.corpus)], target, IndexConfig(reuse_vectors=reuse),
                                               embedder=embedder)
                seconds[reuse].append(time.perf_counter() - started)
        a, b = (top10s(Path(tmp) / f"{reuse}-0", data.queries, query_embedder) for reuse in (False, True))
    same_ids = sum([i for i, _ in a[q]] == [i for i, _ in b[q]] for q in a)
    ndcg = [evaluate({q: [i for i, _ in run[q]] for q in run}, data.qrels)["ndcg@10"] for run in (a, b)]
    max_score_diff = max((abs(x - y) for q in a for (_, x), (_, y) in zip(a[q], b[q], strict=True)), default=0.0)
    off, on = (float(np.median(seconds[r])) for r in (False, True))
    return {"dataset": folder.name, "articles": reports[True].indexed, "passages": reports[True].passages,
            "reused": reports[True].reused, "reused_share": reports[True].reused / max(reports[True].passages, 1),
            "seconds_encode_all": seconds[False], "seconds_reuse": seconds[True],
            "median_encode_all": off, "median_reuse": on, "speedup": off / on,
            "queries": len(a), "identical_top10_ids": same_ids, "max_score_diff": max_score_diff,
            "ndcg@10_encode_all": ndcg[0], "ndcg@10_reuse": ndcg[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=1, help="index pairs per set (order alternates)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    embedder, query_embedder = Embedder(), Embedder(threads=1)  # one model for every run: loads are not timed
    results = [measure(folder, args.rounds, embedder, query_embedder) for folder in args.folders]
    print(f"{'set':16}{'passages':>10}{'reused':>9}{'share':>8}{'all s':>9}{'reuse s':>9}{'speedup':>9}"
          f"{'same top10':>12}{'max dscore':>12}{'nDCG all':>10}{'nDCG reuse':>11}")
    for r in results:
        print(f"{r['dataset']:16}{r['passages']:10d}{r['reused']:9d}{r['reused_share']:8.1%}"
              f"{r['median_encode_all']:9.1f}{r['median_reuse']:9.1f}{r['speedup']:8.2f}x"
              f"{r['identical_top10_ids']:>7d}/{r['queries']:<4d}{r['max_score_diff']:12.2e}"
              f"{r['ndcg@10_encode_all']:10.4f}{r['ndcg@10_reuse']:11.4f}")
    if args.out:
        args.out.write_text(json.dumps({"command": " ".join(sys.argv), "machine": platform.processor() or
                                        platform.machine(), "results": results}, indent=2))


if __name__ == "__main__":
    main()

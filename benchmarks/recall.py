"""Recall benchmark over BEIR folders: every mode's nDCG@10, R@10, R@100, MRR@10 and latency.

    .venv/bin/python benchmarks/recall.py ../shared/eval/ecbplus ../shared/eval/xsum1k ../shared/eval/allsides_neus

Prints one table, writes benchmarks/results/recall.json and recall.png. Each folder is indexed into a
temporary index with the default configuration (or --chunk-tokens/--encoder), as `newsearch bench recall`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from plots import ndcg_bars  # beside this script (its directory is on sys.path when run)

from indexer.pipeline import IndexConfig
from search.evaluation.evaluate import bench_recall

RESULTS = Path(__file__).resolve().parent / "results"


def plot(results: dict[str, dict], path: Path) -> None:
    modes = list(next(iter(results.values()))["modes"])
    ndcg_bars(path, list(results), {m: [r["modes"][m]["ndcg@10"] for r in results.values()] for m in modes},
              ylim=(0.5, 1.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--chunk-tokens", type=int, default=IndexConfig.chunk_tokens)
    parser.add_argument("--overlap-tokens", type=int, default=IndexConfig.overlap_tokens)
    parser.add_argument("--encoder", default=IndexConfig.encoder)
    parser.add_argument("--out", type=Path, default=RESULTS / "recall.json")
    args = parser.parse_args()
    config = IndexConfig(encoder=args.encoder, chunk_tokens=args.chunk_tokens, overlap_tokens=args.overlap_tokens)
    results = {folder.name: bench_recall(folder, config=config) for folder in args.folders}
    print(f"{'set':16} {'mode':9} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7} {'MRR@10':>7} {'p50 ms':>7} {'p95 ms':>7}")
    for name, result in results.items():
        for mode, m in result["modes"].items():
            star = "*" if mode == result["default_mode"] else ""
            print(f"{name:16} {mode + star:9} {m['ndcg@10']:8.4f} {m['recall@10']:7.4f} {m['recall@100']:7.4f} "
                  f"{m['mrr@10']:7.4f} {m['latency_ms_p50']:7.2f} {m['latency_ms_p95']:7.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"config": config.__dict__, "results": results}, indent=2))
    plot(results, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()

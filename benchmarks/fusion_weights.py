"""Convex fusion weights for an index's retrievers, chosen on one BEIR set and carried to the others.

    .venv/bin/newsearch bench recall ../shared/eval/SET --profile quality --index /tmp/q15/quality/SET-idx
    .venv/bin/python benchmarks/fusion_weights.py --tune allsides_neus \\
        allsides_neus=/tmp/q15/quality/allsides_neus-idx ecbplus=/tmp/q15/quality/ecbplus-idx \\
        xsum1k=/tmp/q15/quality/xsum1k-idx --out benchmarks/results/fusion-weights.json

Each query is retrieved once per retriever (what `Searcher._retrieve` fuses, at the depth `bench recall`
searches), then every weight vector on a simplex grid is scored in memory with the searcher's own fusion
and metrics (`search.fusion.convex`, `search.evaluation.metrics.evaluate`): the chosen weights are those with the
best nDCG@10 on the tuning set (ties: the earlier grid point). Prints the chosen, the equal and each
single-retriever weights on every set; writes JSON and, with matplotlib, a plot of nDCG@10 on the tuning
set against the held-out sets for every grid point.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plots import pyplot  # noqa: E402 (beside this script: its directory is on sys.path when run)

from search.evaluation.evaluate import load_beir  # noqa: E402
from search.evaluation.metrics import evaluate  # noqa: E402
from search.fusion import convex  # noqa: E402
from search.options import Filters, SearchOptions  # noqa: E402
from search.searcher import Searcher  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
K = 100  # as `bench recall`


def retrieve_all(index: Path, folder: Path) -> tuple[list[str], dict[str, list[dict[str, float]]], dict]:
    """(retriever names, {query id: [{article id: score} per retriever]}, qrels)."""
    data = load_beir(folder)
    searcher = Searcher(index)
    names = list(searcher.retrievers)
    depth = max(SearchOptions().depth, K)
    runs = {}
    try:
        for qid, text in data.queries.items():
            parsed = searcher._parse(text, Filters(), SearchOptions(), extra=True)[0]
            with searcher.store.snapshot() as snap:
                raw = [searcher.retrievers[n].retrieve(snap, parsed, depth, Filters()) for n in names]
                ids = {row.rowid: row.id for row in snap.articles({r for run in raw for r, _ in run}).values()}
            runs[qid] = [{ids[r]: s for r, s in run} for run in raw]
    finally:
        searcher.close()
    return names, runs, data.qrels


def fused_metrics(runs: dict[str, list[dict[str, float]]], qrels: dict, weights: tuple[float, ...]) -> dict:
    """The metrics of convex fusion with these weights (zero-weight retrievers left out, as a mode would)."""
    keep = [i for i, w in enumerate(weights) if w > 0]
    total = sum(weights[i] for i in keep)
    ranked = {qid: [key for key, _ in convex([per[i] for i in keep], [weights[i] / total for i in keep])][:K]
              for qid, per in runs.items()}
    return evaluate(ranked, qrels)


def simplex(n: int, step: float) -> list[tuple[float, ...]]:
    """Every weight vector of n non-negative multiples of `step` summing to 1."""
    units = round(1 / step)
    return [tuple(c / units for c in combo) for combo in itertools.product(range(units + 1), repeat=n)
            if sum(combo) == units]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="+", help="SET=INDEX: a BEIR set name (under ../shared/eval) and its index")
    parser.add_argument("--tune", required=True, help="the set the weights are chosen on")
    parser.add_argument("--step", type=float, default=0.1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    data = {}
    for pair in args.sets:
        name, index = pair.split("=", 1)
        data[name] = retrieve_all(Path(index), EVAL / name)
        print(f"{name}: retrieved {len(data[name][1])} queries", file=sys.stderr)
    names = data[args.tune][0]
    grid = simplex(len(names), args.step)
    scores = {name: [fused_metrics(runs, qrels, w)["ndcg@10"] for w in grid] for name, (_, runs, qrels) in data.items()}
    best = grid[int(np.argmax(scores[args.tune]))]
    rows = {"chosen": best, "equal": tuple(1 / len(names) for _ in names)}
    rows.update({f"only {n}": tuple(float(i == j) for j in range(len(names))) for i, n in enumerate(names)})
    table = {label: {name: fused_metrics(runs, qrels, w) for name, (_, runs, qrels) in data.items()}
             for label, w in rows.items()}
    print(f"retrievers: {', '.join(names)}; weights chosen on {args.tune} over {len(grid)} grid points")
    print(f"{'weights':44}" + "".join(f"{name:>16}" for name in data))
    for label, w in rows.items():
        shown = f"{label} ({', '.join(f'{x:.2f}' for x in w)})"
        print(f"{shown:44}" + "".join(f"{table[label][name]['ndcg@10']:16.4f}" for name in data))
    if args.out:
        args.out.write_text(json.dumps({
            "command": " ".join(sys.argv), "retrievers": names, "tuned_on": args.tune, "step": args.step,
            "chosen": best, "rows": {label: {"weights": rows[label], "metrics": table[label]} for label in rows},
            "grid": [{"weights": w, **{name: scores[name][i] for name in data}} for i, w in enumerate(grid)],
        }, indent=2))
        plt = pyplot()
        if plt is None:
            return
        fig, ax = plt.subplots(figsize=(6, 4))
        for name in data:
            if name != args.tune:
                ax.scatter(scores[args.tune], scores[name], s=10, label=name)
        ax.set_xlabel(f"nDCG@10 on {args.tune} (tuning)")
        ax.set_ylabel("nDCG@10 held out")
        ax.set_title("convex fusion weight grid")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.out.with_suffix(".png"), dpi=120)


if __name__ == "__main__":
    main()

"""Which dense score made an article count as "matching" in a timeline (the former TIMELINE_FLOOR, 0.53).

Superseded by the relevance test (`indexer/relevance.py`, calibrated by `benchmarks/relevance.py`), which also
counts short queries; kept to reproduce the figures of benchmarks/README.md, "Timeline relevance floor".

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/timeline_floor.py ../shared/eval/ecbplus \
        ../shared/eval/allsides_neus ../shared/eval/xsum1k --out benchmarks/results/timeline-floor.json

A timeline counts the articles whose best passage's cosine to the query reaches a floor. For each set, every
query's top 100 articles by dense score are labelled relevant or not by the qrels; for each floor the
articles at or above it are the timeline's matches, scored by precision, recall (of all relevant articles)
and F1, micro-averaged over queries. The floor is chosen by F1 on the first set and reported on the others,
which it was not chosen on. The first is ecbplus: its judgements are event-level (every article about the
event is relevant), which is what a timeline counts; allsides_neus judges only the 3 articles of one
roundup relevant among many on the same topic, and xsum1k one article per query. Indexes come from
`search.evaluation.story_bench.built_index` (cached). Prints a table, writes JSON and a PNG beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plots import pyplot  # noqa: E402 (beside this script: its directory is on sys.path when run)

from search import Searcher, SearchOptions  # noqa: E402
from search.evaluation.evaluate import load_beir  # noqa: E402
from search.evaluation.story_bench import built_index  # noqa: E402

FLOORS = np.round(np.arange(0.20, 0.801, 0.01), 2)


def scored(folder: Path) -> tuple[list[tuple[float, bool]], int]:
    """(dense score, relevant?) of every query's top 100 articles, and the number of relevant articles."""
    data = load_beir(folder)
    searcher = Searcher(built_index(folder))
    pairs = []
    try:
        for qid, text in data.queries.items():
            for r in searcher.search(text, k=100, options=SearchOptions(mode="dense", passages=1)).results:
                pairs.append((r.score, data.qrels[qid].get(r.id, 0) > 0))
    finally:
        searcher.close()
    return pairs, sum(1 for judged in data.qrels.values() for rel in judged.values() if rel > 0)


def curve(pairs: list[tuple[float, bool]], relevant: int) -> list[dict]:
    scores = np.array([s for s, _ in pairs])
    labels = np.array([r for _, r in pairs])
    out = []
    for floor in FLOORS:
        kept = scores >= floor
        hits = int(labels[kept].sum())
        precision = hits / kept.sum() if kept.sum() else 1.0
        recall = hits / relevant
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append({"floor": float(floor), "precision": round(precision, 4), "recall": round(recall, 4),
                    "f1": round(f1, 4)})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="BEIR folders; the floor is chosen on the first")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/timeline-floor.json"))
    args = parser.parse_args()
    curves = {folder.name: curve(*scored(folder)) for folder in args.folders}
    first = curves[args.folders[0].name]
    chosen = max(first, key=lambda p: (p["f1"], -p["floor"]))["floor"]
    print(f"floor chosen on {args.folders[0].name}: {chosen}")
    print(f"{'set':16}{'P':>8}{'R':>8}{'F1':>8}{'best F1':>9}{'at':>6}")
    for name, points in curves.items():
        at = next(p for p in points if p["floor"] == chosen)
        best = max(points, key=lambda p: p["f1"])
        print(f"{name:16}{at['precision']:8.3f}{at['recall']:8.3f}{at['f1']:8.3f}{best['f1']:9.3f}{best['floor']:6.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"chosen_on": args.folders[0].name, "floor": chosen, "curves": curves},
                                   indent=2) + "\n", encoding="utf-8")
    plt = pyplot()
    if plt is None:
        return 0
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, points in curves.items():
        ax.plot([p["floor"] for p in points], [p["f1"] for p in points], label=f"{name} F1")
        ax.plot([p["floor"] for p in points], [p["precision"] for p in points], ":", label=f"{name} precision")
    ax.axvline(chosen, color="grey", linestyle="--")
    ax.set_xlabel("dense score floor (cosine of the best passage)")
    ax.set_ylabel("micro-averaged over queries")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"), dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())

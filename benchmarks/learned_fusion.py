"""Learned fusion against convex fusion and RRF: trained on allsides_neus only, tested where it never trained.

    nice -n 5 .venv/bin/python benchmarks/learned_fusion.py ../shared/eval

Each set (allsides_neus, ecbplus, xsum1k under the given folder) is indexed once with the default
configuration into /tmp/ltr/SET (reused: the pipeline skips unchanged articles). Every query is retrieved
as the searcher does (same depth, same retrievers), its candidate union turned into features by
`learned.candidate_features` (beside this script), and ranked three ways: convex and
RRF through `Searcher._retrieve`, and the learned model. The model is a pairwise logistic regression
(RankNet's loss with a linear scorer, Burges et al., ICML 2005: P(i > j) = sigmoid(w . (x_i - x_j)) for
each relevant i and non-relevant j of a query) on standardised features. allsides_neus is scored by
5-fold cross-validation over its queries (each fold ranked by a model that never saw it, convex on the
same queries); ecbplus and xsum1k by the model trained on all of allsides_neus. Prints a table, writes
benchmarks/results/learned-fusion.json (with the trained model's coefficients) and .png.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import learned  # beside this script (its directory is on sys.path when run)
import numpy as np
from plots import ndcg_bars
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold

from indexer.pipeline import index_sources
from search.evaluation.evaluate import load_beir
from search.evaluation.metrics import METRICS, evaluate, per_query_metrics
from search.options import Filters, SearchOptions
from search.query import Query
from search.searcher import Searcher

RESULTS = Path(__file__).resolve().parent / "results"
TRAIN_SET = "allsides_neus"
TEST_SETS = ("ecbplus", "xsum1k")
K = 100  # results per query, as `newsearch bench recall` asks
FOLDS = 5
SEED = 0


@dataclass
class Judged:
    """One query as the benchmark keeps it: its retrieval, its features and what is relevant."""

    qid: str
    query: Query
    dense: list[tuple[int, float]]
    lexical: list[tuple[int, float]]
    rowids: list[int]
    x: np.ndarray
    relevance: np.ndarray  # qrels relevance of each row (0 when unjudged)
    runs: dict[str, list[str]]  # fusion -> article ids, best first (top K)


def collect(searcher: Searcher, folder: Path) -> tuple[list[Judged], dict]:
    """Every query of a BEIR folder retrieved, featurised and fused; with the per-query feature cost."""
    data = load_beir(folder)
    options = SearchOptions()
    depth = max(options.depth, K)  # Searcher.search: depth = max(options.depth, offset + k)
    out, feature_s, pure_s = [], [], []
    with searcher.store.snapshot() as snap:
        article_id = {rowid: article for rowid, article, _, _ in snap.story_members()}
        for qid, text in data.queries.items():
            query, filters, _ = searcher._parse(text, Filters(), options)
            dense = searcher.retrievers["dense"].retrieve(snap, query, depth, filters)
            lexical = searcher.retrievers["lexical"].retrieve(snap, query, depth, filters)
            started = time.perf_counter()
            rowids, x = learned.candidate_features(snap, query, dense, lexical)
            feature_s.append(time.perf_counter() - started)
            titles = {rowid: row.title for rowid, row in snap.articles(rowids).items()}
            started = time.perf_counter()
            learned.features(query.words, dense, lexical, titles)
            pure_s.append(time.perf_counter() - started)
            runs = {fuse: [article_id[key] for key, _ in searcher._retrieve(snap, query, "hybrid", depth, filters,
                                                                            fuse)[:K]]
                    for fuse in ("convex", "rrf")}
            judged = data.qrels[qid]
            relevance = np.array([judged.get(article_id[key], 0) for key in rowids], dtype=np.float64)
            out.append(Judged(qid, query, dense, lexical, rowids, x, relevance, runs))
    cost = {"features_with_titles_us_p50": float(np.median(feature_s) * 1e6),
            "features_pure_us_p50": float(np.median(pure_s) * 1e6),
            "candidates_p50": float(np.median([len(j.rowids) for j in out]))}
    return out, {"qrels": data.qrels, "cost": cost, "article_id": article_id}


def train(items: list[Judged], c: float) -> learned.LearnedModel:
    """Pairwise logistic regression on standardised features, each pair in both orders (no intercept)."""
    stacked = np.vstack([j.x for j in items])
    mean, scale = stacked.mean(axis=0), stacked.std(axis=0)
    scale[scale == 0] = 1.0
    diffs = []
    for j in items:
        z = (j.x - mean) / scale
        good, bad = z[j.relevance > 0], z[j.relevance <= 0]
        diffs.append((good[:, None, :] - bad[None, :, :]).reshape(-1, z.shape[1]))
    pairs = np.vstack(diffs)
    x = np.vstack([pairs, -pairs])
    y = np.concatenate([np.ones(len(pairs)), np.zeros(len(pairs))])
    fit = LogisticRegression(C=c, fit_intercept=False, max_iter=2000).fit(x, y)
    info = {"trained_on": TRAIN_SET, "queries": len(items), "pairs": len(pairs),
            "objective": f"pairwise logistic regression, C={c}", "depth": max(SearchOptions().depth, K),
            "date": date.today().isoformat()}
    return learned.LearnedModel(mean, scale, fit.coef_[0].astype(np.float64), info)


def learned_run(items: list[Judged], model: learned.LearnedModel, article_id: dict[int, str]) -> dict[str, list]:
    """Each query's top K by the model over its already computed features."""
    return {j.qid: [article_id[key] for key, _ in model.rank(j.rowids, j.x)[:K]] for j in items}


def paired(a: dict[str, list], b: dict[str, list], qrels: dict) -> dict[str, float]:
    """Mean per-query nDCG@10 difference a - b and its 95% bootstrap interval (2,000 resamples of queries)."""
    pa, pb = per_query_metrics(a, qrels), per_query_metrics(b, qrels)
    diff = np.array([pa[q]["ndcg@10"] - pb[q]["ndcg@10"] for q in qrels])
    rng = np.random.default_rng(SEED)
    means = diff[rng.integers(0, len(diff), (2000, len(diff)))].mean(axis=1)
    return {"mean": float(diff.mean()), "ci_low": float(np.percentile(means, 2.5)),
            "ci_high": float(np.percentile(means, 97.5)), "better": int((diff > 0).sum()),
            "worse": int((diff < 0).sum())}


def scored(runs: dict[str, dict], qrels: dict) -> dict:
    out = {name: evaluate(run, qrels) for name, run in runs.items()}
    out["learned_minus_convex"] = paired(runs["learned"], runs["convex"], qrels)
    return out


def plot(results: dict, path: Path) -> None:
    groups = [f"{s}\n(5-fold CV)" if s == TRAIN_SET else f"{s}\n(never trained on)" for s in results]
    ndcg_bars(path, groups, {m: [r[m]["ndcg@10"] for r in results.values()] for m in ("convex", "rrf", "learned")},
              ylim=(0.7, 1.0), fmt="%.4f")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("eval_root", type=Path, help="folder holding allsides_neus, ecbplus and xsum1k")
    parser.add_argument("--indexes", type=Path, default=Path("/tmp/ltr"))
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 strength of the logistic regression")
    parser.add_argument("--out", type=Path, default=RESULTS / "learned-fusion.json")
    args = parser.parse_args()

    collected = {}
    for name in (TRAIN_SET, *TEST_SETS):
        target = args.indexes / name
        report = index_sources([str(args.eval_root / name / "corpus.jsonl")], target)
        searcher = Searcher(target)
        try:
            collected[name] = collect(searcher, args.eval_root / name)
        finally:
            searcher.close()
        print(f"{name}: {report.indexed} indexed, {report.unchanged} unchanged, "
              f"{len(collected[name][0])} queries", flush=True)

    items, meta = collected[TRAIN_SET]
    folds, cv_runs = [], {"learned": {}}
    for fold, (fit_at, held_at) in enumerate(KFold(FOLDS, shuffle=True, random_state=SEED).split(items)):
        model = train([items[i] for i in fit_at], args.c)
        held = [items[i] for i in held_at]
        run = learned_run(held, model, meta["article_id"])
        cv_runs["learned"].update(run)
        qrels = {j.qid: meta["qrels"][j.qid] for j in held}
        folds.append({"fold": fold, "queries": len(held), "learned": evaluate(run, qrels)["ndcg@10"],
                      "convex": evaluate({j.qid: j.runs["convex"] for j in held}, qrels)["ndcg@10"]})
    for fuse in ("convex", "rrf"):
        cv_runs[fuse] = {j.qid: j.runs[fuse] for j in items}
    results = {TRAIN_SET: scored(cv_runs, meta["qrels"])}

    model = train(items, args.c)
    for name in TEST_SETS:
        tests, test_meta = collected[name]
        runs = {fuse: {j.qid: j.runs[fuse] for j in tests} for fuse in ("convex", "rrf")}
        runs["learned"] = learned_run(tests, model, test_meta["article_id"])
        results[name] = scored(runs, test_meta["qrels"])

    # The query-time path itself (features read from a snapshot, then ranked) must give the same ranking.
    searcher = Searcher(args.indexes / TEST_SETS[0])
    try:
        with searcher.store.snapshot() as snap:
            for j in collected[TEST_SETS[0]][0][:50]:
                assert learned.rank(snap, j.query, j.dense, j.lexical, model) == model.rank(j.rowids, j.x)
    finally:
        searcher.close()

    print(f"\n{'set':15} {'fusion':8} {'nDCG@10':>8} {'R@10':>7} {'R@100':>7} {'MRR@10':>7}")
    for name, result in results.items():
        for fuse in ("convex", "rrf", "learned"):
            m = result[fuse]
            print(f"{name:15} {fuse:8} {m['ndcg@10']:8.4f} {m['recall@10']:7.4f} {m['recall@100']:7.4f} "
                  f"{m['mrr@10']:7.4f}")
        d = result["learned_minus_convex"]
        print(f"{'':15} learned - convex nDCG@10 {d['mean']:+.4f} (95% CI {d['ci_low']:+.4f} .. {d['ci_high']:+.4f}; "
              f"{d['better']} queries better, {d['worse']} worse)")
    print(f"\n{TRAIN_SET} {FOLDS}-fold CV, nDCG@10 of each held-out fold:")
    for f in folds:
        print(f"  fold {f['fold']} ({f['queries']} queries): learned {f['learned']:.4f}  convex {f['convex']:.4f}")
    print("\nmodel trained on all of allsides_neus (standardised features):")
    for name, mean, scale, coef in zip(learned.FEATURES, model.mean, model.scale, model.coef, strict=True):
        print(f"  {name:18} coef {coef:+.4f}   mean {mean:.4f}  scale {scale:.4f}")
    for name, (_, set_meta) in collected.items():
        c = set_meta["cost"]
        print(f"feature cost {name}: {c['features_with_titles_us_p50']:.0f} us with the headline read, "
              f"{c['features_pure_us_p50']:.0f} us pure (median over {c['candidates_p50']:.0f} candidates)")
    not_worse = all(results[s]["learned"]["ndcg@10"] >= results[s]["convex"]["ndcg@10"] for s in results)
    better = any(results[s]["learned"]["ndcg@10"] > results[s]["convex"]["ndcg@10"] for s in results)
    verdict = "learned may become the default" if not_worse and better else "convex stays the default"
    print(f"\nverdict: {verdict} (nDCG@10 not worse on every set and better on one, this run)")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "k": K, "depth": max(SearchOptions().depth, K), "folds": FOLDS, "seed": SEED, "c": args.c,
        "features": list(learned.FEATURES), "model": model.to_json(), "cv_folds": folds, "results": results,
        "cost": {name: m["cost"] for name, (_, m) in collected.items()}, "metrics": list(METRICS),
        "verdict": verdict}, indent=2))
    plot({name: results[name] for name in (TRAIN_SET, *TEST_SETS)}, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()

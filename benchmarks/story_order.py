"""Arrival order and the online story clusterer: date order against shuffled orders, per variant.

    HF_HUB_OFFLINE=1 PYTHONPATH=. python benchmarks/story_order.py [--eval ../shared/eval]
        [--sets ecbplus allsides_neus] [--variants before-moves moves] [--seeds 5] [--out FILE.json]
    ... benchmarks/story_order.py --index index --gold data/ecbplus/stories.tsv   # an index as it was indexed

Issue 25 part 4 asks that the same articles in another arrival order give nearly the same stories (B3 F1 of
5 shuffled orders within .01 of date order). The shipped clusterer (indexer/enrich/stories.py) decides each
article once, greedily: an article that arrives before its own story exists joins the best story there is
(or founds one) and never leaves. This script measures bounded local re-clustering after each add, which
lets early decisions be revised when the articles that should have decided them arrive.

The features are the stored ones of the indexes `newsearch bench stories` builds (real passage vectors, the
stored word sketches; `search.evaluation.story_bench.built_index`, cached under $NEWSEARCH_STORY_CACHE), loaded
once per set; each variant is fed them in date order (the order they were indexed in, undated after) and
in the bench's 5 shuffled orders (numpy seeds 0-4), and scored with B-cubed F1 against the gold stories.

Variants (`VARIANTS`), each a `StoryParams` of the clusterer itself (indexer/enrich/stories.py):
- before-moves: the clusterer as it was before local moves (`BEFORE_MOVES`), each article decided once.
- moves: after the join and merges, the touched stories (the new article's and every candidate story whose
  link to it is >= threshold - move_slack) are re-examined on their members in the new article's window: one
  member at a time (the largest gain first), a member moves to the touched story with the best average link
  to it if that link is >= threshold and beats its own story's, up to max_moves (`StoryClusterer._move`).
- moves-slack: other slacks. moves-mergemargin: the moves, with bridge merges asking link >= threshold +
  merge_margin (.05 is the default). mergemargin.05-only: the margin without the moves (a control).
Other variants (a local merge pass, ejecting weak members, moving members alone in their story) were measured
with an experimental subclass, in the script as of commit 3312435 (`git show 3312435:benchmarks/story_order.py`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indexer.enrich.stories import BEFORE_MOVES, StoryClusterer, StoryFeatures, StoryParams  # noqa: E402
from indexer.store.index_store import IndexStore  # noqa: E402
from search.evaluation.cluster_metrics import all_metrics  # noqa: E402
from search.evaluation.story_bench import SHUFFLES, built_index, read_gold  # noqa: E402

VARIANTS: dict[str, StoryParams] = {
    "before-moves": StoryParams(**BEFORE_MOVES),
    "moves": StoryParams(merge_margin=0.0),
    "moves-slack.05": StoryParams(move_slack=0.05, merge_margin=0.0),
    "moves-slack.15": StoryParams(move_slack=0.15, merge_margin=0.0),
    "moves-mergemargin.02": StoryParams(merge_margin=0.02),
    "moves-mergemargin.05": StoryParams(merge_margin=0.05),  # the default
    "moves-mergemargin.1": StoryParams(merge_margin=0.1),
    "mergemargin.05-only": StoryParams(move_slack=None, merge_margin=0.05),  # control: no moves
}


def load_set(index: Path, stories: Path) -> tuple[list[StoryFeatures], list[int], list[str]]:
    """The stored features of an index in rowid order (the order it was indexed in: date order for the bench's
    indexes), the rowids the gold `stories` judge, and their gold stories."""
    store = IndexStore.open(index)
    try:
        with store.snapshot() as snap:
            ids = {rowid: article_id for rowid, article_id, _, _ in snap.story_members()}
            features = [f for f, _ in snap.story_features()]
    finally:
        store.close()
    gold = read_gold(stories)
    keys = [f.rowid for f in features if ids[f.rowid] in gold]
    return features, keys, [gold[ids[k]] for k in keys]


def one_pass(params: StoryParams, features: list[StoryFeatures]) -> dict[int, int]:
    """rowid -> story after adding `features` in the order given to a fresh clusterer."""
    clusterer = StoryClusterer(params)
    for f in features:
        clusterer.add(f)
    return clusterer.assignments()


def measure(params: StoryParams, features: list[StoryFeatures], keys: list[int], labels: list[str],
            seeds: int = SHUFFLES) -> dict:
    """B3 F1 in date order and in `seeds` shuffled orders (the bench's permutations), seconds per pass."""
    started = time.perf_counter()
    assigned = one_pass(params, features)
    date = all_metrics(labels, [assigned[k] for k in keys])["b3_f1"]
    seconds = time.perf_counter() - started
    shuffled = []
    for seed in range(seeds):
        order = [features[i] for i in np.random.default_rng(seed).permutation(len(features))]
        assigned = one_pass(params, order)
        shuffled.append(all_metrics(labels, [assigned[k] for k in keys])["b3_f1"])
    return {"date": round(date, 4), "shuffled": [round(x, 4) for x in shuffled],
            "shuffled_min": round(min(shuffled), 4), "shuffled_max": round(max(shuffled), 4),
            "gap": round(date - min(shuffled), 4), "seconds_per_pass": round(seconds, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=Path("../shared/eval"), help="the folder of the eval sets")
    parser.add_argument("--sets", nargs="+", default=["ecbplus", "allsides_neus"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, default=SHUFFLES)
    parser.add_argument("--index", type=Path, help="instead of the sets: this index, in the order it was indexed "
                        "(e.g. the demo's, with --gold data/ecbplus/stories.tsv)")
    parser.add_argument("--gold", type=Path, help="the gold stories.tsv for --index")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.index:
        sets = [(args.index.name, args.index, args.gold)]
    else:
        sets = [(name, built_index(args.eval / name), args.eval / name / "stories.tsv") for name in args.sets]
    results: dict[str, dict[str, dict]] = {}
    for name, index, stories in sets:
        features, keys, labels = load_set(index, stories)
        for variant in args.variants:
            r = measure(VARIANTS[variant], features, keys, labels, args.seeds)
            results.setdefault(variant, {})[name] = r
            print(f"{variant:<16} {name:<14} indexed order {r['date']:.4f}  shuffled {r['shuffled_min']:.4f}-"
                  f"{r['shuffled_max']:.4f}  gap {r['gap']:+.4f}  {r['seconds_per_pass']:.1f} s/pass", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

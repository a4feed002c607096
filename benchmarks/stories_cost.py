"""Cost of one `StoryClusterer.add` when the clusterer already holds many articles.

    HF_HUB_OFFLINE=1 python benchmarks/stories_cost.py [--held 100000] [--days 365] [--out FILE.json]

Real-ish articles: the stored features of the allsides_neus index the story benchmark builds (real MiniLM
passage vectors, real news words; `search.evaluation.story_bench.built_index`), recycled in generations with new
rowids until the clusterer holds `--held` articles, spread uniformly over `--days` days. Each generation
gets its own vocabulary (word buckets remapped by a per-generation bijection) and a little vector noise, so
copies are different articles, not duplicates; the held state is loaded with `load()` with each
generation's gold stories as its stories. Then `--adds` more articles are timed one `add` each.
Reports the mean, median and p99 milliseconds per add and the window's size.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indexer.enrich.stories import HASH_BITS, StoryClusterer, StoryFeatures, StoryParams, Terms  # noqa: E402
from indexer.store.index_store import IndexStore  # noqa: E402
from search.evaluation.story_bench import built_index, read_gold  # noqa: E402


def measure(held: int, days: float, adds: int, params: StoryParams, source: Path, seed: int = 0) -> dict:
    index = built_index(source)
    store = IndexStore.open(index)
    with store.snapshot() as snap:
        base = [f for f, _ in snap.story_features()]
        ids = {rowid: article_id for rowid, article_id, _, _ in snap.story_members()}
    store.close()
    gold = read_gold(source / "stories.tsv")
    founder: dict[str, int] = {}
    story_of_base = [founder.setdefault(gold.get(ids[f.rowid], str(f.rowid)), i) for i, f in enumerate(base)]
    rng = np.random.default_rng(seed)
    start_day = 19000.0
    mask = (1 << HASH_BITS) - 1
    story_day: dict[int, float] = {}

    def recycled(rowid: int) -> tuple[StoryFeatures, int]:
        generation, i = divmod(rowid - 1, len(base))
        f = base[i]
        v = f.vector + 0.02 * rng.standard_normal(len(f.vector)).astype(np.float32)
        idx = (f.terms.idx * 2654435761 + generation * 40503) & mask  # odd multiplier: a bijection
        order = np.argsort(idx)
        story = generation * len(base) + story_of_base[i] + 1
        day = story_day.setdefault(story, start_day + float(rng.uniform(0, days)))  # a story's articles: one day
        return StoryFeatures(rowid, day + float(rng.uniform(0, 1)), v / np.linalg.norm(v),
                             Terms(idx[order], f.terms.tf[order])), story

    clusterer = StoryClusterer(params)
    started = time.perf_counter()
    clusterer.load(recycled(r) for r in range(1, held + 1))
    load_s = time.perf_counter() - started
    times, window = [], []
    for r in range(held + 1, held + adds + 1):
        f, _ = recycled(r)
        lo, hi = f.day - params.window_days, f.day + params.window_days
        window.append(int(np.count_nonzero((clusterer._day[: clusterer._used] >= lo)
                                           & (clusterer._day[: clusterer._used] <= hi))))
        t = time.perf_counter()
        clusterer.add(f)
        times.append(time.perf_counter() - t)
    ms = np.array(times) * 1000
    return {"held": held, "days": days, "adds": adds, "params": asdict(params),
            "ms_per_add_mean": round(float(ms.mean()), 3), "ms_per_add_median": round(float(np.median(ms)), 3),
            "ms_per_add_p99": round(float(np.percentile(ms, 99)), 3), "window_articles_mean": float(np.mean(window)),
            "load_s": round(load_s, 2), "dim": int(len(base[0].vector))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held", type=int, default=100_000)
    parser.add_argument("--days", type=float, nargs="+", default=[365.0, 30.0])
    parser.add_argument("--adds", type=int, default=500)
    parser.add_argument("--source", type=Path, default=Path("/work/shared/eval/allsides_neus"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    results = []
    for days in args.days:
        result = measure(args.held, days, args.adds, StoryParams(), args.source)
        print(json.dumps(result))
        results.append(result)
    if args.out:
        args.out.write_text(json.dumps({"runs": results}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

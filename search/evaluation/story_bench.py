"""Story clustering benchmark: the online clusterer (indexer/stories.py) against batch baselines.

    HF_HUB_OFFLINE=1 python -m search.evaluation.story_bench /work/shared/eval/ecbplus [--out FILE.json] [--progress]

A set is a BEIR folder (`corpus.jsonl`) with a gold `stories.tsv` (`corpus-id<TAB>story-id`, header line).

Measured in one run:
- online: the stories the real indexer assigns. The corpus is read as `newsearch index` reads it (so an
  article opening with a dateline is dated by it), put in date order (undated articles after, in file
  order) and indexed with `indexer.pipeline.index_sources` (default model and encoder), which clusters each
  article as it commits it; the stored `articles.story` is scored. The index is cached per set under
  $NEWSEARCH_STORY_CACHE (default: the temp folder)/newsearch-story-bench/<set>-<corpus bytes>/.
- incremental: the same articles in the same order in 10 increments, each a fresh clusterer that `load()`s
  what the store would hold at that point (each article's stored features and its story as assigned,
  relabelled by the merges reported) before its adds;
- shuffled: the same stored features in 5 random arrival orders (seeds 0-4), one pass each: the spread of
  B-cubed F1 says how much the stories depend on the order articles arrive in;
- rebuild: `stories rebuild` (`IndexStore.rebuild_stories`, date order) on a copy of the cached index,
  compared with the online stories as indexed (the same partition or not, and its scores);
- baselines, batch average-link agglomerative clustering (scipy `linkage` on the condensed `1 - X X^T`):
  `tfidf` (scikit-learn TfidfVectorizer, sublinear tf, English stop words, on "title. text") and `minilm`
  (all-MiniLM-L6-v2 vectors of "title. text" via `indexer.models.embed.Embedder`, default encoder). Each one's
  distance threshold is the one tuned on the OTHER set (ecbplus <-> allsides_neus): the constants in
  `BASELINE_THRESHOLDS` come from `tune_baselines` (rerun: `python -m search.evaluation.story_bench --tune
  /work/shared/eval/ecbplus /work/shared/eval/allsides_neus`).

Metrics (search/cluster_metrics.py): B-cubed precision/recall/F1, ARI, NMI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from indexer.enrich.stories import StoryClusterer, StoryFeatures, StoryParams
from indexer.store.index_store import IndexStore
from search.evaluation.cluster_metrics import all_metrics

# Baseline distance thresholds, best B-cubed F1 on each set from `tune_baselines` (grid 0.05..0.95 by
# 0.025; run 2026-12-02: tfidf best .870 on ecbplus, .740 on allsides_neus; minilm .847 and .748, by
# the default onnx-int8 encoder). A set is scored with the threshold tuned on the other one.
BASELINE_THRESHOLDS: dict[str, dict[str, float]] = {
    "tfidf": {"ecbplus": 0.825, "allsides_neus": 0.725},
    "minilm": {"ecbplus": 0.375, "allsides_neus": 0.325},
}
OTHER_SET = {"ecbplus": "allsides_neus", "allsides_neus": "ecbplus"}
INCREMENTS = 10
SHUFFLES = 5
_GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)


def cache_dir(folder: Path) -> Path:
    corpus = folder / "corpus.jsonl"
    root = Path(os.environ.get("NEWSEARCH_STORY_CACHE", tempfile.gettempdir())) / "newsearch-story-bench"
    return root / f"{folder.name}-{corpus.stat().st_size}"


def built_index(folder: Path, progress: bool = False) -> Path:
    """The set indexed by the real pipeline in date order, built once and cached (a `done` file marks a
    finished build of this format)."""
    from indexer.pipeline import index_sources
    from indexer.sources.article import Article
    from indexer.sources.readers import read_sources
    from indexer.store.migrations import FORMAT_VERSION

    cache = cache_dir(folder)
    done = cache / "done"
    if not done.exists() or not done.read_text(encoding="utf-8").startswith(f"format {FORMAT_VERSION}:"):
        import shutil

        shutil.rmtree(cache / "index", ignore_errors=True)  # a build cut short, or of another format
        cache.mkdir(parents=True, exist_ok=True)
        articles = [a for a in read_sources([str(folder / "corpus.jsonl")]) if isinstance(a, Article)]
        dated = sorted((a for a in articles if a.published), key=lambda a: a.published)  # stable: file order
        ordered = cache / "corpus-by-date.jsonl"
        with open(ordered, "w", encoding="utf-8") as out:
            for a in dated + [a for a in articles if not a.published]:
                out.write(json.dumps({"_id": a.id, "title": a.title, "text": a.text, "published": a.published,
                                      **a.metadata}, ensure_ascii=False) + "\n")
        report = index_sources([str(ordered)], cache / "index", progress=progress)
        done.write_text(f"format {FORMAT_VERSION}: {report.summary()}\n", encoding="utf-8")
    return cache / "index"


def read_gold(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return dict(line.split("\t")[:2] for line in lines if line.strip())


def read_corpus(folder: Path) -> dict[str, tuple[str, str]]:
    out = {}
    with open(folder / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                doc = json.loads(line)
                out[str(doc["_id"])] = (doc.get("title") or "", doc.get("text") or "")
    return out


# --- the online clusterer ----------------------------------------------------------------------------------


def run_online(features: list[StoryFeatures], params: StoryParams, increments: int = 1) -> dict[int, int]:
    """rowid -> story id after feeding `features` in order, in `increments` parts. Between parts the state
    is what a store would persist: each article's features and the story id it was given, relabelled by
    every reported merge; the next part starts from a fresh clusterer that loads it. Another arrival order
    is `features` shuffled (the rowids stay: a story is named by its first article to arrive)."""
    stored: dict[int, int] = {}
    by_rowid = {f.rowid: f for f in features}
    bounds = np.linspace(0, len(features), increments + 1).astype(int)
    for part in range(increments):
        clusterer = StoryClusterer(params)
        clusterer.load((by_rowid[r], s) for r, s in sorted(stored.items()))
        for f in features[bounds[part]:bounds[part + 1]]:
            result = clusterer.add(f)
            stored[f.rowid] = result.story
            for gone, keep in result.merged:
                for rowid, story in stored.items():
                    if story == gone:
                        stored[rowid] = keep
            stored.update(result.moved)  # after the merges, as a store applies them
    return stored


# --- baselines ---------------------------------------------------------------------------------------------


def _average_link(similarity: np.ndarray):
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    distance = 1.0 - similarity
    np.fill_diagonal(distance, 0.0)
    distance = np.clip((distance + distance.T) / 2, 0.0, None)
    return linkage(squareform(distance, checks=False), method="average")


def tfidf_similarity(texts: list[str]) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    x = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(texts)
    return (x @ x.T).toarray()


def minilm_similarity(texts: list[str], cache: Path | None = None, progress: bool = False) -> np.ndarray:
    """Cosine similarities of all-MiniLM-L6-v2 vectors of the texts (cached per exact list of texts)."""
    import hashlib

    key = hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()[:16]
    path = cache / f"minilm-{key}.npy" if cache else None
    if path is not None and path.exists():
        vectors = np.load(path)
    else:
        from indexer.models.embed import Embedder

        vectors = Embedder().encode(texts, progress=progress)
        if path is not None:
            np.save(path, vectors)
    return vectors @ vectors.T


def _texts(folder: Path, order: list[str]) -> list[str]:
    corpus = read_corpus(folder)
    return [f"{corpus[i][0]}. {corpus[i][1]}" if corpus[i][0] else corpus[i][1] for i in order]


def _baseline_trees(folder: Path, order: list[str], progress: bool = False) -> dict[str, object]:
    texts = _texts(folder, order)
    return {"tfidf": _average_link(tfidf_similarity(texts)),
            "minilm": _average_link(minilm_similarity(texts, cache_dir(folder), progress))}


def tune_baselines(folders: list[Path], progress: bool = False) -> dict[str, dict[str, float]]:
    """The best distance threshold (B-cubed F1, grid 0.05..0.95 by 0.025, ties: the smaller) of each
    baseline on each set: the source of BASELINE_THRESHOLDS."""
    from scipy.cluster.hierarchy import fcluster

    out: dict[str, dict[str, float]] = {"tfidf": {}, "minilm": {}}
    for folder in folders:
        gold = read_gold(folder / "stories.tsv")
        order = list(gold)
        labels = [gold[i] for i in order]
        for name, tree in _baseline_trees(folder, order, progress).items():
            scores = [(all_metrics(labels, fcluster(tree, t, "distance"))["b3_f1"], -t) for t in _GRID]
            best_f1, neg_t = max(scores)
            out[name][folder.name] = float(-neg_t)
            if progress:
                print(f"{folder.name} {name}: best b3_f1 {best_f1:.3f} at {-neg_t}", file=sys.stderr)
    return out


# --- the benchmark -----------------------------------------------------------------------------------------


def bench_stories(folder: Path, stories: Path | None = None, progress: bool = False,
                  params: StoryParams | None = None) -> dict:
    """Online, incremental and baseline clusterings of one set, scored against its gold stories."""
    from scipy.cluster.hierarchy import fcluster

    folder = Path(folder)
    params = params or StoryParams()
    gold = read_gold(Path(stories) if stories else folder / "stories.tsv")
    timings: dict[str, float] = {}

    started = time.perf_counter()
    index = built_index(folder, progress)
    timings["index_s"] = time.perf_counter() - started
    store = IndexStore.open(index)
    try:
        if params != store.story_params():  # other parameters than the index was built with: re-cluster
            store.close()
            store = IndexStore.create_or_open(index, store.manifest, lock=True)
            store.rebuild_stories(params)
        with store.snapshot() as snap:
            members = snap.story_members()
            stored = snap.story_features()
    finally:
        store.close()
    rebuilt = _rebuilt(index, params)
    by_id = {article_id: story for _, article_id, _, story in members if article_id in gold}
    rowid_of = {article_id: rowid for rowid, article_id, _, _ in members}
    order = list(by_id)  # the articles scored: those with a gold story
    labels = [gold[i] for i in order]
    timings["index_ms_per_article"] = 1000 * timings["index_s"] / max(len(members), 1)  # embedding included

    started = time.perf_counter()
    features = [f for f, _ in stored]  # rowid order: the order they were indexed in
    incremental = run_online(features, params, INCREMENTS)
    timings["incremental_s"] = time.perf_counter() - started
    result: dict = {"dataset": folder.name, "articles": len(order), "stories": len(set(labels)),
                    "params": asdict(params), "article_vector": "mean of passage vectors",
                    "dated": sum(1 for _, _, published, _ in members if published),
                    **all_metrics(labels, [by_id[i] for i in order]),
                    "predicted_stories": len({by_id[i] for i in order})}
    result["incremental"] = {"increments": INCREMENTS,
                             **all_metrics(labels, [incremental[rowid_of[i]] for i in order]),
                             "same_as_one_pass": _same_partition([by_id[i] for i in order],
                                                                 [incremental[rowid_of[i]] for i in order])}

    online = [by_id[i] for i in order]
    result["rebuild"] = {**all_metrics(labels, [rebuilt[i] for i in order]),
                         "same_as_online": _same_partition(online, [rebuilt[i] for i in order])}
    started = time.perf_counter()
    shuffled = []
    for seed in range(SHUFFLES):
        arrival = [features[k] for k in np.random.default_rng(seed).permutation(len(features))]
        assigned = run_online(arrival, params)
        shuffled.append(all_metrics(labels, [assigned[rowid_of[i]] for i in order])["b3_f1"])
    timings["shuffled_s"] = time.perf_counter() - started
    result["shuffled"] = {"orders": SHUFFLES, "b3_f1": shuffled, "b3_f1_min": min(shuffled),
                          "b3_f1_max": max(shuffled)}

    started = time.perf_counter()
    result["baselines"] = {}
    other = OTHER_SET.get(folder.name)
    for name, tree in _baseline_trees(folder, order, progress).items():
        threshold = BASELINE_THRESHOLDS[name].get(other) if other else None
        if threshold is None:  # a set outside the pair: the mean of the tuned thresholds
            threshold = float(np.mean(list(BASELINE_THRESHOLDS[name].values())))
        predicted = fcluster(tree, threshold, "distance")
        result["baselines"][name] = {"threshold": threshold, "tuned_on": other or "mean of both sets",
                                     **all_metrics(labels, predicted),
                                     "predicted_stories": len(set(predicted.tolist()))}
    timings["baselines_s"] = time.perf_counter() - started
    result["timings"] = {k: round(v, 3) for k, v in timings.items()}
    return result


def _rebuilt(index: Path, params: StoryParams) -> dict[str, int]:
    """article id -> story after `stories rebuild` of a copy of the index (the cached one keeps the stories
    it was indexed with)."""
    import shutil

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "index"
        shutil.copytree(index, copy, ignore=shutil.ignore_patterns("write.lock"))
        reader = IndexStore.open(copy)
        reader.close()
        store = IndexStore.create_or_open(copy, reader.manifest, lock=True)
        try:
            store.rebuild_stories(params)
            with store.snapshot() as snap:
                return {article_id: story for _, article_id, _, story in snap.story_members()}
        finally:
            store.close()


def _same_partition(a: list, b: list) -> bool:
    """Whether two labelings group the items alike (whatever the labels)."""
    return len(set(zip(a, b, strict=True))) == len(set(a)) == len(set(b))


def format_table(result: dict) -> str:
    """A plain-text table of one set's result."""
    rows = [("online", "", result), (f"incremental x{result['incremental']['increments']}", "",
                                     result["incremental"]), ("rebuild", "", result["rebuild"])]
    rows += [(name, f"{m['threshold']:.3f}", m) for name, m in result["baselines"].items()]
    head = (f"{result['dataset']}: {result['articles']} articles, {result['stories']} gold stories; "
            f"online threshold {result['params']['threshold']}, lexical weight "
            f"{result['params']['lexical_weight']}")
    lines = [head, f"{'method':<16}{'thresh':>8}{'B3-P':>8}{'B3-R':>8}{'B3-F1':>8}{'ARI':>8}{'NMI':>8}"]
    for name, threshold, m in rows:
        lines.append(f"{name:<16}{threshold:>8}{m['b3_precision']:>8.3f}{m['b3_recall']:>8.3f}"
                     f"{m['b3_f1']:>8.3f}{m['ari']:>8.3f}{m['nmi']:>8.3f}")
    shuffled = result["shuffled"]
    lines.append(f"{shuffled['orders']} shuffled orders: B3-F1 min {shuffled['b3_f1_min']:.3f}, max "
                 f"{shuffled['b3_f1_max']:.3f}; 10 increments same as one pass: "
                 f"{result['incremental']['same_as_one_pass']}; rebuild same as online: "
                 f"{result['rebuild']['same_as_online']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--stories", type=Path, default=None, help="gold stories.tsv (default: FOLDER/stories.tsv)")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON result here (one set)")
    parser.add_argument("--tune", action="store_true", help="print the baselines' best thresholds per set")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    if args.tune:
        print(json.dumps(tune_baselines(args.folders, args.progress), indent=2))
        return 0
    for folder in args.folders:
        result = bench_stories(folder, args.stories, args.progress)
        print(format_table(result))
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

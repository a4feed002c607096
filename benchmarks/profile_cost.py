"""What the quality profile costs beside the fast one: indexing throughput and query latency, side by side.

    .venv/bin/python benchmarks/profile_cost.py ../shared/eval/allsides_neus \\
        --fast /tmp/q15/after/allsides_neus-idx --quality /tmp/q15/quality/allsides_neus-idx \\
        --out benchmarks/results/profile-cost.json

Indexing: the same sample of the corpus's passages (as the indexer chunks them, with their headlines) is
encoded by each profile's models, alternating rounds, in passages per second of wall time (the quality
profile encodes every passage twice: all-MiniLM-L6-v2 and all-mpnet-base-v2). Queries: the set's queries
alternate between a searcher on each index (default hybrid, k=10, in process, one thread each as a server
runs them), reporting the split of query encoding and the rest. Ratios are what travel between machines.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.models.embed import Embedder  # noqa: E402
from indexer.pipeline import embedding_text  # noqa: E402
from indexer.sources.chunk import chunk  # noqa: E402
from indexer.sources.readers import read_sources  # noqa: E402
from search.evaluation.evaluate import load_beir  # noqa: E402
from search.searcher import Searcher  # noqa: E402


def sample_texts(corpus: Path, n: int, embedder: Embedder) -> list[str]:
    texts = []
    for article in read_sources([str(corpus)]):
        if hasattr(article, "text"):
            texts += [embedding_text(article, p) for p in chunk(article.text, embedder.count_tokens, 128, 32)]
        if len(texts) >= n:
            break
    return texts[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--fast", type=Path, required=True, help="an index of the fast profile")
    parser.add_argument("--quality", type=Path, required=True, help="an index of the same corpus, quality profile")
    parser.add_argument("--passages", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    minilm, mpnet = Embedder(), Embedder("all-mpnet-base-v2")
    texts = sample_texts(load_beir(args.folder).corpus, args.passages, minilm)
    seconds: dict[str, list[float]] = {"fast": [], "quality": []}
    for _ in range(args.rounds):
        for profile, models in (("fast", [minilm]), ("quality", [minilm, mpnet])):
            started = time.perf_counter()
            for model in models:
                model.encode(texts)
            seconds[profile].append(time.perf_counter() - started)
    rate = {p: len(texts) / float(np.median(s)) for p, s in seconds.items()}

    data = load_beir(args.folder)
    queries = list(data.queries.values())[: args.queries]
    searchers = {"fast": Searcher(args.fast), "quality": Searcher(args.quality)}
    took: dict[str, list[float]] = {p: [] for p in searchers}
    encode: dict[str, list[float]] = {p: [] for p in searchers}
    try:
        for text in queries:
            for profile, searcher in searchers.items():
                started = time.perf_counter()
                for model in [searcher.embedder, *searcher.extra_embedders.values()]:
                    model.encode_query(text)
                encode[profile].append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                searcher.search(text, k=10)
                took[profile].append((time.perf_counter() - started) * 1000)
    finally:
        for searcher in searchers.values():
            searcher.close()
    result = {"dataset": args.folder.name, "passages": len(texts), "queries": len(queries),
              "passages_per_s": rate, "index_cost_ratio": rate["fast"] / rate["quality"],
              "query_ms_p50": {p: float(np.median(t)) for p, t in took.items()},
              "query_ms_p95": {p: float(np.percentile(t, 95)) for p, t in took.items()},
              "query_encode_ms_p50": {p: float(np.median(t)) for p, t in encode.items()}}
    result["query_cost_ratio"] = result["query_ms_p50"]["quality"] / result["query_ms_p50"]["fast"]
    print(f"{'profile':10}{'passages/s':>12}{'query p50 ms':>14}{'p95 ms':>9}{'of which encoding':>19}")
    for p in ("fast", "quality"):
        print(f"{p:10}{rate[p]:12.1f}{result['query_ms_p50'][p]:14.2f}{result['query_ms_p95'][p]:9.2f}"
              f"{result['query_encode_ms_p50'][p]:19.2f}")
    print(f"quality costs {result['index_cost_ratio']:.1f}x the indexing time and "
          f"{result['query_cost_ratio']:.1f}x the query time of fast")
    if args.out:
        args.out.write_text(json.dumps({"command": " ".join(sys.argv), **result}, indent=2))


if __name__ == "__main__":
    main()

"""What entities cost at index time: the same articles indexed with and without the entity stage, in one run.

    HF_HUB_OFFLINE=1 python benchmarks/entities.py [--articles 300] [--rounds 2] [--out FILE.json]

Bundled news (ECB+, then Wikinews) through the real `Indexer` at its defaults (onnx-int8 encoder, batches of
64), into fresh temporary indexes, alternating "with" and "without" (`indexer.enrich.unregister` of the
`Entities` stage) so that both see the same machine load; the model is loaded once before timing. Also the
recogniser alone per article over what it reads by default (headline + lead, `LEAD_WORDS`) and over the whole
article, the choice the default rests on. Reports medians over rounds and the ratio with / without.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer import enrich  # noqa: E402
from indexer.enrich.entities import Entities, recognise  # noqa: E402
from indexer.models import ner  # noqa: E402
from indexer.models.embed import Embedder  # noqa: E402
from indexer.pipeline import Indexer  # noqa: E402
from indexer.sources.readers import read_sources  # noqa: E402


def corpus(n: int, folder: Path) -> Path:
    lines = (ROOT / "data/ecbplus/corpus.jsonl").read_text().splitlines()
    lines += (ROOT / "data/wikinews/articles.jsonl").read_text().splitlines()
    path = folder / "news.jsonl"
    path.write_text("\n".join(lines[:n]) + "\n", encoding="utf-8")
    return path


def index_once(source: Path, embedder: Embedder, folder: Path) -> float:
    started = time.perf_counter()
    with Indexer(folder, embedder=embedder) as indexer:
        report = indexer.add(read_sources([str(source)]))
    assert report.ok and report.indexed, report.problems
    return (time.perf_counter() - started) / report.indexed * 1000


def recogniser_alone(source: Path, whole: bool) -> float:
    from indexer.sources.article import Article

    records = [json.loads(line) for line in source.read_text().splitlines()]
    articles = [Article(r.get("_id") or r.get("id"), r.get("title", ""), r["text"]) for r in records]
    if whole:
        nlp = ner.load()
        started = time.perf_counter()
        list(nlp.pipe([a.title + "\n" + a.text for a in articles], batch_size=32))
    else:
        started = time.perf_counter()
        recognise(articles)
    return (time.perf_counter() - started) / len(articles) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/entities.json")
    args = parser.parse_args()
    if not ner.available():
        sys.exit(f"the recogniser is not installed: {ner.INSTALL}")
    stage = next(s for s in enrich.STAGES if isinstance(s, Entities))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = corpus(args.articles, tmp)
        embedder = Embedder()  # the default model and encoder, loaded once
        embedder.encode(["warm up"])
        times: dict[str, list[float]] = {"with": [], "without": []}
        for round_ in range(args.rounds):
            for variant in (("with", "without") if round_ % 2 == 0 else ("without", "with")):
                if variant == "without":
                    enrich.unregister(stage)
                try:
                    times[variant].append(index_once(source, embedder, tmp / f"{variant}-{round_}"))
                finally:
                    if variant == "without":
                        enrich.STAGES.insert(1, stage)
                print(f"round {round_ + 1} {variant:8} {times[variant][-1]:7.1f} ms/article", file=sys.stderr)
        lead = recogniser_alone(source, whole=False)
        whole = recogniser_alone(source, whole=True)
    with_ms, without_ms = statistics.median(times["with"]), statistics.median(times["without"])
    result = {"articles": args.articles, "rounds": args.rounds, "ms_per_article": times,
              "median_with": round(with_ms, 1), "median_without": round(without_ms, 1),
              "added": round(with_ms / without_ms - 1, 3), "recogniser_lead_ms": round(lead, 1),
              "recogniser_whole_ms": round(whole, 1)}
    print(f"\n| indexing, ms per article (median of {args.rounds}) | with entities | without | added |")
    print("|---|---|---|---|")
    print(f"| {args.articles} bundled articles | {with_ms:.1f} | {without_ms:.1f} | {result['added']:+.0%} |")
    print(f"\nrecogniser alone, ms per article: headline + lead {lead:.1f}, whole article {whole:.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

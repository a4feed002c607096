"""A large news-like corpus for latency at scale, made of real news sentences.

    .venv/bin/python benchmarks/big_corpus.py /work/shared/eval/allsides_neus /work/shared/eval/xsum1k \
        --articles 100000 --out /tmp/big/corpus.jsonl

Each article is 1 or 2 sentences drawn (seeded, with replacement) from the given BEIR corpora, with a
headline of its own drawn the same way, so every article fits one passage and the index holds about as
many passages as articles. Real sentences keep the vocabulary, BM25 statistics and embedding geometry of
news; the articles themselves mean nothing, which is fine for timing and useless for quality. The corpora
stay where they are (their licences allow research use, not copying): only the generated file is written,
outside the repository.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")


def sentences(folders: list[Path]) -> list[str]:
    """Every sentence of 5 to 60 words in the corpora, in file order."""
    out = []
    for folder in folders:
        with open(folder / "corpus.jsonl", encoding="utf-8") as handle:
            for line in handle:
                for sentence in SENTENCE.split(json.loads(line).get("text") or ""):
                    if 5 <= len(sentence.split()) <= 60:
                        out.append(sentence.strip())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="BEIR folders whose corpus.jsonl gives the sentences")
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    pool = sentences(args.folders)
    rng = random.Random(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        for n in range(args.articles):
            body = " ".join(rng.choice(pool) for _ in range(rng.randint(1, 2)))
            published = f"20{10 + n % 15:02d}-{1 + n % 12:02d}-{1 + n % 28:02d}"
            record = {"id": f"big-{n}", "title": rng.choice(pool).rstrip("."), "text": body,
                      "source": f"outlet-{n % 50}", "published": published}
            handle.write(json.dumps(record) + "\n")
    print(f"{args.articles} articles from {len(pool)} sentences -> {args.out}")


if __name__ == "__main__":
    main()

"""Calibrates the relevance test (`indexer.relevance.relevant`): does this article count for this query?

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/relevance.py ../shared/eval/ecbplus ../shared/eval/allsides_neus \
        --out benchmarks/results/relevance.json

Two kinds of queries per set, every article of the corpus tested against each (a timeline counts and an alert
tests articles, not a top 10), micro-averaged precision, recall and F1 of "the test says it counts":

- short (1-3 words): names and topic words drawn from the headlines of the gold stories (`stories.tsv`; an
  ECB+ article without a title is headed by its first sentence). For ECB+ a group is a story (one event) or
  a topic (the two events of the same kind ECB+ pairs: "1ecb" and "1ecbplus" are both celebrity rehab
  stays); for allsides_neus a story (the 3 articles of one roundup). A term t (1 to 3 words, first and last
  not one of scikit-learn's English stop words, no number) is a query for group G when: every headline
  holding t is in G, and they are at least 2 and at least half of G's headlines (a topic's term must be in
  headlines of both its stories, else that story is its group); at least half of all articles holding t
  (headline or body) are in G; and G's bodies write it one way, every word capitalised (a name: "Lindsay
  Lohan") or none (a topic word: "rehab", "endangered species"), which drops fragments such as "adviser
  Steve". Judged relevant: G's articles. The best term of each length per group (in most of G's headlines),
  then a seeded sample.
- long: the sets' own queries (ECB+ ledes, allsides_neus headlines) with their qrels; the article an ECB+
  lede was taken from (`metadata.seed_doc`, not in the qrels) is left out of its query's scoring.

Features per (query, article) are what the searcher computes: the best passage's cosine to the query vector
(from the index's stored passage vectors and the searcher's own query encoder), the query's word count
(`search.query.query_words`) and how many of them the article holds (`indexer.relevance.words_found`'s stem
rule, here from an inverted index of the corpus's words, checked against `words_found` on a sample).

The sweep covers `Setting(cosine, cosine_with_words, word_share)` on a grid; the counts are separable (an
article holding the words counts iff its cosine reaches min(cosine, cosine_with_words), else iff it reaches
cosine), so every grid point is scored from cumulative histograms. The setting is chosen by the mean of the
short and long F1 on the first set (ecbplus: its judgements are complete) and reported on the others, with
the former fixed timeline floor (cosine >= 0.53) beside it. The chosen setting and the baseline are then
recounted with `relevant()` itself, which must agree with the sweep. Indexes come from
`search.evaluation.story_bench.built_index` (cached). Prints a table, writes JSON and a PNG beside it.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import json
import random
import re
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS as STOP

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plots import pyplot  # noqa: E402 (beside this script: its directory is on sys.path when run)

from indexer.relevance import Setting, relevant, stem, words_found, words_needed  # noqa: E402
from search import Searcher  # noqa: E402
from search.evaluation.evaluate import load_beir  # noqa: E402
from search.evaluation.story_bench import built_index  # noqa: E402
from search.query import query_words  # noqa: E402

BASELINE = Setting(cosine=0.53, cosine_with_words=0.53, word_share=1.0)  # the former fixed timeline floor
COSINES = np.round(np.arange(0.40, 0.701, 0.01), 2)
WITH_WORDS = np.round(np.arange(0.14, 0.461, 0.01), 2)
SHARES = (0.5, 0.6, 0.67, 0.75, 0.8, 1.0)
THRESHOLDS = np.union1d(COSINES, WITH_WORDS)


@dataclass
class Query:
    text: str
    kind: str  # "short" or "long"
    relevant: frozenset[str]
    skip: str = ""  # an article left out of this query's scoring (an ECB+ lede's own article)


# -- queries --------------------------------------------------------------------------------------------------


def headline(doc: dict) -> str:
    """The title; for an untitled article its first sentence (about 30 words at most)."""
    if doc.get("title", "").strip():
        return doc["title"]
    words = doc.get("text", "").split()[:30]
    text = " ".join(words)
    end = re.search(r"[.!?](\s|$)", text)
    return text[:end.start() + 1] if end else text


def terms(text: str) -> set[str]:
    """1- to 3-word runs of `text`, lower-cased, that neither start nor end with a stop word and hold no number."""
    tokens = re.findall(r"\w+", text.lower())
    out = set()
    for n in (1, 2, 3):
        for i in range(len(tokens) - n + 1):
            run = tokens[i:i + n]
            if run[0] in STOP or run[-1] in STOP or any(t.isdigit() for t in run) or min(map(len, run)) < 2:
                continue
            out.add(" ".join(run))
    return out


def groups_of(name: str, stories: dict[str, str]) -> dict[str, set[str]]:
    """Gold stories, and for ECB+ also their topics (the number that opens an ECB+ story id)."""
    groups: dict[str, set[str]] = defaultdict(set)
    for doc, story in stories.items():
        groups[story].add(doc)
        topic = re.match(r"(\d+)ecb", story) if name == "ecbplus" else None
        if topic:
            groups["topic " + topic.group(1)].add(doc)
    return groups


def short_queries(name: str, docs: dict[str, dict], stories: dict[str, str], count: int,
                  rng: random.Random) -> list[Query]:
    """Names and topic words of each gold group (see the module docstring), sampled to `count`."""
    heads = {i: terms(headline(d)) for i, d in docs.items()}
    headed: dict[str, set[str]] = defaultdict(set)
    for i, ts in heads.items():
        for t in ts:
            headed[t].add(i)
    holders: dict[str, set[str]] = defaultdict(set)  # word -> articles holding it anywhere
    for i, d in docs.items():
        for w in set(re.findall(r"\w+", (d.get("title", "") + " " + d.get("text", "")).lower())):
            holders[w].add(i)
    found = []
    for gname, members in sorted(groups_of(name, stories).items()):
        if len(members) < 3:
            continue
        best: dict[int, tuple] = {}
        for t in sorted(set().union(*(heads[m] for m in members))):
            inside = headed[t]
            if not inside <= members or len(inside) < max(2, len(members) / 2):
                continue
            if gname.startswith("topic ") and len({stories[i] for i in inside}) == 1:
                continue  # the term names one story of the topic: that story is its group
            phrase = re.compile(r"\b" + r"\W+".join(map(re.escape, t.split())) + r"\b", re.IGNORECASE)
            anywhere = [i for i in set.intersection(*(holders[w] for w in t.split()))
                        if phrase.search(docs[i].get("title", "") + " " + docs[i].get("text", ""))]
            if sum(i in members for i in anywhere) < len(anywhere) / 2:
                continue
            forms = [m.group(0) for i in members for m in phrase.finditer(docs[i].get("text", ""))]
            if not forms:
                continue
            words = [f.split() for f in forms]
            if not (all(w[0].isupper() for f in words for w in f) or all(w.islower() for f in words for w in f)):
                continue
            key = (len(inside), len(forms))
            n = len(t.split())
            if n not in best or key > best[n][0]:
                best[n] = (key, max(set(forms), key=forms.count), members)
        found += [Query(" ".join(form.split()), "short", frozenset(members)) for _, form, members in best.values()]
    rng.shuffle(found)
    return found[:count]


def long_queries(folder: Path, count: int, rng: random.Random) -> list[Query]:
    """The set's own queries and qrels; an ECB+ lede's own article is left out of its scoring."""
    data = load_beir(folder)
    seeds = {}
    with open(folder / "queries.jsonl", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            seeds[record["_id"]] = (record.get("metadata") or {}).get("seed_doc", "")
    qids = sorted(data.queries)
    rng.shuffle(qids)
    return [Query(data.queries[q], "long", frozenset(d for d, rel in data.qrels[q].items() if rel > 0),
                  seeds.get(q, "")) for q in qids[:count]]


# -- features -------------------------------------------------------------------------------------------------


class Corpus:
    """Every article of an index: its passage vectors (for the best passage's cosine) and its words (for
    `words_found`, answered from an inverted index instead of a regex per article)."""

    def __init__(self, searcher: Searcher) -> None:
        self.searcher = searcher
        with searcher.store.snapshot() as snap:
            derived = snap.derived()
            order = np.argsort(derived.articles, kind="stable")
            pids, articles = derived.pids[order], derived.articles[order]
            self.vectors = snap.embeddings(pids)
            self.starts = np.flatnonzero(np.r_[True, articles[1:] != articles[:-1]])
            rowids = articles[self.starts].tolist()
            rows = snap.articles(rowids, text=True)
        self.ids = [rows[r].id for r in rowids]
        self.texts = [rows[r].title + "\n" + rows[r].text for r in rowids]
        holders: dict[str, list[int]] = defaultdict(list)
        for j, text in enumerate(self.texts):
            for word in set(re.findall(r"\w+", text.lower())):
                holders[word].append(j)
        self.vocabulary = sorted(holders)
        self.holders = {w: np.array(js) for w, js in holders.items()}

    def features(self, text: str) -> tuple[np.ndarray, int, np.ndarray]:
        """(best passage cosine per article, the query's word count, query words found per article)."""
        vector = self.searcher.embedder.encode_query(text)
        cosine = np.maximum.reduceat(self.vectors @ vector, self.starts).astype(np.float64)  # as compared
        words = query_words(text)
        found = np.zeros(len(self.ids), dtype=np.int32)
        for word in words:
            prefix = stem(word)
            at = bisect.bisect_left(self.vocabulary, prefix)
            holding = np.zeros(len(self.ids), dtype=bool)
            while at < len(self.vocabulary) and self.vocabulary[at].startswith(prefix):
                holding[self.holders[self.vocabulary[at]]] = True
                at += 1
            found += holding
        return cosine, len(words), found


# -- the sweep ------------------------------------------------------------------------------------------------


class Counts:
    """Cumulative counts per threshold for one cell (a set's short or long queries): for each word share,
    articles at or above each threshold, split by (relevant, holds the words)."""

    def __init__(self) -> None:
        self.above = np.zeros((len(SHARES), 2, 2, len(THRESHOLDS)), dtype=np.int64)
        self.relevant = 0
        self.queries = 0
        self.kept: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]] = []  # for the recount with relevant()

    def add(self, cosine: np.ndarray, words: int, found: np.ndarray, labels: np.ndarray) -> None:
        self.queries += 1
        self.relevant += int(labels.sum())
        self.kept.append((cosine, words, found, labels))
        bins = np.searchsorted(THRESHOLDS, cosine, side="right")  # thresholds <= cosine
        for s, share in enumerate(SHARES):
            holds = found >= words_needed(words, share) if words else np.zeros(len(found), dtype=bool)
            for rel in (0, 1):
                for held in (0, 1):
                    picked = bins[(labels == bool(rel)) & (holds == bool(held))]
                    hist = np.bincount(picked, minlength=len(THRESHOLDS) + 1)
                    self.above[s, rel, held] += np.cumsum(hist[::-1])[::-1][1:]

    def score(self, setting: Setting) -> dict:
        s = SHARES.index(setting.word_share)
        at = np.searchsorted(THRESHOLDS, setting.cosine)
        low = np.searchsorted(THRESHOLDS, min(setting.cosine, setting.cosine_with_words))
        tp = self.above[s, 1, 0, at] + self.above[s, 1, 1, low]
        fp = self.above[s, 0, 0, at] + self.above[s, 0, 1, low]
        return metrics(int(tp), int(fp), self.relevant)

    def recount(self, setting: Setting) -> dict:
        """The same counts from `relevant()` itself, article by article array."""
        tp = fp = 0
        for cosine, words, found, labels in self.kept:
            passed = relevant(cosine, words, found, setting)
            tp += int((passed & labels).sum())
            fp += int((passed & ~labels).sum())
        return metrics(tp, fp, self.relevant)


def metrics(tp: int, fp: int, relevant_total: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / relevant_total if relevant_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "tp": tp, "fp": fp}


def grid() -> list[Setting]:
    return [Setting(float(c), float(w), share) for share in SHARES for c in COSINES for w in WITH_WORDS if w <= c]


# -- a set ----------------------------------------------------------------------------------------------------


def measure(folder: Path, shorts: int, longs: int, seed: int) -> tuple[dict[str, Counts], dict]:
    rng = random.Random(seed)
    docs = {}
    with open(folder / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                docs[str(record["_id"])] = record
    with open(folder / "stories.tsv", encoding="utf-8") as handle:
        stories = {row[0]: row[1] for row in csv.reader(handle, delimiter="\t") if row and row[0] != "corpus-id"}
    queries = short_queries(folder.name, docs, stories, shorts, rng) + long_queries(folder, longs, rng)
    searcher = Searcher(built_index(folder))
    try:
        corpus = Corpus(searcher)
        position = {doc: j for j, doc in enumerate(corpus.ids)}
        cells = {"short": Counts(), "long": Counts()}
        examples = []
        for n, query in enumerate(queries):
            cosine, words, found = corpus.features(query.text)
            labels = np.array([doc in query.relevant for doc in corpus.ids])
            if query.skip in position:
                keep = np.ones(len(labels), dtype=bool)
                keep[position[query.skip]] = False
                cosine, found, labels = cosine[keep], found[keep], labels[keep]
            elif n < 20:  # the inverted index counts query words as words_found() does
                for j in rng.sample(range(len(corpus.ids)), 10):
                    assert found[j] == words_found(query_words(query.text), corpus.texts[j]), (query.text, j)
            cells[query.kind].add(cosine, words, found, labels)
            if query.kind == "short" and len(examples) < 12:
                examples.append({"query": query.text, "relevant": len(query.relevant)})
    finally:
        searcher.close()
    return cells, {"short_examples": examples, "articles": len(docs)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="BEIR folders with stories.tsv; chosen on the first")
    parser.add_argument("--short", type=int, default=1000, help="short queries per set (sampled)")
    parser.add_argument("--long", type=int, default=1000, help="long queries per set (sampled)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/relevance.json"))
    args = parser.parse_args()
    started = time.perf_counter()
    measured = {folder.name: measure(folder, args.short, args.long, args.seed) for folder in args.folders}
    first = measured[args.folders[0].name][0]
    settings = grid()

    def mean_f1(setting: Setting) -> float:
        return (first["short"].score(setting)["f1"] + first["long"].score(setting)["f1"]) / 2

    top = sorted(settings, key=lambda s: (-round(mean_f1(s), 4), -s.cosine_with_words, -s.cosine))[:5]
    chosen = top[0]  # ties (to 4 decimals) go to the stricter setting
    rows = []
    for name, (cells, _) in measured.items():
        for kind, counts in cells.items():
            for label, setting in (("fixed floor 0.53 (before)", BASELINE), ("chosen", chosen)):
                scored = counts.score(setting)
                assert counts.recount(setting) == scored, (name, kind, label)  # relevant() agrees with the sweep
                rows.append({"set": name, "queries": kind, "n": counts.queries, "relevant": counts.relevant,
                             "test": label, **scored})
    seconds = round(time.perf_counter() - started, 1)
    print(f"chosen on {args.folders[0].name} (mean F1 of short and long): {chosen}  ({seconds} s)")
    for setting in top:
        print(f"  {setting}: mean F1 {mean_f1(setting):.4f}")
    print(f"{'set':15}{'queries':>8}{'n':>5}{'relevant':>9}  {'test':27}{'P':>7}{'R':>7}{'F1':>7}")
    for r in rows:
        print(f"{r['set']:15}{r['queries']:>8}{r['n']:>5}{r['relevant']:>9}  {r['test']:27}"
              f"{r['precision']:7.3f}{r['recall']:7.3f}{r['f1']:7.3f}")
    curves = {f"{name} {kind}": {
        "cosine_with_words": [counts.score(Setting(chosen.cosine, float(w), chosen.word_share))["f1"]
                              for w in WITH_WORDS if w <= chosen.cosine],
        "cosine": [counts.score(Setting(float(c), min(chosen.cosine_with_words, float(c)), chosen.word_share))["f1"]
                   for c in COSINES]}
        for name, (cells, _) in measured.items() for kind, counts in cells.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "chosen_on": args.folders[0].name, "chosen": asdict(chosen),
        "top": [{**asdict(s), "mean_f1": round(mean_f1(s), 4)} for s in top], "baseline": asdict(BASELINE), "rows":
  rows,
        "grid": {"cosine": COSINES.tolist(), "cosine_with_words": WITH_WORDS.tolist(), "word_share": list(SHARES)},
        "curves": curves, "sets": {name: info for name, (_, info) in measured.items()},
        "args": {"short": args.short, "long": args.long, "seed": args.seed}, "seconds": seconds}, indent=1) + "\n",
        encoding="utf-8")
    plot(args.out.with_suffix(".png"), curves, chosen)
    return 0


def plot(path: Path, curves: dict, chosen: Setting) -> None:
    """F1 against each floor, the other constants at the chosen setting."""
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    with_words = [float(w) for w in WITH_WORDS if w <= chosen.cosine]
    for label, curve in curves.items():
        style = "-" if "short" in label else "--"
        axes[0].plot(with_words, curve["cosine_with_words"], style, label=label)
        axes[1].plot(COSINES, curve["cosine"], style, label=label)
    axes[0].axvline(chosen.cosine_with_words, color="grey", linestyle=":")
    axes[1].axvline(chosen.cosine, color="grey", linestyle=":")
    axes[0].set_xlabel(f"cosine_with_words (cosine {chosen.cosine}, word share {chosen.word_share})")
    axes[1].set_xlabel(f"cosine (cosine_with_words {chosen.cosine_with_words}, word share {chosen.word_share})")
    axes[0].set_ylabel("F1, micro-averaged over queries")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())

"""Saved searches (alerts, issue 23): what fires, measured on allsides_neus, and what matching costs at scale.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/alerts.py quality /work/shared/eval/allsides_neus \
        --out benchmarks/results/alerts-quality.json
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/alerts.py scale data/ecbplus \
        --queries /work/shared/eval/allsides_neus --articles 200 --batch 16 --rounds 3 \
        --out benchmarks/results/alerts-scale.json

**quality**: for each roundup (story of `stories.tsv`) the headline of its earliest article (by `published`,
then id; most allsides_neus articles have no date, so for most roundups that is the lowest id) is saved as a
search before anything is indexed, beside short saved searches: names drawn from the data (runs of 1-3
capitalised words in the bodies, not opening a sentence, that head at least `--min-titles` headlines; the most
frequent per length). Then the whole corpus is streamed into a fresh index through the real `Indexer`, dated
articles in date order one day per commit, then the undated ones in id order, 256 per commit: matching runs at
every commit as in production (stage `AlertMatching`, the calibrated setting), and its matches are read back
from the index. Scored (micro-averaged over saved searches):

- headline searches: recall = the roundup's other articles that fired its search / the roundup's other
  articles; precision = fired articles of the same roundup / fired articles (the seed article itself, which
  always fires its own headline, is left out of both); a lower bound, since other roundups often cover the
  same subject (allsides_neus has several roundups per news subject).
- name searches: an article is *about* a name when its headline holds it, and *mentions* it when headline or
  body holds it (the name's words in order, separated by non-word characters, case-insensitive, on word
  boundaries; a possessive "Biden's" counts). Recall = articles about the name that fired / articles about the
  name; precision = fired articles that mention it / fired articles (and, stricter, about it / fired).
- alerts per saved search per 1,000 articles streamed (seed articles left out for headline searches).

The sweep of the relevance test's setting is done offline: the stored passage vectors and texts are matched
again by `indexer.enrich.alerts.match_vectors` (the function the stage calls) for each setting, and the
calibrated setting's offline matches are checked equal to the online run's (reported as `online_equals_offline`).

**scale**: 1k, 10k and 100k saved searches (allsides_neus headlines and body sentences, cycled to reach the
count: after about 35k distinct texts a saved search repeats one, with its own id) imported with
`Searcher.add_alerts` (what `newsearch alerts import` calls) into copies of an empty index; then the same
ECB+ articles are indexed into a fresh copy of each (0, 1k, 10k, 100k) through the `Indexer`, `--batch`
articles per commit, in `--rounds` rounds with the order of the copies rotated. Measured: wall time of
`Indexer.add` per article, and the `AlertMatching.apply` call of every commit (the stage wrapped by this
script, no product change), divided by the articles it matched: p50/p99 over commits after the first (the
first commit of a writer also loads and compiles the saved searches; reported apart). Where the
milliseconds go: the functions `apply` calls are wrapped with timers (cache lookup, `match_vectors`,
`Compiled.found`, filters, story followers, passage spans, `store.record`), and the matrix product and
column maximum are timed offline on the same vectors. Query vectors are encoded once per distinct text and
reused (the import itself is timed without encoding; encoding is timed apart).

Prints tables, writes JSON and a PNG beside it.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS as STOP

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plots import pyplot  # noqa: E402 (beside this script: its directory is on sys.path when run)

import indexer.enrich as enrich  # noqa: E402
import indexer.enrich.alerts as matching  # noqa: E402
from indexer.enrich.alerts import AlertMatching, Compiled, match_vectors  # noqa: E402
from indexer.models.embed import Embedder  # noqa: E402
from indexer.pipeline import IndexConfig, Indexer  # noqa: E402
from indexer.relevance import CALIBRATED, Setting  # noqa: E402
from indexer.sources.readers import article_from_record  # noqa: E402
from search import Searcher  # noqa: E402
from search.alerts import SavedSearchSpec  # noqa: E402

COSINES = [round(c, 2) for c in np.arange(0.40, 0.801, 0.05)]
WITH_WORDS = [round(w, 2) for w in np.arange(0.14, 0.551, 0.04)]
SHARES = (0.5, 0.75, 1.0)


# -- data -----------------------------------------------------------------------------------------------------


def load(folder: Path) -> tuple[list[dict], dict[str, str]]:
    with open(folder / "corpus.jsonl", encoding="utf-8") as handle:
        docs = [json.loads(line) for line in handle if line.strip()]
    stories: dict[str, str] = {}
    if (folder / "stories.tsv").exists():
        with open(folder / "stories.tsv", encoding="utf-8") as handle:
            stories = {r[0]: r[1] for r in csv.reader(handle, delimiter="\t") if r and r[0] != "corpus-id"}
    return docs, stories


def article(doc: dict):
    return article_from_record(doc, doc["_id"])


def phrase_re(name: str) -> re.Pattern:
    return re.compile(r"\b" + r"\W+".join(map(re.escape, name.split())) + r"\b", re.IGNORECASE)


CAPITAL = r"(?:[A-Z][a-z]+|[A-Z]{2,})"
CALENDAR = {"jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "january",
            "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
            "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "gov",
            "sen", "rep", "jr", "mr", "mrs", "ms", "dr", "st"}  # capitalised, but dates and abbreviations
RUN = re.compile(rf"(?<=[\w,;] ){CAPITAL}(?: {CAPITAL}){{0,2}}(?![\w-])")


def names(docs: list[dict], min_titles: int, per_length: int) -> list[str]:
    """Names from the bodies: maximal runs of 1-3 capitalised words that follow a word or comma (so not a
    sentence's first word), none of them an English stop word, a month, a weekday or an abbreviation,
    written in lower case in the bodies at most a tenth as often (drops "House", "President"), heading at
    least `min_titles` headlines, and not mostly the fragment of a longer name ("Donald" beside "Donald
    Trump"); one spelling per name (the most frequent); the `per_length` most frequent in headlines for
    each length."""
    runs: Counter = Counter()
    for doc in docs:
        for match in RUN.finditer(doc.get("text", "")):
            run = match.group(0)
            if not any(w.lower() in STOP or w.lower() in CALENDAR for w in run.split()):
                runs[run] += 1
    spelled: dict[str, str] = {}
    for run, _ in runs.most_common():
        spelled.setdefault(run.lower(), run)
    candidates = [r for r in spelled.values() if runs[r] >= 3]
    bodies = "\n".join(d.get("text", "") for d in docs)
    titles = [d.get("title", "") for d in docs]
    lowered = "\n".join(titles).lower()
    headed = {}
    for run in candidates:
        if lowered.count(run.lower()) < min_titles:
            continue  # cheap filter before the regexes
        if len(re.findall(r"\b" + re.escape(run.lower()) + r"\b", bodies)) > runs[run] / 10:
            continue  # a common word or title, not a name
        pattern = phrase_re(run)
        headed[run] = sum(1 for t in titles if pattern.search(t))
    for run in list(headed):
        if any(run != other and phrase_re(run).search(other) and headed[other] >= headed[run] / 2
               for other in headed):
            del headed[run]
    chosen = []
    for length in (1, 2, 3):
        ranked = sorted((r for r in headed if len(r.split()) == length and headed[r] >= min_titles),
                        key=lambda r: (-headed[r], r))
        chosen += ranked[:per_length]
    return chosen


# -- quality --------------------------------------------------------------------------------------------------


def stream(docs: list[dict]) -> list[list[dict]]:
    """Commits: dated articles one day each in date order, then undated ones in id order, 256 each."""
    dated = sorted((d for d in docs if d.get("published")), key=lambda d: (d["published"], d["_id"]))
    undated = sorted((d for d in docs if not d.get("published")), key=lambda d: d["_id"])
    days: dict[str, list[dict]] = defaultdict(list)
    for d in dated:
        days[d["published"][:10]].append(d)
    return [days[k] for k in sorted(days)] + [undated[i:i + 256] for i in range(0, len(undated), 256)]


def stored_articles(searcher: Searcher) -> tuple[list[str], list[tuple[np.ndarray, str]]]:
    """Every article's id, passage vectors (in passage order) and title + text, as the stage sees them."""
    with searcher.store.snapshot() as snap:
        derived = snap.derived()
        order = np.lexsort((derived.pids, derived.articles))
        pids, rowids = derived.pids[order], derived.articles[order]
        vectors = snap.embeddings(pids)
        starts = np.flatnonzero(np.r_[True, rowids[1:] != rowids[:-1]])
        ends = np.r_[starts[1:], len(rowids)]
        ids = rowids[starts].tolist()
        rows = snap.articles(ids, text=True)
    return ([rows[r].id for r in ids],
            [(vectors[s:e], rows[r].title + "\n" + rows[r].text) for r, s, e in zip(ids, starts, ends, strict=True)])


def score(pairs: set[tuple[str, str]], searches: dict[str, dict], n_articles: int) -> dict:
    """pairs: (saved search name, article id) that fired."""
    fired: dict[str, set[str]] = defaultdict(set)
    for name, doc in pairs:
        fired[name].add(doc)
    out = {}
    for kind in ("headline", "name"):
        mine = {k: v for k, v in searches.items() if v["kind"] == kind}
        tp = fp = relevant = hits = total = strict = 0
        for key, s in mine.items():
            got = fired.get(key, set()) - {s.get("seed", "")}
            total += len(got)
            if kind == "headline":
                tp += len(got & s["relevant"])
                fp += len(got - s["relevant"])
                relevant += len(s["relevant"])
                hits += len(got & s["relevant"])
            else:
                tp += len(got & s["mentions"])
                fp += len(got - s["mentions"])
                strict += len(got & s["relevant"])
                relevant += len(s["relevant"])
                hits += len(got & s["relevant"])
        row = {"saved": len(mine), "fired": total,
               "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
               "recall": round(hits / relevant, 4) if relevant else 0.0,
               "per_search_per_1000": round(total / len(mine) / (n_articles / 1000), 3) if mine else 0.0}
        if kind == "name":
            row["precision_about"] = round(strict / total, 4) if total else 1.0
        out[kind] = row
    return out


def quality(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    docs, stories = load(args.folder)
    by_story: dict[str, list[dict]] = defaultdict(list)
    for d in docs:
        if d["_id"] in stories:
            by_story[stories[d["_id"]]].append(d)
    searches: dict[str, dict] = {}
    for story, members in sorted(by_story.items()):
        seed = min(members, key=lambda d: (d.get("published") or "9999", d["_id"]))
        searches[f"headline {story}"] = {"kind": "headline", "query": seed["title"], "seed": seed["_id"],
                                         "relevant": {d["_id"] for d in members} - {seed["_id"]}}
    found_names = names(docs, args.min_titles, args.names_per_length)
    for name in found_names:
        pattern = phrase_re(name)
        searches[f"name {name}"] = {
            "kind": "name", "query": name,
            "relevant": {d["_id"] for d in docs if pattern.search(d.get("title", ""))},
            "mentions": {d["_id"] for d in docs if pattern.search(d.get("title", "") + "\n" + d.get("text", ""))}}
    print(f"{len(by_story)} roundups, {len(found_names)} names; e.g. {', '.join(found_names[:12])}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="alerts-quality-", dir=args.work))
    embedder = Embedder()
    try:
        with Indexer(work / "index", embedder=embedder):
            pass
        searcher = Searcher(work / "index", embedder=embedder)
        saved = searcher.add_alerts([SavedSearchSpec(s["query"], name=key) for key, s in searches.items()])
        key_of = {a.id: a.name for a in saved}
        commits = stream(docs)
        t = time.perf_counter()
        with Indexer(work / "index", embedder=embedder) as indexer:
            for batch in commits:
                indexer.add([article(d) for d in batch])
        index_seconds = time.perf_counter() - t
        conn = searcher.store.connection()
        online = {(key_of[a], doc) for a, doc in conn.execute("SELECT alert, article FROM alert_matches")}
        ids, stored = stored_articles(searcher)
        state = Compiled.of(matching.store.every(conn), 0)
        generation = 1 << 40
        print(f"indexed {len(ids)} articles in {len(commits)} commits ({index_seconds:.0f} s); "
              f"{len(online)} matches online", flush=True)

        def offline(setting: Setting) -> set[tuple[str, str]]:
            return {(key_of[state.ids[row]], ids[i])
                    for i, row, _, _ in match_vectors(state, stored, generation, setting)}

        calibrated = offline(CALIBRATED)
        same = calibrated == online
        print(f"offline matches at the calibrated setting equal the online run's: {same} "
              f"(online only {len(online - calibrated)}, offline only {len(calibrated - online)})", flush=True)
        n = len(ids)
        sweep = []
        settings = ([Setting(c, min(CALIBRATED.cosine_with_words, c), CALIBRATED.word_share) for c in COSINES]
                    + [Setting(CALIBRATED.cosine, w, CALIBRATED.word_share) for w in WITH_WORDS]
                    + [Setting(CALIBRATED.cosine, CALIBRATED.cosine_with_words, s) for s in SHARES])
        for setting in dict.fromkeys(settings):
            pairs = online if setting == CALIBRATED else offline(setting)
            sweep.append({**asdict(setting), **{f"{k} {m}": v for k, r in score(pairs, searches, n).items()
                                                 for m, v in r.items()}})
        online_scores = score(online, searches, n)
    finally:
        searcher.close()
        shutil.rmtree(work, ignore_errors=True)
    seconds = round(time.perf_counter() - started, 1)
    print(f"\nonline run (calibrated {CALIBRATED}), {n} articles:")
    print(f"{'saved searches':16}{'n':>6}{'fired':>8}{'P':>8}{'R':>8}{'per 1k':>8}{'P about':>9}")
    for kind, r in online_scores.items():
        print(f"{kind:16}{r['saved']:>6}{r['fired']:>8}{r['precision']:8.3f}{r['recall']:8.3f}"
              f"{r['per_search_per_1000']:8.2f}{r.get('precision_about', float('nan')):9.3f}")
    print("\nsweep (offline, match_vectors):")
    print(f"{'cosine':>7}{'c_words':>8}{'share':>6} | {'headline P':>10}{'R':>7}{'/1k':>7} | "
          f"{'name P':>7}{'P about':>8}{'R':>7}{'/1k':>7}")
    for r in sweep:
        print(f"{r['cosine']:7.2f}{r['cosine_with_words']:8.2f}{r['word_share']:6.2f} | "
              f"{r['headline precision']:10.3f}{r['headline recall']:7.3f}{r['headline per_search_per_1000']:7.2f} | "
              f"{r['name precision']:7.3f}{r['name precision_about']:8.3f}{r['name recall']:7.3f}"
              f"{r['name per_search_per_1000']:7.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "set": args.folder.name, "articles": n, "commits": len(commits), "roundups": len(by_story),
        "names": found_names, "calibrated": asdict(CALIBRATED), "online": online_scores,
        "online_matches": len(online), "online_equals_offline": same, "sweep": sweep,
        "index_seconds": round(index_seconds, 1), "seconds": seconds,
        "args": {"min_titles": args.min_titles, "names_per_length": args.names_per_length}}, indent=1) + "\n",
        encoding="utf-8")
    plot_quality(args.out.with_suffix(".png"), sweep)
    return 0 if same else 1


def plot_quality(path: Path, sweep: list[dict]) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    c = CALIBRATED
    parts = [("cosine", [r for r in sweep if r["cosine_with_words"] == min(c.cosine_with_words, r["cosine"])
                         and r["word_share"] == c.word_share], f"cosine (cosine_with_words {c.cosine_with_words})"),
             ("cosine_with_words", [r for r in sweep if r["cosine"] == c.cosine and r["word_share"] == c.word_share],
              f"cosine_with_words (cosine {c.cosine})")]
    for ax, (key, rows, label) in zip(axes[:2], parts, strict=True):
        rows = sorted(rows, key=lambda r: r[key])
        x = [r[key] for r in rows]
        for kind, style in (("headline", "-"), ("name", "--")):
            ax.plot(x, [r[f"{kind} precision"] for r in rows], style, color="C0", label=f"{kind} precision")
            ax.plot(x, [r[f"{kind} recall"] for r in rows], style, color="C1", label=f"{kind} recall")
        ax.axvline(getattr(c, key), color="grey", linestyle=":")
        ax.set_xlabel(label + f", word share {c.word_share}")
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("micro-averaged over saved searches")
    axes[0].legend(fontsize=8)
    rows = sorted((r for r in sweep if r["word_share"] == c.word_share and r["cosine"] == c.cosine),
                  key=lambda r: r["cosine_with_words"])
    axes[2].semilogy([r["cosine_with_words"] for r in rows], [r["headline per_search_per_1000"] for r in rows],
                     "-", label="headline searches")
    axes[2].semilogy([r["cosine_with_words"] for r in rows], [r["name per_search_per_1000"] for r in rows],
                     "--", label="name searches")
    axes[2].axvline(c.cosine_with_words, color="grey", linestyle=":")
    axes[2].set_xlabel(f"cosine_with_words (cosine {c.cosine})")
    axes[2].set_ylabel("alerts per saved search per 1,000 articles")
    axes[2].legend(fontsize=8)
    fig.suptitle("Saved searches on allsides_neus: headline of a roundup's first article, and names")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# -- scale ----------------------------------------------------------------------------------------------------


class CachedEmbedder(Embedder):
    """The index's model for the saved searches only, encoding each distinct text once (the 1k and 10k sets
    are taken from the 100k). The indexer is handed the plain model: its passages are encoded every run."""

    def __init__(self, inner: Embedder) -> None:  # noqa: D107 - shares the loaded model
        self.__dict__.update(inner.__dict__)
        self._inner = inner
        self.cache: dict[str, np.ndarray] = {}

    def warm(self, texts: list[str]) -> float:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        started = time.perf_counter()
        for i in range(0, len(todo), 4096):
            part = todo[i:i + 4096]
            self.cache.update(zip(part, self._inner.encode(part), strict=True))
        return time.perf_counter() - started

    def encode(self, texts, progress: bool = False) -> np.ndarray:
        self.warm(list(texts))
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


def query_texts(folder: Path, count: int) -> tuple[list[str], int]:
    """Headlines, then body sentences (5-40 words), distinct, cycled to `count`."""
    docs, _ = load(folder)
    texts = [d["title"].strip() for d in docs if d.get("title", "").strip()]
    for d in docs:
        for sentence in re.split(r"(?<=[.!?])\s+", d.get("text", "")):
            if 5 <= len(sentence.split()) <= 40:
                texts.append(sentence.strip())
    texts = list(dict.fromkeys(texts))
    return [texts[i % len(texts)] for i in range(count)], len(texts)


class Timers:
    """Seconds per wrapped function, reset per commit."""

    def __init__(self) -> None:
        self.now: dict[str, float] = defaultdict(float)

    def wrap(self, owner, attribute: str, label: str):
        original = getattr(owner, attribute)

        def timed(*a, **k):
            started = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                self.now[label] += time.perf_counter() - started

        setattr(owner, attribute, timed)
        return owner, attribute, original


class TimedMatching(AlertMatching):
    """The stage as declared, its `apply` timed per commit with the breakdown of the wrapped calls."""

    def __init__(self, setting: Setting, timers: Timers) -> None:
        super().__init__(setting)
        self.timers = timers
        self.commits: list[dict] = []
        self.sample: list[tuple[np.ndarray, str]] = []  # one full commit's (vectors, text), for micro_breakdown

    def apply(self, batch) -> None:
        self.timers.now.clear()
        started = time.perf_counter()
        super().apply(batch)
        seconds = time.perf_counter() - started
        if len(batch.added) > len(self.sample):
            self.sample = [(a.vectors, a.article.title + "\n" + a.article.text) for a in batch.added]
        self.commits.append({"articles": len(batch.added), "seconds": seconds,
                             "passages": int(sum(len(a.vectors) for a in batch.added)), **self.timers.now})


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def scale(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    docs, _ = load(args.folder)
    docs = docs[:args.articles]
    texts, distinct = query_texts(args.queries, max(args.sizes))
    work = Path(tempfile.mkdtemp(prefix="alerts-scale-", dir=args.work))
    plain = Embedder()  # the indexer's: every passage encoded in every run
    embedder = CachedEmbedder(plain)  # the saved searches' only
    saved_vectors = Path(args.work or tempfile.gettempdir()) / "alerts-scale-vectors.npz"
    if saved_vectors.exists():  # a rerun on this machine: the same texts' vectors, encoded by an earlier run
        kept = np.load(saved_vectors)
        embedder.cache.update(zip(kept["texts"].tolist(), kept["vectors"], strict=True))
    encode_seconds = embedder.warm(texts)
    if not saved_vectors.exists():
        distinct_texts = list(dict.fromkeys(texts))
        np.savez(saved_vectors, texts=np.array(distinct_texts),
                 vectors=np.stack([embedder.cache[t] for t in distinct_texts]))
    print(f"{len(texts)} saved-search texts ({distinct} distinct) encoded in {encode_seconds:.0f} s "
          f"({distinct / encode_seconds:.0f}/s)", flush=True)
    templates, imports = {}, {}
    for size in args.sizes:
        folder = work / f"template-{size}"
        with Indexer(folder, embedder=plain):
            pass
        if size:
            searcher = Searcher(folder, embedder=embedder)
            t = time.perf_counter()
            searcher.add_alerts([SavedSearchSpec(q) for q in texts[:size]])
            imports[size] = round(time.perf_counter() - t, 2)
            searcher.close()
            print(f"imported {size} saved searches in {imports[size]} s (encoding cached)", flush=True)
        templates[size] = folder

    timers = Timers()
    at = next(i for i, s in enumerate(enrich.STAGES) if isinstance(s, AlertMatching))
    declared = enrich.STAGES[at]
    stage = TimedMatching(declared.setting, timers)
    wrapped = [timers.wrap(matching, "compiled", "load saved searches"),
               timers.wrap(matching, "match_vectors", "match_vectors"),
               timers.wrap(Compiled, "found", "presearch (found)"),
               timers.wrap(matching, "_admitted", "filters"),
               timers.wrap(matching, "_story_followers", "story followers"),
               timers.wrap(matching, "_passage_spans", "passage spans"),
               timers.wrap(matching.store, "record", "record matches (SQL)")]
    enrich.STAGES[at] = stage
    runs: dict[int, list[dict]] = defaultdict(list)
    with Indexer(work / "warm-up", IndexConfig(batch_articles=args.batch), embedder=plain) as indexer:
        indexer.add(article(d) for d in docs[:2 * args.batch])  # the encoder's first calls, not timed
    try:
        for round_ in range(args.rounds):
            order = args.sizes[round_ % len(args.sizes):] + args.sizes[:round_ % len(args.sizes)]
            for size in order:
                folder = work / f"run-{size}-{round_}"
                shutil.copytree(templates[size], folder)
                stage.commits = []
                t = time.perf_counter()
                with Indexer(folder, IndexConfig(batch_articles=args.batch), embedder=plain) as indexer:
                    report = indexer.add(article(d) for d in docs)
                wall = time.perf_counter() - t
                conn = Searcher(folder, embedder=embedder)
                matches = conn.store.connection().execute("SELECT count(*) FROM alert_matches").fetchone()[0]
                conn.close()
                runs[size].append({"wall": wall, "indexed": report.indexed, "commits": stage.commits,
                                   "matches": matches})
                print(f"round {round_} size {size}: {wall:.1f} s, {1000 * wall / report.indexed:.1f} ms/article, "
                      f"matching {1000 * sum(c['seconds'] for c in stage.commits) / report.indexed:.2f} ms/article, "
                      f"{matches} matches", flush=True)
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        enrich.STAGES[at] = declared
        for owner, attribute, original in wrapped:
            setattr(owner, attribute, original)

    rows = []
    base = statistics.median(r["wall"] / r["indexed"] for r in runs[args.sizes[0]])
    for size in args.sizes:
        per_article = [r["wall"] / r["indexed"] for r in runs[size]]
        steady = [c for r in runs[size] for c in r["commits"][1:] if c["articles"]]
        firsts = [r["commits"][0]["seconds"] for r in runs[size] if r["commits"]]
        cost = [c["seconds"] / c["articles"] for c in steady]
        total_matching = statistics.median(sum(c["seconds"] for c in r["commits"]) / r["indexed"] for r in runs[size])
        parts = defaultdict(float)
        for c in steady:
            for k, v in c.items():
                if k not in ("articles", "seconds", "passages"):
                    parts[k] += v
        articles = sum(c["articles"] for c in steady) or 1
        rows.append({
            "saved": size, "index_ms_per_article": round(1000 * statistics.median(per_article), 2),
            "index_ms_per_article_rounds": [round(1000 * x, 2) for x in per_article],
            "added_vs_0": round(statistics.median(per_article) / base - 1, 4),
            "matching_ms_per_article_incl_first": round(1000 * total_matching, 3),
            "matching_share_of_0": round(total_matching / base, 4),
            "match_ms_per_article_p50": round(1000 * pct(cost, 50), 3),
            "match_ms_per_article_p99": round(1000 * pct(cost, 99), 3),
            "first_commit_ms": [round(1000 * x, 1) for x in firsts],
            "matches": [r["matches"] for r in runs[size]], "commits_timed": len(steady),
            "breakdown_ms_per_article": {k: round(1000 * v / articles, 3) for k, v in parts.items()},
            "import_seconds": imports.get(size, 0.0)})
    micro = micro_breakdown(templates, args.sizes, stage.sample, plain)
    shutil.rmtree(work, ignore_errors=True)
    seconds = round(time.perf_counter() - started, 1)
    print(f"\n{len(docs)} ECB+ articles, {args.batch} per commit, {args.rounds} rounds; medians over rounds")
    print(f"{'saved':>7}{'index ms/art':>13}{'+ vs 0':>8}{'match ms/art':>13}{'share':>7}{'p50':>8}{'p99':>8}"
          f"{'1st commit ms':>15}{'import s':>9}")
    for r in rows:
        print(f"{r['saved']:>7}{r['index_ms_per_article']:13.1f}{100 * r['added_vs_0']:7.1f}%"
              f"{r['matching_ms_per_article_incl_first']:13.2f}{100 * r['matching_share_of_0']:6.1f}%"
              f"{r['match_ms_per_article_p50']:8.2f}{r['match_ms_per_article_p99']:8.2f}"
              f"{statistics.median(r['first_commit_ms'] or [0]):15.0f}{r['import_seconds']:9.1f}")
    print("\nwhere matching's time goes (ms per article, commits after the first):")
    for r in rows:
        print(f"{r['saved']:>7}  " + ", ".join(f"{k} {v:.2f}" for k, v in r["breakdown_ms_per_article"].items()))
    print("\nmatch_vectors pieces offline (ms per article, same vectors, median of 5):")
    for size, parts in micro.items():
        print(f"{size:>7}  " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "articles": len(docs), "set": args.folder.name, "batch": args.batch, "rounds": args.rounds,
        "queries_from": args.queries.name, "distinct_queries": distinct,
        "encode_seconds": round(encode_seconds, 1), "rows": rows, "micro": micro,
        "runs": {str(k): [{**r, "commits": r["commits"]} for r in v] for k, v in runs.items()},
        "seconds": seconds}, indent=1) + "\n", encoding="utf-8")
    plot_scale(args.out.with_suffix(".png"), rows)
    return 0


def micro_breakdown(templates: dict[int, Path], sizes: list[int], sample: list[tuple[np.ndarray, str]],
                    embedder: Embedder) -> dict[int, dict[str, float]]:
    """The pieces of `match_vectors` on one commit (`sample`: its articles' passage vectors and texts), timed
    apart: matrix product, column maximum per article, the presearch for every article, and the whole call
    (ms per article)."""
    vectors, texts = [v for v, _ in sample], [t for _, t in sample]
    out = {}
    for size in sizes:
        if not size:
            continue
        searcher = Searcher(templates[size], embedder=embedder)
        t = time.perf_counter()
        every = matching.store.every(searcher.store.connection())
        loading = time.perf_counter() - t
        t = time.perf_counter()
        state = Compiled.of(every, 0)
        compiling = time.perf_counter() - t
        searcher.close()
        all_vectors = np.concatenate(vectors)
        timings = defaultdict(list)
        for _ in range(5):
            t = time.perf_counter()
            cosines = state.vectors @ all_vectors.T
            timings["matrix product"].append(time.perf_counter() - t)
            t = time.perf_counter()
            column, strided = 0, []
            for v in vectors:
                strided.append(cosines[:, column:column + len(v)].max(axis=1))
                column += len(v)
            timings["column max over strided columns (b118d29)"].append(time.perf_counter() - t)
            t = time.perf_counter()
            rows = np.ascontiguousarray(cosines.T)
            column, contiguous = 0, []
            for v in vectors:
                contiguous.append(rows[column:column + len(v)].max(axis=0))
                column += len(v)
            timings["transposed copy + row max (now)"].append(time.perf_counter() - t)
            assert all(np.array_equal(a, b) for a, b in zip(strided, contiguous, strict=True))
            t = time.perf_counter()
            for text in texts:
                state.found(text)
            timings["presearch (found), every article"].append(time.perf_counter() - t)
            t = time.perf_counter()
            match_vectors(state, list(zip(vectors, texts, strict=True)), 1 << 40)
            timings["match_vectors total"].append(time.perf_counter() - t)
        out[size] = {**{k: round(1000 * statistics.median(v) / len(sample), 3) for k, v in timings.items()},
                     "first commit: store.every (ms, once)": round(1000 * loading, 1),
                     "first commit: Compiled.of (ms, once)": round(1000 * compiling, 1)}
    return out


def plot_scale(path: Path, rows: list[dict]) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    sizes = [max(r["saved"], 100) for r in rows]
    axes[0].plot(sizes, [r["index_ms_per_article"] for r in rows], "o-", label="indexing, ms per article")
    base = rows[0]["index_ms_per_article"]
    axes[0].axhline(1.25 * base, color="grey", linestyle=":", label="goal: +25% over 0 saved searches")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("saved searches (0 drawn at 100)")
    axes[0].legend(fontsize=8)
    axes[1].loglog(sizes[1:], [r["match_ms_per_article_p50"] for r in rows[1:]], "o-", label="matching p50")
    axes[1].loglog(sizes[1:], [r["match_ms_per_article_p99"] for r in rows[1:]], "s--", label="matching p99")
    axes[1].axhline(0.25 * base, color="grey", linestyle=":", label="25% of indexing time")
    axes[1].set_xlabel("saved searches")
    axes[1].set_ylabel("ms per committed article")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quality", help="recall and precision of saved searches on a set with stories.tsv")
    q.add_argument("folder", type=Path)
    q.add_argument("--min-titles", type=int, default=10, help="a name must head at least this many headlines")
    q.add_argument("--names-per-length", type=int, default=60)
    q.add_argument("--out", type=Path, default=Path("benchmarks/results/alerts-quality.json"))
    q.add_argument("--work", type=Path, default=None, help="where the temporary index goes (default: /tmp)")
    s = sub.add_parser("scale", help="indexing with 0 to 100k saved searches")
    s.add_argument("folder", type=Path, help="the articles to index (a BEIR folder)")
    s.add_argument("--queries", type=Path, required=True, help="a BEIR folder whose headlines/sentences are saved")
    s.add_argument("--sizes", type=int, nargs="+", default=[0, 1000, 10000, 100000])
    s.add_argument("--articles", type=int, default=200)
    s.add_argument("--batch", type=int, default=16, help="articles per commit")
    s.add_argument("--rounds", type=int, default=3)
    s.add_argument("--out", type=Path, default=Path("benchmarks/results/alerts-scale.json"))
    s.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    return quality(args) if args.command == "quality" else scale(args)


if __name__ == "__main__":
    sys.exit(main())

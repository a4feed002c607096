"""Arrival order and the online story clusterer: date order against shuffled orders, per variant.

    HF_HUB_OFFLINE=1 PYTHONPATH=. python benchmarks/story_order.py [--sets ecbplus allsides_neus]
        [--variants shipped moves] [--seeds 5] [--out FILE.json]

Issue 25 part 4 asks that the same articles in another arrival order give nearly the same stories (B3 F1 of
5 shuffled orders within .01 of date order). The shipped clusterer (indexer/enrich/stories.py) decides each
article once, greedily: an article that arrives before its own story exists joins the best story there is
(or founds one) and never leaves. This script measures bounded local re-clustering after each add, which
lets early decisions be revised when the articles that should have decided them arrive.

The features are the stored ones of the indexes `newsearch bench stories` builds (real passage vectors, the
stored word sketches; `search.evaluation.story_bench.built_index`, cached under $NEWSEARCH_STORY_CACHE), loaded
once per set; each variant is fed them in date order (the order they were indexed in, undated after) and
in the bench's 5 shuffled orders (numpy seeds 0-4), and scored with B-cubed F1 against the gold stories.

Variants (`VARIANTS`):
- shipped: `StoryClusterer` as it is.
- moves: after the shipped join and merges, the touched neighbourhood (the new article's story and every
  candidate story whose link to it is >= threshold - slack) is re-examined on its members in the new article's
  window: one member at a time (the largest gain first), a member moves to the touched story with the best
  average link to it if that link is >= threshold and beats its own story's (its own excluded), up to
  `rounds` moves. A story a move empties is gone.
- moves+merge: the same, then touched stories whose average link over the local members is >= threshold merge.
- singletons (`-join`, `-skip`): a member alone in its story has no own link; the default `stop` ends the add's
  moves when such a member could join a touched story (as `indexer/enrich/stories.py` does), `join` moves it
  (gain = link - threshold), `skip` leaves it.
- moves-mergemargin: the moves, with the shipped add's bridge merges asking link >= threshold + merge_margin.
- moves+eject: the same moves, and a member whose link to its own story is < threshold - eject and that no
  other story takes founds a story of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indexer.enrich.stories import Assignment, StoryClusterer, StoryFeatures, StoryParams  # noqa: E402
from indexer.store.index_store import IndexStore  # noqa: E402
from search.evaluation.cluster_metrics import all_metrics  # noqa: E402
from search.evaluation.story_bench import SHUFFLES, built_index, read_gold  # noqa: E402

EVAL = Path("/work/shared/eval")


class LocalMoves(StoryClusterer):
    """The shipped clusterer plus a bounded local re-clustering of the touched neighbourhood after each add.

    Every decision depends only on the (article, story) pairs held, so `load()` then `add()` still decides as
    one pass would. Moves are reported through `moved` (rowid, story) of the last add, for a store to persist.
    """

    def __init__(self, params: StoryParams = StoryParams(), slack: float = 0.1,  # noqa: B008 (frozen)
                 margin: float = 0.0, rounds: int = 20, merges: bool = False, eject: float | None = None,
                 merge_margin: float = 0.0, singletons: str = "stop") -> None:
        super().__init__(params)
        self.slack, self.margin, self.rounds, self.merges, self.eject = slack, margin, rounds, merges, eject
        self.merge_margin = merge_margin  # the shipped add's bridge merges need threshold + this
        # A member alone in its story has no own link (-inf), so its gain is infinite: "stop" (the first runs)
        # then ends the round's moves (the infinite gain reads as no gain); "skip" leaves singletons to the
        # merge rule; "join" moves them like anyone else, gain = link - threshold.
        self.singletons = singletons
        self.moved: list[tuple[int, int]] = []  # of the last add: (rowid, story it moved to)
        self.moves = 0  # over the clusterer's life

    def _links(self, f: StoryFeatures) -> dict[int, float]:
        """The shipped add's candidate stories and their average links to `f` (the article counts in df)."""
        p = self.params
        np.add.at(self._df, f.terms.idx, 1)
        self._n += 1
        vector = np.asarray(f.vector, dtype=np.float32)
        slots, blocks = self._window(f.day)
        candidates: list[int] = []
        if len(slots):
            dense = np.concatenate([np.einsum("ij,j->i", b, vector) for b in blocks])
            keep = self._alive[slots] & ~(np.abs(self._day[slots] - f.day) > p.window_days)
            slots, dense = slots[keep], dense[keep]
            if len(slots) > p.candidates:
                top = np.argpartition(-dense, p.candidates - 1)[: p.candidates]
                cut = dense[top].min()
                tied = np.flatnonzero(dense >= cut)
                order = tied[np.lexsort((self._rowid[slots[tied]], -dense[tied]))][: p.candidates]
                slots = slots[order]
            candidates = [int(s) for s in slots]
        stories = sorted({self._story[s] for s in candidates})
        links: dict[int, float] = {}
        if stories:
            scored = {s: self._scored_members(s, f.day) for s in stories}
            sims = self._sim(f.terms, vector, [m for s in stories for m in scored[s]])
            at = 0
            for s in stories:
                k = len(scored[s])
                links[s] = float(sims[at:at + k].mean()) if k else -1.0
                at += k
        self._n -= 1
        np.subtract.at(self._df, f.terms.idx, 1)
        return links

    def add(self, f: StoryFeatures) -> Assignment:
        if f.rowid in self._slot_of:
            self.remove(f.rowid)
        p = self.params
        links = self._links(f)
        best = min(links, key=lambda s: (-links[s], s)) if links else None
        story = f.rowid if best is None or links[best] < p.threshold else best
        slot = self._insert(f, story)
        merged: list[tuple[int, int]] = []
        if p.merge and story != f.rowid:
            for other in sorted((s for s in links if s != best and links[s] >= p.threshold),
                                key=lambda s: (-links[s], s)):
                if (other in self._members and other != story
                        and self._story_link(story, other, f.day) >= p.threshold + self.merge_margin):
                    keep, gone = min(story, other), max(story, other)
                    self._merge(gone, keep)
                    merged.append((gone, keep))
                    story = keep
        touched = {self._story[slot]} | {self._resolve(s, merged) for s, v in links.items()
                                         if v >= p.threshold - self.slack}
        self.moved = []
        if len(touched & self._members.keys()) > 1 or self.eject is not None:
            merged += self._refine(sorted(touched & self._members.keys()), f.day)
        return Assignment(self._story[slot], tuple(merged))

    @staticmethod
    def _resolve(story: int, merged: list[tuple[int, int]]) -> int:
        for gone, keep in merged:
            if story == gone:
                story = keep
        return story

    def _pairwise(self, local: list[int]) -> np.ndarray:
        """sim between every two of `local` (the shipped mix of TF-IDF and dense cosines), one matrix product."""
        lam = self.params.lexical_weight
        vectors = self._vectors(local).astype(np.float64)
        parts = [self._terms[s] for s in local]
        lengths = np.array([len(t.idx) for t in parts])
        lexical = np.zeros((len(local), len(local)))
        if lengths.sum():
            idx = np.concatenate([t.idx for t in parts])
            w = np.concatenate([t.tf for t in parts]).astype(np.float64) * self._idf(idx)
            uniq, col = np.unique(idx, return_inverse=True)
            x = np.zeros((len(local), len(uniq)))
            x[np.repeat(np.arange(len(local)), lengths), col] = w
            norms = np.linalg.norm(x, axis=1)
            x /= np.where(norms > 0, norms, 1.0)[:, None]
            lexical = x @ x.T
        return lam * lexical + (1 - lam) * (vectors @ vectors.T)

    def _refine(self, touched: list[int], day: float) -> list[tuple[int, int]]:
        """Single-member moves (and optional merges/ejects) within the touched stories' local members."""
        p = self.params
        local = sorted({m for s in touched for m in self._scored_members(s, day)}, key=lambda s: int(self._rowid[s]))
        k = len(local)
        if k < 2:
            return []
        sim = self._pairwise(local)
        np.fill_diagonal(sim, 0.0)
        names = sorted({self._story[s] for s in local})
        col = {s: j for j, s in enumerate(names)}
        lab = np.array([col[self._story[s]] for s in local])
        rows = np.arange(k)
        moves: list[tuple[int, int]] = []
        for _ in range(self.rounds):
            onehot = np.zeros((k, len(names)))
            onehot[rows, lab] = 1
            counts = onehot.sum(0)[None, :] - onehot
            with np.errstate(divide="ignore", invalid="ignore"):
                link = np.where(counts > 0, (sim @ onehot) / counts, -np.inf)
            own = link[rows, lab]
            other = link.copy()
            other[rows, lab] = -np.inf
            target = np.argmax(other, axis=1)  # ties: the smaller story id
            best = other[rows, target]
            gain = np.where((best >= p.threshold) & (best > own + self.margin), best - own, -np.inf)
            alone = ~np.isfinite(own)
            if self.singletons == "skip":
                gain[alone] = -np.inf
            elif self.singletons == "join":
                gain[alone] = np.where(best[alone] >= p.threshold, best[alone] - p.threshold, -np.inf)
            if self.eject is not None:
                free = np.array([int(self._rowid[s]) not in self._members and int(self._rowid[s]) not in col
                                 for s in local])
                gain = np.maximum(gain, np.where(np.isfinite(own) & (own < p.threshold - self.eject)
                                                 & (best < p.threshold) & free, p.threshold - own, -np.inf))
            i = int(np.argmax(gain))
            if not np.isfinite(gain[i]):
                break
            if best[i] >= p.threshold and best[i] > own[i] + self.margin:
                lab[i] = target[i]
            else:  # eject: a story of its own, named by its rowid
                names.append(int(self._rowid[local[i]]))
                col[names[-1]] = len(names) - 1
                lab[i] = len(names) - 1
            moves.append((int(self._rowid[local[i]]), names[lab[i]]))
        for rowid, to in moves:
            slot = self._slot_of[rowid]
            old = self._story[slot]
            if old == to:
                continue
            self._members[old].remove(slot)
            if not self._members[old]:
                del self._members[old]
            self._story[slot] = to
            self._members[to] = sorted(self._members.get(to, []) + [slot])
            self.moves += 1
        self.moved = [(rowid, self._story[self._slot_of[rowid]]) for rowid, _ in moves]
        merged: list[tuple[int, int]] = []
        while self.merges:
            onehot = np.zeros((k, len(names)))
            onehot[rows, lab] = 1
            size = onehot.sum(0)
            with np.errstate(divide="ignore", invalid="ignore"):
                pair = (onehot.T @ sim @ onehot) / np.outer(size, size)
            pair[~np.isfinite(pair)] = -np.inf
            np.fill_diagonal(pair, -np.inf)
            a, b = np.unravel_index(int(np.argmax(pair)), pair.shape)
            if pair[a, b] < p.threshold:
                break
            keep, gone = min(names[a], names[b]), max(names[a], names[b])
            if gone in self._members and keep in self._members:
                self._merge(gone, keep)
                merged.append((gone, keep))
            lab[lab == col[gone]] = col[keep]
        return merged


VARIANTS: dict[str, Callable[[], StoryClusterer]] = {
    "shipped": lambda: StoryClusterer(StoryParams()),
    "moves": lambda: LocalMoves(StoryParams(), slack=0.1),
    "moves-slack.05": lambda: LocalMoves(StoryParams(), slack=0.05),
    "moves-slack.15": lambda: LocalMoves(StoryParams(), slack=0.15),
    "moves-margin.01": lambda: LocalMoves(StoryParams(), slack=0.1, margin=0.01),
    "moves+merge": lambda: LocalMoves(StoryParams(), slack=0.1, merges=True),
    "moves+eject.05": lambda: LocalMoves(StoryParams(), slack=0.1, eject=0.05),
    "moves-mergemargin.02": lambda: LocalMoves(StoryParams(), slack=0.1, merge_margin=0.02),
    "moves-mergemargin.05": lambda: LocalMoves(StoryParams(), slack=0.1, merge_margin=0.05),
    "moves-mergemargin.1": lambda: LocalMoves(StoryParams(), slack=0.1, merge_margin=0.1),
    "moves-mergemargin.05-skip": lambda: LocalMoves(StoryParams(), slack=0.1, merge_margin=0.05, singletons="skip"),
    "moves-mergemargin.05-join": lambda: LocalMoves(StoryParams(), slack=0.1, merge_margin=0.05, singletons="join"),
    "moves-mergemargin.02-join": lambda: LocalMoves(StoryParams(), slack=0.1, merge_margin=0.02, singletons="join"),
    "moves-mergemargin.1-join": lambda: LocalMoves(StoryParams(), slack=0.1, merge_margin=0.1, singletons="join"),
    "moves-skip": lambda: LocalMoves(StoryParams(), slack=0.1, singletons="skip"),
    "moves-join": lambda: LocalMoves(StoryParams(), slack=0.1, singletons="join"),
    "mergemargin.05-only": lambda: LocalMoves(StoryParams(), rounds=0, merge_margin=0.05),  # control: no moves
}


def load_set(folder: Path) -> tuple[list[StoryFeatures], list[int], list[str]]:
    """The stored features of a set's bench index in rowid (date) order, the scored rowids, their gold stories."""
    store = IndexStore.open(built_index(folder))
    try:
        with store.snapshot() as snap:
            ids = {rowid: article_id for rowid, article_id, _, _ in snap.story_members()}
            features = [f for f, _ in snap.story_features()]
    finally:
        store.close()
    gold = read_gold(folder / "stories.tsv")
    keys = [f.rowid for f in features if ids[f.rowid] in gold]
    return features, keys, [gold[ids[k]] for k in keys]


def one_pass(make: Callable[[], StoryClusterer], features: list[StoryFeatures]) -> dict[int, int]:
    """rowid -> story after adding `features` in the order given to a fresh clusterer."""
    clusterer = make()
    for f in features:
        clusterer.add(f)
    return clusterer.assignments()


def measure(make: Callable[[], StoryClusterer], features: list[StoryFeatures], keys: list[int], labels: list[str],
            seeds: int = SHUFFLES) -> dict:
    """B3 F1 in date order and in `seeds` shuffled orders (the bench's permutations), seconds per pass."""
    started = time.perf_counter()
    assigned = one_pass(make, features)
    date = all_metrics(labels, [assigned[k] for k in keys])["b3_f1"]
    seconds = time.perf_counter() - started
    shuffled = []
    for seed in range(seeds):
        order = [features[i] for i in np.random.default_rng(seed).permutation(len(features))]
        assigned = one_pass(make, order)
        shuffled.append(all_metrics(labels, [assigned[k] for k in keys])["b3_f1"])
    return {"date": round(date, 4), "shuffled": [round(x, 4) for x in shuffled],
            "shuffled_min": round(min(shuffled), 4), "shuffled_max": round(max(shuffled), 4),
            "gap": round(date - min(shuffled), 4), "seconds_per_pass": round(seconds, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["ecbplus", "allsides_neus"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, default=SHUFFLES)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, dict]] = {}
    for name in args.sets:
        features, keys, labels = load_set(EVAL / name)
        for variant in args.variants:
            r = measure(VARIANTS[variant], features, keys, labels, args.seeds)
            results.setdefault(variant, {})[name] = r
            print(f"{variant:<16} {name:<14} date {r['date']:.4f}  shuffled {r['shuffled_min']:.4f}-"
                  f"{r['shuffled_max']:.4f}  gap {r['gap']:+.4f}  {r['seconds_per_pass']:.1f} s/pass", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

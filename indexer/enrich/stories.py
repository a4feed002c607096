"""Stories: online clustering of articles into news events, one story per event across outlets.

Every article joins a story when it is indexed. The clusterer is pure (numpy, no SQL, no I/O); the store
persists, per article, its story id and the bytes of its lexical sketch (`Terms.to_bytes`), and rebuilds a
clusterer with `load()` (indexer/story_store.py).

The similarity of two articles a, b mixes words and meaning (see `StoryParams.lexical_weight`, lambda):

    sim(a, b) = lambda * cos_tfidf(a, b) + (1 - lambda) * cos_dense(a, b)

- cos_tfidf: cosine of sublinear TF-IDF vectors, w_t = (1 + ln tf_t) * idf_t with scikit-learn's smooth
  idf_t = ln((1 + N) / (1 + df_t)) + 1, where N and df_t count the articles the clusterer holds (kept up to
  date on every add and remove; the article being added counts). Words carry what tells two events of one
  topic apart: names, places, numbers (two earthquakes in one region; two rehab stays of one actress).
- cos_dense: cosine of the article vectors (mean of the stored passage vectors, see `article_features`),
  which carries paraphrase and cross-outlet wording the words miss.

Assignment is online average-link agglomeration (the batch baseline's criterion, applied as articles
arrive): within the time window |day_a - day_m| <= window_days (an undated article can be of any day, so it
is in every window: measured on ECB+, where a fifth of the articles open with a dateline, giving undated
articles the index time instead split every story that mixes dated and undated coverage), the link of
article a to story S is the mean of sim(a, m) over S's members m in the window. a joins the story with the
highest link if it is >= threshold (ties: the older, i.e. smaller, story id), otherwise it founds a story
whose id is its own rowid. Then a may have bridged two stories: every other candidate story T with link(a, T)
>= threshold is merged into a's story S if the average link over all member pairs, mean_{s in S, t in T}
sim(s, t), is >= threshold + merge_margin -- the merge criterion of average-link agglomerative clustering, a
little stricter. Only such T need checking: link(S + a, T) is the size-weighted mean of link(S, T) (<
threshold, or they would have merged) and link(a, T). The older id survives a merge and the merge is reported.

Last, local moves (`StoryParams.move_slack`): the stories the add touched are re-examined on their in-window
members, and a member moves to the touched story whose average link to it is best, passes the threshold and
beats its own story's, largest gain first, at most `max_moves` (an article that came before its own story
existed joined the best story there was; now it can leave). Moves are what make the stories depend little on
arrival order: on allsides_neus 5 shuffled orders lie within .003 of date order and on ECB+ none below it,
where a clusterer deciding each article once lost up to .022 and .014 (benchmarks/README.md, "Arrival order").
A story keeps its id with the members that stay; a moved article takes the id of the story it joins
(`Assignment.moved`).

Candidates come from the dense vectors: the `candidates` nearest articles in the window (ties by rowid);
their stories are scored on up to `max_members` in-window members each (nearest in time first, then
newest rowid). That bounds the work per add whatever the index size.

Incremental behaves like batch: every decision depends only on the set of (article, story) pairs held,
not on how they got there, so `load()` of the stored pairs followed by `add()` decides exactly what a
clusterer that never restarted would have.
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

HASH_BITS = 22  # 4M buckets: two of an article's ~300 words share a bucket with probability ~1e-4
_HASH_MASK = (1 << HASH_BITS) - 1
_WORD = re.compile(r"[^\W_]+")
# English function words (a subset of scikit-learn's list): they say nothing about which event it is.
_STOP_TEXT = """
a about above after again against all almost also although am among an and another any anyone are around as
at be became because been before being below between both but by can cannot could did do does doing done down
during each either else ever every few for from further get got had has have having he her here hers herself
him himself his how however i if in into is it its itself just least less many may me might more most much
must my myself neither no nor not now of off often on once one only or other others otherwise our ours
ourselves out over own per perhaps rather s same say says said she should since so some still such t than that
the their theirs them themselves then there therefore these they this those though through thus to too under
until up upon us very via was we well were what whatever when whenever where whether which while who whoever
whole whom whose why will with within without would yet you your yours yourself yourselves
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())


@dataclass(frozen=True)
class Terms:
    """A lexical sketch: hashed word buckets (sorted, distinct, uint32) and their sublinear counts 1 + ln tf."""

    idx: np.ndarray
    tf: np.ndarray

    def to_bytes(self) -> bytes:
        """little-endian: uint32 n, n uint32 buckets, n float32 weights."""
        return (struct.pack("<I", len(self.idx)) + self.idx.astype("<u4").tobytes()
                + self.tf.astype("<f4").tobytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> Terms:
        (n,) = struct.unpack_from("<I", data)
        if len(data) != 4 + 8 * n:
            raise ValueError(f"a Terms sketch of {n} entries is {4 + 8 * n} bytes, not {len(data)}")
        idx = np.frombuffer(data, dtype="<u4", count=n, offset=4).astype(np.int64)
        tf = np.frombuffer(data, dtype="<f4", count=n, offset=4 + 4 * n).astype(np.float32)
        return cls(idx, tf)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Terms) and np.array_equal(self.idx, other.idx)
                and np.array_equal(self.tf, other.tf))

    __hash__ = None  # type: ignore[assignment]


def terms_of(title: str, text: str, title_repeat: int = 1) -> Terms:
    """The sketch of an article: lower-cased letter/digit runs, stop words and 1-letter words dropped,
    hashed with CRC-32 (stable across processes, unlike `hash`) into 2^HASH_BITS buckets. The title's words
    count `title_repeat` extra times (0: the title counts like body text)."""
    words = _WORD.findall((f"{title}\n" * (1 + title_repeat) + text).lower())
    counts = Counter(zlib.crc32(w.encode("utf-8")) & _HASH_MASK for w in words
                     if w not in STOP_WORDS and (len(w) > 1 or w.isdigit()))
    if not counts:
        return Terms(np.zeros(0, np.int64), np.zeros(0, np.float32))
    idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
    order = np.argsort(idx)
    return Terms(idx[order], tf[order].astype(np.float32))


@dataclass(frozen=True)
class StoryFeatures:
    """What the clusterer knows of one article; all derivable from what the index stores."""

    rowid: int  # the article's rowid: increases with insertion, never reused
    day: float  # days since 1970-01-01 of its published date; of its index time when undated
    vector: np.ndarray  # unit float32: the mean of its passage vectors, renormalised (see article_features)
    terms: Terms


def article_vector(passage_vectors: np.ndarray) -> np.ndarray:
    """An article's vector: the renormalised mean of its passage vectors, v = sum_p v_p / ||sum_p v_p||.

    Every passage is embedded with the title in front ("title. passage", indexer.pipeline.embedding_text),
    so the title is already in each, and the mean adds what the whole body says (the first passage alone
    scored no better on the story benchmarks). No passages: a zero vector (it adds nothing to a cosine).
    """
    vectors = np.atleast_2d(np.asarray(passage_vectors, dtype=np.float32))
    total = vectors.sum(axis=0, dtype=np.float64)
    norm = float(np.linalg.norm(total))
    return (total / norm if norm > 0 else total).astype(np.float32)


def article_features(rowid: int, day: float, title: str, text: str, passage_vectors: np.ndarray,
                     title_repeat: int = 1) -> StoryFeatures:
    """An article's features from its stored passage vectors (`article_vector`) and its words."""
    return StoryFeatures(int(rowid), float(day), article_vector(passage_vectors), terms_of(title, text, title_repeat))


UNDATED = math.nan  # the day of an article whose date is unknown


def day_number(published: str) -> float:
    """Days since the epoch of an ISO date or datetime; UNDATED (NaN) when there is none or it does not read."""
    if not published:
        return UNDATED
    try:
        stamp = datetime.fromisoformat(published.replace("Z", "+00:00"))
    except ValueError:
        return UNDATED
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp() / 86400.0


def _distance(a: float, b: float) -> float:
    """Days between two article days; 0 when either is undated (it could be any day)."""
    gap = abs(a - b)
    return 0.0 if math.isnan(gap) else gap


@dataclass(frozen=True)
class StoryParams:
    """The clusterer's settings; the defaults are the benchmark's choice (search/story_bench.py)."""

    threshold: float = 0.35  # minimum average-link similarity to join (or merge) a story
    window_days: float = 3.0  # only articles within this many days of each other are compared
    lexical_weight: float = 0.7  # lambda in sim = lambda * cos_tfidf + (1 - lambda) * cos_dense
    candidates: int = 64  # nearest in-window articles (dense) whose stories are scored
    max_members: int = 64  # in-window members a story is scored on, nearest in time first
    merge: bool = True  # merge two stories an article bridges, if their average link passes the threshold
    # Local moves (off: None). After each add, the touched stories (the article's and every candidate story
    # linked to it >= threshold - move_slack) are re-examined on their in-window members, and a member moves to
    # the touched story with the best average link to it when that link passes the threshold and beats its own
    # story's: an early article that joined the best story there was leaves it when its own story arrives, so
    # the stories depend far less on arrival order (benchmarks/story_order.py, benchmarks/README.md).
    move_slack: float | None = 0.1
    max_moves: int = 20  # moves per add, at most (bounds the work)
    # A bridge merge asks an average link >= threshold + merge_margin: with moves, stricter merges gave
    # allsides_neus its best F1 (.05 and .1 level, .02 below; the smaller of the best is the default).
    merge_margin: float = 0.05

    @classmethod
    def recorded(cls, settings: dict) -> StoryParams:
        """The settings an index recorded in its manifest. A setting it lacks came after the index was built,
        so it takes the value that decides as that index always did (`BEFORE_MOVES`); `stories rebuild
        --defaults` adopts the current defaults."""
        return cls(**{**BEFORE_MOVES, **settings})


# Indexes built before local moves recorded no move_slack or merge_margin: they cluster without them.
BEFORE_MOVES = {"move_slack": None, "merge_margin": 0.0}


@dataclass(frozen=True)
class Assignment:
    story: int  # the story the article is in after the add (after any merge)
    merged: tuple[tuple[int, int], ...] = ()  # (absorbed id, surviving id), in the order they happened
    # (rowid, story) of each other held article that a local move took to another story: its story after this
    # add. A store applies the merges first (they relabel whole stories), then these rows.
    moved: tuple[tuple[int, int], ...] = ()


@dataclass
class _Bucket:
    """The articles of one day (floor(day)): their slots and vectors, contiguous for one matrix product."""

    slots: np.ndarray = field(default_factory=lambda: np.zeros(8, dtype=np.int64))
    matrix: np.ndarray | None = None
    rows: int = 0

    def append(self, slot: int, vector: np.ndarray) -> int:
        if self.matrix is None:
            self.matrix = np.zeros((len(self.slots), len(vector)), dtype=np.float32)
        elif self.rows == len(self.matrix):
            self.matrix = np.concatenate([self.matrix, np.zeros_like(self.matrix)])
            self.slots = np.concatenate([self.slots, np.zeros_like(self.slots)])
        self.matrix[self.rows] = vector
        self.slots[self.rows] = slot
        self.rows += 1
        return self.rows - 1


class StoryClusterer:
    """Online story clustering over article features (see the module docstring for the rules)."""

    def __init__(self, params: StoryParams = StoryParams()) -> None:  # noqa: B008 (frozen, immutable)
        self.params = params
        self._slot_of: dict[int, int] = {}  # rowid -> slot; slots are never reused within one process
        self._used = 0  # slots handed out
        self._rowid = np.zeros(1024, dtype=np.int64)  # per slot, numpy so a window is scanned without loops
        self._day = np.zeros(1024, dtype=np.float64)
        self._alive = np.zeros(1024, dtype=bool)
        self._story: list[int] = []
        self._where: list[tuple[int, int]] = []  # slot -> (bucket key, row)
        self._terms: list[Terms] = []
        self._buckets: dict[int, _Bucket] = {}
        self._members: dict[int, list[int]] = {}  # story id -> member slots, in insertion order
        self._df = np.zeros(1 << HASH_BITS, dtype=np.int32)
        self._n = 0

    # --- state -------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._n

    def story_of(self, rowid: int) -> int | None:
        slot = self._slot_of.get(rowid)
        return None if slot is None else self._story[slot]

    def stories(self) -> dict[int, list[int]]:
        """story id -> member rowids (ascending)."""
        return {s: sorted(int(self._rowid[m]) for m in members) for s, members in self._members.items()}

    def assignments(self) -> dict[int, int]:
        """rowid -> story id for every article held."""
        return {rowid: self._story[slot] for rowid, slot in self._slot_of.items()}

    def load(self, members: Iterable[tuple[StoryFeatures, int]]) -> None:
        """Add stored (features, story id) pairs as they are, without clustering: the state after a restart.

        Loading into a clusterer that already holds articles adds to it (a rowid it holds is replaced)."""
        for features, story in members:
            if features.rowid in self._slot_of:
                self.remove(features.rowid)
            self._insert(features, int(story))

    def _insert(self, f: StoryFeatures, story: int) -> int:
        slot = self._used
        if slot == len(self._rowid):
            self._rowid, self._day, self._alive = (np.concatenate([a, np.zeros_like(a)])
                                                   for a in (self._rowid, self._day, self._alive))
        self._used += 1
        key = None if math.isnan(f.day) else math.floor(f.day)
        bucket = self._buckets.setdefault(key, _Bucket())
        row = bucket.append(slot, np.asarray(f.vector, dtype=np.float32))
        self._slot_of[f.rowid] = slot
        self._rowid[slot] = f.rowid
        self._day[slot] = f.day
        self._alive[slot] = True
        self._story.append(story)
        self._where.append((key, row))
        self._terms.append(f.terms)
        self._members.setdefault(story, []).append(slot)
        np.add.at(self._df, f.terms.idx, 1)
        self._n += 1
        return slot

    def remove(self, rowid: int) -> None:
        """Forget an article (deleted, or about to be re-added as an update). Its story keeps its id and
        its other members; a story left empty is gone. A story is not split when a member that bridged
        two groups leaves: stories only grow and merge."""
        slot = self._slot_of.pop(rowid, None)
        if slot is None:
            return
        self._alive[slot] = False
        np.subtract.at(self._df, self._terms[slot].idx, 1)
        self._n -= 1
        story = self._story[slot]
        members = self._members[story]
        members.remove(slot)
        if not members:
            del self._members[story]
        self._terms[slot] = Terms(np.zeros(0, np.int64), np.zeros(0, np.float32))  # free the memory

    # --- similarity ------------------------------------------------------------------------------------

    def _idf(self, idx: np.ndarray) -> np.ndarray:
        n = self._n
        return (np.log((1.0 + n) / (1.0 + self._df[idx])) + 1.0).astype(np.float32)

    def _lexical(self, query: Terms, slots: list[int]) -> np.ndarray:
        """cos_tfidf(query, each slot), vectorised: the candidates' buckets are looked up in the query's
        sorted buckets with one searchsorted."""
        out = np.zeros(len(slots), dtype=np.float64)
        if not len(query.idx) or not slots:
            return out
        qw = query.tf * self._idf(query.idx)
        qnorm = float(np.sqrt(np.dot(qw, qw)))
        parts = [self._terms[s] for s in slots]
        lengths = np.fromiter((len(t.idx) for t in parts), dtype=np.int64, count=len(parts))
        if not lengths.sum():
            return out
        idx = np.concatenate([t.idx for t in parts])
        w = np.concatenate([t.tf for t in parts]) * self._idf(idx)
        owner = np.repeat(np.arange(len(parts)), lengths)
        norms = np.sqrt(np.bincount(owner, weights=w.astype(np.float64) ** 2, minlength=len(parts)))
        at = np.minimum(np.searchsorted(query.idx, idx), len(query.idx) - 1)
        hit = query.idx[at] == idx
        dots = np.bincount(owner[hit], weights=(w[hit] * qw[at[hit]]).astype(np.float64), minlength=len(parts))
        np.divide(dots, norms * qnorm, out=out, where=norms > 0)
        return out

    def _vectors(self, slots: list[int]) -> np.ndarray:
        return np.stack([self._buckets[k].matrix[r] for k, r in (self._where[s] for s in slots)])

    def _sim(self, query: Terms, vector: np.ndarray, slots: list[int]) -> np.ndarray:
        lam = self.params.lexical_weight
        dense = np.einsum("ij,j->i", self._vectors(slots), vector) if slots else np.zeros(0)
        return lam * self._lexical(query, slots) + (1.0 - lam) * dense

    def _window(self, day: float) -> tuple[np.ndarray, list[np.ndarray]]:
        """The slots of the day buckets the window of `day` touches, and those buckets' vector blocks in
        the same order (the caller multiplies, then drops dead slots and those outside the exact window)."""
        w = self.params.window_days
        slots, blocks = [], []
        # An undated article can be of any day, so it is compared with all; the undated (key None) are
        # compared with every dated one.
        keys = list(self._buckets) if math.isnan(day) else [None, *range(math.floor(day - w), math.floor(day + w) + 1)]
        for key in keys:
            bucket = self._buckets.get(key)
            if bucket is not None and bucket.rows:
                slots.append(bucket.slots[: bucket.rows])
                blocks.append(bucket.matrix[: bucket.rows])
        if not slots:
            return np.zeros(0, np.int64), []
        return np.concatenate(slots), blocks

    def _in_window(self, day: float, slots: Iterable[int]) -> list[int]:
        w = self.params.window_days
        return [s for s in slots if not abs(self._day[s] - day) > w]  # NaN (undated) on either side: in

    def _scored_members(self, story: int, day: float) -> list[int]:
        """The members a story is scored on for an article of `day`; none when the article is dated and the
        story has dated members but none in the window (its undated members must not carry it across time)."""
        members = self._in_window(day, self._members[story])
        if (not math.isnan(day) and all(math.isnan(self._day[m]) for m in members)
                and not np.isnan(self._day[self._members[story]]).all()):
            return []
        if len(members) > self.params.max_members:
            members.sort(key=lambda s: (_distance(float(self._day[s]), day), -int(self._rowid[s])))
            members = members[: self.params.max_members]
        return members

    # --- the online step -------------------------------------------------------------------------------

    def add(self, f: StoryFeatures) -> Assignment:
        """Assign an article to a story (existing or new) and report merges. A rowid already held is
        replaced (an update: remove + add)."""
        if f.rowid in self._slot_of:
            self.remove(f.rowid)
        p = self.params
        # The article counts in N and df before it is compared, as in a batch TF-IDF over all articles.
        np.add.at(self._df, f.terms.idx, 1)
        self._n += 1
        vector = np.asarray(f.vector, dtype=np.float32)
        slots, blocks = self._window(f.day)
        candidates: list[int] = []
        if len(slots):
            # einsum, not BLAS: a matrix-vector product gains nothing from threads, and OpenBLAS threads
            # on busy cores made it ~100x slower (measured: 150 ms instead of 1.3 ms for 21k x 384)
            dense = np.concatenate([np.einsum("ij,j->i", b, vector) for b in blocks])
            keep = self._alive[slots] & ~(np.abs(self._day[slots] - f.day) > p.window_days)  # NaN: in
            slots, dense = slots[keep], dense[keep]
            if len(slots) > p.candidates:
                top = np.argpartition(-dense, p.candidates - 1)[: p.candidates]
                cut = dense[top].min()  # everything tied with the last one competes on rowid
                tied = np.flatnonzero(dense >= cut)
                order = tied[np.lexsort((self._rowid[slots[tied]], -dense[tied]))][: p.candidates]
                slots = slots[order]
            candidates = [int(s) for s in slots]
        stories = sorted({self._story[s] for s in candidates})
        links: dict[int, float] = {}
        if stories:
            scored = {s: self._scored_members(s, f.day) for s in stories}
            flat = [m for s in stories for m in scored[s]]
            sims = self._sim(f.terms, vector, flat)
            at = 0
            for s in stories:
                k = len(scored[s])
                links[s] = float(sims[at:at + k].mean()) if k else -1.0
                at += k
        self._n -= 1
        np.subtract.at(self._df, f.terms.idx, 1)

        best = min(links, key=lambda s: (-links[s], s)) if links else None
        founds = best is None or links[best] < p.threshold
        story = f.rowid if founds else best
        self._insert(f, story)
        merged: list[tuple[int, int]] = []
        if p.merge and not founds:
            for other in sorted((s for s in links if s != best and links[s] >= p.threshold),
                                key=lambda s: (-links[s], s)):
                if other not in self._members or other == story:
                    continue
                if self._story_link(story, other, f.day) >= p.threshold + p.merge_margin:
                    keep, gone = min(story, other), max(story, other)
                    self._merge(gone, keep)
                    merged.append((gone, keep))
                    story = keep
        if p.move_slack is None:
            return Assignment(story, tuple(merged))
        touched = {story} | {_followed(s, merged) for s, link in links.items() if link >= p.threshold - p.move_slack}
        touched &= self._members.keys()
        moved: list[int] = []
        if len(touched) > 1:
            moved = self._move(sorted(touched), f.day, merged)
        slot = self._slot_of[f.rowid]
        return Assignment(self._story[slot], tuple(merged),
                          tuple((r, self._story[self._slot_of[r]]) for r in moved if r != f.rowid))

    def _pairwise(self, slots: list[int]) -> np.ndarray:
        """sim between every two of `slots`, in one matrix product (their word buckets mapped to columns)."""
        lam = self.params.lexical_weight
        vectors = self._vectors(slots).astype(np.float64)
        parts = [self._terms[s] for s in slots]
        lengths = np.fromiter((len(t.idx) for t in parts), dtype=np.int64, count=len(parts))
        lexical = np.zeros((len(slots), len(slots)))
        if lengths.sum():
            idx = np.concatenate([t.idx for t in parts])
            w = np.concatenate([t.tf for t in parts]).astype(np.float64) * self._idf(idx)
            columns, col = np.unique(idx, return_inverse=True)
            x = np.zeros((len(slots), len(columns)))
            x[np.repeat(np.arange(len(slots)), lengths), col] = w
            norms = np.linalg.norm(x, axis=1)
            x /= np.where(norms > 0, norms, 1.0)[:, None]
            lexical = x @ x.T
        return lam * lexical + (1 - lam) * (vectors @ vectors.T)

    def _move(self, touched: list[int], day: float, merged: list[tuple[int, int]]) -> list[int]:
        """Single-member moves among the touched stories' members in the window of `day`, the largest gain
        first (ties: the older article, then the older story), at most `max_moves`; the rowids moved.

        Ids: a story is never split into two ids; its id stays with the members that did not move (an alert
        following it follows them) and a moved article takes the id of the story it joins. Since a member
        alone stops the moves, a move never empties a story; were one emptied, it is reported as absorbed by
        the story its last member joined (appended to `merged`, so a store records it and the id resolves)."""
        p = self.params
        local = sorted({m for s in touched for m in self._scored_members(s, day)}, key=lambda s: int(self._rowid[s]))
        k = len(local)
        if k < 2:
            return []
        sim = self._pairwise(local)
        np.fill_diagonal(sim, 0.0)
        names = sorted({self._story[s] for s in local})
        label = np.array([names.index(self._story[s]) for s in local])
        rows = np.arange(k)
        moves: list[tuple[int, int]] = []
        for _ in range(p.max_moves):
            onehot = np.zeros((k, len(names)))
            onehot[rows, label] = 1.0
            counts = onehot.sum(axis=0)[None, :] - onehot  # a member's own story counts without it
            with np.errstate(divide="ignore", invalid="ignore"):
                link = np.where(counts > 0, (sim @ onehot) / counts, -np.inf)
            own = link[rows, label]
            link[rows, label] = -np.inf
            target = np.argmax(link, axis=1)  # ties: the first column, the older story
            best = link[rows, target]
            if np.any(~np.isfinite(own) & (best >= p.threshold)):
                # A member alone here (no own link) that could join a touched story: the moves stop and leave
                # it to the next adds. Moving it like any other member instead (gain = link - threshold)
                # measured worse on allsides_neus: shuffled orders .7525-.7549 against .7563-.7603.
                break
            gain = np.where((best >= p.threshold) & (best > own), best - own, -np.inf)
            i = int(np.argmax(gain))  # ties: the older article
            if not np.isfinite(gain[i]):
                break
            label[i] = target[i]
            moves.append((local[i], names[target[i]]))
        for slot, to in moves:
            to = _followed(to, merged)
            old = self._story[slot]
            if old == to:
                continue
            self._members[old].remove(slot)
            self._story[slot] = to
            self._members[to] = sorted([*self._members[to], slot])
            if not self._members[old]:  # emptied: its id now leads where its last member went
                del self._members[old]
                merged.append((old, to))
        return sorted({int(self._rowid[slot]) for slot, _ in moves})

    def _story_link(self, a: int, b: int, day: float) -> float:
        """Average link between two stories: mean of sim over all pairs of their in-window members."""
        left, right = self._scored_members(a, day), self._scored_members(b, day)
        if not left or not right:
            return -1.0
        lam = self.params.lexical_weight
        right_vectors = self._vectors(right)
        total = 0.0
        for s in left:
            lexical = self._lexical(self._terms[s], right)
            dense = np.einsum("ij,j->i", right_vectors, self._vectors([s])[0])
            total += float(np.sum(lam * lexical + (1 - lam) * dense))
        return total / (len(left) * len(right))

    def _merge(self, gone: int, keep: int) -> None:
        for slot in self._members[gone]:
            self._story[slot] = keep
        self._members[keep] = sorted(self._members[keep] + self._members.pop(gone))


def _followed(story: int, merged: list[tuple[int, int]]) -> int:
    """Where the merges so far (in order) took a story id."""
    for gone, keep in merged:
        if story == gone:
            story = keep
    return story

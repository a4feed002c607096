"""The feed watcher: poll feeds politely, index what is new or changed, keep per-feed health in the index.

A round polls every feed that is due (a thread pool fetches; the calling thread embeds and commits). Each
feed's articles commit in one `Indexer.write` together with that feed's state (validators, the entries
seen with their fingerprints), so a crash at any moment leaves each feed either before or after its
commit, and the next round redoes only what was not committed. Feeds that brought nothing new (304, or
only unchanged entries) have their state saved in the round's last commit: losing that to a crash costs
one full feed download, never a page fetch or an embedding.

Fetching holds no lock: feed states are read without it, and the index's writer lock is taken around
each commit only, so `newsearch index` and API writes (`serve --watch`) wait for one commit at most, never
for a round of downloads. A second watcher on the same index is refused (`watch.lock`) before it fetches.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from indexer.crawl.articles import FEED_ACCEPT, MAX_FEED_BYTES, MAX_PAGE_BYTES, entry_article
from indexer.crawl.feeds import FeedSpec, parse_feeds_file, parse_interval
from indexer.crawl.fetch import Fetcher, Limits
from indexer.errors import IndexLocked
from indexer.sources.article import Article
from indexer.sources.feed import parse_feed
from indexer.sources.readers import MAX_ARTICLE_CHARS

log = logging.getLogger("newsearch.watch")

DEFAULT_INTERVAL = 15 * 60.0
STATE_PREFIX = "feed:"
PAGE_RETRIES = 3  # a page that fails transiently is tried again on this many later rounds, then given up


@dataclass
class WatchLimits(Limits):
    """Fetch limits plus the watcher's own: feed and page sizes, threads, checkpoints."""

    max_feed_bytes: int = MAX_FEED_BYTES
    max_page_bytes: int = MAX_PAGE_BYTES
    workers: int = 8
    checkpoint_every: float = 300.0  # seconds between FAISS checkpoints (and one on exit)
    lock_poll: float = 0.5  # while another writer holds the index, try again this often


# -- per-feed state, stored in the index -----------------------------------------------------------
@dataclass
class FeedState:
    """What the watcher remembers about a feed: saved as JSON under `feed:<url>` in the index's state."""

    url: str
    source: str = ""
    location: str = ""  # where the feed lives now, after a permanent redirect ('' : at `url`)
    etag: str = ""
    last_modified: str = ""
    last_success: float = 0.0  # epoch seconds
    last_attempt: float = 0.0
    last_error: str = ""
    consecutive_errors: int = 0
    items_seen: int = 0
    retry_at: float = 0.0  # a Retry-After: no request before this
    entries: dict[str, str] = field(default_factory=dict)  # entry key -> fingerprint ('~n': page tried n times)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, url: str, text: str | None) -> FeedState:
        """The stored state, or a fresh one when there is none or it cannot be read."""
        try:
            data = json.loads(text) if text else {}
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "url"}
            state = cls(url=url, **known)
            state.entries = {str(k): str(v) for k, v in dict(state.entries).items()}
            return state
        except (TypeError, ValueError, AttributeError):
            return cls(url=url)


def state_key(url: str) -> str:
    return STATE_PREFIX + url


@dataclass
class FeedResult:
    """One feed in one round."""

    url: str
    status: str  # "ok", "not-modified", "error", "deferred" (waiting out a Retry-After), "stopped"
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    pages: int = 0
    error: str = ""
    problems: list[str] = field(default_factory=list)  # per-entry trouble that did not fail the feed

    @property
    def failed(self) -> bool:
        return self.status == "error"


@dataclass
class WatchReport:
    """What the watcher did: totals over all rounds, and the feeds of the last round."""

    rounds: int = 0
    indexed: int = 0
    unchanged: int = 0
    passages: int = 0
    feeds: list[FeedResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(f.failed for f in self.feeds)

    def summary(self) -> str:
        failed = [f for f in self.feeds if f.failed]
        counts = {s: sum(f.status == s for f in self.feeds) for s in ("ok", "not-modified", "deferred")}
        return (f"{self.rounds} round(s): indexed {self.indexed} articles ({self.passages} passages), "
                f"{self.unchanged} unchanged; last round: {counts['ok']} feeds fetched, {counts['not-modified']} "
                f"not modified, {counts['deferred']} deferred, {len(failed)} failed in {self.seconds:.1f}s")


# -- one feed ---------------------------------------------------------------------------------------
def poll_feed(spec: FeedSpec, state: FeedState, fetcher: Fetcher, limits: WatchLimits,
              max_chars: int = MAX_ARTICLE_CHARS) -> tuple[FeedResult, FeedState, list[Article]]:
    """Fetch one feed and the pages of its new or changed entries: the result, the state to commit and
    the articles to commit with it. Never raises for the network or the feed's content."""
    now = time.time()
    state = replace(state, entries=dict(state.entries), source=spec.source or state.source)
    if state.retry_at > now:
        return FeedResult(spec.url, "deferred", error=f"waiting until {_iso(state.retry_at)} (Retry-After)"), \
            state, []
    state.last_attempt = now
    response = fetcher.get(state.location or spec.url, state.etag, state.last_modified, accept=FEED_ACCEPT,
                           max_bytes=limits.max_feed_bytes)
    if response.retry_at:
        state.retry_at = response.retry_at
    if response.error:
        if fetcher.stop.is_set():
            return FeedResult(spec.url, "stopped"), state, []
        return _failed(spec, state, response.error), state, []
    if response.moved_to:
        state.location = response.moved_to
    if response.not_modified:
        return _succeeded(FeedResult(spec.url, "not-modified"), state), state, []
    feed = parse_feed(response.body, response.final_url)
    if feed.problem and not feed.entries:
        return _failed(spec, state, feed.problem), state, []
    result = FeedResult(spec.url, "ok")
    state.source = spec.source or feed.title or state.source
    articles, entries = [], {}
    for entry in feed.entries:
        if fetcher.stop.is_set():
            return FeedResult(spec.url, "stopped"), state, []
        fingerprint, seen = entry.fingerprint(), state.entries.get(entry.key, "")
        tries = int(seen.split("~", 1)[1]) if seen.startswith(fingerprint + "~") else 0
        if seen == fingerprint or tries >= PAGE_RETRIES:
            entries[entry.key] = seen
            result.unchanged += 1
            continue
        article, trouble, transient, fetched = entry_article(entry, feed, spec, fetcher, limits.max_page_bytes,
                                                             max_chars)
        result.pages += fetched
        if trouble:
            result.problems.append(trouble)
        if isinstance(article, Article):
            articles.append(article)
            if seen:
                result.updated += 1
            else:
                result.new += 1
        entries[entry.key] = f"{fingerprint}~{tries + 1}" if transient else fingerprint
    state.items_seen += sum(key not in state.entries for key in entries)
    state.entries = entries
    if feed.problem:  # malformed but partly readable: index what was recovered, report the feed as failing
        failed = _failed(spec, state, feed.problem)
        failed.new, failed.updated, failed.unchanged, failed.pages, failed.problems = (
            result.new, result.updated, result.unchanged, result.pages, result.problems)
        state.etag = state.last_modified = ""  # fetch it whole again next time, so the error stays visible
        return failed, state, articles
    state.etag, state.last_modified = response.etag, response.last_modified
    return _succeeded(result, state), state, articles


def _failed(spec: FeedSpec, state: FeedState, error: str) -> FeedResult:
    state.last_error = error[:500]
    state.consecutive_errors += 1
    return FeedResult(spec.url, "error", error=error)


def _succeeded(result: FeedResult, state: FeedState) -> FeedResult:
    state.last_success = state.last_attempt
    state.last_error, state.consecutive_errors, state.retry_at = "", 0, 0.0
    return result


def _iso(epoch: float) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if epoch else None


# -- the watcher ------------------------------------------------------------------------------------
class Watcher:
    """Rounds of polling over one FEEDS file into one index."""

    def __init__(self, feeds_file: Path, index_dir: Path, *, interval: float | None = None,
                 allow_private: bool = False, embedder=None, progress: bool = False,
                 limits: WatchLimits | None = None, stop: threading.Event | None = None,
                 on_commit: Callable[[FeedResult, int], None] | None = None, contact: str | None = None) -> None:
        self.feeds_file, self.index_dir = Path(feeds_file), Path(index_dir)
        self.interval = interval or DEFAULT_INTERVAL
        self.limits = limits or WatchLimits()
        self.stop = stop or threading.Event()
        self.embedder = embedder
        self.models: dict = {}  # the index's models, by name, once a commit has loaded them
        self.progress = progress
        self.on_commit = on_commit
        self.specs = parse_feeds_file(self.feeds_file)  # a broken FEEDS file fails at once, with its line
        self.fetcher = Fetcher(self.limits, allow_private=allow_private, stop=self.stop, contact=contact)
        self.report = WatchReport()
        self._watch_lock = None
        self._last_checkpoint = time.monotonic()

    def close(self) -> None:
        self.fetcher.close()
        if self._watch_lock is not None:
            self._watch_lock.close()
            self._watch_lock = None

    def run(self, once: bool = False) -> WatchReport:
        """Poll until stopped (or one round with `once`), sleeping until the next feed is due."""
        started = time.perf_counter()
        try:
            while not self.stop.is_set():
                self._reload()
                due = self.specs if once else self._due()
                if due:
                    self.round(due, final=once)
                    self.report.rounds += 1
                if once:
                    break
                self.stop.wait(max(0.05, min(self._next_due() - time.time(), 60.0)))
            if not once and self.report.rounds:
                self._with_indexer(lambda indexer: indexer.store.checkpoint())  # on exit: save FAISS
        finally:
            self.report.seconds = time.perf_counter() - started
        return self.report

    def _reload(self) -> None:
        """Re-read the FEEDS file each round: feeds can be added or removed without a restart."""
        try:
            self.specs = parse_feeds_file(self.feeds_file)
        except ValueError as exc:
            log.warning("keeping the previous feed list: %s", exc)

    def _states(self, specs: list[FeedSpec]) -> dict[str, FeedState]:
        """The stored state of each of `specs`, read without the writer lock: this watcher is the only
        writer of feed states (`watch.lock`), and a reader sees whole commits."""
        raw = _stored_states(self.index_dir)
        return {s.url: FeedState.from_json(s.url, raw.get(state_key(s.url))) for s in specs}

    def _interval(self, spec: FeedSpec) -> float:
        return spec.interval or self.interval

    def _due(self) -> list[FeedSpec]:
        states, now = self._states(self.specs), time.time()
        return [s for s in self.specs if (st := states.get(s.url)) is None or
                max(st.last_attempt + self._interval(s), st.retry_at) <= now]

    def _next_due(self) -> float:
        states = self._states(self.specs)
        times = [max(st.last_attempt + self._interval(s), st.retry_at) if (st := states.get(s.url)) else 0.0
                 for s in self.specs]
        return min(times, default=time.time() + self.interval)

    @contextmanager
    def _indexer(self) -> Iterator:
        """The writer for one commit (or checkpoint): waits, stoppably, while another writer holds the index,
        and raises `IndexLocked` when stopped while waiting. The model outlives it (kept across commits)."""
        from indexer.pipeline import IndexConfig, Indexer
        from indexer.store.index_store import MANIFEST, Manifest

        config = None
        if self.embedder is None and (self.index_dir / MANIFEST).exists():
            manifest = Manifest.read(self.index_dir)
            config = IndexConfig(model=manifest.model, encoder=manifest.encoder)
        while True:
            try:
                indexer = Indexer(self.index_dir, config, embedder=self.embedder, embedders=self.models)
                break
            except IndexLocked:
                if self.stop.wait(self.limits.lock_poll):
                    raise
        try:
            yield indexer
        finally:
            self.models.update(indexer.loaded)  # keep the models loaded across commits and rounds
            indexer.close()

    def _with_indexer(self, action: Callable) -> None:
        try:
            with self._indexer() as indexer:
                action(indexer)
        except IndexLocked:
            pass  # stopped while waiting for another writer

    def _take_watch_lock(self) -> None:
        """One watcher per index: a second one is refused before its first download rather than fetching
        every feed twice. A new index is created first: a lock file alone would make its folder foreign."""
        import fcntl

        from indexer.store.index_store import MANIFEST

        if self._watch_lock is not None:
            return
        if not (self.index_dir / MANIFEST).exists():
            with self._indexer():  # creates it (IndexLocked: stopped while another writer created it)
                pass
        handle = open(self.index_dir / "watch.lock", "a+")  # noqa: SIM115 - held for the watcher's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise IndexLocked(f"another `newsearch watch` is following feeds into {self.index_dir}; "
                              "stop it first (one watcher per index)") from None
        self._watch_lock = handle

    def round(self, due: list[FeedSpec], final: bool = False) -> list[FeedResult]:
        """Poll `due` feeds and commit their articles with their states as soon as they are ready.

        The downloads run with no lock held; the writer lock is taken for each commit. Feeds that finish
        while the previous commit is being embedded go into the next commit together (a group commit: each
        feed's articles and state are still in one transaction, and an index commit costs a tantivy commit,
        about 0.15 s, so 200 feeds must not each pay one)."""
        from tqdm import tqdm

        self._take_watch_lock()
        results: list[FeedResult] = []
        states = self._states(due)
        pending_state: dict[str, str] = {}
        bar = tqdm(total=len(due), desc="feeds", unit=" feeds", disable=not self.progress, file=sys.stderr)
        for group in self._polled(due, states):
            if self.stop.is_set():
                break
            done = [self._outcome(spec, future, states) for spec, future in group]
            if any(result.status == "stopped" for result, _, _ in done):
                break
            batch: list[Article] = []
            for result, state, articles in done:
                pending_state[state_key(result.url)] = state.to_json()
                batch.extend(articles)
            if batch:
                try:
                    with self._indexer() as indexer:
                        written = indexer.write(batch, state=pending_state)
                except IndexLocked:  # stopped while another writer held the index: this group is not committed
                    break
                except Exception as exc:  # e.g. the disk is full: these feeds fail, their states are not saved
                    log.exception("indexing failed")
                    for i, (result, state, articles) in enumerate(done):
                        pending_state.pop(state_key(result.url), None)
                        if articles:
                            done[i] = (FeedResult(result.url, "error", error=f"cannot index: {exc}"), state, [])
                else:
                    pending_state = {}
                    self.report.indexed += written.upserted
                    self.report.unchanged += written.unchanged
                    self.report.passages += written.passages
                    if self.on_commit:
                        for result, _, _ in done:
                            self.on_commit(result, written.generation)
            for result, _, _ in done:
                results.append(result)
                self._log(result)
            bar.update(len(done))
        bar.close()
        checkpoint = (final or self.stop.is_set()
                      or time.monotonic() - self._last_checkpoint >= self.limits.checkpoint_every)
        if pending_state or checkpoint:
            self._with_indexer(lambda indexer: self._finish(indexer, pending_state, checkpoint))
        self.report.feeds = results
        return results

    def _finish(self, indexer, pending_state: dict[str, str], checkpoint: bool) -> None:
        """The round's last commit: the states of feeds that brought nothing new, and the FAISS checkpoint."""
        if pending_state:
            indexer.write([], state=pending_state)
        if checkpoint:
            indexer.store.checkpoint()
            self._last_checkpoint = time.monotonic()

    @staticmethod
    def _outcome(spec: FeedSpec, future: Future, states: dict[str, FeedState]) -> tuple:
        try:
            return future.result()
        except Exception as exc:  # a bug must cost one feed, not the watcher
            log.exception("polling %s failed", spec.url)
            state = states[spec.url]
            return _failed(spec, state, f"internal error: {exc}"), state, []

    def _polled(self, due: list[FeedSpec], states: dict[str, FeedState]) -> Iterator[list[tuple[FeedSpec, Future]]]:
        """Groups of (spec, finished future): everything finished since the last group, at most 2 x workers
        fetched ahead of the commits, so a slow embedder never lets fetched articles pile up in memory."""
        workers = max(1, self.limits.workers)
        todo = iter(due)
        with ThreadPoolExecutor(workers, thread_name_prefix="watch") as pool:
            pending: dict[Future, FeedSpec] = {}

            def submit() -> None:
                spec = next(todo, None)
                if spec is not None:
                    pending[pool.submit(poll_feed, spec, states[spec.url], self.fetcher, self.limits)] = spec

            for _ in range(2 * workers):
                submit()
            try:
                while pending:
                    done, _ = wait(list(pending), timeout=0.5, return_when=FIRST_COMPLETED)
                    if self.stop.is_set():
                        return
                    if not done:
                        continue
                    group = [(pending.pop(future), future) for future in done]
                    for _ in group:
                        submit()
                    yield group
            finally:
                for future in pending:
                    future.cancel()

    def _log(self, result: FeedResult) -> None:
        if result.failed:
            log.warning("%s: %s", result.url, result.error)
        for problem in result.problems:
            log.info("%s: %s", result.url, problem)
        if self.progress and (result.failed or result.problems):
            print(f"{result.url}: {result.error or '; '.join(result.problems[:3])}", file=sys.stderr)


def _stored_states(index_dir: Path) -> dict[str, str]:
    """Every feed's saved state (key -> JSON) in the index, {} when there is no finished index yet."""
    from indexer.store.index_store import IndexStore

    try:
        store = IndexStore.open(index_dir)
    except Exception:  # no index yet, or one whose creation never finished: the first commit completes it
        return {}
    try:
        return store.read_state(STATE_PREFIX)
    finally:
        store.close()


def watch(feeds_file: Path, index_dir: Path, *, once: bool = False, interval: float | str | None = None,
          stop: threading.Event | None = None, allow_private: bool = False, embedder=None,
          progress: bool = False, limits: WatchLimits | None = None,
          on_commit: Callable[[FeedResult, int], None] | None = None, contact: str | None = None) -> WatchReport:
    """Follow the feeds of `feeds_file` into `index_dir`: one round with `once`, else until `stop` is set
    (or, when no `stop` is given and this is the main thread, until SIGINT/SIGTERM), stopping between
    commits. `.ok` on the report is False when a feed failed in the last round. `contact` (an email or
    URL) names the operator in every request's User-Agent."""
    if isinstance(interval, str):
        interval = parse_interval(interval)
    own_stop = stop is None
    stop = stop or threading.Event()
    previous = {}
    if own_stop and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    watcher = Watcher(feeds_file, index_dir, interval=interval, allow_private=allow_private, embedder=embedder,
                      progress=progress, limits=limits, stop=stop, on_commit=on_commit, contact=contact)
    try:
        return watcher.run(once=once)
    finally:
        watcher.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def feed_health(store, now: float | None = None) -> list[dict]:
    """Per-feed freshness from the index's state, for `newsearch stats` and `/health`."""
    now = time.time() if now is None else now
    out = []
    for key, value in sorted(store.read_state(STATE_PREFIX).items()):
        state = FeedState.from_json(key[len(STATE_PREFIX):], value)
        out.append({
            "url": state.url,
            "source": state.source,
            "location": state.location or state.url,
            "last_success": _iso(state.last_success),
            "last_attempt": _iso(state.last_attempt),
            "lag_seconds": round(now - state.last_success, 1) if state.last_success else None,
            "consecutive_errors": state.consecutive_errors,
            "last_error": state.last_error or None,
            "items_seen": state.items_seen,
            "retry_at": _iso(state.retry_at) if state.retry_at > now else None,
        })
    return out


__all__ = ["FeedResult", "FeedState", "WatchLimits", "WatchReport", "Watcher", "feed_health", "watch"]

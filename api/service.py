"""The application object: what the HTTP routers delegate to (the txtai shape: thin routers, one object).

It owns the searcher (loaded once, following every committed generation) and the writes, which open the
index's single-writer lock only for the length of one write.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from api.metrics import Metrics
from api.models import ArticleIn
from api.settings import Settings
from indexer.errors import BackendUnavailable, InvalidInput, NewsearchError
from indexer.models.embed import Embedder
from indexer.pipeline import Indexer, IndexReport
from indexer.sources.article import Problem
from indexer.sources.readers import MAX_ARTICLE_CHARS, make_article
from search import Searcher

log = logging.getLogger("newsearch.api")


class NotReady(NewsearchError):
    """The index is not loaded (start-up, or shutting down)."""


class InvalidArticles(InvalidInput):
    """Articles that cannot be indexed; `problems` are FastAPI-style errors naming each one."""

    def __init__(self, problems: list[dict]) -> None:
        super().__init__(problems)
        self.problems = problems


class Service:
    """One index served: searches, reads and writes."""

    def __init__(self, index_dir: Path | str, settings: Settings, embedder: Embedder | None = None,
                 feeds: Path | None = None, allow_private: bool = False) -> None:
        self.index_dir, self.settings, self.embedder = Path(index_dir), settings, embedder
        self.feeds, self.allow_private = feeds, allow_private
        self._searcher: Searcher | None = None
        self._stop_watching = threading.Event()
        self._watcher: threading.Thread | None = None
        self._deliverer: threading.Thread | None = None
        self.write_lock = threading.Lock()
        self.started = time.time()
        self.metrics = Metrics()

    def load(self) -> None:
        self._searcher = Searcher(self.index_dir, embedder=self.embedder)
        self._deliverer = threading.Thread(target=self._deliver, name="newsearch-webhooks", daemon=True)
        self._deliverer.start()
        if self.feeds is not None:
            self._watcher = threading.Thread(target=self._watch, name="newsearch-watch", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        """The feed watcher inside the server: its commits reach the searcher like any other writer's."""
        from indexer.crawl.watch import watch

        try:
            watch(self.feeds, self.index_dir, stop=self._stop_watching, allow_private=self.allow_private,
                  contact=self.settings.contact or None)
        except Exception:  # noqa: BLE001 - the server keeps answering; /health shows the feeds going stale
            log.exception("newsearch: the feed watcher stopped")

    def _deliver(self) -> None:
        """The saved searches' webhooks, sent as matches commit (from any writer) and retried as they fall due."""
        from indexer.crawl.webhooks import Deliverer

        deliverer = Deliverer(self.searcher.store, allow_private=self.allow_private,
                              contact=self.settings.contact or None, stop=self._stop_watching)
        try:
            deliverer.run()
        except Exception:  # noqa: BLE001 - the server keeps answering; /health shows deliveries piling up
            log.exception("newsearch: the webhook deliverer stopped")
        finally:
            deliverer.close()

    def feed_health(self) -> list[dict]:
        from indexer.crawl.watch import feed_health

        return feed_health(self.searcher.store)

    def alert_totals(self) -> dict:
        """The saved searches' webhook deliveries, from SQLite alone: /health reports them while a vector
        backend is down, when `stats` (which names the vector index) cannot answer."""
        from indexer.alerts.saved import totals

        with self.searcher.store.snapshot() as snap:
            return totals(snap.conn)

    def vectors_problem(self) -> str:
        """'' when the vector backend answers, else why not: the process stays alive (/health answers) while
        a Milvus server is down, and says so."""
        try:
            self.searcher.check()
        except BackendUnavailable as exc:
            return str(exc)
        return ""

    def close(self) -> None:
        from indexer.alerts.saved import WAKE

        self._stop_watching.set()
        WAKE.set()  # the deliverer wakes to see the stop
        if self._watcher is not None:
            self._watcher.join(timeout=60)  # it stops between commits
        if self._deliverer is not None:
            self._deliverer.join(timeout=60)  # a request in flight ends within its time limit
        searcher, self._searcher = self._searcher, None
        if searcher is not None:
            searcher.close()

    @property
    def ready(self) -> bool:
        return self._searcher is not None

    @property
    def searcher(self) -> Searcher:
        if self._searcher is None:
            raise NotReady("index not loaded")
        return self._searcher

    # -- writes ----------------------------------------------------------------------------------
    def upsert(self, articles: list[ArticleIn]) -> tuple[IndexReport, list[str]]:
        """Clean, chunk, embed and store in one atomic batch; any article that cannot be indexed (no text
        left after cleaning, say) refuses the whole request."""
        items, problems = [], []
        for i, a in enumerate(articles):
            item = make_article(f"body[{i}]", MAX_ARTICLE_CHARS, id=a.id, title=a.title, text=a.text, url=a.url,
                                source=a.source, published=a.published, language=a.language, metadata=dict(a.metadata))
            if isinstance(item, Problem):
                problems.append({"loc": ["body", i], "msg": item.message})
            else:
                items.append(item)
        if problems:
            raise InvalidArticles(problems)
        with self.write_lock, self._indexer() as indexer:
            return indexer.add(items), [item.id for item in items]

    def delete(self, article_id: str) -> bool:
        with self.write_lock, self._indexer() as indexer:
            return indexer.delete([article_id]) > 0

    def _indexer(self) -> Indexer:
        """The writer for one write, with the searcher's models (every model of the index, loaded once for the
        server's life); it waits a while for another writer, then fails (409 to the client)."""
        return Indexer(self.index_dir, embedder=self.searcher.embedder, embedders=self.searcher.extra_embedders,
                       wait_for_lock=self.settings.write_wait_seconds)

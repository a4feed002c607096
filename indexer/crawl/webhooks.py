"""Webhook delivery: each match of a saved search with a webhook is POSTed, signed, until it is delivered or
its retry budget is spent (a dead letter).

The queue is the matches table itself (`indexer.alerts.saved`): a match is committed 'pending' with its
article, so a kill -9 anywhere loses none. A deliverer claims what is due for a lease (a second deliverer on
the same index, or one restarted after dying mid-send, waits for the lease to end), POSTs it through the
crawler's `Fetcher` (its address guard, timeouts and per-host Retry-After apply to webhook URLs), and
records the outcome. Delivery is at least once: a receiver may see a match twice after a crash, always with
the same `X-Newsearch-Delivery` id.

A request carries:

- `X-Newsearch-Delivery`: the delivery id, stable across retries and restarts;
- `X-Newsearch-Signature: sha256=<hex HMAC-SHA256 of the raw body with the saved search's secret>` when it
  has one (compare it in constant time, e.g. `hmac.compare_digest`);
- a JSON body: the delivery id, the saved search, the article, the passage that matched and its score.

Retries: a connection error, a timeout, a 5xx, 408 or 429 is tried again after an exponential wait with
jitter (`Policy`), or when the receiver's Retry-After says; any other 4xx or a redirect is final. After
`Policy.attempts` tries the match is a dead letter, counted in `alerts list`, `stats` and `/health`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import sqlite3
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from indexer.alerts import saved as store
from indexer.alerts.saved import WAKE, Match, SavedSearch
from indexer.crawl.fetch import Fetcher, Limits


@dataclass(frozen=True)
class Policy:
    """How hard a delivery is tried. The environment may set the first three (NEWSEARCH_WEBHOOK_ATTEMPTS,
    NEWSEARCH_WEBHOOK_BACKOFF, NEWSEARCH_WEBHOOK_LEASE): the tests shrink them."""

    attempts: int = 8  # tries before a dead letter: waits of ~2, 4, ... 128 s, about four minutes in all
    backoff: float = 2.0  # seconds before the second try, doubled for each later one
    lease: float = 120.0  # seconds a claimed delivery stays claimed (longer than one try's time limit)
    max_wait: float = 3600.0
    per_pass: int = 100  # deliveries claimed at once
    timeout: float = 30.0  # per request, in all

    @classmethod
    def from_env(cls) -> Policy:
        env = os.environ
        return cls(attempts=int(env.get("NEWSEARCH_WEBHOOK_ATTEMPTS", cls.attempts)),
                   backoff=float(env.get("NEWSEARCH_WEBHOOK_BACKOFF", cls.backoff)),
                   lease=float(env.get("NEWSEARCH_WEBHOOK_LEASE", cls.lease)))

    def wait(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed ones: exponential, with "equal jitter" (half
        fixed, half random), so that many failed deliveries do not come back at one instant."""
        full = min(self.max_wait, self.backoff * 2 ** (attempts - 1))
        return full / 2 + random.uniform(0, full / 2)


class Editable(Protocol):
    """Where the queue lives (`IndexStore`): short transactions that move no generation."""

    def edit(self) -> AbstractContextManager[sqlite3.Connection]: ...


@dataclass
class Report:
    """One pass: deliveries sent successfully, to be tried again, and given up (dead letters)."""

    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.retrying or self.dead)


def signature(body: bytes, secret: str) -> str:
    """The X-Newsearch-Signature value: "sha256=" and the hex HMAC-SHA256 of the raw body under `secret`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def payload(match: Match, search: SavedSearch) -> bytes:
    """The JSON body of one delivery (keys sorted: the same match always gives the same bytes)."""
    return json.dumps({
        "delivery": match.delivery_id,
        "alert": {"id": search.id, "name": search.name, "query": search.query, "story": search.story},
        "article": {"id": match.article, "version": match.generation, "title": match.title, "url": match.url,
                    "source": match.source, "published": match.published, "story": match.story},
        "passage": {"text": match.passage, "start": match.start, "end": match.end},
        "score": match.score, "matched_at": match.matched_at,
    }, ensure_ascii=False, sort_keys=True).encode("utf-8")


class Deliverer:
    """Sends the pending deliveries of one index (`run_once` for cron, `run` for a server or watcher)."""

    def __init__(self, index: Editable, policy: Policy | None = None, allow_private: bool = False,
                 contact: str | None = None, stop: threading.Event | None = None) -> None:
        self.index, self.policy = index, policy or Policy.from_env()
        self.stop = stop or threading.Event()
        limits = Limits(max_bytes=64 * 1024, connect_timeout=min(10.0, self.policy.timeout),
                        read_timeout=self.policy.timeout, total_timeout=self.policy.timeout, host_delay=0.0,
                        max_retry_wait=0.0)
        self.fetcher = Fetcher(limits, allow_private=allow_private, stop=self.stop, contact=contact)

    def close(self) -> None:
        self.fetcher.close()

    def run_once(self) -> Report:
        """Send every delivery due now, once each."""
        report = Report()
        while not self.stop.is_set():
            with self.index.edit() as conn:
                claimed = store.due(conn, time.time(), self.policy.lease, self.policy.per_pass)
            if not claimed:
                break
            for match, search in claimed:
                self._send(match, search, report)
        return report

    def run(self, idle: float = 5.0) -> None:
        """Deliver until `stop`: after each pass, sleep until woken by a commit or `idle` seconds pass (a
        retry falls due, another process queued something)."""
        while not self.stop.is_set():
            self.run_once()
            WAKE.wait(idle)
            WAKE.clear()

    def _send(self, match: Match, search: SavedSearch, report: Report) -> None:
        body = payload(match, search)
        headers = {"Content-Type": "application/json", "X-Newsearch-Delivery": match.delivery_id,
                   "X-Newsearch-Alert": search.id}
        if search.secret:
            headers["X-Newsearch-Signature"] = signature(body, search.secret)
        answer = self.fetcher.post(search.webhook, body, headers)
        attempts = match.attempts + (not answer.held)  # a request never sent spends no try
        if answer.held:
            state, next_at, error = "pending", answer.retry_at, answer.error
            report.retrying += 1
        elif answer.ok:
            state, next_at, error = "delivered", 0.0, ""
            report.delivered += 1
        elif answer.transient and attempts < self.policy.attempts:
            state, error = "pending", answer.error
            next_at = max(time.time() + self.policy.wait(attempts), answer.retry_at)
            report.retrying += 1
        else:
            state, next_at = "dead", 0.0
            error = f"{answer.error} (after {attempts} tries)" if answer.transient else answer.error
            report.dead += 1
        if error:
            report.errors.append(f"{search.id} -> {search.webhook}: {error}")
        with self.index.edit() as conn:
            store.settle(conn, match, state, attempts, next_at, error)



def deliver_until(index_dir: Path, stop: threading.Event, allow_private: bool = False, contact: str | None = None,
                  idle: float = 5.0) -> None:
    """Run a deliverer for the index at `index_dir` until `stop` (beside `newsearch watch`), waiting for the
    index to exist when the watcher is about to create it."""
    from indexer.errors import IndexUnavailable
    from indexer.store.index_store import IndexStore

    while not stop.is_set():
        try:
            index = IndexStore.open(index_dir)
        except IndexUnavailable:
            stop.wait(idle)
            continue
        deliverer = Deliverer(index, allow_private=allow_private, contact=contact, stop=stop)
        try:
            deliverer.run(idle)
        finally:
            deliverer.close()
            index.close()

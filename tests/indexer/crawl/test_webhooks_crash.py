"""kill -9 of a deliverer between commit and delivery, at 24 moments: every match is delivered in the end,
none is lost, and a repeat carries the same delivery id and the same signed body.

Before each moment a commit leaves new matches 'pending' (as a write's transaction does); then `newsearch
alerts deliver` (the `Deliverer` that `serve` and `watch` run) starts and is killed with SIGKILL: by the
receiver on 127.0.0.1 while a request is in flight (before it answers), just after it answered (before or
after the deliverer records it), or at a delay after start. A last run without kills then finishes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np

from indexer.alerts import saved
from indexer.alerts.saved import Match, SavedSearch
from indexer.crawl.testing import FeedServer, Route
from indexer.store.index_store import IndexStore
from indexer.store.manifest import Manifest

SECRET = "crash-secret"
PER_COMMIT = 3
MOMENTS = 24
MATCHES = PER_COMMIT * MOMENTS


def _deliver(index, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "api.cli", "alerts", "deliver", "--index", str(index),
                             "--allow-private"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_kill_9_between_commit_and_delivery_loses_nothing(tmp_path):
    index = tmp_path / "idx"
    store = IndexStore.create_or_open(index, Manifest(model="m", dim=4), lock=False)
    env = {**os.environ, "NEWSEARCH_WEBHOOK_LEASE": "0", "NEWSEARCH_WEBHOOK_BACKOFF": "0"}
    victim: dict = {}
    kills = []

    def kill(why: str) -> None:
        proc = victim.get("proc")
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills.append(why)

    def answer(req):
        victim["seen"] = victim.get("seen", 0) + 1
        plan = victim.get("plan")
        if plan and victim["seen"] == plan[1]:
            if plan[0] == "before":
                kill("before answering")
            else:  # after answering: a moment later, while the deliverer records it (or just after)
                threading.Timer(plan[2], kill, args=("after answering",)).start()
        return 200, {}, b""

    with FeedServer() as receiver:
        receiver.routes["/hook"] = Route(handler=answer)
        with store.edit() as conn:
            saved.insert(conn, SavedSearch("a1", "crash", "q", vector=np.ones(4, np.float32),
                                           webhook=receiver.url("/hook"), secret=SECRET, token="t"), 0)
        for moment in range(MOMENTS):
            with store.edit() as conn:
                saved.record(conn, [Match("a1", f"article-{moment}-{i}", moment + 1, f"T{i}", "", "", "", 0, "p",
                                          0, 1, 0.7, "2026-12-07T00:00:00Z", "pending") for i in range(PER_COMMIT)])
            kind = ("before", "after", "delay")[moment % 3]
            victim.update(seen=0, plan=(kind, 1 + moment % 2, 0.001 * (moment % 5)) if kind != "delay" else None)
            proc = victim["proc"] = _deliver(index, env)
            if kind == "delay":
                time.sleep(0.3 + 0.1 * (moment % 4))  # while starting up or sending
                kill("at a delay")
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
        expected = {m.delivery_id for m in saved.matches(store.connection(), "a1", limit=MATCHES)}
        victim["plan"] = None
        for _ in range(5):  # bounded: one pass sends everything due
            final = _deliver(index, env)
            assert final.wait(timeout=120) in (0, 1), final.stderr.read()
            if not store.connection().execute(
                    "SELECT count(*) FROM alert_matches WHERE delivery != 'delivered'").fetchone()[0]:
                break
        posts = list(receiver.posts)
    store.close()

    assert len(kills) >= 20, kills
    states = IndexStore.open(index).connection().execute(
        "SELECT delivery, count(*) FROM alert_matches GROUP BY delivery").fetchall()
    assert states == [("delivered", MATCHES)]
    # A request cut off by a kill arrives short of its Content-Length: not a delivery (a receiver that
    # checks the signature refuses it, as this one would).
    whole = [(h, b) for _, h, b in posts if len(b) == int(h["Content-Length"])]
    received: dict[str, set[bytes]] = {}
    for headers, body in whole:
        received.setdefault(headers["X-Newsearch-Delivery"], set()).add(body)
        assert headers["X-Newsearch-Signature"] == "sha256=" + hmac.new(SECRET.encode(), body,
                                                                        hashlib.sha256).hexdigest()
    assert set(received) == expected, "a match was never delivered"
    assert all(len(bodies) == 1 for bodies in received.values()), "a repeat changed its body"
    assert all(json.loads(next(iter(b)))["delivery"] == d for d, b in received.items())
    assert len(whole) > MATCHES, "no kill landed between a send and its record (no repeat at all)"

"""Webhook delivery against a receiver on 127.0.0.1: signed, retried with backoff, then a dead letter.

The queue is a real index's matches table: a saved search is stored with a webhook and a match recorded as a
commit would, then a `Deliverer` sends it to a `FeedServer` answering as each test scripts it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import replace

import numpy as np
import pytest

from indexer.alerts import saved
from indexer.alerts.saved import Match, SavedSearch
from indexer.crawl.testing import FeedServer, Route
from indexer.crawl.webhooks import Deliverer, Policy, payload, signature
from indexer.store.index_store import IndexStore
from indexer.store.manifest import Manifest

SECRET = "s3cret-for-tests"
FAST = Policy(attempts=4, backoff=0.05, lease=0.0, timeout=5.0)


@pytest.fixture
def queue(tmp_path):
    """An empty index holding one saved search; `queue.add(url, n)` points it at `url` and queues n matches."""
    store = IndexStore.create_or_open(tmp_path / "idx", Manifest(model="m", dim=4), lock=False)

    def add(url: str, n: int = 1) -> list[Match]:
        search = SavedSearch("a1", "test", "query", vector=np.ones(4, np.float32), webhook=url, secret=SECRET,
                             token="t")
        found = [Match("a1", f"article-{i}", 1, f"Title {i}", f"http://example.org/{i}", "example.org",
                       "2013-05-03", 0, "the passage", 0, 11, 0.8, "2026-12-07T00:00:00Z", "pending")
                 for i in range(n)]
        with store.edit() as conn:
            if saved.get(conn, "a1") is None:
                saved.insert(conn, search, 0)
            else:
                conn.execute("UPDATE alerts SET webhook=?", (url,))
            saved.record(conn, found)
        return found

    store.add = add
    yield store
    store.close()


def _state(store) -> list[tuple]:
    return store.connection().execute("SELECT article, delivery, attempts, error FROM alert_matches "
                                      "ORDER BY article").fetchall()


def _deliver_until_settled(store, policy=FAST, allow_private=True, passes=50):
    deliverer = Deliverer(store, policy, allow_private=allow_private)
    try:
        for _ in range(passes):  # bounded: the budget ends every delivery within a few passes
            deliverer.run_once()
            if not store.connection().execute(
                    "SELECT count(*) FROM alert_matches WHERE delivery='pending'").fetchone()[0]:
                return
            time.sleep(policy.backoff)
    finally:
        deliverer.close()
    raise AssertionError(f"still pending after {passes} passes: {_state(store)}")


def test_the_signature_is_the_hmac_sha256_of_the_raw_body():
    body = b'{"a": 1}'
    assert signature(body, "k") == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


def test_500_500_200_is_delivered_on_the_third_try_with_one_delivery_id_and_a_valid_signature(queue):
    answers = iter([500, 500, 200])
    with FeedServer() as receiver:
        receiver.routes["/hook"] = Route(handler=lambda req: (next(answers), {}, b""))
        (match,) = queue.add(receiver.url("/hook"))
        _deliver_until_settled(queue)
        posts = receiver.posts
    assert [row[1:3] for row in _state(queue)] == [("delivered", 3)]
    assert len(posts) == 3
    ids = {headers["X-Newsearch-Delivery"] for _, headers, _ in posts}
    assert ids == {match.delivery_id}
    for _, headers, body in posts:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Newsearch-Signature"], expected)
        sent = json.loads(body)
        assert (sent["delivery"], sent["article"]["id"], sent["passage"]["text"]) == (
            match.delivery_id, "article-0", "the passage")
    assert len({body for _, _, body in posts}) == 1, "a retry sends the same bytes"


def test_a_receiver_down_for_the_whole_budget_makes_a_dead_letter(queue):
    with FeedServer() as receiver:
        url = receiver.url("/hook")
    queue.add(url)  # the server is closed: every try is refused
    _deliver_until_settled(queue)
    ((_, state, attempts, error),) = _state(queue)
    assert (state, attempts) == ("dead", FAST.attempts)
    assert "after 4 tries" in error
    assert saved.totals(queue.connection())["dead"] == 1


def test_retry_after_is_honoured(queue):
    answers = iter([(429, {"Retry-After": "1"}), (200, {})])
    with FeedServer() as receiver:
        receiver.routes["/hook"] = Route(handler=lambda req: (*next(answers), b""))
        queue.add(receiver.url("/hook"))
        _deliver_until_settled(queue, passes=200)
        times = [t for t, path, _ in receiver.requests if path == "/hook"]
    assert len(times) == 2 and times[1] - times[0] >= 0.9, "the second try waited for Retry-After"


def test_deliveries_held_by_a_hosts_retry_after_spend_no_try(queue):
    """The first of three deliveries to one host meets 429 Retry-After: 30; the other two are not sent in that
    pass (the host asked us to wait), so they keep all their tries and fall due when the host said."""
    with FeedServer() as receiver:
        receiver.routes["/hook"] = Route(handler=lambda req: (429, {"Retry-After": "30"}, b""))
        queue.add(receiver.url("/hook"), 3)
        deliverer = Deliverer(queue, FAST, allow_private=True)
        try:
            started = time.time()
            report = deliverer.run_once()
        finally:
            deliverer.close()
        posts = receiver.posts
    assert len(posts) == 1 and report.retrying == 3
    rows = queue.connection().execute("SELECT attempts, next_at FROM alert_matches ORDER BY article").fetchall()
    assert [attempts for attempts, _ in rows] == [1, 0, 0]
    assert all(next_at >= started + 29 for _, next_at in rows)


def test_a_4xx_other_than_408_and_429_is_final(queue):
    with FeedServer() as receiver:
        receiver.routes["/hook"] = Route(status=410)
        queue.add(receiver.url("/hook"))
        _deliver_until_settled(queue)
        assert len(receiver.posts) == 1
    ((_, state, attempts, error),) = _state(queue)
    assert (state, attempts) == ("dead", 1) and "410" in error


def test_the_address_guard_applies_to_webhooks(queue):
    """Without allow_private a loopback webhook is refused where the connection would be made: the
    receiver never sees a request."""
    with FeedServer() as receiver:
        receiver.routes["/hook"] = Route(status=200)
        queue.add(receiver.url("/hook"))
        _deliver_until_settled(queue, allow_private=False)
        assert receiver.posts == []
    ((_, state, _, error),) = _state(queue)
    assert state == "dead" and "loopback" in error


def test_the_payload_is_stable():
    search = SavedSearch("a1", "n", "q", webhook="http://x/", secret="s")
    match = Match("a1", "art", 3, "T", "u", "s", "2013", 7, "p", 0, 1, 0.5, "2026-12-07T00:00:00Z", "pending")
    assert payload(match, search) == payload(replace(match, attempts=5), search)
    assert json.loads(payload(match, search))["article"] == {"id": "art", "version": 3, "title": "T", "url": "u",
                                                            "source": "s", "published": "2013", "story": 7}

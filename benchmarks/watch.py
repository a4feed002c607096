"""The feed watcher end to end: N feeds x M items served on 127.0.0.1, into a fresh index.

    .venv/bin/python benchmarks/watch.py [--feeds 200] [--items 50] [--interval 10] [--publish-seconds 40]

The server is indexer.crawl.testing.FeedServer (127.0.0.1 only): half the feeds carry full text, half a
teaser whose page the watcher fetches and extracts with trafilatura; every feed answers ETag /
If-None-Match. Three phases, all with the real model (the default encoder):

1. round 1: `watch --once` into an empty index: articles/s end to end (fetch, extract, embed, commit);
2. round 2: `watch --once` again, nothing changed: requests made, and the share answered 304;
3. live: the watcher runs with `--interval` while new items are published into random feeds at a steady
   rate; a reader polls the index (a separate SQLite connection, as a server's searcher would read it)
   and records when each item becomes searchable: publish-to-searchable latency p50/p99 (goal: within
   one poll interval + 10 s).

Only loopback is used, with `allow_private` and no per-host delay (the host is ours). Prints a table;
writes benchmarks/results/watch.json and watch.png.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = Path(__file__).resolve().parent / "results"

from indexer.crawl.testing import FeedServer, Route, page, rss, story  # noqa: E402
from indexer.crawl.watch import WatchLimits, watch  # noqa: E402


def build(server: FeedServer, feeds: int, items: int) -> dict[int, list[dict]]:
    """Every feed's items (mutable: the live phase appends) and the routes serving them."""
    docs: dict[int, list[dict]] = {}
    for f in range(feeds):
        docs[f] = []
        for i in range(items):
            add_item(server, docs, f, f"f{f}-i{i}")
        server.routes[f"/feed{f}.xml"] = Route(lambda f=f: rss(f"Feed {f}", docs[f][-items:]))
    return docs


def add_item(server: FeedServer, docs: dict[int, list[dict]], feed: int, key: str) -> str:
    topic = f"{key} " + random.choice(["harbour", "council", "wildfire", "election", "drought", "rail strike"])
    link = server.url(f"/a/{key}")
    item = {"guid": key, "title": f"Story {key} on the {topic}", "link": link,
            "date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())}
    if feed % 2 == 0:
        item["content"] = story(topic, 3)
    else:
        item["description"] = f"teaser for {topic}"
        server.routes[f"/a/{key}"] = Route(page(item["title"], story(topic, 3)), content_type="text/html")
    docs[feed].append(item)
    return link


def counted(server: FeedServer, mark: int) -> dict:
    with server._lock:
        statuses = server.statuses[mark:]
    return {"requests": len(statuses), "not_modified": sum(s == 304 for _, s in statuses),
            "feeds": sum(p.startswith("/feed") for p, _ in statuses),
            "pages": sum(p.startswith("/a/") for p, _ in statuses)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--interval", type=float, default=10.0, help="poll interval of the live phase (s)")
    parser.add_argument("--publish-seconds", type=float, default=40.0)
    parser.add_argument("--publish-rate", type=float, default=2.0, help="new items per second, live phase")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    random.seed(7)

    from indexer.models.embed import Embedder

    embedder = Embedder()
    limits = WatchLimits(host_delay=0.0, workers=args.workers, checkpoint_every=60)
    server = FeedServer()
    tmp = Path(tempfile.mkdtemp(prefix="watch-bench-"))
    index, feeds_file = tmp / "idx", tmp / "feeds.txt"
    docs = build(server, args.feeds, args.items)
    feeds_file.write_text("".join(server.url(f"/feed{f}.xml") + "\n" for f in range(args.feeds)))
    out: dict = {"feeds": args.feeds, "items": args.items, "interval_s": args.interval,
                 "load_average": os.getloadavg()[0], "cpus": os.cpu_count()}
    try:
        # 1. the first round: everything is new
        mark, started = server.mark(), time.perf_counter()
        first = watch(feeds_file, index, once=True, allow_private=True, embedder=embedder, limits=limits)
        seconds = time.perf_counter() - started
        out["round1"] = {**counted(server, mark), "seconds": round(seconds, 2), "articles": first.indexed,
                         "passages": first.passages, "articles_per_s": round(first.indexed / seconds, 1),
                         "failed_feeds": sum(f.failed for f in first.feeds)}
        # 2. the second round: nothing changed, so conditional GET answers it
        mark, started = server.mark(), time.perf_counter()
        second = watch(feeds_file, index, once=True, allow_private=True, embedder=embedder, limits=limits)
        r2 = counted(server, mark)
        r2.update(seconds=round(time.perf_counter() - started, 2), articles=second.indexed)
        r2["saved_share"] = round(1 - (r2["requests"] - r2["not_modified"]) / max(1, out["round1"]["requests"]), 4)
        r2["share_304"] = round(r2["not_modified"] / max(1, r2["requests"]), 4)
        out["round2"] = r2
        # 3. live: publish while the watcher runs; measure publish -> searchable
        out["live"] = live(server, docs, feeds_file, index, embedder, limits, args)
    finally:
        server.close()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "watch.json").write_text(json.dumps(out, indent=2) + "\n")
    table(out)
    plot(out)


def live(server, docs, feeds_file, index, embedder, limits, args) -> dict:
    stop = threading.Event()
    published: dict[str, float] = {}
    seen: dict[str, float] = {}
    watcher = threading.Thread(target=lambda: watch(feeds_file, index, interval=args.interval, stop=stop,
                                                    allow_private=True, embedder=embedder, limits=limits))
    watcher.start()

    def reader() -> None:
        conn = sqlite3.connect(index / "meta.sqlite", timeout=30)
        while not stop.is_set():
            waiting = [k for k in published if k not in seen]
            if waiting:
                marks = ",".join("?" * len(waiting))
                now = time.time()
                for (found,) in conn.execute(f"SELECT id FROM articles WHERE id IN ({marks})", waiting):
                    seen[found] = now
            time.sleep(0.1)
        conn.close()

    probe = threading.Thread(target=reader)
    probe.start()
    n, started = 0, time.time()
    try:
        while time.time() - started < args.publish_seconds:
            feed = random.randrange(args.feeds)
            link = add_item(server, docs, feed, f"live{n}")
            published[link] = time.time()
            n += 1
            time.sleep(1 / args.publish_rate)
        deadline = time.time() + args.interval + 30
        while len(seen) < len(published) and time.time() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        probe.join(timeout=30)
        watcher.join(timeout=120)
    latencies = [seen[k] - published[k] for k in published if k in seen]
    return {"published": len(published), "searchable": len(latencies),
            "latency_p50_s": round(percentile(latencies, 50), 2), "latency_p99_s": round(percentile(latencies, 99), 2),
            "latency_max_s": round(max(latencies, default=float("nan")), 2),
            "goal_s": args.interval + 10, "latencies": [round(x, 3) for x in latencies]}


def table(out: dict) -> None:
    r1, r2, lv = out["round1"], out["round2"], out["live"]
    rows = [
        ("feeds x items", f"{out['feeds']} x {out['items']}"),
        ("round 1: articles indexed", f"{r1['articles']} ({r1['passages']} passages)"),
        ("round 1: requests (feeds / pages)", f"{r1['requests']} ({r1['feeds']} / {r1['pages']})"),
        ("round 1: seconds", f"{r1['seconds']}"),
        ("round 1: articles/s end to end", f"{r1['articles_per_s']}"),
        ("round 2: requests, answered 304", f"{r2['requests']}, {r2['not_modified']} ({100 * r2['share_304']:.1f}%)"),
        ("round 2: requests saved vs round 1", f"{100 * r2['saved_share']:.1f}%"),
        ("round 2: seconds", f"{r2['seconds']}"),
        ("live: published / searchable", f"{lv['published']} / {lv['searchable']}"),
        ("live: publish-to-searchable p50 / p99 / max", f"{lv['latency_p50_s']} / {lv['latency_p99_s']} / "
                                                         f"{lv['latency_max_s']} s (goal {lv['goal_s']} s)"),
        ("load average at start / cpus", f"{out['load_average']:.1f} / {out['cpus']}"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


def plot(out: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    r1, r2 = out["round1"], out["round2"]
    left.bar(["round 1", "round 2"], [r1["requests"] - r1["not_modified"], r2["requests"] - r2["not_modified"]],
             label="full answers")
    left.bar(["round 1", "round 2"], [r1["not_modified"], r2["not_modified"]],
             bottom=[r1["requests"] - r1["not_modified"], r2["requests"] - r2["not_modified"]], label="304")
    left.set_ylabel("requests")
    left.set_title(f"{out['feeds']} feeds x {out['items']} items: {r1['articles_per_s']} articles/s")
    left.legend()
    latencies = out["live"]["latencies"]
    right.hist(latencies, bins=30)
    right.axvline(out["live"]["goal_s"], color="red", linestyle="--", label="goal: interval + 10 s")
    right.set_xlabel("publish to searchable (s)")
    right.set_title(f"p50 {out['live']['latency_p50_s']} s, p99 {out['live']['latency_p99_s']} s")
    right.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "watch.png", dpi=110)


if __name__ == "__main__":
    main()

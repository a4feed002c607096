"""The `newsearch` command: a thin layer over the indexer, the searcher and the server."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from api.flags import add_crawl_args, add_index_arg, add_search_options, search_options

EXIT_OK, EXIT_PROBLEMS, EXIT_ERROR = 0, 1, 2


def index_config(args: argparse.Namespace, **more):
    """The IndexConfig of the flags `_add_model_args` declared (and `more`)."""
    from indexer.pipeline import IndexConfig

    return IndexConfig(model=args.model, encoder=args.encoder, chunk_tokens=args.chunk_tokens,
                       overlap_tokens=args.overlap_tokens, profile=args.profile, context=args.context, **more)


def cmd_index(args: argparse.Namespace) -> int:
    from indexer.crawl.articles import UrlReader
    from indexer.pipeline import Indexer
    from indexer.sources.readers import read_sources

    config = index_config(args, index_type=args.index_type, index_params=_params(args.param),
                          batch_articles=args.batch, backend=args.backend, backend_uri=args.milvus_uri,
                          reuse_vectors=args.reuse_vectors)
    if args.ray:
        from indexer.distributed import index_on_ray

        report = index_on_ray(args.sources, args.index, args.ray, config, progress=not args.quiet)
    else:
        # URLs go through the watcher's guarded fetcher and feed parser: one article per story on both paths.
        with UrlReader(allow_private=args.allow_private, contact=args.contact, max_chars=config.max_chars) as urls, \
                Indexer(args.index, config) as indexer:
            report = indexer.add(read_sources(args.sources, config.max_chars, read_url=urls), progress=not args.quiet)
    for problem in report.problems:
        print(f"skipped {problem}", file=sys.stderr)
    print(report.summary(), file=sys.stderr)
    from indexer.models import ner

    if not ner.available():
        print(f"entities are off (no people, organisations or places stored): {ner.INSTALL}", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def cmd_entities_backfill(args: argparse.Namespace) -> int:
    """Find the entities of stored articles that have none (indexed before entities, or without the model)."""
    from indexer.enrich.entities import backfill
    from indexer.models import ner
    from indexer.store.index_store import IndexStore

    if not ner.available():
        raise ValueError(f"entities are off: {ner.INSTALL}")
    store = IndexStore.open(args.index)
    try:
        read = backfill(store, progress=not args.quiet)
    finally:
        store.close()
    print(f"read {read} articles for entities", file=sys.stderr)
    return EXIT_OK


def _params(items: list[str] | None) -> dict:
    params = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or key not in ("M", "efConstruction", "efSearch", "nlist", "nprobe") or not value.isdigit():
            raise ValueError(f"--param {item!r}: expected M, efConstruction, efSearch, nlist or nprobe =NUMBER")
        params[key] = int(value)
    return params


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Rebuild the vector index from stored embeddings: change type or parameters without re-encoding."""
    from indexer.store.index_store import IndexStore, Manifest

    manifest = Manifest.read(args.index)
    manifest.index_type = args.index_type or manifest.index_type
    manifest.index_params = {**manifest.index_params, **_params(args.param)}
    store = IndexStore.create_or_open(args.index, manifest, lock=True)
    try:
        store.checkpoint()
    finally:
        store.close()
    print(f"rebuilt {args.index} as {manifest.index_type} {manifest.index_params or ''}", file=sys.stderr)
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    from indexer.pipeline import Indexer

    with Indexer(args.index) as indexer:
        deleted = indexer.delete(args.ids)
    print(f"deleted {deleted} of {len(args.ids)} articles", file=sys.stderr)
    return EXIT_OK if deleted == len(args.ids) else EXIT_PROBLEMS


def cmd_search(args: argparse.Namespace) -> int:
    from api.render import render_results
    from search import Searcher

    filters, options = search_options(args)
    searcher = Searcher(args.index)
    response = searcher.search(args.query, k=args.k, offset=args.offset, filters=filters, options=options)
    if args.json:
        print(json.dumps(response.to_dict(), ensure_ascii=False, indent=2))
        return EXIT_OK
    print(render_results(response, args.offset, bold=sys.stdout.isatty()))
    print(f"({len(response.results)} results, {response.mode}, {response.took_ms:.1f} ms)", file=sys.stderr)
    return EXIT_OK


def cmd_story(args: argparse.Namespace) -> int:
    from api.render import render_story
    from search import Searcher

    page = Searcher(args.index).story(args.id, args.query or "")
    if page is None:
        print(f"newsearch: no story with id {args.id}", file=sys.stderr)
        return EXIT_PROBLEMS
    print(json.dumps(page.to_dict(), ensure_ascii=False, indent=2) if args.json else render_story(page))
    return EXIT_OK


def cmd_timeline(args: argparse.Namespace) -> int:
    from api.render import render_timeline
    from search import Searcher

    filters, options = search_options(args)
    timeline = Searcher(args.index).timeline(args.query, args.interval, filters, options)
    print(json.dumps(timeline.to_dict(), ensure_ascii=False, indent=2) if args.json else render_timeline(timeline))
    return EXIT_OK


def cmd_similar(args: argparse.Namespace) -> int:
    from api.render import render_results
    from search import Searcher

    response = Searcher(args.index).similar(args.id, args.k, exclude_story=args.exclude_story,
                                            exclude_duplicates=not args.keep_duplicates)
    if response is None:
        print(f"newsearch: no article with id {args.id!r}", file=sys.stderr)
        return EXIT_PROBLEMS
    if args.json:
        print(json.dumps(response.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(render_results(response, bold=sys.stdout.isatty()))
    return EXIT_OK


def cmd_stories_rebuild(args: argparse.Namespace) -> int:
    """Re-cluster every article into stories, e.g. after changing the clustering parameters."""
    from dataclasses import replace

    from indexer.enrich.stories import StoryParams
    from indexer.store.index_store import IndexStore, Manifest

    store = IndexStore.create_or_open(args.index, Manifest.read(args.index), lock=True)
    try:
        changes = {k: v for k, v in (("threshold", args.threshold), ("window_days", args.window_days)) if v is not None}
        base = StoryParams() if args.defaults else store.story_params()
        count = store.rebuild_stories(replace(base, **changes))
    finally:
        store.close()
    print(f"{args.index}: {count} stories", file=sys.stderr)
    return EXIT_OK


def cmd_bench_stories(args: argparse.Namespace) -> int:
    from search.evaluation.story_bench import bench_stories, format_table

    result = bench_stories(args.folder, args.stories, progress=not args.json)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from indexer.crawl.watch import feed_health
    from search import Searcher

    searcher = Searcher(args.index)
    stats = {**asdict(searcher.stats()), "feeds": feed_health(searcher.store)}
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        for key, value in stats.items():
            print(f"{key:15} {value}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from api.app import serve
    from api.settings import Settings

    settings = Settings.from_env()
    if args.contact:
        settings = replace(settings, contact=args.contact)
    serve(args.index, host=args.host, port=args.port, settings=settings, feeds=args.watch,
          allow_private=args.allow_private)
    return EXIT_OK


def cmd_mcp(args: argparse.Namespace) -> int:
    from api.mcp_server import run_stdio

    run_stdio(args.index)
    return EXIT_OK


def cmd_watch(args: argparse.Namespace) -> int:
    import threading

    from indexer.alerts.saved import WAKE
    from indexer.crawl.watch import watch
    from indexer.crawl.webhooks import deliver_until

    # The saved searches' webhooks go out while the watcher commits (with --once: one pass after it).
    stop = threading.Event()
    sender = threading.Thread(target=deliver_until, args=(args.index, stop, args.allow_private, args.contact),
                              name="newsearch-webhooks", daemon=True)
    sender.start()
    try:
        report = watch(args.feeds, args.index, once=args.once, interval=args.interval,
                       allow_private=args.allow_private, progress=not args.quiet, contact=args.contact)
    finally:
        stop.set()
        WAKE.set()
        sender.join(timeout=60)
    if args.once and report.ok:
        from api.alerts_cli import deliver_once

        deliver_once(args.index, args.allow_private, args.contact)
    for feed in report.feeds:
        for problem in ([feed.error] if feed.failed else []) + feed.problems:
            print(f"{feed.url}: {problem}", file=sys.stderr)
    print(report.summary(), file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def cmd_models(args: argparse.Namespace) -> int:
    from indexer.models.install import MPNET, install

    print(f"{MPNET.name}: {install(MPNET)}")
    return EXIT_OK


def cmd_bench_recall(args: argparse.Namespace) -> int:
    from search.evaluation.evaluate import bench_recall

    result = bench_recall(args.folder, args.queries, args.qrels, index_config(args), index_dir=args.index,
                          progress=not args.json)
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    print(f"{result['dataset']}: {result['queries']} queries, {result['articles']} articles, "
          f"{result['passages']} passages (indexed in {result['index_seconds']} s)")
    print(f"{'mode':10} {'nDCG@10':>8} {'R@10':>8} {'R@100':>8} {'MRR@10':>8} {'p50 ms':>8}")
    for mode, m in result["modes"].items():
        star = "*" if mode == result["default_mode"] else " "
        print(f"{mode + star:10} {m['ndcg@10']:8.4f} {m['recall@10']:8.4f} {m['recall@100']:8.4f} "
              f"{m['mrr@10']:8.4f} {m['latency_ms_p50']:8.2f}")
    return EXIT_OK


def _add_model_args(p: argparse.ArgumentParser) -> None:
    """What makes the vectors of a new index (an existing index keeps its own)."""
    from indexer.models.embed import DEFAULT_ENCODER, ENCODERS
    from indexer.models.profiles import CONTEXTS, PROFILES

    p.add_argument("--model", help="sentence-transformers name or path (default: packaged all-MiniLM-L6-v2)")
    p.add_argument("--encoder", choices=ENCODERS, default=DEFAULT_ENCODER, help="encoder backend")
    p.add_argument("--chunk-tokens", type=int, default=128, help="passage size in model tokens (default 128)")
    p.add_argument("--overlap-tokens", type=int, default=32, help="sentences repeated between passages, in tokens")
    p.add_argument("--profile", choices=list(PROFILES), help="fast (default): one model and BM25; quality: "
                   "all-mpnet-base-v2 beside it, fused (needs `make quality-model`)")
    p.add_argument("--context", choices=CONTEXTS, help="what the model sees beside a passage (default title)")


def build_parser() -> argparse.ArgumentParser:
    from indexer.settings import BACKENDS
    from indexer.store.vectors.faiss_backend import INDEX_TYPES

    parser = argparse.ArgumentParser(prog="newsearch", description="Semantic search over news articles.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="index JSONL/CSV/JSON files, folders of .txt/.md/.html, RSS/Atom feeds")
    p.add_argument("sources", nargs="+", help="files, folders, feed URLs or page URLs")
    add_index_arg(p)
    _add_model_args(p)
    add_crawl_args(p, os.environ.get("NEWSEARCH_CONTACT"))
    p.add_argument("--index-type", choices=INDEX_TYPES,
                   help="vector index type; a new index defaults to auto (exact below 20,000 passages, then IVF), "
                   "an existing one keeps its own")
    p.add_argument("--param", action="append", help="index parameter, e.g. efSearch=128 or nprobe=32 (repeatable)")
    p.add_argument("--batch", type=int, default=256, help="articles per atomic commit")
    p.add_argument("--reuse-vectors", action="store_true", help="copy the stored vectors of passages identical to "
                   "stored ones instead of encoding them (wire-heavy input); int8 vectors then differ slightly")
    p.add_argument("--backend", choices=BACKENDS, help="vector store for a new index (default: $NEWSEARCH_BACKEND, "
                   "the config file, else faiss); naming it moves an existing index, without re-encoding")
    p.add_argument("--milvus-uri", help="Milvus Lite .db file (relative to the index) or http://host:19530 "
                   "(default: $NEWSEARCH_MILVUS_URI, the config file, else vectors.milvus.db in the index)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--ray", metavar="ADDRESS", default=os.environ.get("NEWSEARCH_RAY_ADDRESS"),
                   help="read and embed on this Ray cluster, e.g. 10.0.0.5:6379 (default: $NEWSEARCH_RAY_ADDRESS)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("rebuild", help="rebuild the vector index from stored embeddings (no re-encoding)")
    add_index_arg(p)
    p.add_argument("--index-type", choices=INDEX_TYPES, help="new FAISS index type")
    p.add_argument("--param", action="append", help="index parameter, e.g. efSearch=128 or nprobe=32 (repeatable)")
    p.set_defaults(func=cmd_rebuild)

    p = sub.add_parser("delete", help="delete articles by id")
    p.add_argument("ids", nargs="+")
    add_index_arg(p)
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("search", help="ranked articles with their best passages")
    p.add_argument("query")
    add_index_arg(p)
    p.add_argument("-k", type=int, default=10, help="results (default 10)")
    p.add_argument("--offset", type=int, default=0)
    add_search_options(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("story", help="one story's articles in time order")
    p.add_argument("id", type=int, help="story id (from a search with --group story)")
    add_index_arg(p)
    p.add_argument("--query", help="show each article's best sentence for this query")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_story)

    p = sub.add_parser("timeline", help="matching articles per day, week or month, by outlet")
    p.add_argument("query")
    add_index_arg(p)
    p.add_argument("--interval", choices=("day", "week", "month"), default="day")
    add_search_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_timeline)

    p = sub.add_parser("similar", help="more like this: the articles nearest to one article")
    p.add_argument("id", help="article id")
    add_index_arg(p)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--exclude-story", action="store_true", help="leave out the article's own story")
    p.add_argument("--keep-duplicates", action="store_true", help="keep its near-duplicates (wire copies)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_similar)

    stories = sub.add_parser("stories", help="story clustering").add_subparsers(dest="stories", required=True)
    p = stories.add_parser("rebuild", help="re-cluster every article (e.g. with new parameters)")
    add_index_arg(p)
    p.add_argument("--threshold", type=float, help="similarity a story must reach to take an article")
    p.add_argument("--window-days", type=float, help="only articles this many days apart are compared")
    p.add_argument("--defaults", action="store_true",
                   help="start from this release's settings, not the ones the index recorded (e.g. local moves)")
    p.set_defaults(func=cmd_stories_rebuild)

    entities = sub.add_parser("entities", help="people, organisations and places").add_subparsers(
        dest="entities", required=True)
    p = entities.add_parser("backfill", help="find the entities of stored articles that have none")
    add_index_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_entities_backfill)

    p = sub.add_parser("stats", help="counts and settings of an index")
    add_index_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("serve", help="HTTP API and search page")
    add_index_arg(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--watch", type=Path, metavar="FEEDS", help="also follow these feeds (see `newsearch watch`)")
    add_crawl_args(p, None)  # the server's settings read $NEWSEARCH_CONTACT themselves
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("mcp", help="the index as MCP tools over stdio, for agents (HTTP: /mcp in `serve`)")
    add_index_arg(p)
    p.set_defaults(func=cmd_mcp)

    p = sub.add_parser("watch", help="follow RSS/Atom feeds into an index: poll politely, index what is new")
    p.add_argument("feeds", type=Path, help="a file of feed URLs, one a line: URL [INTERVAL] [SOURCE NAME]; # comments")
    add_index_arg(p)
    p.add_argument("--once", action="store_true", help="poll every feed once and exit (exit 1 if any failed)")
    p.add_argument("--interval", default=None, help="time between polls of a feed, e.g. 15m (default 15m)")
    add_crawl_args(p, os.environ.get("NEWSEARCH_CONTACT"))
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("models", help="models shipped in parts on PyPI")
    p.add_argument("action", choices=["install"], help="install: check, join and unpack all-mpnet-base-v2 "
                   "(the quality profile's model) from its installed part packages (`make quality-model`)")
    p.set_defaults(func=cmd_models)

    from api import alerts_cli

    alerts_cli.add_parser(sub)

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench", required=True)
    p = bench.add_parser("recall", help="nDCG@10, R@10, R@100, MRR@10 of every mode on a BEIR folder")
    p.add_argument("folder", type=Path)
    p.add_argument("--queries", type=Path)
    p.add_argument("--qrels", type=Path)
    _add_model_args(p)
    p.add_argument("--index", type=Path, help="index here and keep it (a re-run skips what it holds); "
                   "default: a temporary folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_recall)
    p = bench.add_parser("stories", help="story clustering (B-cubed, ARI, NMI) against batch baselines")
    p.add_argument("folder", type=Path, help="a BEIR folder with corpus.jsonl")
    p.add_argument("--stories", type=Path, help="gold stories (default FOLDER/stories.tsv)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_stories)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from indexer.errors import IndexUnavailable
    from indexer.models.install import ModelNotInstalled

    try:
        return args.func(args)
    except (IndexUnavailable, ModelNotInstalled, ValueError, FileNotFoundError) as exc:
        print(f"newsearch: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("newsearch: interrupted; committed batches are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

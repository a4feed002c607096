"""The `newsearch` command: a thin layer over the indexer, the searcher and the server."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_PROBLEMS, EXIT_ERROR = 0, 1, 2


def _add_index_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, type=Path, help="index folder")


def _filters(args: argparse.Namespace):
    from indexer.store import Filters

    fields = []
    for item in args.field or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--field {item!r}: expected KEY=VALUE")
        fields.append((key, value))
    return Filters(sources=tuple(args.source or ()), since=args.since or "", until=args.until or "",
                   language=args.language or "", fields=tuple(fields))


def cmd_index(args: argparse.Namespace) -> int:
    from indexer.pipeline import IndexConfig, Indexer
    from indexer.readers import read_sources

    config = IndexConfig(model=args.model, encoder=args.encoder, chunk_tokens=args.chunk_tokens,
                         overlap_tokens=args.overlap_tokens, index_type=args.index_type,
                         index_params=_params(args.param), batch_articles=args.batch, backend=args.backend,
                         backend_uri=args.milvus_uri)
    if args.ray:
        from indexer.distributed import index_on_ray

        report = index_on_ray(args.sources, args.index, args.ray, config, progress=not args.quiet)
    else:
        with Indexer(args.index, config) as indexer:
            report = indexer.add(read_sources(args.sources, config.max_chars), progress=not args.quiet)
    for problem in report.problems:
        print(f"skipped {problem}", file=sys.stderr)
    print(report.summary(), file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


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
    from indexer.store import IndexStore, Manifest

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
    from search import Searcher, SearchOptions

    searcher = Searcher(args.index)
    response = searcher.search(args.query, k=args.k, offset=args.offset, filters=_filters(args),
                               options=SearchOptions(mode=args.mode, fusion=args.fusion, sort=args.sort,
                                                     recency_half_life_days=args.recency_half_life,
                                                     max_per_source=args.max_per_source,
                                                     collapse_duplicates=args.collapse_duplicates))
    if args.json:
        print(json.dumps(response.to_dict(), ensure_ascii=False, indent=2))
        return EXIT_OK
    if not response.results:
        print("no results")
    for rank, result in enumerate(response.results, start=args.offset + 1):
        where = " | ".join(x for x in (result.source, result.published[:10], result.url) if x)
        print(f"{rank}. {result.title or result.id}  [{result.score:.4f}]")
        if result.also_published_by:
            print(f"   also published by {', '.join(result.also_published_by)}")
        if where:
            print(f"   {where}")
        best = result.passages[0] if result.passages else None
        if best:
            snippet = " ".join(best.text.split())
            print(f"   chars {best.start}-{best.end}: {snippet[:300]}{'...' if len(snippet) > 300 else ''}")
    print(f"({len(response.results)} results, {response.mode}, {response.took_ms:.1f} ms)", file=sys.stderr)
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    from search import Searcher

    stats = Searcher(args.index).stats()
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        for key, value in stats.items():
            print(f"{key:15} {value}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from api.app import serve

    serve(args.index, host=args.host, port=args.port)
    return EXIT_OK


def cmd_bench_recall(args: argparse.Namespace) -> int:
    from indexer.pipeline import IndexConfig
    from search.evaluate import bench_recall

    config = IndexConfig(model=args.model, encoder=args.encoder, chunk_tokens=args.chunk_tokens,
                         overlap_tokens=args.overlap_tokens)
    result = bench_recall(args.folder, args.queries, args.qrels, config, progress=not args.json)
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


def build_parser() -> argparse.ArgumentParser:
    from indexer.embed import DEFAULT_ENCODER, ENCODERS
    from indexer.settings import BACKENDS
    from indexer.vectors.faiss_backend import INDEX_TYPES
    from search.searcher import FUSIONS, MODES, SORTS

    parser = argparse.ArgumentParser(prog="newsearch", description="Semantic search over news articles.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="index JSONL/CSV/JSON files, folders of .txt/.md/.html, RSS/Atom feeds")
    p.add_argument("sources", nargs="+", help="files, folders or feed URLs")
    _add_index_arg(p)
    p.add_argument("--model", help="sentence-transformers name or path (default: packaged all-MiniLM-L6-v2)")
    p.add_argument("--encoder", choices=ENCODERS, default=DEFAULT_ENCODER, help="encoder backend")
    p.add_argument("--chunk-tokens", type=int, default=128, help="passage size in model tokens (default 128)")
    p.add_argument("--overlap-tokens", type=int, default=32, help="sentences repeated between passages, in tokens")
    p.add_argument("--index-type", choices=INDEX_TYPES,
                   help="vector index type; a new index defaults to auto (exact below 20,000 passages, then IVF), "
                   "an existing one keeps its own")
    p.add_argument("--param", action="append", help="index parameter, e.g. efSearch=128 or nprobe=32 (repeatable)")
    p.add_argument("--batch", type=int, default=256, help="articles per atomic commit")
    p.add_argument("--backend", choices=BACKENDS, help="vector store for a new index (default: $NEWSEARCH_BACKEND, "
                   "the config file, else faiss); naming it moves an existing index, without re-encoding")
    p.add_argument("--milvus-uri", help="Milvus Lite .db file (relative to the index) or http://host:19530 "
                   "(default: $NEWSEARCH_MILVUS_URI, the config file, else vectors.milvus.db in the index)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--ray", metavar="ADDRESS", default=os.environ.get("NEWSEARCH_RAY_ADDRESS"),
                   help="read and embed on this Ray cluster, e.g. 10.0.0.5:6379 (default: $NEWSEARCH_RAY_ADDRESS)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("rebuild", help="rebuild the vector index from stored embeddings (no re-encoding)")
    _add_index_arg(p)
    p.add_argument("--index-type", choices=INDEX_TYPES, help="new FAISS index type")
    p.add_argument("--param", action="append", help="index parameter, e.g. efSearch=128 or nprobe=32 (repeatable)")
    p.set_defaults(func=cmd_rebuild)

    p = sub.add_parser("delete", help="delete articles by id")
    p.add_argument("ids", nargs="+")
    _add_index_arg(p)
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("search", help="ranked articles with their best passages")
    p.add_argument("query")
    _add_index_arg(p)
    p.add_argument("-k", type=int, default=10, help="results (default 10)")
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--mode", choices=MODES, help="retrieval mode (default: hybrid)")
    p.add_argument("--source", action="append", help="only this outlet (repeatable)")
    p.add_argument("--since", help="published on or after (ISO date)")
    p.add_argument("--until", help="published on or before (ISO date)")
    p.add_argument("--language", help="only this language code")
    p.add_argument("--field", action="append", help="metadata KEY=VALUE equality (repeatable)")
    p.add_argument("--fusion", choices=FUSIONS, default="convex", help="hybrid fusion (default convex)")
    p.add_argument("--sort", choices=SORTS, default="relevance")
    p.add_argument("--recency-half-life", type=float, default=0.0, metavar="DAYS", help="recency boost")
    p.add_argument("--max-per-source", type=int, default=0, help="cap results per outlet (outlet diversity)")
    p.add_argument("--collapse-duplicates", action="store_true", help="wire copies as one result")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("stats", help="counts and settings of an index")
    _add_index_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("serve", help="HTTP API and search page")
    _add_index_arg(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench", required=True)
    p = bench.add_parser("recall", help="nDCG@10, R@10, R@100, MRR@10 of every mode on a BEIR folder")
    p.add_argument("folder", type=Path)
    p.add_argument("--queries", type=Path)
    p.add_argument("--qrels", type=Path)
    p.add_argument("--model")
    p.add_argument("--encoder", choices=ENCODERS, default=DEFAULT_ENCODER)
    p.add_argument("--chunk-tokens", type=int, default=128)
    p.add_argument("--overlap-tokens", type=int, default=32)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench_recall)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from indexer.store import IndexError_

    try:
        return args.func(args)
    except (IndexError_, ValueError, FileNotFoundError) as exc:
        print(f"newsearch: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("newsearch: interrupted; committed batches are kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

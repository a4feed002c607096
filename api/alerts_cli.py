"""`newsearch alerts ...`: saved searches from the command line (the same calls as the HTTP API's)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from api.flags import add_crawl_args, add_index_arg, add_search_options, search_options

EXIT_OK, EXIT_PROBLEMS, EXIT_ERROR = 0, 1, 2


def _store(args: argparse.Namespace):
    """The index without its model: listing, reading, removing and delivering need no encoder."""
    from indexer.store.index_store import IndexStore

    return IndexStore.open(args.index)


def _spec(values: dict, where: str):
    """A SavedSearchSpec from wire names (an HTTP body, a line of `alerts import`), checked by the API's model."""
    from pydantic import ValidationError

    from api.models import AlertIn

    try:
        return AlertIn(**values).spec()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{where}: {problems}") from None


def cmd_add(args: argparse.Namespace) -> int:
    from search import Searcher
    from search.alerts import SavedSearchSpec

    filters, options = search_options(args)
    spec = SavedSearchSpec(args.query or "", args.name or "", filters, options, args.story, args.webhook or "",
                           args.secret or "")
    alert = Searcher(args.index).add_alert(spec)
    print(json.dumps(alert.to_dict(), ensure_ascii=False, indent=2) if args.json else alert.id)
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    """One saved search per JSONL line ({"query": ..., "name": ..., other options by their HTTP names}); lines
    that are not saved searches are reported by number and skipped, the others saved together."""
    from search import Searcher

    specs, problems = [], []
    with open(args.file, encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{args.file}:{number}"
            try:
                values = json.loads(line)
                if not isinstance(values, dict):
                    raise ValueError(f"{where}: expected a JSON object")
                if "query" in values:
                    values["q"] = values.pop("query")
                specs.append(_spec(values, where))
            except ValueError as exc:
                problems.append(str(exc) if str(exc).startswith(where) else f"{where}: {exc}")
    saved = Searcher(args.index).add_alerts(specs) if specs else []
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    print(f"saved {len(saved)} searches" + (f", skipped {len(problems)} lines" if problems else ""), file=sys.stderr)
    return EXIT_PROBLEMS if problems else EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from search import alerts

    found = alerts.every(_store(args))
    if args.json:
        print(json.dumps([a.to_dict() for a in found], ensure_ascii=False, indent=2))
        return EXIT_OK
    for a in found:
        c = a.counts
        what = f"story {a.story}" if a.story is not None else repr(a.query)
        hook = f"  webhook: {c.delivered} delivered, {c.pending} pending, {c.dead} dead" if a.webhook else ""
        print(f"{a.id}  {a.name!r}  {what}  {c.matches} matches ({c.unread} unread){hook}")
        if a.last_error:
            print(f"    last delivery error: {a.last_error}")
    if not found:
        print("no saved searches", file=sys.stderr)
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from search import alerts

    store = _store(args)
    alert = alerts.one(store, args.id)
    if alert is None:
        raise ValueError(f"no saved search with id {args.id!r}")
    found = alerts.matches(store, args.id, args.limit) or []
    if args.json:
        print(json.dumps({"alert": alert.to_dict(), "matches": [asdict(m) for m in found]}, ensure_ascii=False,
                         indent=2))
        return EXIT_OK
    print(f"{alert.name!r}: {alert.counts.matches} matches, newest first")
    for m in found:
        where = ", ".join(x for x in (m.source, m.published[:10]) if x)
        print(f"\n{m.title or m.article}  ({where})  score {m.score:.3f}\n  {m.url or m.article}\n  "
              f"[{m.start}:{m.end}] {m.passage[:300]}")
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    from search import alerts

    if not alerts.remove(_store(args), args.id):
        raise ValueError(f"no saved search with id {args.id!r}")
    print(f"removed {args.id}", file=sys.stderr)
    return EXIT_OK


def deliver_once(index: Path, allow_private: bool, contact: str | None) -> bool:
    """Send the deliveries due now, once each, saying how it went; whether one failed."""
    from indexer.crawl.webhooks import Deliverer
    from indexer.store.index_store import IndexStore

    store = IndexStore.open(index)
    deliverer = Deliverer(store, allow_private=allow_private, contact=contact)
    try:
        report = deliverer.run_once()
    finally:
        deliverer.close()
        store.close()
    for error in report.errors:
        print(error, file=sys.stderr)
    print(f"webhooks: {report.delivered} delivered, {report.retrying} to retry, {report.dead} dead", file=sys.stderr)
    return report.failed


def cmd_deliver(args: argparse.Namespace) -> int:
    """Send what is due once and exit (for cron): exit 1 when a delivery failed (to be retried, or dead)."""
    return EXIT_PROBLEMS if deliver_once(args.index, args.allow_private, args.contact) else EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """`alerts` and its subcommands."""
    alerts = sub.add_parser("alerts", help="saved searches that fire on new articles (feeds and webhooks)")
    cmds = alerts.add_subparsers(dest="alerts", required=True)

    p = cmds.add_parser("add", help="save a search (prints its id): a query, or --story ID to follow")
    p.add_argument("query", nargs="?", help="the query (omit with --story)")
    add_index_arg(p)
    p.add_argument("--name", help="a name to show (default: the query)")
    p.add_argument("--story", type=int, help="follow this story: fire when a new article joins it")
    p.add_argument("--webhook", help="POST each match to this URL as JSON")
    p.add_argument("--secret", help="sign webhook bodies with this key (X-Newsearch-Signature: sha256=...)")
    p.add_argument("--json", action="store_true", help="print the saved search as JSON")
    add_search_options(p)
    p.set_defaults(func=cmd_add)

    p = cmds.add_parser("import", help="save many searches from a JSONL file, one a line")
    p.add_argument("file", type=Path)
    add_index_arg(p)
    p.set_defaults(func=cmd_import)

    p = cmds.add_parser("list", help="saved searches with their match and delivery counts")
    add_index_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = cmds.add_parser("show", help="a saved search's matches, newest first")
    p.add_argument("id")
    add_index_arg(p)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = cmds.add_parser("remove", help="delete a saved search with its matches")
    p.add_argument("id")
    add_index_arg(p)
    p.set_defaults(func=cmd_remove)

    p = cmds.add_parser("deliver", help="send the pending webhook deliveries once and exit (for cron; exit 1 "
                        "if one failed)")
    add_index_arg(p)
    add_crawl_args(p, os.environ.get("NEWSEARCH_CONTACT"))
    p.set_defaults(func=cmd_deliver)

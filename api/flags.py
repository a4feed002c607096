"""Command-line flags shared by several commands: the index folder, the search options (derived from their
one declaration), and what every command that fetches takes."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_index_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, type=Path, help="index folder")


def add_search_options(parser: argparse.ArgumentParser) -> None:
    """The filters and search options as command-line flags, derived from their one declaration."""
    from search.options import Filters, SearchOptions, declared

    for cls in (Filters, SearchOptions):
        for d in declared(cls):
            flag, common = f"--{d.cli}", {"dest": d.param, "help": d.help}
            if d.is_list:
                parser.add_argument(flag, action="append", **common)
            elif d.base is bool:
                parser.add_argument(flag, action="store_true", **common)
            elif d.choices:
                parser.add_argument(flag, choices=d.choices, default=d.default, **common)
            else:
                parser.add_argument(flag, type=_checked(d) if d.date else d.base, default=d.default, **common)


def _checked(d):
    """The flag's value through its declaration's check; argparse then names the flag and exits 2."""
    def parse(text: str) -> str:
        try:
            return d.check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def search_options(args: argparse.Namespace):
    """(Filters, SearchOptions) from the flags `add_search_options` declared."""
    from search.options import Filters, SearchOptions, declared, from_wire

    params = [d.param for cls in (Filters, SearchOptions) for d in declared(cls)]
    return from_wire({p: getattr(args, p) for p in params})


def _contact(text: str) -> str:
    from indexer.crawl.fetch import check_contact

    try:
        return check_contact(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_crawl_args(p: argparse.ArgumentParser, contact_default: str | None) -> None:
    """What every command that fetches takes: the private-address switch and the operator's contact."""
    p.add_argument("--allow-private", action="store_true",
                   help="let URLs and feeds point at loopback or private addresses (refused by default)")
    p.add_argument("--contact", type=_contact, default=contact_default, metavar="EMAIL_OR_URL",
                   help="who runs this crawler, sent in every request's User-Agent so a site can reach you "
                   "(default: $NEWSEARCH_CONTACT)")

"""Where an index keeps its vectors: the backend and the Milvus URI, from the first place that names them.

Order: an explicit argument (a CLI option), the environment (NEWSEARCH_BACKEND, NEWSEARCH_MILVUS_URI), the
config file (TOML at $NEWSEARCH_CONFIG, else ./newsearch.toml if present; keys `backend` and `milvus_uri`
under `[index]`), then the default (faiss). These choose for a new index; an existing index keeps what its
manifest records, except that NEWSEARCH_MILVUS_URI points any process that opens it at another Milvus (a
server answering from a cluster, say).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

BACKENDS = ("faiss", "milvus")
# How fresh a Milvus search must be (docs/scale-out.md): Strong waits for every write acknowledged before it, which
# on a server costs each search up to one time tick (200 ms); the others answer at once from a snapshot at
# most a few seconds old. Syncs (ids, counts) are always Strong.
CONSISTENCY_LEVELS = ("Strong", "Bounded", "Session", "Eventually")
DEFAULT_BACKEND = "faiss"
CONFIG_FILE = "newsearch.toml"


def config_file() -> dict:
    """The `[index]` table of the config file; empty when there is no file."""
    named = os.environ.get("NEWSEARCH_CONFIG")
    path = Path(named) if named else Path(CONFIG_FILE)
    if not named and not path.is_file():
        return {}
    try:
        with open(path, "rb") as handle:  # a named file that is missing raises FileNotFoundError
            table = tomllib.load(handle).get("index", {})
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    if not isinstance(table, dict):
        raise ValueError(f"{path}: [index] must be a table")
    return table


def _first(explicit: str | None, env: str, key: str, default: str) -> str:
    if explicit:
        return explicit
    return os.environ.get(env) or str(config_file().get(key) or default)


def backend(explicit: str | None = None) -> str:
    """The vector backend for a new index."""
    chosen = _first(explicit, "NEWSEARCH_BACKEND", "backend", DEFAULT_BACKEND).lower()
    if chosen not in BACKENDS:
        raise ValueError(f"unknown vector backend {chosen!r}; choose one of {', '.join(BACKENDS)}")
    return chosen


def milvus_uri(explicit: str | None = None) -> str:
    """The Milvus URI for a new index: a .db file (Milvus Lite) or http://host:port; '' for the default file."""
    return _first(explicit, "NEWSEARCH_MILVUS_URI", "milvus_uri", "")


def milvus_consistency() -> str:
    """The consistency level of Milvus searches: NEWSEARCH_MILVUS_CONSISTENCY, else `milvus_consistency` in the
    config file, else Strong."""
    chosen = _first(None, "NEWSEARCH_MILVUS_CONSISTENCY", "milvus_consistency", "Strong").capitalize()
    if chosen not in CONSISTENCY_LEVELS:
        raise ValueError(f"unknown Milvus consistency level {chosen!r}; choose one of {', '.join(CONSISTENCY_LEVELS)}")
    return chosen


def milvus_token() -> str:
    """The credentials for a Milvus server ("user:password" or an API key): NEWSEARCH_MILVUS_TOKEN, or the first
    line of the file NEWSEARCH_MILVUS_TOKEN_FILE names; never in the config file or the manifest, which are
    not secrets."""
    if token := os.environ.get("NEWSEARCH_MILVUS_TOKEN"):
        return token
    named = os.environ.get("NEWSEARCH_MILVUS_TOKEN_FILE")
    return Path(named).read_text(encoding="utf-8").strip().split("\n")[0] if named else ""


def open_uri(recorded: str) -> str:
    """Where this process finds the vectors: NEWSEARCH_MILVUS_URI when set (e.g. serve from a cluster), else the
    URI the manifest records."""
    return os.environ.get("NEWSEARCH_MILVUS_URI") or recorded

"""SQL over a list of keys, shared by the store, the lexical index, the snapshot and alert matching."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

# Keys per statement: under SQLite's oldest default limit of 999 host parameters.
CHUNK = 900


def select_in(conn: sqlite3.Connection, sql: str, values: Sequence) -> Iterator[tuple]:
    """The rows of `sql`, whose `IN ({})` is filled with `values`, a chunk of them per statement."""
    for start in range(0, len(values), CHUNK):
        part = values[start:start + CHUNK]
        yield from conn.execute(sql.format(",".join("?" * len(part))), part)

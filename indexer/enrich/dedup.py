"""Near-duplicate groups of wire copies: MinHash over word shingles (Broder 1997), and the stage that
groups each committed article.

Two articles whose shingle sets have Jaccard similarity J agree on each of the `NUM_PERM` min-hashes with
probability J; bands of `ROWS` hashes (LSH) find candidates, and the estimated J decides.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3

import numpy as np

from indexer.enrich.stage import Stage, StageBatch

NUM_PERM = 64
ROWS = 4  # 16 bands of 4: a pair with J = 0.8 shares a band with probability 1 - (1 - 0.8**4)**16 > 0.999
SHINGLE = 5
THRESHOLD = 0.8
_MERSENNE = np.uint64((1 << 61) - 1)
_rng = np.random.default_rng(20240611)
_A = _rng.integers(1, (1 << 61) - 1, NUM_PERM, dtype=np.uint64)
_B = _rng.integers(0, (1 << 61) - 1, NUM_PERM, dtype=np.uint64)


def shingles(text: str, size: int = SHINGLE) -> set[int]:
    """Hashes of overlapping word n-grams of the lower-cased text."""
    words = re.findall(r"\w+", text.lower())
    if len(words) < size:
        words = words + [""] * (size - len(words))
    return {int.from_bytes(hashlib.blake2b(" ".join(words[i:i + size]).encode(), digest_size=8).digest(), "little")
            >> 4 for i in range(len(words) - size + 1)}


def signature(text: str) -> np.ndarray:
    """MinHash signature: min over shingles of (a*x + b) mod p, for NUM_PERM (a, b) pairs."""
    values = np.fromiter(shingles(text), dtype=np.uint64)
    hashed = (np.outer(values % _MERSENNE, _A) % _MERSENNE + _B) % _MERSENNE
    return hashed.min(axis=0)


def band_keys(sig: np.ndarray) -> list[str]:
    """One key per LSH band; articles sharing a key are candidate duplicates."""
    return [f"{i}:{hashlib.blake2b(sig[i * ROWS:(i + 1) * ROWS].tobytes(), digest_size=8).hexdigest()}"
            for i in range(NUM_PERM // ROWS)]


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two signatures."""
    return float(np.mean(a == b))


class DuplicateGroups(Stage):
    """Put each inserted article in the group of an earlier near-duplicate (a wire copy), else its own group."""

    name = "duplicates"

    def apply(self, batch: StageBatch) -> None:
        for stored in batch.added:
            group_duplicates(batch.conn, stored.rowid, stored.article.text)


def group_duplicates(conn: sqlite3.Connection, rowid: int, text: str) -> None:
    """The article's group: the first stored article (by rowid) whose signature is within `THRESHOLD`."""
    sig = signature(text)
    keys = band_keys(sig)
    group = rowid
    candidates = conn.execute(
        "SELECT DISTINCT a.rowid, a.dup_group, a.minhash FROM article_bands b "
        f"JOIN articles a ON a.rowid = b.article WHERE b.band IN ({','.join('?' * len(keys))}) ORDER BY a.rowid",
        keys).fetchall()
    for _, candidate_group, blob in candidates:
        if similarity(sig, np.frombuffer(blob, dtype=np.uint64)) >= THRESHOLD:
            group = candidate_group
            break
    conn.execute("UPDATE articles SET dup_group=?, minhash=? WHERE rowid=?", (group, sig.tobytes(), rowid))
    conn.executemany("INSERT INTO article_bands (band, article) VALUES (?, ?)", [(k, rowid) for k in keys])

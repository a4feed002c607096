"""The fast BM25 index (tantivy), derived from the database like the vectors.

The FTS5 table is written in the same SQLite transaction as the articles and stays the truth for lexical
search. This tantivy copy answers unfiltered queries about ten times faster (benchmarks/README.md);
the writer brings it in step after each commit. The generation it holds lives in a marker document
committed with its rows, so a reader uses it only when it holds exactly the reader's snapshot, and asks
FTS5 otherwise (a crash between the two commits, or a reader that has not reloaded yet).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import tantivy

from indexer.sql import select_in

FOLDER = "lexical"
_MARKER = 0  # the rowid of the marker document; article rowids start at 1
# Deleted documents stay in tantivy's BM25 statistics until their segment merges (tantivy-py cannot ask for
# a merge), so once replaced articles reach this share of the live ones the index is rebuilt: a cost
# amortized over the writes that caused it, and a bound on how far scores drift from a fresh build's.
REBUILD_STALE_SHARE = 0.1


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("rowid", stored=True, indexed=True, fast=True)
    builder.add_integer_field("generation", stored=True)
    builder.add_integer_field("stale", stored=True)  # documents deleted since the last rebuild
    builder.add_text_field("body", stored=False, tokenizer_name="en_stem")
    return builder.build()


def body(title: str, text: str) -> str:
    """One field holding the headline twice, then the text: a headline word counts twice in one BM25 score,
    as FTS5's column weights (2, 1) do. Two fields with a title boost score each field's BM25 apart, and
    measured worse on two of the three test sets (benchmarks/README.md, lexical)."""
    return f"{title} {title} {text}" if title else text


class LexicalIndex:
    """BM25 over headline and text, keyed by article rowid. One writer process at a time (the folder lock)."""

    def __init__(self, folder: Path, index: tantivy.Index) -> None:
        self.folder = folder
        self._index = index
        self._writer: tantivy.IndexWriter | None = None
        # The last searcher a search used and the generation it holds: a tantivy searcher is an immutable
        # view, so while readers ask for that generation it answers without the marker lookup.
        self._held: tuple[int, tantivy.Searcher] | None = None

    @classmethod
    def open(cls, index_folder: Path, create: bool = False) -> LexicalIndex | None:
        """The index folder's tantivy index; None when there is none and `create` is off (FTS5 serves)."""
        folder = Path(index_folder) / FOLDER
        if not create and not tantivy.Index.exists(str(folder)):
            return None
        folder.mkdir(exist_ok=True)
        try:
            return cls(folder, tantivy.Index(_schema(), path=str(folder), reuse=True))
        except ValueError:  # made by another version of newsearch: derived state, so a writer starts it anew
            if not create:
                return None
            shutil.rmtree(folder)
            folder.mkdir()
            return cls(folder, tantivy.Index(_schema(), path=str(folder), reuse=True))

    def generation(self, searcher: tantivy.Searcher | None = None) -> int:
        """The database generation this index holds (-1: none yet)."""
        return self._marker(searcher or self._index.searcher())[0]

    def _marker(self, searcher: tantivy.Searcher) -> tuple[int, int]:
        """(generation, stale documents) as last committed."""
        hits = searcher.search(tantivy.Query.term_query(self._index.schema, "rowid", _MARKER), 1).hits
        if not hits:
            return -1, 0
        doc = searcher.doc(hits[0][1])
        return int(doc["generation"][0]), int((doc["stale"] or [0])[0])

    def search(self, words: list[str], depth: int, generation: int) -> list[tuple[int, float]] | None:
        """(rowid, BM25) best first, ties by rowid; None when this index is not at `generation`."""
        searcher = self._searcher(generation)
        if searcher is None:
            return None
        if not words:
            return []
        query = self._index.parse_query(" ".join(words), ["body"])
        hits = searcher.search(query, depth, count=False).hits  # the count would visit every match
        rowids = searcher.fast_field_values("rowid", [address for _, address in hits])  # no stored documents
        return sorted(zip(rowids, (float(score) for score, _ in hits), strict=True),
                      key=lambda hit: (-hit[1], hit[0]))

    def _searcher(self, generation: int) -> tantivy.Searcher | None:
        """A searcher holding `generation`, or None when this index does not hold it (yet, or any more)."""
        held = self._held
        if held is not None and held[0] == generation:
            return held[1]
        searcher = self._index.searcher()
        if self.generation(searcher) != generation:
            self._index.reload()  # a commit may have landed since the last reload
            searcher = self._index.searcher()
            if self.generation(searcher) != generation:
                return None
        self._held = generation, searcher
        return searcher

    # -- the writer side ---------------------------------------------------------------------------
    def apply(self, conn: sqlite3.Connection, removed: Iterable[int], added: Iterable[int], generation: int) -> None:
        """Apply one committed batch (from generation - 1 to `generation`), or rebuild if this index is behind."""
        searcher = self._index.searcher()
        held, stale = self._marker(searcher)
        removed = list(removed)
        stale += len(removed)
        if held != generation - 1 or stale > REBUILD_STALE_SHARE * max(searcher.num_docs - 1, 1):
            self.rebuild(conn, generation)
            return
        with self._commit(generation, stale) as writer:
            for rowid in removed:
                writer.delete_documents_by_term("rowid", rowid)
            _add(writer, select_in(conn, "SELECT title, text, rowid FROM articles WHERE rowid IN ({})", list(added)))

    def rebuild(self, conn: sqlite3.Connection, generation: int) -> None:
        """Every article the snapshot `conn` holds, as of `generation`."""
        with self._commit(generation) as writer:
            writer.delete_all_documents()
            _add(writer, conn.execute("SELECT title, text, rowid FROM articles"))

    @contextmanager
    def _commit(self, generation: int, stale: int = 0) -> Iterator[tantivy.IndexWriter]:
        """One tantivy commit that moves the marker to `generation`; nothing of it stays if it fails."""
        if self._writer is None:
            self._writer = self._index.writer(heap_size=64_000_000, num_threads=1)
        writer = self._writer
        try:
            yield writer
            writer.delete_documents_by_term("rowid", _MARKER)
            writer.add_document(tantivy.Document(rowid=_MARKER, generation=generation, stale=stale))
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        self._index.reload()

    def close(self) -> None:
        """Release tantivy's writer lock (the folder lock already keeps other writers out)."""
        if self._writer is not None:
            self._writer.wait_merging_threads()
            self._writer = None


def _add(writer: tantivy.IndexWriter, rows: Iterable[tuple[str, str, int]]) -> None:
    for title, text, rowid in rows:
        writer.add_document(tantivy.Document(rowid=rowid, body=body(title, text)))

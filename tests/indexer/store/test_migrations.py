"""Migrations: an index written by the code before them (format 3, `tests/fixtures/format3`) opens with today's
code, is upgraded in place without encoding a passage, answers as it did, takes new writes; and a kill -9 at
any moment of the upgrade leaves the old format or the new one, never a mix."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.pipeline import Indexer
from indexer.sources.article import Article
from indexer.sources.readers import read_sources
from indexer.store import migrations
from indexer.store.index_store import IndexStore
from search import Searcher, SearchOptions
from tests.conftest import ROOT
from tests.indexer.test_incremental import CountingEmbedder

FIXTURE = ROOT / "tests" / "fixtures" / "format3"
RECORDED = json.loads((FIXTURE / "answers.json").read_text(encoding="utf-8"))["answers"]


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "index"
    shutil.copytree(FIXTURE / "index", folder)
    return folder


def _answers(searcher: Searcher) -> dict[str, list]:
    out = {}
    for key in RECORDED:
        mode, query = key.split(":", 1)
        response = searcher.search(query, k=5, options=SearchOptions(mode=mode))
        out[key] = [[r.id, round(r.score, 4)] for r in response.results]
    return out


def _format_of(folder: Path) -> tuple[int, bool, list]:
    """(recorded format, whether articles has the format-4 column, migrations recorded), read raw."""
    conn = sqlite3.connect(folder / "meta.sqlite")
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(articles)")}
        return migrations.stored_format(conn), "generation" in columns, migrations.applied(conn)
    finally:
        conn.close()


def test_format3_fixture_upgrades_in_place_and_answers_as_recorded(tmp_path, embedder):
    folder = _copy(tmp_path)
    assert _format_of(folder)[0] == 3 and json.loads((folder / "manifest.json").read_text())["format_version"] == 3
    counting = CountingEmbedder(embedder)
    searcher = Searcher(folder, embedder=counting)
    try:
        assert _answers(searcher) == RECORDED
        stats = searcher.stats()
    finally:
        searcher.close()
    version, has_column, steps = _format_of(folder)
    assert (version, has_column) == (migrations.FORMAT_VERSION, True)
    assert [s["version"] for s in steps] == [m.version for m in migrations.MIGRATIONS]
    assert json.loads((folder / "manifest.json").read_text())["format_version"] == migrations.FORMAT_VERSION
    assert stats.format_version == migrations.FORMAT_VERSION
    assert [s["version"] for s in stats.migrations] == [m.version for m in migrations.MIGRATIONS]
    assert counting.texts == 0  # the upgrade and the searches encoded no passage

    article = Article(id="new-1", title="Volcano erupts near village", text="A volcano erupted on Tuesday near a "
                      "mountain village, and officials ordered thousands of residents to leave their homes. " * 3,
                      source="Test Wire", published="2013-05-02")
    with Indexer(folder, embedder=counting) as indexer:
        committed = indexer.write([article])
    assert committed.added == ("new-1",) and committed.passages == counting.texts > 0
    searcher = Searcher(folder, embedder=counting)
    try:
        assert searcher.search("volcano erupts near village", k=1).results[0].id == "new-1"
        assert _answers(searcher) == {k: v for k, v in _answers(searcher).items()}  # stable across calls
    finally:
        searcher.close()
    conn = sqlite3.connect(folder / "meta.sqlite")
    generations = dict(conn.execute("SELECT id, generation FROM articles"))
    outlets = conn.execute("SELECT url, source, metadata FROM articles WHERE url LIKE '%nydailynews.com%'").fetchall()
    conn.close()
    assert generations.pop("new-1") == committed.generation and set(generations.values()) == {0}
    assert outlets and all(source == "nydailynews.com" and json.loads(meta)["source_derived"]
                           for _, source, meta in outlets)


def test_an_upgraded_index_rereads_its_sources_as_unchanged(tmp_path, embedder):
    """The outlet backfill recomputes content hashes as the readers now make them: re-indexing the same
    ECB+ lines after the upgrade encodes nothing."""
    folder = _copy(tmp_path)
    lines = (ROOT / "data" / "ecbplus" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:24]
    source = tmp_path / "ecbplus.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    counting = CountingEmbedder(embedder)
    with Indexer(folder, embedder=counting) as indexer:
        report = indexer.add(read_sources([str(source)]))
    assert (report.unchanged, report.indexed, counting.texts) == (24, 0, 0)


_CHILD = """
import os, signal, sys
from indexer.store import index_store, manifest

folder, kill_at = sys.argv[1], int(sys.argv[2])
count = [0]
connect = index_store.IndexStore.connection

def connection(self):
    conn = connect(self)
    def trace(statement):
        count[0] += 1
        if count[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    conn.set_trace_callback(trace)
    return conn

index_store.IndexStore.connection = connection
if kill_at == -1:  # after the database committed, before the manifest's copy of the format is written
    manifest.Manifest.write = lambda self, folder: os.kill(os.getpid(), signal.SIGKILL)
index_store.IndexStore.open(folder).close()
print(count[0])
"""


def _open_in_child(folder: Path, kill_at: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", _CHILD, str(folder), str(kill_at)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_kill_during_migration_leaves_old_or_new_format(tmp_path, embedder):
    dry = _open_in_child(_copy(tmp_path / "dry"), 0)
    assert dry.returncode == 0, dry.stderr
    statements = int(dry.stdout.split()[-1])
    moments = sorted(set(range(1, statements + 1)) | {-1})
    assert len(moments) >= 20, f"only {len(moments)} moments to kill at"
    seen = set()
    for at in moments:
        folder = _copy(tmp_path / f"kill{at}")
        child = _open_in_child(folder, at)
        assert child.returncode == -signal.SIGKILL, (at, child.returncode, child.stderr)
        version, has_column, steps = _format_of(folder)
        if version == 3:
            assert not has_column and steps == [], at  # the old format, whole
        else:
            assert (version, has_column, len(steps)) == (migrations.FORMAT_VERSION, True, len(migrations.MIGRATIONS))
        seen.add(version)
        searcher = Searcher(folder, embedder=embedder)  # opens (finishing the upgrade) and answers
        try:
            key = "hybrid:Russia stance on DPRK sanctions"
            assert [r.id for r in searcher.search(key.split(":", 1)[1], k=5).results] == [i for i, _ in RECORDED[key]]
        finally:
            searcher.close()
        assert _format_of(folder)[0] == migrations.FORMAT_VERSION
        assert json.loads((folder / "manifest.json").read_text())["format_version"] == migrations.FORMAT_VERSION
    assert seen == {3, migrations.FORMAT_VERSION}  # the kills landed on both sides of the commit


def test_a_newer_format_is_refused(tmp_path):
    folder = _copy(tmp_path)
    conn = sqlite3.connect(folder / "meta.sqlite")
    conn.execute("INSERT INTO state VALUES ('format', '999')")
    conn.commit()
    conn.close()
    with pytest.raises(Exception, match="made by a newer newsearch"):
        IndexStore.open(folder)

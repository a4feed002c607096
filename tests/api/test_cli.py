"""The `newsearch` command end to end, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import SEED_QUERY, write_jsonl


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, timeout=300)


def test_search_json_finds_seed_first_with_offsets(small_index):
    out = run("search", SEED_QUERY, "--index", str(small_index), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["query"] == SEED_QUERY
    top = data["results"][0]
    assert top["title"].startswith("Russia Vows")
    assert set(top) >= {"id", "title", "source", "url", "published", "score", "passages"}
    passage = top["passages"][0]
    assert "sanction" in passage["text"].lower()
    assert 0 <= passage["start"] < passage["end"]


def test_stats_json(small_index):
    out = run("stats", "--index", str(small_index), "--json")
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout)
    assert stats["articles"] == 61 and stats["passages"] > 61


def test_index_reports_bad_lines_and_exits_nonzero(tmp_path):
    source = write_jsonl(tmp_path / "news.jsonl", [{"id": "a", "title": "Flood in Dhaka", "text": "Rivers rose."}])
    with open(source, "a", encoding="utf-8") as handle:
        handle.write('{"id": "b", "title": broken\n')
    out = run("index", str(source), str(tmp_path / "missing.jsonl"), "--index", str(tmp_path / "idx"), "--quiet")
    assert out.returncode == 1
    assert "news.jsonl:2: invalid JSON" in out.stderr
    assert "missing.jsonl: no such file or folder" in out.stderr
    assert "indexed 1 articles" in out.stderr


def test_missing_index_is_a_clear_error(tmp_path):
    out = run("search", "anything", "--index", str(tmp_path / "nowhere"))
    assert out.returncode == 2
    assert "is not a newsearch index" in out.stderr


def test_rebuild_changes_index_type_without_reencoding(small_index, tmp_path):
    import shutil

    index = tmp_path / "idx"
    shutil.copytree(small_index, index)
    before = (index / "meta.sqlite").stat().st_mtime_ns
    out = run("rebuild", "--index", str(index), "--index-type", "hnsw", "--param", "efSearch=64")
    assert out.returncode == 0, out.stderr
    stats = json.loads(run("stats", "--index", str(index), "--json").stdout)
    assert stats["index_type"] == "hnsw"
    found = json.loads(run("search", SEED_QUERY, "--index", str(index), "--json", "--mode", "dense").stdout)
    assert found["results"][0]["title"].startswith("Russia Vows")
    assert json.loads((index / "vectors.json").read_text())["index_type"] == "hnsw"
    assert (index / "meta.sqlite").stat().st_mtime_ns == before  # embeddings reused, nothing re-encoded
    bad = run("rebuild", "--index", str(index), "--param", "M=x")
    assert bad.returncode == 2 and "--param" in bad.stderr

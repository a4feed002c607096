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


def test_search_text_output_is_readable(small_index):
    """Each result: a heading (never an internal id), where and when, and the best passage as a snippet; a
    divider before the first result that fails the relevance test (the seed answers its query, no other)."""
    out = run("search", SEED_QUERY, "--index", str(small_index), "-k", "5")
    assert out.returncode == 0, out.stderr
    first, divider, second = out.stdout.split("\n\n")[:3]
    assert first.startswith("1. Russia Vows") and "sanctions" in first.lower()
    assert divider == "── less related ──" and second.startswith("2. ")
    assert any(line.startswith("   mentions") for line in second.split("\n"))  # what it shares with the query
    assert "\033[" not in out.stdout  # piped: plain text, no terminal bold
    headings = [block.split("\n")[0] for block in out.stdout.split("\n\n")]
    assert not [h for h in headings if "ecb-" in h], headings


def test_stories_timeline_and_similar_commands(small_index):
    grouped = json.loads(run("search", SEED_QUERY, "--index", str(small_index), "--group", "story", "--json").stdout)
    seed = grouped["results"][0]
    assert seed["title"].startswith("Russia Vows") and seed["story"]["id"] == seed["story_id"]
    story = run("story", str(seed["story_id"]), "--index", str(small_index), "--query", "sanctions", "--json")
    assert story.returncode == 0, story.stderr
    assert json.loads(story.stdout)["articles"][0]["id"] == seed["id"]
    assert run("story", "999999999", "--index", str(small_index)).returncode == 1
    timeline = run("timeline", "Lindsay Lohan rehab", "--index", str(small_index), "--interval", "week", "--json")
    assert timeline.returncode == 0, timeline.stderr
    assert any(b["count"] for b in json.loads(timeline.stdout)["buckets"])
    text = run("timeline", "Lindsay Lohan rehab", "--index", str(small_index))
    assert "2013-05-02" in text.stdout and "#" in text.stdout
    similar = json.loads(run("similar", seed["id"], "--index", str(small_index), "-k", "3", "--json").stdout)
    assert len(similar["results"]) == 3 and seed["id"] not in [r["id"] for r in similar["results"]]
    only_time = run("search", "last week", "--index", str(small_index), "--time-words")
    assert only_time.returncode == 2 and "only a time phrase" in only_time.stderr


def test_a_date_off_the_calendar_exits_2_naming_the_flag(small_index, tmp_path):
    for flag, value in (("--since", "2013-13-45"), ("--until", "2013-02-30"), ("--now", "2013-02-30")):
        out = run("search", "rehab", "--index", str(small_index), flag, value)
        assert out.returncode == 2, (flag, out.stderr)
        assert f"argument {flag}: '{value}' is not on the calendar" in out.stderr
    phrase = run("search", "rehab in February 30 2013", "--index", str(small_index), "--time-words")
    assert phrase.returncode == 2 and "'February 30 2013' is not on the calendar" in phrase.stderr
    source = write_jsonl(tmp_path / "news.jsonl", [{"id": "a", "text": "Rivers rose.", "published": "2013-05-03"},
                                                   {"id": "b", "text": "Rivers fell.", "published": "2013-02-30"}])
    out = run("index", str(source), "--index", str(tmp_path / "idx"), "--quiet")
    assert out.returncode == 1
    assert f"{source}:2: published: '2013-02-30' is not on the calendar" in out.stderr
    assert "indexed 1 articles" in out.stderr


def test_stories_rebuild_keeps_an_older_index_s_settings_unless_told_defaults(small_index, tmp_path):
    """An index whose manifest predates local moves clusters as it always did (moves off); `stories rebuild`
    keeps that, and `--defaults` adopts this release's settings."""
    import shutil

    from indexer.enrich.stories import StoryParams

    index = tmp_path / "idx"
    shutil.copytree(small_index, index, ignore=shutil.ignore_patterns("write.lock"))
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    for key in ("move_slack", "merge_margin"):
        del manifest["stories"][key]
    (index / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    def recorded() -> dict:
        return json.loads((index / "manifest.json").read_text(encoding="utf-8"))["stories"]

    assert run("stories", "rebuild", "--index", str(index)).returncode == 0
    assert (recorded()["move_slack"], recorded()["merge_margin"]) == (None, 0.0)
    assert run("stories", "rebuild", "--index", str(index), "--defaults").returncode == 0
    defaults = StoryParams()
    assert (recorded()["move_slack"], recorded()["merge_margin"]) == (defaults.move_slack, defaults.merge_margin)
    assert defaults.move_slack is not None

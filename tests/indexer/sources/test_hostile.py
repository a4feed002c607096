"""Hostile input: every kind is indexed correctly or refused with a message naming its file and line,
and an index built before the hostile batch keeps everything it had.

The files are generated into a temporary folder (no binary or 10 MB fixtures in the repository).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import DATA

KNOWN_QUERY = "Lindsay Lohan checks into Betty Ford rehab"
SECRET = "zqxscriptsecret"  # a word that only ever appears inside <script> or <style>


def _line(**fields) -> str:
    return json.dumps(fields, ensure_ascii=False)


def _jsonl(*lines: str) -> str:
    return "\n".join(lines) + "\n"


PARAGRAPH = ("The harbour authority said the ferry timetable would change next month, after a review of "
             "passenger numbers and the cost of fuel. ")
ARABIC = "أعلنت وزارة الصحة اليوم عن افتتاح مستشفى جديد في المدينة. " * 12
HEBREW = "משרד הבריאות הודיע היום על פתיחת בית חולים חדש בעיר. " * 12
CHINESE = "今天上海的地铁系统因为暴雨暂停运营，数万名乘客受到影响。" * 30


def _hostile(folder: Path) -> dict[str, Path]:
    """Writes one file per kind; returns kind -> path (some kinds share a file, one line each)."""
    folder.mkdir()
    files: dict[str, bytes | str] = {
        "truncated.jsonl": _jsonl(_line(id="trunc-ok", title="Whole line", text=PARAGRAPH),
                                  '{"id": "trunc-bad", "title": "Cut", "text": "the line ends in the mid'),
        "types.jsonl": _jsonl(
            _line(id="title-list", title=["a", "b"], text=PARAGRAPH),
            _line(id="text-number", title="Number", text=12345),
            _line(id="text-object", title="Object", text={"body": "x"}),
            _line(id="no-title", text="An article without a headline about " + PARAGRAPH),
            _line(id="no-text", title="Headline only"),
            '["an", "array", "not", "an", "object"]',
            _line(id="x" * 5000, title="Long id", text=PARAGRAPH),
            # JSON may escape a lone surrogate ("\\ud800"); Python decodes it to a str that UTF-8 cannot encode.
            json.dumps({"id": "surrogate", "title": "Lone \ud800 surrogate", "note": "meta \udfff",
                        "text": "Text with a lone \udc00 surrogate. " + PARAGRAPH}),
            _line(id="nothing", url="https://example.com/empty", text="  \u200b  "),
        ),
        "big.jsonl": _jsonl(_line(id="big", title="Ten megabytes", text="word " * 2_100_000)),
        "binary.jsonl": bytes(range(256)) * 64,
        "latin1.jsonl": _jsonl(_line(id="latin-ok", title="Fine", text=PARAGRAPH)).encode()
        + '{"id": "latin", "title": "Caf\u00e9", "text": "Un caf\u00e9 cr\u00e8me."}\n'.encode("latin-1"),
        "latin1.txt": "Caf\u00e9 news\nUn caf\u00e9 cr\u00e8me, s'il vous pla\u00eet.\n".encode("latin-1"),
        "bom.jsonl": b"\xef\xbb\xbf" + _jsonl(_line(id="bom", title="Byte order mark", text=PARAGRAPH)).encode(),
        "invisible.jsonl": _jsonl(_line(
            id="invisible", title="Zero\u200bwidth\u200b title",
            text="Con\u200btrol\x07 and zero\u2060width\ufeff chars\x1b here. " + PARAGRAPH)),
        "html-field.jsonl": _jsonl(_line(
            id="html-field", title="HTML in a field",
            text=f"<p>{PARAGRAPH}</p><script>var {SECRET} = 1;</script><style>.{SECRET} {{}}</style><p>After.</p>")),
        "page.html": (f"<html><head><title>Ferry timetable changes</title><style>.{SECRET} {{color: red}}</style>"
                      f"</head><body><article><h1>Ferry timetable changes</h1><p>{PARAGRAPH * 4}</p>"
                      f"<script>window.{SECRET} = 2;</script><p>{PARAGRAPH}</p></article></body></html>"),
        "rtl.jsonl": _jsonl(_line(id="arabic", title="مستشفى جديد", text=ARABIC),
                            _line(id="hebrew", title="בית חולים חדש", text=HEBREW)),
        "cjk.jsonl": _jsonl(_line(id="chinese", title="上海地铁暂停运营", text=CHINESE)),
        "emoji.jsonl": _jsonl(_line(id="emoji", title="Party time \U0001F389",
                                    text="The crowd cheered \U0001F600\U0001F44D as the parade passed. " + PARAGRAPH)),
        "dup.jsonl": _jsonl(_line(id="dup", title="First copy", text="The first copy of the story. " + PARAGRAPH),
                            _line(id="dup", title="Second copy", text="The second copy of the story. " + PARAGRAPH)),
        "dates.jsonl": _jsonl(*(_line(id=f"date-{i}", title=f"Dated {i}", text=PARAGRAPH, published=value)
                                for i, value in enumerate(["Fri, 03 May 2013 10:00:00 +0200", "May 03, 2013",
                                                           1367575200, "sometime last spring"]))),
        "quoted.csv": 'id,title,text\ncsv-1,"Quoted, title","First paragraph.\n\nSecond paragraph, with a comma."\n'
                      'csv-2,Plain,"' + PARAGRAPH + '"\n',
        "empty.jsonl": "",
        "notes.docx": "not a format we read",
    }
    paths = {}
    for name, content in files.items():
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        paths[name] = path
    loop_folder = folder / "loops"
    loop_folder.mkdir()
    os.symlink(loop_folder, loop_folder / "me")  # a folder holding a link to itself
    os.symlink(loop_folder / "inner.txt", loop_folder / "inner.txt")  # found by the walk, points at itself
    os.symlink(folder / "self.jsonl", folder / "self.jsonl")  # named on the command line, points at itself
    paths["loops"] = loop_folder
    paths["inner-link"] = loop_folder / "inner.txt"
    paths["self-link"] = folder / "self.jsonl"
    paths["missing"] = folder / "does-not-exist.jsonl"
    return paths


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, embedder):
    """A base index of real news, then every hostile file indexed into it in one run."""
    from indexer.pipeline import IndexConfig, Indexer
    from indexer.sources.readers import read_sources

    root = tmp_path_factory.mktemp("hostile")
    base = root / "base.jsonl"
    base.write_text("\n".join((DATA / "ecbplus" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:5]) + "\n")
    index = root / "index"
    with Indexer(index, embedder=embedder) as indexer:
        before = indexer.add(read_sources([str(base)]))
    assert before.ok and before.indexed == 5
    from search import Searcher

    searcher = Searcher(index, embedder=embedder)
    known = _known(searcher)
    searcher.close()
    paths = _hostile(root / "in")
    sources = [str(p) for name, p in paths.items() if name not in ("loops", "inner-link")] + [str(paths["loops"])]
    with Indexer(index, IndexConfig(batch_articles=8), embedder=embedder) as indexer:
        report = indexer.add(read_sources(sources))
    return index, paths, report, known


def _known(searcher) -> list[tuple[str, float]]:
    from search import SearchOptions

    results = searcher.search(KNOWN_QUERY, k=3, options=SearchOptions(mode="dense")).results
    return [(r.id, round(r.score, 5)) for r in results]


def _article(index: Path, article_id: str) -> dict | None:
    conn = sqlite3.connect(index / "meta.sqlite")
    try:
        row = conn.execute("SELECT rowid, title, text, published, metadata FROM articles WHERE id=?",
                           (article_id,)).fetchone()
        if row is None:
            return None
        passages = conn.execute('SELECT ord, start, "end" FROM passages WHERE article=? ORDER BY ord',
                                (row[0],)).fetchall()
    finally:
        conn.close()
    return {"title": row[1], "text": row[2], "published": row[3], "metadata": json.loads(row[4]),
            "passages": passages}


def test_refusals_name_file_line_and_reason(hostile):
    index, paths, report, _ = hostile
    where = {p.where: p.message for p in report.problems}
    expected = {
        f"{paths['truncated.jsonl']}:2": "invalid JSON",
        f"{paths['types.jsonl']}:1": "field 'title' must be text, got list",
        f"{paths['types.jsonl']}:3": "field 'text' must be text, got dict",
        f"{paths['types.jsonl']}:9": "article has no text and no title",
        f"{paths['types.jsonl']}:6": "expected a JSON object, got list",
        f"{paths['types.jsonl']}:7": "id is 5000 characters; the limit is 512",
        f"{paths['big.jsonl']}:1": "article text is 10,500,000 characters; the limit is 1,000,000",
        str(paths["binary.jsonl"]): "binary file",
        f"{paths['latin1.jsonl']}:2": "not UTF-8 (byte 0xe9",
        str(paths["latin1.txt"]): "line 1: not UTF-8 (byte 0xe9",
        str(paths["empty.jsonl"]): "empty file",
        str(paths["notes.docx"]): "unknown file type '.docx'",
        str(paths["missing"]): "no such file or folder",
        str(paths["self-link"]): "symlink loop",
        str(paths["inner-link"]): "cannot read: Too many levels of symbolic links",
    }
    for place, message in expected.items():
        assert place in where, f"no problem reported at {place}; got {sorted(where)}"
        assert message in where[place], f"{place}: {where[place]!r} does not say {message!r}"
    assert not report.ok
    # Nothing else was refused: every other kind went in.
    assert set(where) == set(expected), sorted(set(where) - set(expected))


def test_good_lines_beside_bad_ones_are_indexed(hostile):
    index, _, _, _ = hostile
    for article_id in ("trunc-ok", "latin-ok", "text-number", "bom", "csv-2"):
        assert _article(index, article_id) is not None, article_id
    assert _article(index, "text-number")["text"] == "12345"
    untitled = _article(index, "no-title")
    assert untitled["title"] == "" and untitled["text"].startswith("An article without a headline")
    headline = _article(index, "no-text")  # a headline-only item (as feeds have) is indexed by its headline
    assert headline["title"] == headline["text"] == "Headline only" and len(headline["passages"]) == 1


def test_invisible_and_control_characters_are_cleaned(hostile):
    index, _, _, _ = hostile
    article = _article(index, "invisible")
    assert article["title"] == "Zerowidth title"
    assert article["text"].startswith("Control and zerowidth chars here.")
    assert not any(ch in article["text"] for ch in "\u200b\u2060\ufeff\x07\x1b")
    surrogate = _article(index, "surrogate")  # a lone surrogate would make SQLite fail the whole batch
    assert "\ufffd" in surrogate["title"] and surrogate["metadata"] == {"note": "meta \ufffd"}


def test_script_and_style_text_is_never_indexed(hostile):
    index, paths, _, _ = hostile
    conn = sqlite3.connect(index / "meta.sqlite")
    try:
        assert conn.execute("SELECT count(*) FROM articles WHERE text LIKE ? OR title LIKE ?",
                            (f"%{SECRET}%", f"%{SECRET}%")).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH ?",
                            (SECRET,)).fetchone()[0] == 0
        page = conn.execute("SELECT title, text FROM articles WHERE title = 'Ferry timetable changes'").fetchone()
    finally:
        conn.close()
    assert page is not None and "harbour authority" in page[1]
    field = _article(index, "html-field")
    assert field["text"].startswith("The harbour authority") and field["text"].endswith("After.")


@pytest.mark.parametrize(("article_id", "query"), [
    ("arabic", "مستشفى جديد"), ("hebrew", "בית חולים"), ("chinese", "上海地铁暂停运营"), ("emoji", "parade cheered"),
])
def test_rtl_cjk_and_emoji_are_indexed_searchable_and_chunked(hostile, embedder, article_id, query):
    from search import Searcher, SearchOptions

    index, _, _, _ = hostile
    article = _article(index, article_id)
    text, passages = article["text"], article["passages"]
    assert passages and [p[0] for p in passages] == list(range(len(passages)))
    assert passages[0][1] == 0 and passages[-1][2] == len(text)
    for (_, start, end), following in zip(passages, passages[1:] + [None], strict=True):
        assert 0 <= start < end <= len(text) and text[start:end] == text[start:end].strip()
        if following:  # overlapping or next to each other: no text falls between two passages
            assert following[1] <= end or not text[end:following[1]].strip()
    if article_id == "emoji":
        assert "\U0001F600\U0001F44D" in text and article["title"] == "Party time \U0001F389"
    searcher = Searcher(index, embedder=embedder)
    try:
        for mode in ("dense", "lexical"):
            results = searcher.search(query, k=3, options=SearchOptions(mode=mode)).results
            assert results and results[0].id == article_id, (mode, [r.id for r in results])
            hit = results[0].passages[0]
            assert hit.text == text[hit.start:hit.end]
    finally:
        searcher.close()


def test_duplicate_ids_last_wins_and_dates_are_normalised(hostile):
    index, _, _, _ = hostile
    assert _article(index, "dup")["title"] == "Second copy"
    assert [_article(index, f"date-{i}")["published"] for i in range(4)] == [
        "2013-05-03T08:00:00Z", "2013-05-03", "2013-05-03T10:00:00Z", ""]
    assert _article(index, "date-3")["metadata"]["published_raw"] == "sometime last spring"
    csv_article = _article(index, "csv-1")
    assert csv_article["title"] == "Quoted, title"
    assert csv_article["text"] == "First paragraph.\n\nSecond paragraph, with a comma."


def test_the_index_built_before_survives(hostile, embedder):
    from search import Searcher

    index, _, report, known = hostile
    searcher = Searcher(index, embedder=embedder)
    try:
        stats = searcher.stats()
        assert stats.articles == 5 + report.indexed == 5 + 21  # 21 kinds or lines went in
        assert _known(searcher) == known  # dense: BM25 scores move with the corpus's word statistics
        conn = searcher.store.connection()
        conn.execute("INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 1)")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        searcher.close()

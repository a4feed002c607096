"""Each supported input format read into Articles, with their metadata and stable ids."""

from __future__ import annotations

import json

from indexer.sources.article import Article, Problem, canonical_url, normalize_date, stable_id
from indexer.sources.readers import read_sources

RSS = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Wire Daily</title><language>en</language>
<item><title>Floods hit Dhaka</title><link>https://wire.example/floods?utm_source=x</link>
<pubDate>Tue, 03 Sep 2024 10:00:00 GMT</pubDate>
<description>&lt;p&gt;Rivers rose across &lt;b&gt;Bangladesh&lt;/b&gt;
after monsoon rains.&lt;/p&gt;</description></item>
<item><title>Markets calm</title><link>https://wire.example/markets</link>
<description>Stocks were steady on Tuesday.</description></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom News</title>
<entry><id>urn:atom:1</id><title>Election results</title><link href="https://atom.example/e"/>
<updated>2024-11-06T08:00:00+01:00</updated>
<content type="html">&lt;p&gt;The count finished overnight.&lt;/p&gt;</content>
</entry></feed>"""

HTML = """<html><head><title>Quake shakes Lima</title><meta property="og:site_name" content="Andes Post">
<meta name="date" content="2024-03-02"><style>.x{color:red}</style><script>var secret = 1;</script></head>
<body><article><h1>Quake shakes Lima</h1>
<p>A magnitude 6.1 earthquake shook the Peruvian capital on Saturday, officials said.</p>
<p>No deaths were reported, and the airport reopened after an inspection of its runways.</p>
</article></body></html>"""


def _articles(items):
    return [i for i in items if isinstance(i, Article)]


def test_jsonl_fields_aliases_and_metadata(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"_id": "b1", "title": "T", "body": "Body text.", "link": "https://x.example/a",
                                "outlet": "X", "date": "2024-01-02", "lang": "en", "section": "world"}) + "\n")
    [article] = _articles(read_sources([str(path)]))
    assert (article.id, article.title, article.text, article.url, article.source, article.published,
            article.language) == ("b1", "T", "Body text.", "https://x.example/a", "X", "2024-01-02", "en")
    assert article.metadata == {"section": "world"}


def test_csv_with_header_and_quoted_newlines(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('id,title,text,source\n1,One,"First line\nsecond line",Wire\n2,Two,Plain,Wire\n')
    items = list(read_sources([str(path)]))
    assert [a.id for a in _articles(items)] == ["1", "2"]
    assert _articles(items)[0].text == "First line\nsecond line"


def test_csv_row_with_extra_fields_names_its_line(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id,title,text\n1,One,Fine\n2,Two,Bad,extra\n")
    problems = [i for i in read_sources([str(path)]) if isinstance(i, Problem)]
    assert len(problems) == 1 and problems[0].where.endswith("a.csv:3")


def test_folder_of_txt_md_html(tmp_path):
    (tmp_path / "one.txt").write_text("Headline one\n\nBody of the first story.")
    (tmp_path / "two.md").write_text("# Headline two\n\nBody of the second story.")
    (tmp_path / "three.html").write_text(HTML)
    (tmp_path / "LICENSE").write_text("not news")
    articles = {a.title: a for a in _articles(read_sources([str(tmp_path)]))}
    assert set(articles) == {"Headline one", "Headline two", "Quake shakes Lima"}
    quake = articles["Quake shakes Lima"]
    assert "earthquake shook the Peruvian capital" in quake.text
    assert "secret" not in quake.text and "color" not in quake.text
    assert quake.published == "2024-03-02"
    assert quake.id.startswith("sha1:")


def test_rss_and_atom_feed_files(tmp_path):
    (tmp_path / "wire.rss").write_text(RSS)
    (tmp_path / "news.atom").write_text(ATOM)
    articles = {a.title: a for a in _articles(read_sources([str(tmp_path / "wire.rss"), str(tmp_path / "news.atom")]))}
    floods = articles["Floods hit Dhaka"]
    assert floods.source == "Wire Daily" and floods.published == "2024-09-03T10:00:00Z"
    assert floods.text == "Rivers rose across Bangladesh after monsoon rains."
    assert floods.id == "https://wire.example/floods"  # canonical URL: tracking parameter dropped
    election = articles["Election results"]
    # One id rule on every feed path (file, URL, watcher): the canonical link, else the guid.
    assert election.id == "https://atom.example/e" and election.published == "2024-11-06T07:00:00Z"
    assert election.text == "The count finished overnight."
    (tmp_path / "nolink.rss").write_text(RSS.replace("<link>https://wire.example/markets</link>",
                                                     "<guid>wire-42</guid>"))
    articles = {a.title: a for a in _articles(read_sources([str(tmp_path / "nolink.rss")]))}
    assert articles["Markets calm"].id == "wire-42"


def test_urls_need_the_crawler(tmp_path):
    """Sources do no networking: without a URL reader a URL is a problem (and no request is made)."""
    [problem] = read_sources(["http://127.0.0.1:9/feed.rss"])
    assert isinstance(problem, Problem) and "indexer.crawl" in problem.message
    seen = []
    assert list(read_sources(["https://news.example/rss"], read_url=lambda url: seen.append(url) or [])) == []
    assert seen == ["https://news.example/rss"]


def test_missing_and_unknown(tmp_path):
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    problems = [str(p) for p in read_sources([str(tmp_path / "nope.jsonl"), str(tmp_path / "notes.docx")])]
    assert problems[0].endswith("nope.jsonl: no such file or folder")
    assert "unknown file type '.docx'" in problems[1]


def test_dates_and_ids():
    assert normalize_date("2013-05-03") == "2013-05-03"
    assert normalize_date("2013-05-03T10:00:00+02:00") == "2013-05-03T08:00:00Z"
    assert normalize_date("Fri, 03 May 2013 10:00:00 GMT") == "2013-05-03T10:00:00Z"
    assert normalize_date("May 03, 2013") == "2013-05-03"
    assert normalize_date("not a date") == ""
    assert normalize_date("2013-02-30") == ""
    assert canonical_url("HTTPS://Example.COM/a/?utm_medium=x&id=3#top") == "https://example.com/a?id=3"
    assert stable_id("", "t", "x") == stable_id("", "t", "x") != stable_id("", "t", "y")


def test_a_date_off_the_calendar_is_a_problem_at_its_line(tmp_path):
    """2013-02-30 is a typo, not an unreadable date to keep aside: the record is reported, `file:line:
    reason`, and the others are read; free text that is no date at all is still kept as published_raw."""
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text("".join(json.dumps({"id": f"j{i}", "text": "Words.", "published": value}) + "\n"
                             for i, value in enumerate(["2013-02-28", "2013-02-30", "2013-13-45", "someday"])))
    csv = tmp_path / "b.csv"
    csv.write_text('id,text,date\nc1,"Two\nlines",30.02.2013\nc2,Fine,"Sat, 02 Mar 2013 10:00:00 GMT"\n')
    items = list(read_sources([str(jsonl), str(csv)]))
    problems = [str(i) for i in items if isinstance(i, Problem)]
    assert problems == [
        f"{jsonl}:2: published: '2013-02-30' is not on the calendar: February 2013 has 28 days, so no day 30",
        f"{jsonl}:3: published: '2013-13-45' is not on the calendar: there is no month 13",
        f"{csv}:2: published: '30.02.2013' is not on the calendar: February 2013 has 28 days, so no day 30",
    ]
    articles = {a.id: a for a in _articles(items)}
    assert set(articles) == {"j0", "j3", "c2"}
    assert articles["j3"].published == "" and articles["j3"].metadata == {"published_raw": "someday"}
    assert articles["c2"].published == "2013-03-02T10:00:00Z"


def test_a_feed_date_off_the_calendar_is_a_problem(tmp_path):
    """feedparser rolls 30 February over to 2 March without a word: the reader reports the item instead."""
    path = tmp_path / "wire.rss"
    path.write_text(RSS.replace("Tue, 03 Sep 2024 10:00:00 GMT", "Sat, 30 Feb 2013 10:00:00 GMT"))
    items = list(read_sources([str(path)]))
    [problem] = [i for i in items if isinstance(i, Problem)]
    assert problem.where.startswith(str(path))
    assert problem.message == ("published: 'Sat, 30 Feb 2013' is not on the calendar: February 2013 has 28 days, "
                               "so no day 30")
    assert [a.title for a in _articles(items)] == ["Markets calm"]


def test_an_article_without_an_outlet_takes_its_urls_domain(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "derived", "text": "Words.", "url": "http://news.bbc.co.uk/2/hi/1.stm"},
        {"id": "named", "text": "Words.", "url": "http://news.bbc.co.uk/2/hi/2.stm", "source": "BBC News"},
        {"id": "no-url", "text": "Words."},
        {"id": "address", "text": "Words.", "url": "http://127.0.0.1:8000/a"},
    ]))
    articles = {a.id: a for a in _articles(read_sources([str(path)]))}
    assert (articles["derived"].source, articles["derived"].metadata) == ("bbc.co.uk", {"source_derived": True})
    assert (articles["named"].source, articles["named"].metadata) == ("BBC News", {})
    assert (articles["no-url"].source, articles["no-url"].metadata) == ("", {})
    assert (articles["address"].source, articles["address"].metadata) == ("", {})

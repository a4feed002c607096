"""Timeline bucketing: boundaries of days, ISO weeks and months, sources, undated articles, gaps and the cap."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from search.timeline import (
    MAX_BUCKETS,
    Bucket,
    Timeline,
    TimelineHit,
    TimelineTop,
    bucket_start,
    build_timeline,
)


def hit(id_: str, published: str, source: str = "Wire", score: float = 0.5) -> TimelineHit:
    return TimelineHit(id=id_, published=published, source=source, score=score, passage=f"passage {id_}",
                       title=f"title {id_}")


def spans(timeline: Timeline) -> list[tuple[str, str, int]]:
    return [(b.start, b.end, b.count) for b in timeline.buckets]


@pytest.mark.parametrize(("day", "interval", "start"), [
    (date(2013, 5, 3), "day", date(2013, 5, 3)),
    (date(2013, 5, 3), "week", date(2013, 4, 29)),  # a Friday; its week began on Monday
    (date(2013, 4, 29), "week", date(2013, 4, 29)),  # a Monday is its own week's start
    (date(2013, 5, 5), "week", date(2013, 4, 29)),  # a Sunday ends the week
    (date(2021, 1, 1), "week", date(2020, 12, 28)),  # ISO week 53 of 2020 runs into 2021
    (date(2025, 1, 1), "week", date(2024, 12, 30)),  # ISO week 1 of 2025 starts in 2024
    (date(2013, 5, 31), "month", date(2013, 5, 1)),
    (date(2012, 2, 29), "month", date(2012, 2, 1)),
])
def test_bucket_start(day, interval, start):
    assert bucket_start(day, interval) == start


def test_unknown_interval_is_an_error():
    with pytest.raises(ValueError, match="day, week, month"):
        bucket_start(date(2013, 5, 3), "year")
    with pytest.raises(ValueError, match="day, week, month"):
        build_timeline([], "fortnight")


def test_days_are_continuous_with_empty_buckets():
    timeline = build_timeline([hit("a", "2013-05-01"), hit("b", "2013-05-04"), hit("c", "2013-05-04T23:59:00Z")],
                              "day", floor=0.3)
    assert spans(timeline) == [("2013-05-01", "2013-05-01", 1), ("2013-05-02", "2013-05-02", 0),
                               ("2013-05-03", "2013-05-03", 0), ("2013-05-04", "2013-05-04", 2)]
    empty = timeline.buckets[1]
    assert empty.by_source == {} and empty.top is None
    assert timeline.floor == 0.3 and timeline.interval == "day" and timeline.undated == 0


def test_iso_weeks_across_a_year_end():
    timeline = build_timeline([hit("a", "2020-12-31"), hit("b", "2021-01-03"), hit("c", "2021-01-04"),
                               hit("d", "2021-01-18")], "week")
    assert spans(timeline) == [("2020-12-28", "2021-01-03", 2), ("2021-01-04", "2021-01-10", 1),
                               ("2021-01-11", "2021-01-17", 0), ("2021-01-18", "2021-01-24", 1)]


def test_month_ends_and_leap_day():
    timeline = build_timeline([hit("a", "2012-01-31"), hit("b", "2012-02-29"), hit("c", "2012-04-01"),
                               hit("d", "2012-12-31")], "month")
    assert spans(timeline)[:4] == [("2012-01-01", "2012-01-31", 1), ("2012-02-01", "2012-02-29", 1),
                                   ("2012-03-01", "2012-03-31", 0), ("2012-04-01", "2012-04-30", 1)]
    assert spans(timeline)[-1] == ("2012-12-01", "2012-12-31", 1)
    assert len(timeline.buckets) == 12
    assert build_timeline([hit("a", "2013-02-10")], "month").buckets[0].end == "2013-02-28"


def test_by_source_counts_unknown_for_an_empty_source():
    timeline = build_timeline([hit("a", "2013-05-03", "Reuters"), hit("b", "2013-05-03", "AP"),
                               hit("c", "2013-05-03", "Reuters"), hit("d", "2013-05-03", "")], "day")
    assert timeline.buckets[0].by_source == {"Reuters": 2, "AP": 1, "unknown": 1}
    assert list(timeline.buckets[0].by_source) == ["Reuters", "AP", "unknown"]  # most first, then by name


def test_outlets_taken_from_urls_are_marked():
    """An outlet is marked derived in a bucket when every one of its articles there got it from a URL."""
    derived = [TimelineHit(id=i, published="2013-05-03", source=source, score=0.5, passage="", source_derived=True)
               for i, source in (("a", "etonline.com"), ("b", "etonline.com"), ("c", "Reuters"), ("d", ""))]
    timeline = build_timeline([*derived, hit("e", "2013-05-03", "Reuters")], "day")
    bucket = timeline.buckets[0]
    assert bucket.by_source == {"Reuters": 2, "etonline.com": 2, "unknown": 1}
    assert bucket.derived_sources == ["etonline.com"]  # Reuters is also named outright; 'unknown' is no outlet


def test_undated_and_unparseable_dates_are_counted_apart():
    timeline = build_timeline([hit("a", ""), hit("b", "yesterday-ish"), hit("c", "2013-02-30"),
                               hit("d", "2013-05-03")], "day")
    assert timeline.undated == 3
    assert spans(timeline) == [("2013-05-03", "2013-05-03", 1)]


def test_only_undated_gives_no_buckets():
    timeline = build_timeline([hit("a", ""), hit("b", "")], "month", floor=0.5)
    assert timeline.buckets == [] and timeline.undated == 2
    assert timeline == Timeline(interval="month", floor=0.5, buckets=[], undated=2)


def test_no_hits():
    assert build_timeline([], "week") == Timeline(interval="week", floor=0.0, buckets=[], undated=0)


def test_top_is_the_best_score_and_ties_go_to_the_smaller_id():
    timeline = build_timeline([hit("b", "2013-05-03", "AP", 0.9), hit("a", "2013-05-02", "Reuters", 0.9),
                               hit("c", "2013-05-01", "AFP", 0.4)], "week")
    top = timeline.buckets[0].top
    assert top == TimelineTop(id="a", title="title a", source="Reuters", date="2013-05-02", score=0.9,
                              passage="passage a", source_derived=False)
    timeline = build_timeline([hit("b", "2013-05-03", score=0.95), hit("a", "2013-05-02", score=0.9)], "week")
    assert timeline.buckets[0].top.id == "b"


def test_an_article_counts_once():
    timeline = build_timeline([hit("a", "2013-05-03", score=0.2), hit("a", "2013-05-03", score=0.7)], "day")
    assert timeline.buckets[0].count == 1
    assert timeline.buckets[0].top.score == 0.7


def test_input_order_does_not_matter():
    hits = [hit(str(i), (date(2013, 1, 1) + timedelta(days=i * 5)).isoformat(), score=i / 100) for i in range(40)]
    assert build_timeline(hits, "week") == build_timeline(list(reversed(hits)), "week")


def test_to_dict():
    timeline = build_timeline([hit("a", "2013-05-03", "")], "day", floor=0.25)
    assert timeline.to_dict() == {
        "interval": "day", "floor": 0.25, "undated": 0, "query": "", "asked_interval": "", "matched": 0,
        "capped": False, "relevance": None, "interpreted": None,
        "buckets": [{"start": "2013-05-03", "end": "2013-05-03", "count": 1, "by_source": {"unknown": 1},
                     "derived_sources": [],
                     "top": {"id": "a", "title": "title a", "source": "", "date": "2013-05-03", "score": 0.5,
                             "passage": "passage a", "source_derived": False}}],
    }
    assert Bucket(start="2013-05-03", end="2013-05-03").to_dict()["top"] is None


def test_the_cap_allows_exactly_max_buckets():
    first = date(2013, 1, 1)
    timeline = build_timeline([hit("a", first.isoformat()),
                               hit("b", (first + timedelta(days=MAX_BUCKETS - 1)).isoformat())], "day")
    assert len(timeline.buckets) == MAX_BUCKETS
    assert sum(b.count for b in timeline.buckets) == 2


@pytest.mark.parametrize(("interval", "last", "advice"), [
    ("day", date(2013, 1, 1) + timedelta(days=MAX_BUCKETS), "interval=week or interval=month"),
    ("week", date(2013, 1, 1) + timedelta(weeks=MAX_BUCKETS), "interval=month"),
    ("month", date(2013 + MAX_BUCKETS // 12 + 1, 1, 1), "narrow the dates"),
])
def test_more_than_max_buckets_is_a_clear_error(interval, last, advice):
    hits = [hit("a", "2013-01-01"), hit("b", last.isoformat())]
    with pytest.raises(ValueError, match=f"more than the {MAX_BUCKETS}.*{advice}"):
        build_timeline(hits, interval)

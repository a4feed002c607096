"""Time words in queries: a fixed `now` (Wednesday 2024-06-05) makes every relative phrase reproducible."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from search.timewords import Interpreted, OnlyTimePhrase, interpret

NOW = date(2024, 6, 5)  # a Wednesday; its ISO week starts on Monday 2024-06-03

CASES = [
    # relative: calendar periods and rolling ones
    ("floods today", "2024-06-05", "2024-06-05", "floods"),
    ("floods yesterday", "2024-06-04", "2024-06-04", "floods"),
    ("strike this week", "2024-06-03", "2024-06-05", "strike"),
    ("strike last week", "2024-05-27", "2024-06-02", "strike"),
    ("strike previous week", "2024-05-27", "2024-06-02", "strike"),
    ("strike past week", "2024-05-30", "2024-06-05", "strike"),
    ("strike in the last week", "2024-05-30", "2024-06-05", "strike"),
    ("rates this month", "2024-06-01", "2024-06-05", "rates"),
    ("rates last month", "2024-05-01", "2024-05-31", "rates"),
    ("rates past month", "2024-05-06", "2024-06-05", "rates"),
    ("rates this year", "2024-01-01", "2024-06-05", "rates"),
    ("rates last year", "2023-01-01", "2023-12-31", "rates"),
    ("quake last 7 days", "2024-05-30", "2024-06-05", "quake"),
    ("quake last 2 weeks", "2024-05-23", "2024-06-05", "quake"),
    ("quake over the last three months", "2024-03-06", "2024-06-05", "quake"),
    ("quake in the past 24 hours", "2024-06-04", "2024-06-05", "quake"),
    ("last week's protests", "2024-05-27", "2024-06-02", "protests"),
    # "last Friday": the most recent Friday before today
    ("last Friday strike", "2024-05-31", "2024-05-31", "strike"),
    # absolute: months, days, years
    ("elections in March 2013", "2013-03-01", "2013-03-31", "elections"),
    ("elections March 2013", "2013-03-01", "2013-03-31", "elections"),
    ("elections Sept. 2013", "2013-09-01", "2013-09-30", "elections"),
    ("leap February 2012", "2012-02-01", "2012-02-29", "leap"),
    ("quake March 3, 2013", "2013-03-03", "2013-03-03", "quake"),
    ("quake 3 March 2013", "2013-03-03", "2013-03-03", "quake"),
    ("quake on March 3rd 2013", "2013-03-03", "2013-03-03", "quake"),
    ("floods in 2013", "2013-01-01", "2013-12-31", "floods"),
    ("2013 floods", "2013-01-01", "2013-12-31", "floods"),
    ("photos from 2013", "2013-01-01", "2013-12-31", "photos"),
    ("quake 2013-05-03", "2013-05-03", "2013-05-03", "quake"),
    ("quake on 2013-05-03", "2013-05-03", "2013-05-03", "quake"),
    ("floods, March 2013, Germany", "2013-03-01", "2013-03-31", "floods, Germany"),
    ("budget 2025", "2025-01-01", "2025-12-31", "budget"),  # next year is still plausible
    # open and closed ranges
    ("inflation since 2019", "2019-01-01", "", "inflation"),
    ("inflation since March 2019", "2019-03-01", "", "inflation"),
    ("inflation since yesterday", "2024-06-04", "", "inflation"),
    ("euro before 2015", "", "2014-12-31", "euro"),
    ("euro after June 2020", "2020-07-01", "", "euro"),
    ("euro until 2018", "", "2018-12-31", "euro"),
    ("euro between 2010 and 2012", "2010-01-01", "2012-12-31", "euro"),
    ("euro from 2010 to 2012", "2010-01-01", "2012-12-31", "euro"),
    ("euro from March 2010 until 2012-05-03", "2010-03-01", "2012-05-03", "euro"),
    ("2010-2012 euro crisis", "2010-01-01", "2012-12-31", "euro crisis"),
    # two phrases intersect
    ("budget since 2019 before 2021", "2019-01-01", "2020-12-31", "budget"),
    ("since 2019 budget and before 2021", "2019-01-01", "2020-12-31", "budget"),
    ("in 2013 talks in March 2013", "2013-03-01", "2013-03-31", "talks"),
    # case, position
    ("SINCE 2019 inflation", "2019-01-01", "", "inflation"),
    ("Floods In march 2013 Germany", "2013-03-01", "2013-03-31", "Floods Germany"),
    ("LAST WEEK protests", "2024-05-27", "2024-06-02", "protests"),
    # ambiguous or malformed: left as text, deliberately
    ("May the force", "", "", "May the force"),
    ("prices may rise", "", "", "prices may rise"),
    ("March madness", "", "", "March madness"),
    ("since March prices", "", "", "since March prices"),
    ("Friday strike", "", "", "Friday strike"),
    ("mars landing in 2099", "", "", "mars landing in 2099"),
    ("mars landing 1850", "", "", "mars landing 1850"),
    ("quake February 30 2099", "", "", "quake February 30 2099"),  # no plausible year, so no date at all
    ("COVID-2019 vaccine", "", "", "COVID-2019 vaccine"),
    ("G20 summit", "", "", "G20 summit"),
    ("2,013 people", "", "", "2,013 people"),
    ("order 12013 delayed", "", "", "order 12013 delayed"),
    ("prize $2013 won", "", "", "prize $2013 won"),
    ("version 2013.5", "", "", "version 2013.5"),
    ("score 2012-2010 final", "", "", "score 2012-2010 final"),
    ("1990s music", "", "", "1990s music"),
    ("", "", "", ""),
]


@pytest.mark.parametrize(("query", "since", "until", "text"), CASES, ids=[c[0] or "empty" for c in CASES])
def test_interpret_table(query, since, until, text):
    got = interpret(query, now=NOW)
    assert (got.since, got.until, got.text) == (since, until, text)
    assert bool(got.phrases) == bool(since or until)


def test_phrases_are_reported_as_written():
    got = interpret("Budget SINCE March 2019 before 2021", now=NOW)
    assert got.phrases == ("SINCE March 2019", "before 2021")
    assert got.to_dict() == {"since": "2019-03-01", "until": "2020-12-31", "text": "Budget",
                             "phrases": ["SINCE March 2019", "before 2021"]}


def test_no_time_words_is_the_query_unchanged():
    assert interpret("  euro crisis  ", now=NOW) == Interpreted(since="", until="", text="euro crisis", phrases=())


@pytest.mark.parametrize("query", ["last week", "2013", "  in March 2013 ", "since 2019 before 2021", "in 2013 and"])
def test_only_a_time_phrase_is_a_clear_error(query):
    with pytest.raises(OnlyTimePhrase, match="only a time phrase.*add words to search for") as caught:
        interpret(query, now=NOW)
    assert query.split()[0] in str(caught.value)  # says what was recognised


def test_only_a_time_phrase_is_a_value_error():
    assert issubclass(OnlyTimePhrase, ValueError)


@pytest.mark.parametrize(("query", "match"), [
    ("inflation since 2019 until 2018", "contradict"),
    ("inflation in 2013 in 2015", "contradict"),
    ("inflation between 2012 and 2010", "runs backwards"),
    ("inflation from June 2020 to May 2020", "runs backwards"),
])
def test_an_empty_range_is_a_clear_error(query, match):
    with pytest.raises(ValueError, match=match) as caught:
        interpret(query, now=NOW)
    assert not isinstance(caught.value, OnlyTimePhrase)


@pytest.mark.parametrize(("query", "phrase", "why"), [
    ("quake in February 30 2013", "February 30 2013", "February 2013 has 28 days, so no day 30"),
    ("quake 2013-02-30", "2013-02-30", "February 2013 has 28 days, so no day 30"),
    ("quake 2013-13-45", "2013-13-45", "there is no month 13"),
    ("riots since 31 Sept. 2013", "31 Sept. 2013", "September 2013 has 30 days, so no day 31"),
    ("vote between 2019 and April 31, 2020", "April 31, 2020", "April 2020 has 30 days, so no day 31"),
])
def test_a_date_off_the_calendar_is_an_error_naming_the_phrase(query, phrase, why):
    with pytest.raises(ValueError) as caught:
        interpret(query, now=NOW)
    assert str(caught.value) == f"the query's time phrase {phrase!r} is not on the calendar: {why}"
    assert interpret("quake on February 29 2012", now=NOW).since == "2012-02-29"  # a leap day is one


def test_inverted_range_is_reported_even_without_other_words():
    with pytest.raises(ValueError, match="contradict"):
        interpret("since 2019 until 2018", now=NOW)


def test_weeks_start_on_monday_across_a_year_end():
    # Thursday 2025-01-02: this ISO week began on Monday 2024-12-30
    got = interpret("x this week", now=date(2025, 1, 2))
    assert (got.since, got.until) == ("2024-12-30", "2025-01-02")
    got = interpret("x last week", now=date(2025, 1, 2))
    assert (got.since, got.until) == ("2024-12-23", "2024-12-29")
    got = interpret("x last week", now=date(2024, 6, 3))  # on a Monday, last week is the whole previous one
    assert (got.since, got.until) == ("2024-05-27", "2024-06-02")


def test_last_month_in_january_and_rolling_months_clamp_the_day():
    got = interpret("x last month", now=date(2024, 1, 15))
    assert (got.since, got.until) == ("2023-12-01", "2023-12-31")
    got = interpret("x past month", now=date(2024, 3, 31))  # Feb 31 does not exist: clamp to the 29th
    assert (got.since, got.until) == ("2024-03-01", "2024-03-31")


def test_last_weekday_on_that_weekday_is_a_week_ago():
    got = interpret("x last Wednesday", now=NOW)
    assert (got.since, got.until) == ("2024-05-29", "2024-05-29")


def test_hours_use_the_time_of_day_when_given():
    got = interpret("x past 5 hours", now=datetime(2024, 6, 5, 10, 0, tzinfo=UTC))
    assert (got.since, got.until) == ("2024-06-05", "2024-06-05")
    got = interpret("x past 5 hours", now=datetime(2024, 6, 5, 3, 0))
    assert (got.since, got.until) == ("2024-06-04", "2024-06-05")


def test_plausible_year_follows_now():
    assert interpret("budget 2026", now=date(2025, 1, 1)).since == "2026-01-01"
    assert interpret("budget 2026", now=date(2024, 1, 1)).since == ""


def test_huge_counts_stay_text():
    got = interpret("x last 999999 years", now=NOW)
    assert (got.since, got.until, got.text) == ("", "", "x last 999999 years")


def test_default_now_is_the_clock():
    got = interpret("x today")
    assert got.since == got.until == date.today().isoformat()

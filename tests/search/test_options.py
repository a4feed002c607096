"""The declared options: the published date pattern accepts exactly the days on the calendar."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from search.options import DATE_PATTERN, Filters, declared


def _is_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("year", [1, 4, 100, 400, 1900, 1999, 2000, 2012, 2013, 2024, 2100, 9999])
def test_the_date_pattern_matches_every_day_of_a_year_and_nothing_else(year):
    pattern = re.compile(DATE_PATTERN)
    for month in range(0, 14):
        for day in range(0, 33):
            text = f"{year:04d}-{month:02d}-{day:02d}"
            assert bool(pattern.match(text)) == _is_day(text), text


def test_the_date_pattern_takes_a_time_of_day():
    pattern = re.compile(DATE_PATTERN)
    assert pattern.match("2013-05-02T23:59:59Z") and pattern.match("2013-05-02T10:00")
    assert not pattern.match("2013-05-02T24:00") and not pattern.match("2013-05-02T10:60")
    assert not pattern.match("0000-01-01")


def test_a_date_off_the_calendar_is_refused_naming_the_part_that_does_not_exist():
    since = next(d for d in declared(Filters) if d.name == "since")
    with pytest.raises(ValueError, match="no month 13"):
        since.check("2013-13-45")
    with pytest.raises(ValueError, match="not on the calendar"):
        since.check("2013-02-30")
    leap = date(2024, 2, 28) + timedelta(days=1)
    assert since.check(leap.isoformat()) == "2024-02-29"

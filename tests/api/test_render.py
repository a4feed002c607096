"""The command line's text for people (api/render.py): story lines name their outlets, weak results say what
they share with the query."""

from __future__ import annotations

from api.render import mentions_line, story_line
from search.types import StoryInfo


def test_story_line_names_the_outlets_and_counts_the_rest():
    one = StoryInfo(id=7, articles=1, outlets=["Wikinews"], first="2019-01-23", last="2019-01-23")
    assert story_line(one) == "Wikinews, 1 article, 23 January 2019"
    many = StoryInfo(id=8, articles=12, outlets=["etonline.com", "BBC", "people.com", "CNN", "AP"],
                     first="2013-05-02", last="2013-05-03", derived_outlets=["etonline.com", "people.com"])
    assert story_line(many) == ("etonline.com (from URL), BBC, people.com (from URL) and 2 more outlets, "
                                "12 articles, 2-3 May 2013")
    assert story_line(StoryInfo(id=9, articles=2, outlets=[], first="", last="")) == "2 articles"


def test_mentions_line_says_what_a_weak_result_shares_with_the_query():
    assert mentions_line(["russia", "sanctions"]) == "mentions: russia, sanctions"
    assert mentions_line([]) == "mentions none of the query's words"

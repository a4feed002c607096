"""The relevance test: its two clauses, their edges, arrays against numbers, and the word matching it counts by."""

from __future__ import annotations

import json

import numpy as np
import pytest

from indexer.relevance import CALIBRATED, Setting, relevant, stem, words_found, words_held, words_needed
from tests.conftest import ROOT

SETTING = Setting(cosine=0.5, cosine_with_words=0.3, word_share=0.75)


@pytest.mark.parametrize(("words", "share", "needed"), [
    (1, 0.75, 1), (2, 0.75, 2), (3, 0.75, 3), (4, 0.75, 3), (8, 0.75, 6), (9, 0.75, 7),
    (3, 2 / 3, 2), (6, 0.5, 3), (5, 1.0, 5), (0, 0.75, 1),
])
def test_words_needed_rounds_up(words, share, needed):
    assert words_needed(words, share) == needed


@pytest.mark.parametrize(("cosine", "words", "found", "expected"), [
    (0.5, 4, 0, True),  # the cosine alone: at the floor counts
    (0.4999, 4, 4, True),  # below it, holding the words, above the lower floor
    (0.4999, 4, 3, True),  # 3 of 4 is the share asked
    (0.4999, 4, 2, False),  # 2 of 4 is not
    (0.3, 1, 1, True),  # the lower floor is inclusive too
    (0.2999, 1, 1, False),  # holding the word is not enough far from the query
    (0.2999, 1, 0, False),
    (0.45, 0, 0, False),  # a query without words has only the cosine clause
    (0.55, 0, 0, True),
])
def test_both_clauses_and_their_edges(cosine, words, found, expected):
    assert relevant(cosine, words, found, SETTING) is expected


def test_arrays_agree_with_numbers():
    rng = np.random.default_rng(7)
    cosine = rng.uniform(0.0, 0.8, 500)
    found = rng.integers(0, 5, 500)
    for words in (0, 1, 3, 4):
        passed = relevant(cosine, words, found, SETTING)
        assert passed.dtype == bool and passed.shape == (500,)
        assert passed.tolist() == [relevant(float(c), words, int(f), SETTING) for c, f in zip(cosine, found,
                                                                                            strict=True)]


def test_stem_keeps_short_words_and_trims_long_ones():
    assert [stem(w) for w in ("un", "vote", "rehab", "sanction", "sanctions")] == [
        "un", "vote", "reha", "sancti", "sanctio"]


def test_words_found_counts_each_query_word_once_by_its_stem():
    text = "Russia said the UN Security Council imposed SANCTIONS; Russia imposed none.\nSanctioned firms..."
    assert words_found(["russia", "sanctions", "dprk"], text) == 2
    assert words_found(["sanction"], "new sanctions") == 1  # "sancti" starts "sanctions"
    assert words_found(["rehab"], "a prerehab clinic") == 0  # only at the start of a word
    assert words_found(["rehab"], "Rehabilitation") == 1
    assert words_found([], "anything") == 0


def test_words_held_names_the_query_words_found_in_query_order():
    text = "New SANCTIONS on Iran; Russia abstained."
    assert words_held(["stance", "russia", "dprk", "sanctions"], text) == ["russia", "sanctions"]
    assert words_held(["dprk"], text) == []


def test_calibrated_setting_is_the_benchmarks_choice():
    """The constants shipped are the ones benchmarks/relevance.py chose (its last run, committed)."""
    chosen = json.loads((ROOT / "benchmarks" / "results" / "relevance.json").read_text(encoding="utf-8"))["chosen"]
    assert Setting(**chosen) == CALIBRATED

"""Does this article count for this query? One test, for every place that must answer it the same way.

A ranking only orders articles; a timeline counts them, a result page divides the related from the less
related, and a saved search alerts on a new article, so each needs a yes or no. They ask it here, over numbers
the caller already has, never over the index (the indexer's alert stage may not import `search`):

- `cosine`: the article's best passage's cosine to the query (all-MiniLM-L6-v2, the index's own model: the
  dense retriever's MaxP score);
- `words`: how many words the query has (stop words dropped, as `search.query.query_words` counts them);
- `found`: how many of them the article holds, headline or body, by `words_found` (the stem rule the result
  page highlights with).

The test (`relevant`): the article counts when

    cosine >= 0.55                                       (it is about what the query says), or
    found >= ceil(0.75 * words) and cosine >= 0.26        (it names the query and is still near it)

(`CALIBRATED`: `Setting.cosine`, `.word_share`, `.cosine_with_words`.)

Short queries are why there are two clauses. A headline is close to its coverage by meaning alone (cosine .6
to .8), but "rehab" or "Lindsay Lohan" is a name or a topic word whose vector sits far from any article
(.3 to .5 for the articles about it, yet above almost every other article): one floor cannot serve both.
The words clause admits an article that holds (nearly) all of the query's words and is still near it, which
a long query seldom meets and a short one meets on exactly its coverage.

Calibration (`benchmarks/relevance.py`, results and table in `benchmarks/README.md`, "Relevance test"): short
queries (1-3 words, names and topic words drawn from the headlines of the gold stories of ECB+ and
allsides_neus, judged by those stories) and long ones (the sets' own ledes and headlines, judged by their
qrels), every article of each corpus tested. The three constants are the sweep's best mean F1 over short and
long queries on ecbplus, whose judgements are complete (every article about the event or topic is
judged): precision / recall .85 / .83 on its short queries (a fixed cosine floor of .53: .96 / .22) and
.67 / .82 on its long ones (unchanged). allsides_neus, held out: short .50 / .81 (.49 / .20), long .14 / .83
(its qrels judge 3 articles of one roundup relevant among many on the same subject, so its precision is a
lower bound at any setting). The cosines are all-MiniLM-L6-v2's: an index of another `--model` would need
the benchmark run again.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

import numpy as np

__all__ = ["CALIBRATED", "Setting", "holds", "relevant", "stem", "tokens", "words_found", "words_held", "words_needed"]


@dataclass(frozen=True)
class Setting:
    """The test's three constants (see the module docstring for the formula and where they come from)."""

    cosine: float  # the cosine that makes an article count alone
    cosine_with_words: float  # the cosine that suffices when the article holds the query's words
    word_share: float  # the share of the query's words it must hold for that


CALIBRATED = Setting(cosine=0.55, cosine_with_words=0.26, word_share=0.75)


def words_needed(words: int | np.ndarray, share: float) -> int | np.ndarray:
    """ceil(share x words), at least 1: how many of a query's `words` an article must hold for the words
    clause (a query with no words has no words clause). Element-wise over an array of word counts."""
    needed = np.maximum(1, np.ceil(share * np.asarray(words) - 1e-9)).astype(np.int64)
    return needed if np.ndim(needed) else int(needed)


def relevant(cosine: float | np.ndarray, words: int | np.ndarray, found: int | np.ndarray,
             setting: Setting = CALIBRATED) -> bool | np.ndarray:
    """cosine >= setting.cosine, or (words > 0 and found >= words_needed(words) and cosine >=
    setting.cosine_with_words).

    Element-wise over numpy arrays: one query and many articles (the timeline, the benchmark), or many
    saved searches (`words` an array too) and one article (alert matching); or over plain numbers."""
    cosine, words, found = np.asarray(cosine), np.asarray(words), np.asarray(found)
    named = (words > 0) & (found >= words_needed(words, setting.word_share)) & (cosine >= setting.cosine_with_words)
    both = (cosine >= setting.cosine) | named
    return both if np.ndim(both) else bool(both)


def stem(word: str) -> str:
    """The prefix a query word is matched by: longer words lose up to two letters, never below four
    ("sanction" -> "sancti", which also finds "sanctions"); words of four letters or fewer are kept whole."""
    return word[:max(4, len(word) - 2)] if len(word) > 4 else word


def tokens(text: str) -> set[str]:
    """The distinct lower-cased words (runs of letters, digits and _) of `text`."""
    return set(re.findall(r"\w+", text.lower()))


def holds(vocabulary: list[str], word: str) -> bool:
    """Whether a sorted `vocabulary` (of `tokens`) has a word starting with `word`'s stem: a word of the text
    starts right after a non-word character, so this is the regular expression \\b<stem>, found by bisection."""
    prefix = stem(word)
    at = bisect.bisect_left(vocabulary, prefix)
    return at < len(vocabulary) and vocabulary[at].startswith(prefix)


def words_held(words: list[str], text: str) -> list[str]:
    """The (lower-cased, distinct) query `words` that occur in `text` as the start of a word by their `stem`,
    in query order: the same rule by which results mark the query words. A result names them, so a reader sees
    what a less related article shares with the query (and what it lacks)."""
    vocabulary = sorted(tokens(text))
    return [word for word in words if holds(vocabulary, word)]


def words_found(words: list[str], text: str) -> int:
    """How many of the query `words` `text` holds (`words_held`): the relevance test's `found`. (Alert matching
    counts the same thing the other way round, from the article's words to the saved searches holding them:
    `indexer.enrich.alerts`, tested equal to this.)"""
    return len(words_held(words, text))

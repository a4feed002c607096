"""What a query asks for: its words (for BM25 and highlighting) beside the text that is embedded."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is", "it", "its",
    "of", "on", "or", "that", "the", "to", "was", "were", "will", "with", "what", "which", "who", "whom",
    "this", "these", "those", "how", "why", "when", "where", "do", "does", "did", "about", "into", "than",
    "then",
})


def query_words(text: str) -> list[str]:
    """The query's distinct lower-cased words, stop words dropped unless nothing else is left."""
    words = re.findall(r"\w+", text.lower())
    return list(dict.fromkeys([w for w in words if w not in _STOPWORDS] or words))


@dataclass(frozen=True)
class Query:
    """A parsed query: the text, its words, and its vector (None when no dense retrieval needs one), with one
    vector per other model of the index's profile (`extra`, slot 1 onwards) when those retrievers run."""

    text: str
    words: list[str]
    vector: np.ndarray | None = None
    extra: tuple[np.ndarray, ...] = ()

    def vector_for(self, slot: int) -> np.ndarray:
        """The query vector of model `slot` (0: the index's own)."""
        vector = self.vector if slot == 0 else self.extra[slot - 1]
        if vector is None:
            raise ValueError("this query was parsed without a vector")
        return vector

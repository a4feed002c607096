"""What a query asks for: its words (for BM25 and highlighting) beside the text that is embedded."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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
    """A parsed query: the text, its words, and its vector from the index's own model (None when no dense
    retrieval needs one), with the vectors of the profile's other models by name (`extra`) when those
    retrievers run."""

    text: str
    words: list[str]
    vector: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    # Lexical mode: passages are ranked by the query words they hold, and the vector serves only the relevance
    # test (indexer/relevance.py), which needs the article's cosine to the query whatever retrieved it.
    by_words: bool = False

    def vector_for(self, model: str | None) -> np.ndarray:
        """The query vector of `model` (None: the index's own)."""
        vector = self.vector if model is None else self.extra.get(model)
        if vector is None:
            raise ValueError("this query was parsed without a vector")
        return vector

"""Sentence-aware passages sized in the model's own tokens, each with character offsets into the body.

A passage is whole sentences packed up to `max_tokens`; the next passage repeats trailing sentences
worth up to `overlap_tokens`, so a fact that straddles a border is whole in one of them. Only a
sentence longer than a passage is cut, at word borders.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

TokenCounter = Callable[[Sequence[str]], list[int]]

# A sentence ends at . ! ? (and CJK 。！？) with closing quotes/brackets, before a space; or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’»)\]]*\s+|(?<=[。！？])[\"'”’」』)]*\s*|\n+")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Passage:
    ord: int
    start: int
    end: int
    text: str


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence, trailing whitespace excluded."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        end = match.start() + len(match.group(0).rstrip())
        if text[start:end].strip():
            spans.append(_trim(text, start, end))
        start = match.end()
    if text[start:].strip():
        spans.append(_trim(text, start, len(text)))
    return spans


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _split_long(text: str, start: int, end: int, count: TokenCounter, max_tokens: int) -> list[tuple[int, int, int]]:
    """Cut one over-long sentence at word borders into pieces of at most max_tokens: (start, end, tokens)."""
    words = [(start + m.start(), start + m.end()) for m in _WORD.finditer(text[start:end])]
    pieces: list[tuple[int, int]] = []
    for ws, we in words:  # a "word" longer than a passage (CJK runs, URLs) is cut into fixed windows
        step = max_tokens // 2 or 1
        pieces.extend((s, min(s + step, we)) for s in range(ws, we, step))
    sizes = count([text[s:e] for s, e in pieces])
    out, cur_start, cur_end, cur_tokens = [], None, None, 0
    for (s, e), n in zip(pieces, sizes, strict=True):
        if cur_start is not None and cur_tokens + n > max_tokens:
            out.append((cur_start, cur_end, cur_tokens))
            cur_start, cur_tokens = None, 0
        if cur_start is None:
            cur_start = s
        cur_end, cur_tokens = e, cur_tokens + n
    if cur_start is not None:
        out.append((cur_start, cur_end, cur_tokens))
    return out


def chunk(text: str, count: TokenCounter, max_tokens: int = 128, overlap_tokens: int = 0) -> list[Passage]:
    """Passages of `text`; `count` gives the token count of each string (the model tokenizer's)."""
    if max_tokens < 8:
        raise ValueError("max_tokens must be at least 8")
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError("overlap_tokens must be >= 0 and smaller than max_tokens")
    spans = sentence_spans(text)
    if not spans:
        return []
    units: list[tuple[int, int, int]] = []
    for (s, e), n in zip(spans, count([text[s:e] for s, e in spans]), strict=True):
        units.extend(_split_long(text, s, e, count, max_tokens) if n > max_tokens else [(s, e, n)])
    passages: list[Passage] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and (j == i or total + units[j][2] <= max_tokens):
            total += units[j][2]
            j += 1
        start, end = units[i][0], units[j - 1][1]
        passages.append(Passage(len(passages), start, end, text[start:end]))
        if j >= len(units):
            break
        # Step back over trailing sentences that fit in the overlap, but always move forward.
        back, carried = j, 0
        while back - 1 > i and carried + units[back - 1][2] <= overlap_tokens:
            back -= 1
            carried += units[back][2]
        i = back
    return passages

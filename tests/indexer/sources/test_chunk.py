"""Chunking with the real tokenizer: sizes, offsets, overlap, long sentences."""

from __future__ import annotations

import pytest

from indexer.sources.chunk import chunk, sentence_spans
from tests.conftest import DATA

SEED = (DATA / "seed" / "lavrov_dprk_sanctions.txt").read_text(encoding="utf-8")


def test_sentence_spans_cover_sentences():
    text = 'He said "no." Then he left! Did she? 这是中文。第二句。\nNew line'
    spans = [text[s:e] for s, e in sentence_spans(text)]
    assert spans == ['He said "no."', "Then he left!", "Did she?", "这是中文。", "第二句。", "New line"]


@pytest.mark.parametrize(("max_tokens", "overlap"), [(32, 0), (64, 16), (128, 32), (256, 64)])
def test_passages_fit_and_point_into_the_text(embedder, max_tokens, overlap):
    passages = chunk(SEED, embedder.count_tokens, max_tokens, overlap)
    assert passages and [p.ord for p in passages] == list(range(len(passages)))
    for p in passages:
        assert SEED[p.start:p.end] == p.text
        assert embedder.count_tokens([p.text])[0] <= max_tokens + 2  # joins across sentences may add a piece
    # every sentence is in some passage
    covered = set()
    for p in passages:
        covered.update(range(p.start, p.end))
    for s, e in sentence_spans(SEED):
        assert s in covered and e - 1 in covered


def test_overlap_repeats_trailing_sentences(embedder):
    without = chunk(SEED, embedder.count_tokens, 64, 0)
    with_overlap = chunk(SEED, embedder.count_tokens, 64, 24)
    assert all(a.end <= b.start for a, b in zip(without, without[1:], strict=False))
    assert any(b.start < a.end for a, b in zip(with_overlap, with_overlap[1:], strict=False))
    assert len(with_overlap) >= len(without)
    assert all(b.start > a.start for a, b in zip(with_overlap, with_overlap[1:], strict=False))


def test_a_sentence_longer_than_a_passage_is_cut_at_words(embedder):
    text = " ".join(f"word{i}" for i in range(400)) + "."
    passages = chunk(text, embedder.count_tokens, 32, 0)
    assert len(passages) > 5
    for p in passages:
        assert embedder.count_tokens([p.text])[0] <= 32
        assert text[p.start:p.end] == p.text
        assert not p.text.startswith(" ") and not p.text.endswith(" ")


def test_unspaced_cjk_run_is_cut(embedder):
    text = "北" * 1000
    passages = chunk(text, embedder.count_tokens, 64, 0)
    assert len(passages) >= 15
    assert "".join(p.text for p in passages) == text


def test_empty_text_has_no_passages(embedder):
    assert chunk("", embedder.count_tokens) == []
    assert chunk("   \n ", embedder.count_tokens) == []


def test_bad_sizes_are_refused(embedder):
    with pytest.raises(ValueError):
        chunk(SEED, embedder.count_tokens, 4)
    with pytest.raises(ValueError):
        chunk(SEED, embedder.count_tokens, 64, 64)

"""Shared fixtures: the real model and a real index of bundled news, built once per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
SEED_QUERY = "Russia stance on DPRK sanctions"


@pytest.fixture(scope="session")
def embedder():
    from indexer.models.embed import Embedder

    return Embedder(encoder="torch")  # the reference encoder; the default (onnx-int8) is checked against it


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    """The seed article plus 60 bundled ECB+ articles: real news, small enough to embed in seconds."""
    folder = tmp_path_factory.mktemp("corpus")
    lines = (DATA / "ecbplus" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:60]
    (folder / "ecbplus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "seed.txt").write_text((DATA / "seed" / "lavrov_dprk_sanctions.txt").read_text(encoding="utf-8"))
    return folder


@pytest.fixture(scope="session")
def small_index(tmp_path_factory, small_corpus, embedder) -> Path:
    from indexer.pipeline import index_sources

    folder = tmp_path_factory.mktemp("index") / "idx"
    report = index_sources([str(small_corpus)], folder, embedder=embedder)
    assert report.ok, report.problems
    assert report.indexed == 61
    return folder


@pytest.fixture(scope="session")
def searcher(small_index, embedder):
    from search import Searcher

    s = Searcher(small_index, embedder=embedder)
    yield s
    s.close()


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path

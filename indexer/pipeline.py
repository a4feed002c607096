"""The indexing pipeline: read -> clean -> chunk -> embed -> store, in atomic batches."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .article import Article, Problem
from .chunk import Passage, chunk
from .embed import DEFAULT_ENCODER, Embedder, canonical_model_name
from .readers import MAX_ARTICLE_CHARS, read_sources
from .store import IndexStore, Manifest


@dataclass(frozen=True)
class IndexConfig:
    """How an index is built. Defaults are the measured choices (benchmarks/README.md)."""

    model: str | None = None
    encoder: str = DEFAULT_ENCODER
    chunk_tokens: int = 128
    overlap_tokens: int = 32
    index_type: str = "flat"
    index_params: dict = field(default_factory=dict)
    batch_articles: int = 256
    max_chars: int = MAX_ARTICLE_CHARS
    backend: str = "faiss"


@dataclass
class IndexReport:
    """What a run did, for the summary line and for callers."""

    indexed: int = 0
    unchanged: int = 0
    passages: int = 0
    deleted: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        rate = self.passages / self.seconds if self.seconds else 0.0
        return (f"indexed {self.indexed} articles ({self.passages} passages, {rate:.1f} passages/s), "
                f"{self.unchanged} unchanged, {self.deleted} deleted, {len(self.problems)} skipped "
                f"in {self.seconds:.1f}s")


def embedding_text(article: Article, passage: Passage) -> str:
    """What the model sees for a passage: the headline helps place it; offsets still index the body."""
    return f"{article.title}. {passage.text}" if article.title else passage.text


class Indexer:
    """Writes articles into one index folder; holds the writer lock while open."""

    def __init__(self, index_dir: Path | str, config: IndexConfig | None = None,
                 embedder: Embedder | None = None, wait_for_lock: bool = False) -> None:
        self.config = config or IndexConfig()
        model = canonical_model_name(self.config.model if embedder is None else embedder.model)
        self._embedder = embedder
        dim = embedder.dim if embedder else 0
        manifest = Manifest(model=model, dim=dim, backend=self.config.backend, encoder=self.config.encoder,
                            index_type=self.config.index_type,
                            index_params=dict(self.config.index_params), chunk_tokens=self.config.chunk_tokens,
                            overlap_tokens=self.config.overlap_tokens)
        self.store = IndexStore.create_or_open(Path(index_dir), manifest, lock=True, wait=wait_for_lock)
        if not self.store.manifest.dim:
            self.store.manifest.dim = self.embedder.dim
            self.store.manifest.write(self.store.folder)

    @property
    def embedder(self) -> Embedder:
        """The model, loaded on first use: a run over unchanged articles never pays for loading it."""
        if self._embedder is None:
            self._embedder = Embedder(self.store.manifest.model, self.store.manifest.encoder)
        return self._embedder

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Indexer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def prepare(self, articles: list[Article]) -> list[tuple[Article, list[Passage], object]]:
        """Chunk and embed a batch: one encoder call for all its passages, sorted by length inside."""
        m = self.store.manifest
        chunked = [(a, chunk(a.text, self.embedder.count_tokens, m.chunk_tokens, m.overlap_tokens)) for a in articles]
        texts = [embedding_text(a, p) for a, ps in chunked for p in ps]
        vectors = self.embedder.encode(texts)
        out, at = [], 0
        for article, passages in chunked:
            out.append((article, passages, vectors[at:at + len(passages)]))
            at += len(passages)
        return out

    def add(self, items: Iterable[Article | Problem], report: IndexReport | None = None,
            progress: bool = False) -> IndexReport:
        """Upsert articles in atomic batches; unchanged ones (same content hash) are skipped."""
        from tqdm import tqdm

        report = report or IndexReport()
        started = time.perf_counter()
        bar = tqdm(desc="indexing", unit=" articles", disable=not progress, file=sys.stderr)
        batch: dict[str, Article] = {}
        for item in items:
            if isinstance(item, Problem):
                report.problems.append(item)
                bar.write(f"skipped {item}", file=sys.stderr)
                continue
            batch[item.id] = item  # a repeated id in one batch: the later copy wins, as an upsert would
            if len(batch) >= self.config.batch_articles:
                self._commit(list(batch.values()), report, bar)
                batch = {}
        if batch:
            self._commit(list(batch.values()), report, bar)
        self.store.checkpoint()
        bar.close()
        report.seconds += time.perf_counter() - started
        return report

    def _commit(self, articles: list[Article], report: IndexReport, bar) -> None:
        known = self.store.content_hashes([a.id for a in articles])
        changed = [a for a in articles if known.get(a.id) != a.content_hash()]
        report.unchanged += len(articles) - len(changed)
        if changed:
            result = self.store.write(self.prepare(changed))
            report.indexed += result.upserted
            report.passages += result.passages
        bar.update(len(articles))
        bar.set_postfix(passages=report.passages, refresh=False)

    def delete(self, ids: Iterable[str]) -> int:
        deleted = self.store.write(deletes=list(ids)).deleted
        self.store.checkpoint()
        return deleted


def index_sources(sources: Iterable[str], index_dir: Path | str, config: IndexConfig | None = None,
                  progress: bool = False, embedder: Embedder | None = None) -> IndexReport:
    """Index files, folders and feed URLs into `index_dir`; the rest goes on past bad input."""
    config = config or IndexConfig()
    with Indexer(index_dir, config, embedder=embedder) as indexer:
        return indexer.add(read_sources(sources, config.max_chars), progress=progress)

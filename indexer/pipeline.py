"""The indexing pipeline: read -> clean -> chunk -> embed -> store, in atomic batches."""

from __future__ import annotations

import hashlib
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from indexer import settings
from indexer.enrich.stage import Committed
from indexer.errors import InvalidInput
from indexer.models.embed import DEFAULT_ENCODER, Embedded, Embedder, canonical_model_name
from indexer.models.profiles import CONTEXTS, DEFAULT_CONTEXT, DEFAULT_PROFILE, profile_models
from indexer.sources.article import Article, Problem
from indexer.sources.chunk import Passage, chunk
from indexer.sources.readers import MAX_ARTICLE_CHARS, read_sources
from indexer.store.index_store import IndexStore, Manifest


@dataclass(frozen=True)
class IndexConfig:
    """How an index is built. Defaults are the measured choices (benchmarks/README.md)."""

    model: str | None = None
    encoder: str = DEFAULT_ENCODER
    chunk_tokens: int = 128
    overlap_tokens: int = 32
    # None: an existing index keeps its type, a new one is "auto" (exact search until it is large, then IVF).
    index_type: str | None = None
    index_params: dict = field(default_factory=dict)
    batch_articles: int = 256
    max_chars: int = MAX_ARTICLE_CHARS
    # None: an existing index keeps its own; a new one takes indexer.settings (environment, config file, faiss).
    # Naming one moves an existing index there (a Milvus URI implies milvus), filled from the stored embeddings.
    backend: str | None = None
    backend_uri: str | None = None
    # None: an existing index keeps its own; a new one is "fast" (one model) or "quality" (indexer/profiles.py).
    profile: str | None = None
    # What the model sees beside a passage (indexer/profiles.py); None: an existing index keeps its own.
    context: str | None = None
    # Take stored vectors for passages identical to stored ones instead of encoding them. Off by default: int8
    # vectors depend on their batch, so reuse moves results, and these sets save little (benchmarks/README.md).
    reuse_vectors: bool = False

    def __post_init__(self) -> None:
        if self.profile is not None:
            profile_models(self.profile)  # raises on an unknown name
        if self.context is not None and self.context not in CONTEXTS:
            raise InvalidInput(f"unknown context {self.context!r}; choose one of {', '.join(CONTEXTS)}")


@dataclass
class IndexReport:
    """What a run did, for the summary line and for callers."""

    indexed: int = 0
    unchanged: int = 0
    passages: int = 0
    deleted: int = 0
    reused: int = 0  # passages whose vectors came from an identical passage instead of the encoder
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        rate = self.passages / self.seconds if self.seconds else 0.0
        reused = f", {self.reused} reused" if self.reused else ""
        return (f"indexed {self.indexed} articles ({self.passages} passages{reused}, {rate:.1f} passages/s), "
                f"{self.unchanged} unchanged, {self.deleted} deleted, {len(self.problems)} skipped "
                f"in {self.seconds:.1f}s")


def embedding_text(article: Article, passage: Passage, context: str = DEFAULT_CONTEXT) -> str:
    """What the model sees for a passage: the passage, after the headline (and outlet and date) that help
    place it, as `context` says; offsets still index the body."""
    parts = []
    if context != "none":
        parts.append(article.title)
    if context == "title-meta":
        parts += [article.source, article.published[:10]]
    head = ". ".join(p for p in parts if p)
    return f"{head}. {passage.text}" if head else passage.text


def text_key(text: str) -> bytes:
    """The key under which a passage's vectors are stored: identical model input, identical vectors."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


Prepared = tuple[Article, list[Passage], Embedded]
# Stored vectors by key, one row per model: what an index already holds for some passage texts.
Known = Callable[[list[bytes]], dict[bytes, tuple[np.ndarray, ...]]]


@dataclass
class Batch:
    """The input of one atomic commit: articles with distinct ids, the problems read before them, and how
    many of its articles were dropped because the index already holds them with the same content."""

    articles: list[Article]
    problems: list[Problem] = field(default_factory=list)
    unchanged: int = 0

    def without_unchanged(self, known: Mapping[str, str]) -> Batch:
        """The batch less the articles whose stored content hash (`known`, by id) equals theirs."""
        todo = [a for a in self.articles if known.get(a.id) != a.content_hash()]
        return Batch(todo, self.problems, self.unchanged + len(self.articles) - len(todo))


def batches(items: Iterable[Article | Problem], size: int) -> Iterator[Batch]:
    """The input cut into batches of `size` distinct ids, the same cut on every path (local or Ray)."""
    articles: dict[str, Article] = {}
    problems: list[Problem] = []
    for item in items:
        if isinstance(item, Problem):
            problems.append(item)
            continue
        articles[item.id] = item  # a repeated id in one batch: the later copy wins, as an upsert would
        if len(articles) >= size:
            yield Batch(list(articles.values()), problems)
            articles, problems = {}, []
    if articles or problems:
        yield Batch(list(articles.values()), problems)


def prepare(articles: list[Article], embedders: Sequence[Embedder], chunk_tokens: int, overlap_tokens: int,
            context: str = DEFAULT_CONTEXT, known: Known | None = None) -> list[Prepared]:
    """Chunk and embed a batch. With `known` (stored vectors by key) a text is encoded once per batch, and not
    at all when `known` has it (an identical passage stored earlier: wire copies, boilerplate); without it,
    every passage is encoded (what reuse is measured against). int8 activations are quantized per encoder
    batch, so a vector depends a little on its neighbours: a reused vector is the one its first copy got, and
    the batches left to encode are cut a little differently (benchmarks/README.md, "Encode less").
    """
    chunked = [(a, chunk(a.text, embedders[0].count_tokens, chunk_tokens, overlap_tokens)) for a in articles]
    inputs = [embedding_text(a, p, context) for a, ps in chunked for p in ps]
    keys = [text_key(text) for text in inputs]
    texts = dict(zip(keys, inputs, strict=True))
    found = known(list(texts)) if known is not None and texts else {}
    todo = keys if known is None else [key for key in texts if key not in found]
    fresh = [e.encode([texts[key] for key in todo]) for e in embedders]
    rows = {key: tuple(m[i] for m in fresh) for i, key in enumerate(todo)} | found
    unspent = Counter(todo)  # encodings not yet handed to the passage they were made for
    out, at = [], 0
    for article, passages in chunked:
        mine = keys[at:at + len(passages)]
        vectors = tuple(np.stack([rows[key][m] for key in mine]) if mine else np.zeros((0, e.dim), np.float32)
                        for m, e in enumerate(embedders))
        reused = 0
        for key in mine:
            if unspent[key]:
                unspent[key] -= 1
            else:
                reused += 1
        out.append((article, passages, Embedded(vectors, tuple(mine), reused)))
        at += len(passages)
    return out


def nothing_known(keys: list[bytes]) -> dict[bytes, tuple[np.ndarray, ...]]:
    """A `Known` with nothing stored: reuse inside the batch only (where the index is not at hand)."""
    return {}


class Indexer:
    """Writes articles into one index folder; holds the writer lock while open."""

    def __init__(self, index_dir: Path | str, config: IndexConfig | None = None,
                 embedder: Embedder | None = None, wait_for_lock: bool | float = False,
                 embedders: Mapping[str, Embedder] | None = None) -> None:
        """`embedder` is the index's own model when already loaded; `embedders` any loaded models by name (a
        server's or a watcher's, handed from one write to the next so that none is loaded twice)."""
        self.config = config or IndexConfig()
        model = canonical_model_name(self.config.model if embedder is None else embedder.model)
        self._models: dict[str, Embedder] = dict(embedders or {})
        if embedder is not None:
            self._models[embedder.model] = embedder
        dim = embedder.dim if embedder else 0
        asked = self.config.backend or ("milvus" if self.config.backend_uri else None)
        backend = settings.backend(asked)
        uri = settings.milvus_uri(self.config.backend_uri) if backend == "milvus" else ""
        encoder = embedder.encoder if embedder is not None else self.config.encoder  # what made the vectors
        profile = self.config.profile or DEFAULT_PROFILE
        manifest = Manifest(model=model, dim=dim, backend=backend, backend_uri=uri, encoder=encoder,
                            index_type=self.config.index_type or "",
                            index_params=dict(self.config.index_params), chunk_tokens=self.config.chunk_tokens,
                            overlap_tokens=self.config.overlap_tokens, profile=profile,
                            extra_models=[{"model": m, "dim": 0} for m in profile_models(profile)],
                            context=self.config.context or DEFAULT_CONTEXT)
        self.store = IndexStore.create_or_open(Path(index_dir), manifest, lock=True, wait=wait_for_lock,
                                               asked={"profile": self.config.profile, "context": self.config.context})
        if asked and (self.store.manifest.backend, self.store.manifest.backend_uri) != (backend, uri):
            self.store.manifest.backend, self.store.manifest.backend_uri = backend, uri  # checkpoint fills it
            self.store.manifest.write(self.store.folder)
        m = self.store.manifest
        if not m.dim or not all(extra["dim"] for extra in m.extra_models):
            m.dim = self.embedder.dim
            for extra, loaded in zip(m.extra_models, self.extra_embedders, strict=True):
                extra["dim"] = loaded.dim
            m.write(self.store.folder)

    def embedder_for(self, model: str) -> Embedder:
        """One of the index's models by name, loaded on first use: a run over unchanged articles never pays
        for loading it."""
        if model not in self._models:
            self._models[model] = Embedder(model, self.store.manifest.encoder)
        return self._models[model]

    @property
    def embedder(self) -> Embedder:
        """The index's own model."""
        return self.embedder_for(self.store.manifest.model)

    @property
    def extra_embedders(self) -> list[Embedder]:
        """The profile's other models (none for "fast"), in the index's order."""
        return [self.embedder_for(model) for model in self.store.manifest.models()[1:]]

    @property
    def loaded(self) -> dict[str, Embedder]:
        """The models this writer holds loaded, by name: what the next writer can be handed."""
        return dict(self._models)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Indexer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def prepare(self, articles: list[Article]) -> list[Prepared]:
        """Chunk and embed a batch with this index's models and passage sizes, reusing stored vectors."""
        m = self.store.manifest
        return prepare(articles, [self.embedder, *self.extra_embedders], m.chunk_tokens, m.overlap_tokens,
                       m.context, known=self.store.known_vectors if self.config.reuse_vectors else None)

    def add(self, items: Iterable[Article | Problem], report: IndexReport | None = None,
            progress: bool = False) -> IndexReport:
        """Upsert articles in atomic batches; unchanged ones (same content hash) are skipped."""

        def prepared() -> Iterator[tuple[Batch, list[Prepared]]]:
            for batch in batches(items, self.config.batch_articles):
                # Hashes are read after the previous batch committed: a repeated id meets its new copy.
                todo = self._changed(batch)
                yield todo, self.prepare(todo.articles) if todo.articles else []

        return self.commit(prepared(), report, progress)

    def commit(self, prepared: Iterable[tuple[Batch, list[Prepared]]], report: IndexReport | None = None,
               progress: bool = False) -> IndexReport:
        """Write embedded batches in order, one transaction each, then checkpoint: the local and the Ray
        path share this, so both keep the same guarantees (docs/design.md)."""
        from tqdm import tqdm

        report = report or IndexReport()
        started = time.perf_counter()
        bar = tqdm(desc="indexing", unit=" articles", disable=not progress, file=sys.stderr)
        for batch, upserts in prepared:
            for problem in batch.problems:
                report.problems.append(problem)
                bar.write(f"skipped {problem}", file=sys.stderr)
            report.unchanged += batch.unchanged
            if upserts:
                result = self.store.write(upserts)
                report.indexed += result.upserted
                report.passages += result.passages
                report.reused += sum(embedded.reused for _, _, embedded in upserts)
            bar.update(batch.unchanged + len(upserts))
            bar.set_postfix(passages=report.passages, refresh=False)
        self.store.checkpoint()
        bar.close()
        report.seconds += time.perf_counter() - started
        return report

    def write(self, articles: list[Article], deletes: Iterable[str] = (),
              state: Mapping[str, str] | None = None) -> Committed:
        """One atomic batch however large: upserts (unchanged ones skipped), deletes and `state` (see
        `IndexStore.write`) commit together or not at all. No checkpoint: readers catch up from SQLite,
        and the caller checkpoints when it likes (a watcher, every few minutes)."""
        todo = self._changed(Batch(list({a.id: a for a in articles}.values())))
        committed = self.store.write(self.prepare(todo.articles) if todo.articles else [], list(deletes), state)
        return replace(committed, unchanged=todo.unchanged)

    def _changed(self, batch: Batch) -> Batch:
        """The batch less the articles the index already holds with the same content."""
        return batch.without_unchanged(self.store.content_hashes([a.id for a in batch.articles]))

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

"""Indexing on a Ray cluster: workers read, chunk and embed; the driver alone writes the index.

    newsearch index SOURCES --index DIR --ray HOST:PORT      (or NEWSEARCH_RAY_ADDRESS=HOST:PORT)

Two Ray Data stages, then the driver:
1. read (one task holding `READ_CPUS`): the sources in order through the local readers, cut into the local
   path's commit batches (`pipeline.batches`), less the articles whose content hash the index holds (the
   driver's {id: hash} is broadcast with `ray.put`, and the reader adds each batch's hashes as committing
   would). One reader keeps the cut identical to the local path's, which matters because int8 vectors
   depend slightly on which passages share an encoder call; reading and cleaning run at thousands of
   articles a second, about 1% of the embedding time. The stage finishes (`materialize`) before any
   embedding actor exists, so actors holding every CPU can never starve it.
2. embed (`map_batches` actors, one CPU and one encoder thread each, as many as the cluster has CPUs):
   `pipeline.prepare` on one batch at a time, the function the local path calls.
3. the driver takes the batches back in input order and commits each with `Indexer.commit`, the local
   path's write loop: one SQLite transaction per batch, a checkpoint at the end. Workers never touch the
   index folder, so the writer lock, the commit protocol and what a crash leaves are those of
   docs/design.md (a crash loses at most the batches not yet committed; a re-run skips the rest).

Every node needs newsearch installed (the same version) and the model; sources must be readable at the
same paths from the node that runs the reader (relative paths are taken from the driver's working folder).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from indexer.pipeline import Batch, IndexConfig, Indexer, IndexReport, Prepared, batches, nothing_known, prepare
from indexer.sources.readers import read_sources

READ_CPUS = 0.5  # reading is light, but a task with no CPU reservation could be packed beside busy actors


def _read(rows: dict[str, np.ndarray], known_ref, cwd: str, size: int, max_chars: int) -> Iterator[dict]:
    """Ray Data reader: all sources in order, as pickled commit batches less their unchanged articles."""
    import ray

    known: dict[str, str] = ray.get(known_ref)
    with contextlib.chdir(cwd) if os.path.isdir(cwd) else contextlib.nullcontext():
        for seq, batch in enumerate(batches(read_sources(list(rows["source"]), max_chars), size)):
            todo = batch.without_unchanged(known)
            known.update((a.id, a.content_hash()) for a in todo.articles)
            yield {"seq": np.array([seq]), "batch": np.array([pickle.dumps(todo)], dtype=object)}


class _Embed:
    """Ray Data actor: loads the model once, then chunks and embeds whole batches with one thread."""

    def __init__(self, models: list[str], encoder: str, chunk_tokens: int, overlap_tokens: int, context: str,
                 reuse: bool) -> None:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the actor's one CPU: no tokenizer thread pool either
        from indexer.models.embed import Embedder

        self.embedders = [Embedder(model, encoder, threads=1) for model in models]
        self.chunk_tokens, self.overlap_tokens, self.context = chunk_tokens, overlap_tokens, context
        self.known = nothing_known if reuse else None

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = []
        for blob in rows["batch"]:
            batch: Batch = pickle.loads(blob)
            # Without the index at hand an actor reuses vectors only inside its batch (docs/scale-out.md).
            upserts = prepare(batch.articles, self.embedders, self.chunk_tokens, self.overlap_tokens, self.context,
                              known=self.known)
            out.append(pickle.dumps((replace(batch, articles=[]), upserts)))  # the articles travel in upserts
        return {"seq": rows["seq"], "prepared": np.array(out, dtype=object)}


def index_on_ray(sources: Sequence[str], index_dir: Path | str, address: str, config: IndexConfig | None = None,
                 progress: bool = False) -> IndexReport:
    """Index `sources` into `index_dir` with a Ray cluster doing the reading and embedding.

    The result equals `index_sources` on the same input (same articles, passages and vectors), committed
    with the same guarantees: the driver holds the writer lock and writes every batch itself.
    """
    import ray

    config = config or IndexConfig()
    ray.init(address=address, logging_level="WARNING", log_to_driver=False)
    try:
        with Indexer(index_dir, config) as indexer:
            return indexer.commit(_embedded(indexer, sources, config), progress=progress)
    finally:
        ray.shutdown()


def _embedded(indexer: Indexer, sources: Sequence[str], config: IndexConfig) -> Iterator[tuple[Batch, list[Prepared]]]:
    """The cluster's embedded batches, in input order."""
    import ray
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # its INFO lines per dataset would bury the summary
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # commits follow the input, as on the local path
    context.enable_progress_bars = False  # the driver's own bar counts committed articles
    context.target_max_block_size = 1  # a block per batch: the unit the actors share out
    m = indexer.store.manifest
    known = indexer.store.content_hashes()
    # Reading ends before embedding starts: the reader never waits for a CPU the actors hold (the deadlock
    # of a pipeline on small nodes), and it costs ~1% of the embedding time.
    read = ray.data.from_items([{"source": s} for s in sources], override_num_blocks=1).map_batches(
        _read, batch_size=None, num_cpus=READ_CPUS, batch_format="numpy",
        fn_kwargs={"known_ref": ray.put(known), "cwd": os.getcwd(), "size": config.batch_articles,
                   "max_chars": config.max_chars}).materialize()
    actors = max(1, min(int(ray.cluster_resources().get("CPU", 1)), read.count()))
    embedded = read.map_batches(
        _Embed, batch_size=1, num_cpus=1, batch_format="numpy",
        # One batch in flight per actor: a batch is seconds of work, and with more in flight the first actor
        # up would queue most of a small input while the others still load the model.
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors, initial_size=actors,
                                           max_tasks_in_flight_per_actor=1),
        fn_constructor_kwargs={"models": [m.model] + [extra["model"] for extra in m.extra_models],
                               "encoder": m.encoder, "chunk_tokens": m.chunk_tokens,
                               "overlap_tokens": m.overlap_tokens, "context": m.context,
                               "reuse": config.reuse_vectors})
    for expected, row in enumerate(embedded.iter_rows()):
        if row["seq"] != expected:
            raise RuntimeError(f"Ray returned batch {row['seq']} where {expected} was due; later batches not committed")
        yield pickle.loads(row["prepared"])

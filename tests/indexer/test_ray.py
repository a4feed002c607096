"""`newsearch index --ray` on a 2-node Ray cluster builds the index the local path builds: same articles,
passages, vectors, problems and top results, and the same incremental re-run.

The cluster (head + one worker node, one CPU each) runs on 127.0.0.1 inside a network namespace the test
creates, so no Ray process can listen on the machine's other addresses (benchmarks/raycluster.py).
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.raycluster import LoopbackCluster, unavailable
from tests.conftest import DATA

pytestmark = pytest.mark.skipif(bool(unavailable()), reason=f"Ray cluster in a namespace: {unavailable()}")

NEWSEARCH = str(Path(sys.executable).with_name("newsearch"))
BATCH = 32  # several batches, so both nodes embed and commit order matters
QUERIES = ("Lindsay Lohan rehab", "pirate ships intercepted by the navy", "baseball contract offer",
           "dairy building fire insurance", "Russia stance on DPRK sanctions")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """120 ECB+ articles, then a file with bad lines and repeated ids (one changed, one identical), then a text file."""
    folder = tmp_path_factory.mktemp("raycorpus")
    lines = (DATA / "ecbplus" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:120]
    (folder / "news.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    changed = {**json.loads(lines[5]), "text": "A corrected version of this story, with new text."}
    (folder / "more.jsonl").write_text("\n".join([
        json.dumps({"id": "ray-1", "title": "Cluster news", "text": "Ray nodes embedded this article."}),
        "{not json",
        "[1, 2]",
        json.dumps(changed),
        lines[6],
    ]) + "\n", encoding="utf-8")
    (folder / "seed.txt").write_text((DATA / "seed" / "lavrov_dprk_sanctions.txt").read_text(encoding="utf-8"))
    return folder


def _index(corpus: Path, index: str, run=subprocess.run, extra: tuple[str, ...] = ()) -> tuple[list[str], str]:
    """Run `newsearch index` from the corpus folder with relative paths; its skipped lines and counts."""
    done = run([NEWSEARCH, "index", "news.jsonl", "more.jsonl", "seed.txt", "--index", index, "--batch", str(BATCH),
                "--quiet", *extra], cwd=corpus, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr  # 1: indexed, with skipped input
    lines = done.stderr.splitlines()
    summary = re.search(r"indexed (\d+) articles \((\d+) passages.*?(\d+) unchanged, (\d+) deleted, (\d+) skipped",
                        done.stderr)
    assert summary, done.stderr
    return [line for line in lines if line.startswith("skipped ")], " ".join(summary.groups())


def _contents(index: Path) -> tuple[list, list, np.ndarray]:
    conn = sqlite3.connect(index / "meta.sqlite")
    try:
        articles = conn.execute("SELECT rowid, id, content_hash, dup_group FROM articles ORDER BY rowid").fetchall()
        rows = conn.execute('SELECT p.pid, a.id, p.ord, p.start, p."end", p.embedding FROM passages p '
                            "JOIN articles a ON a.rowid = p.article ORDER BY p.pid").fetchall()
    finally:
        conn.close()
    vectors = np.stack([np.frombuffer(r[-1], dtype=np.float32) for r in rows])
    return articles, [r[:-1] for r in rows], vectors


def _same_index(local: Path, ray: Path) -> None:
    from indexer.models.embed import Embedder
    from search import Searcher, SearchOptions

    (la, lp, lv), (ra, rp, rv) = _contents(local), _contents(ray)
    assert ra == la  # ids, content, commit order (rowids) and near-duplicate groups
    assert rp == lp  # passages: article, order, character offsets, ids
    np.testing.assert_allclose(rv, lv, atol=1e-5)
    embedder = Embedder(encoder="onnx-int8", threads=1)
    searchers = Searcher(local, embedder=embedder), Searcher(ray, embedder=embedder)
    try:
        for query in QUERIES:
            for mode in ("dense", "hybrid"):
                a, b = (s.search(query, k=10, options=SearchOptions(mode=mode)).results for s in searchers)
                assert [r.id for r in b] == [r.id for r in a], (query, mode)
                np.testing.assert_allclose([r.score for r in b], [r.score for r in a], atol=1e-5)
    finally:
        for s in searchers:
            s.close()


def test_ray_cluster_indexes_like_the_local_path(corpus, tmp_path_factory):
    local, ray = corpus / "local-index", corpus / "ray-index"
    with LoopbackCluster(tmp_path_factory.mktemp("r"), nodes=2, cpus=1) as cluster:
        ray_run = (cluster.run, ("--ray", cluster.address))
        ray_problems, ray_counts = _index(corpus, ray.name, *ray_run)
        local_problems, local_counts = _index(corpus, local.name)
        # 120 + ray-1 + the changed copy (in a later batch, after its first version committed) + seed.txt
        # indexed; the identical copy unchanged; two bad lines skipped with their file:line.
        assert local_counts.split()[0::2] == ["123", "1", "2"]
        assert ray_counts == local_counts
        assert ray_problems == local_problems
        assert any(p.startswith("skipped more.jsonl:2: invalid JSON") for p in ray_problems), ray_problems
        _same_index(local, ray)

        # A re-run skips what the index holds on both paths (only the id with two versions is written again).
        assert _index(corpus, ray.name, *ray_run)[1] == _index(corpus, local.name)[1]
        _same_index(local, ray)

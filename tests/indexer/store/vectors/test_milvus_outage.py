"""A Milvus server killed (kill -9) while `newsearch index --backend milvus --milvus-uri http://127.0.0.1:PORT` runs:
in the middle of writing the vectors, and while the articles are being encoded and committed. Each time the
command fails naming the backend, SQLite keeps every committed batch whole, and the vector state is not
recorded as saved; with the server back, the next run encodes nothing and leaves the collection holding
exactly the database's passage ids. While the server is down the API's /health and /ready say so.

The server runs on loopback in a namespace of its own, reached through a relay on this side's 127.0.0.1
(benchmarks/milvusserver.py); every wait is bounded.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from benchmarks.milvusserver import MilvusServer, unavailable
from indexer.store.index_store import Manifest
from indexer.store.vectors import milvus_backend, open_vector_store
from tests.api.conftest import API_KEY, ServerThread
from tests.conftest import DATA

pytestmark = pytest.mark.skipif(bool(unavailable()), reason=f"Milvus server: {unavailable()}")

NEWSEARCH = str(Path(sys.executable).with_name("newsearch"))
SUMMARY = re.compile(r"indexed (\d+) articles \((\d+) passages")


def _index(*args: str, uri: str = "") -> list[str]:
    backend = ("--backend", "milvus", "--milvus-uri", uri) if uri else ()
    return [NEWSEARCH, "index", *args, "--quiet", *backend]


def _encoded(stderr: str) -> tuple[int, int]:
    """(articles, passages) a run encoded and committed, from its summary line."""
    found = SUMMARY.search(stderr)
    assert found, stderr
    return int(found[1]), int(found[2])


def _database(index: Path) -> tuple[int, np.ndarray]:
    """The committed generation and every passage id, from SQLite (the truth); each article has its passages."""
    conn = sqlite3.connect(index / "meta.sqlite")
    try:
        generation = int(conn.execute("SELECT value FROM state WHERE key='generation'").fetchone()[0])
        pids = np.array([row[0] for row in conn.execute("SELECT pid FROM passages ORDER BY pid")], dtype=np.int64)
        bare = conn.execute("SELECT count(*) FROM articles a WHERE NOT EXISTS "
                            "(SELECT 1 FROM passages p WHERE p.article = a.rowid)").fetchone()[0]
    finally:
        conn.close()
    assert bare == 0  # no article committed without its passages
    return generation, pids


def _articles(index: Path) -> int:
    conn = sqlite3.connect(index / "meta.sqlite")
    try:
        return conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    finally:
        conn.close()


def _collection(index: Path, uri: str) -> tuple[np.ndarray, int]:
    """The ids the server's collection holds and its row count, read by a store that never changes it."""
    m = Manifest.read(index)
    store = open_vector_store("milvus", index, m.dim, m.index_type, m.index_params, uri=uri, writer=False)
    try:
        return store.ids(), store.count()
    finally:
        store.close()


def _saved_generation(index: Path) -> int | None:
    info = index / milvus_backend.INFO_FILE
    return json.loads(info.read_text())["generation"] if info.exists() else None


def _until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {seconds} s")
        time.sleep(0.1)


def _failed_naming_the_backend(done: subprocess.CompletedProcess, uri: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "newsearch: error: vector backend Milvus" in done.stderr and uri in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_kill_9_while_indexing(small_index, small_corpus, embedder, tmp_path):
    from api.app import Settings, create_app

    index = tmp_path / "idx"
    shutil.copytree(small_index, index, ignore=shutil.ignore_patterns("write.lock"))
    generation, pids = _database(index)
    with MilvusServer(tmp_path / "milvus") as server:
        uri = server.uri

        # 1. Killed in the middle of the first insert request: the FAISS index moving to the server.
        killed = threading.Event()

        def kill_mid_request(sent: int) -> None:
            if sent > 100_000 and not killed.is_set():  # a request carries ~1 MB of vectors; these are its first
                killed.set()
                server.kill()

        server.relay.on_upstream = kill_mid_request
        done = subprocess.run(_index(str(small_corpus), "--index", str(index), uri=uri), capture_output=True,
                              text=True, timeout=300)
        server.relay.on_upstream = None
        assert killed.is_set()
        _failed_naming_the_backend(done, uri)
        assert _database(index)[0] == generation and _saved_generation(index) is None  # nothing claimed saved

        server.start()
        done = subprocess.run(_index(str(small_corpus), "--index", str(index)), capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        assert _encoded(done.stderr) == (0, 0)  # the committed articles are not encoded again
        ids, count = _collection(index, uri)
        assert ids.tolist() == pids.tolist() and count == len(pids)
        assert _saved_generation(index) == Manifest.read(index).generation == generation

        # 2. Killed while new articles are encoded and committed, with the API serving the index.
        lines = (DATA / "ecbplus" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[60:72]
        extra = tmp_path / "extra.jsonl"
        extra.write_text("\n".join(lines) + "\n", encoding="utf-8")
        api = ServerThread(create_app(index, Settings(api_key=API_KEY), embedder=embedder)).start()
        try:
            with httpx.Client(base_url=api.url, timeout=60) as http:
                assert http.get("/health").json()["vectors"] == {"backend": "milvus", "ok": True, "error": None}
                assert http.get("/ready").status_code == 200

                run = subprocess.Popen(_index(str(small_corpus), str(extra), "--index", str(index), "--batch", "2"),
                                       stderr=subprocess.PIPE, text=True)
                try:
                    _until(lambda: _database(index)[0] > generation, 240, "a first batch committed")
                    server.kill()
                    stderr = run.communicate(timeout=300)[1]
                finally:
                    if run.poll() is None:
                        run.kill()
                        run.wait()
                _failed_naming_the_backend(subprocess.CompletedProcess(run.args, run.returncode, "", stderr), uri)
                committed, now = _database(index)
                assert committed > generation + 1 and len(now) > len(pids)
                assert _articles(index) == 61 + 12  # every batch after the kill committed too, each one whole
                assert _saved_generation(index) == generation  # the vectors are recorded at the last good state

                health = http.get("/health").json()
                assert health["status"] == "degraded" and not health["vectors"]["ok"]
                assert "Milvus" in health["vectors"]["error"] and uri in health["vectors"]["error"]
                ready = http.get("/ready")
                assert ready.status_code == 503 and "vector backend Milvus" in ready.json()["detail"]
                assert http.get("/search", params={"q": "earthquake", "mode": "dense"}).status_code == 503

                server.start()
                _until(lambda: http.get("/ready").status_code == 200, 60, "/ready again")
                assert http.get("/health").json()["status"] == "ok"

                done = subprocess.run(_index(str(small_corpus), str(extra), "--index", str(index)),
                                      capture_output=True, text=True, timeout=300)
                assert done.returncode == 0, done.stderr
                assert _encoded(done.stderr) == (0, 0)
                ids, count = _collection(index, uri)
                assert ids.tolist() == now.tolist() and count == len(now)  # exactly the database's passages
                assert _saved_generation(index) == committed
                title = json.loads(lines[-1])["title"]
                found = http.get("/search", params={"q": title, "k": 3, "mode": "dense"}).json()["results"]
                assert json.loads(lines[-1])["_id"] in [r["id"] for r in found]
        finally:
            api.stop()

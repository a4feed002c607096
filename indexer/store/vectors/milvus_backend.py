"""Milvus vector store: a Milvus Lite file beside the index (the real engine, run in-process) or a Milvus
server or cluster at http://host:port.

One collection, `newsearch_passages`: int64 primary key = passage id, FLOAT_VECTOR, inner product. On a
shared server each index takes its own database (http://host:19530/news_en; Milvus Lite has no databases).
The generation last saved is recorded in `vectors.milvus.json` in the index folder, written atomically.

The engine is shared, not copied per process, so `copy` returns the store itself, and only the writer
(the process holding the folder lock) deletes from it or rebuilds it: a reader on an older snapshot that
synced by deleting could undo a newer commit for every other reader. A reader still adds what is missing,
so a server pointed at an empty cluster fills it from the stored embeddings; ids the database no longer
holds are never answered (the searcher maps ids through its own snapshot) and the next writer drops them.

Milvus Lite lets one process open a file; newsearch takes `<file>.lock` first and says so when another
process (say `newsearch serve` while `newsearch index` runs) has it. Milvus Lite offers FLAT and IVF_FLAT;
hnsw and ivf-sq8 need a Milvus server.
"""

from __future__ import annotations

import fcntl
import functools
import json
import logging
import re
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

from indexer import settings
from indexer.errors import BackendUnavailable
from indexer.files import write_atomic
from indexer.store.vectors.base import VectorStore

DEFAULT_FILE = "vectors.milvus.db"
INFO_FILE = "vectors.milvus.json"
COLLECTION = "newsearch_passages"
SERVER_SCHEMES = ("http://", "https://", "tcp://", "unix:")
INDEX_TYPES = {"auto": "AUTOINDEX", "flat": "FLAT", "ivf": "IVF_FLAT", "ivf-sq8": "IVF_SQ8", "hnsw": "HNSW"}
LITE_INDEX_TYPES = ("auto", "flat", "ivf")  # auto: AUTOINDEX, which Lite 2.5.1 builds as HNSW (M 18)
# How long to wait for a Milvus Lite file's server process to answer: pymilvus waits 10 s, which a busy
# machine can exceed while the process starts (seen in the test suite right after the Ray tests).
LITE_START_SECONDS = 60
MAX_TOPK = 16384  # Milvus answers at most this many hits per query
ROWS_BYTES = 1 << 20  # rows per insert request: Lite slows down sharply on large requests (docs/scale-out.md)
FILTER_IDS = 5000  # ids per `id in [...]` filter: Lite answers several small filters faster than one large

# pymilvus logs every failed call with its traceback (and each reconnection attempt) before raising it; newsearch
# reports what it raises once, naming the backend (BackendUnavailable), so the command line says it once.
for _name in ("pymilvus.decorators", "pymilvus.client.connection_manager"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)

# Milvus Lite has no MVCC timestamps for iterators; pymilvus warns on every ids() and uses the client's clock.
logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(
    lambda record: "mvccTs" not in record.getMessage())


def resolve_uri(uri: str, folder: Path) -> str:
    """A server URI as given; a file path made absolute against the index folder ('' is the default file)."""
    if uri.startswith(SERVER_SCHEMES):
        return uri
    path = Path(uri or DEFAULT_FILE)
    path = path if path.is_absolute() else Path(folder) / path
    if path.suffix != ".db" or not re.fullmatch(r"[A-Za-z0-9._-]{1,36}", path.name):
        raise ValueError(f"Milvus URI {uri!r}: a Milvus Lite file is named with at most 36 letters, digits, '.', "
                         "'_' or '-' and ends in .db; a server URI starts with http://")
    return str(path.resolve())


class _LiteFiles:
    """Milvus Lite files this process has open: a lock and a use count each, the engine stopped at the last close."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._open: dict[str, tuple[object, int]] = {}

    def acquire(self, path: str) -> None:
        with self._mutex:
            handle, users = self._open.get(path, (None, 0))
            if handle is None:
                # Milvus Lite refuses a file another process serves, but its failed attempt deletes that
                # process's lock file, so a third would be let in: take a lock of our own first.
                handle = open(path + ".lock", "a")  # noqa: SIM115 - held while the file is open
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.close()
                    raise BackendUnavailable(
                        f"{path} is open in another process: Milvus Lite serves a file to one process at a time. "
                        "Stop that process (e.g. `newsearch serve`) first, or run a Milvus server and set "
                        "NEWSEARCH_MILVUS_URI=http://host:19530") from None
            self._open[path] = (handle, users + 1)

    def release(self, path: str) -> None:
        with self._mutex:
            handle, users = self._open.pop(path)
            if users > 1:
                self._open[path] = (handle, users - 1)
                return
            _server_manager().release_server(path)
            handle.close()


_lite_files = _LiteFiles()


def _server_manager():
    with warnings.catch_warnings():  # milvus_lite imports pkg_resources, deprecated by setuptools
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        from milvus_lite.server_manager import server_manager_instance
    return server_manager_instance


Result = TypeVar("Result")


def _reported(method: Callable[..., Result]) -> Callable[..., Result]:
    """A Milvus failure (a server down, killed or refusing) as BackendUnavailable naming the backend and where,
    so every caller answers it in its own terms (the CLI's message and exit 2, the API's 503)."""

    @functools.wraps(method)
    def call(self: MilvusStore, *args, **kwargs) -> Result:
        try:
            return method(self, *args, **kwargs)
        except MilvusException as exc:
            raise BackendUnavailable(f"vector backend Milvus at {self.shown_uri}: {exc.message}") from exc

    return call


class MilvusStore(VectorStore):
    def __init__(self, folder: Path, dim: int, index_type: str = "flat", params: dict | None = None,
                 uri: str = "", writer: bool = True) -> None:
        self._lite = not uri.startswith(SERVER_SCHEMES)
        if index_type not in INDEX_TYPES:
            raise ValueError(f"unknown index type {index_type!r}; choose one of {', '.join(INDEX_TYPES)}")
        if self._lite and index_type not in LITE_INDEX_TYPES:
            raise ValueError(f"index type {index_type!r}: Milvus Lite offers auto, flat and ivf; "
                             "the others need a Milvus server")
        self.folder = Path(folder)
        self.dim = dim
        self.index_type = index_type
        self.params = dict(params or {})
        self.writer = writer
        self.consistency = settings.milvus_consistency()  # of searches; syncs read Strong (the collection's)
        self.uri = resolve_uri(uri, self.folder)
        if self._lite:
            _server_manager()  # imported here, quietly, before pymilvus imports it
            _lite_files.acquire(self.uri)
        try:
            self._client = MilvusClient(self.uri, token="" if self._lite else settings.milvus_token(),
                                        timeout=LITE_START_SECONDS if self._lite else None)
        except MilvusException as exc:
            if self._lite:
                _lite_files.release(self.uri)
            raise BackendUnavailable(f"vector backend Milvus: cannot open {self.shown_uri}: {exc.message}") from exc
        try:
            self._prepare()
            self._generation = self._recorded_generation()
        except BaseException:
            self.close()
            raise

    @property
    def shown_uri(self) -> str:
        """The URI without any user:password part, for messages."""
        return re.sub(r"//[^/@]*@", "//", self.uri)

    # -- the collection ----------------------------------------------------------------------------
    def _index_params(self) -> dict:
        """The index as Milvus names it and its build parameters (defaults as FAISS's, nlist as Milvus')."""
        p = self.params
        if self.index_type in ("ivf", "ivf-sq8"):
            return {"nlist": int(p.get("nlist", 128))}
        if self.index_type == "hnsw":
            return {"M": int(p.get("M", 32)), "efConstruction": int(p.get("efConstruction", 200))}
        return {}

    @_reported
    def _prepare(self) -> None:
        """Create the collection, or recreate it (writer only) when it was built with another shape or index."""
        client = self._client
        if client.has_collection(COLLECTION):
            if self._matches() or not self.writer:
                client.load_collection(COLLECTION)
                return
            client.drop_collection(COLLECTION)  # sync refills it from the stored embeddings
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        index = client.prepare_index_params()
        index.add_index(field_name="vector", index_type=INDEX_TYPES[self.index_type], metric_type="IP",
                        params=self._index_params())
        client.create_collection(COLLECTION, schema=schema, index_params=index, consistency_level="Strong")

    def _matches(self) -> bool:
        fields = {f["name"]: f for f in self._client.describe_collection(COLLECTION)["fields"]}
        index = self._client.describe_index(COLLECTION, "vector") or {}
        built = {key: str(index.get(key)) for key in self._index_params()}
        return ("vector" in fields and int(fields["vector"]["params"].get("dim", 0)) == self.dim
                and index.get("index_type") == INDEX_TYPES[self.index_type]
                and built == {key: str(value) for key, value in self._index_params().items()})

    @_reported
    def _recorded_generation(self) -> int:
        try:
            info = json.loads((self.folder / INFO_FILE).read_text())
        except (OSError, ValueError):
            return -1
        same = info.get("uri") == self.uri and info.get("index_type") == self.index_type
        return int(info["generation"]) if same and info.get("count") == self.count() else -1

    # -- the contract --------------------------------------------------------------------------------
    def generation(self) -> int:
        return self._generation

    @_reported
    def count(self) -> int:
        return int(self._client.query(COLLECTION, filter="", output_fields=["count(*)"])[0]["count(*)"])

    @_reported
    def ids(self) -> np.ndarray:
        out: list[int] = []
        iterator = self._client.query_iterator(COLLECTION, batch_size=MAX_TOPK, filter="", output_fields=["id"])
        try:
            while batch := iterator.next():
                out.extend(row["id"] for row in batch)
        finally:
            iterator.close()
        return np.sort(np.asarray(out, dtype=np.int64))

    @_reported
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Upsert: two readers adding the same missing ids leave one copy of each."""
        vectors = np.asarray(vectors, dtype=np.float32)
        step = max(1, ROWS_BYTES // (4 * self.dim))
        for start in range(0, len(ids), step):
            self._client.upsert(COLLECTION, [{"id": int(i), "vector": v}
                                             for i, v in zip(ids[start:start + step], vectors[start:start + step],
                                                             strict=True)])

    @_reported
    def delete(self, ids: np.ndarray) -> None:
        if not self.writer:
            return  # see the module docstring: only the writer prunes a shared engine
        for start in range(0, len(ids), FILTER_IDS):
            self._client.delete(COLLECTION, ids=[int(i) for i in ids[start:start + FILTER_IDS]])

    @_reported
    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None):
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        k = max(1, min(k, MAX_TOPK))
        filters = [""] if allowed is None else [
            f"id in {[int(i) for i in allowed[start:start + FILTER_IDS]]}"
            for start in range(0, len(allowed), FILTER_IDS)]
        scores = np.full((len(queries), k), np.finfo(np.float32).min, dtype=np.float32)  # as FAISS pads
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        hits: list[list[tuple[float, int]]] = [[] for _ in queries]
        for expr in filters:
            for found, answer in zip(hits, self._client.search(
                    COLLECTION, data=list(queries), limit=k, filter=expr, output_fields=[],
                    search_params={"metric_type": "IP", "params": self._search_params(k)},
                    consistency_level=self.consistency), strict=True):
                found.extend((hit["distance"], hit["id"]) for hit in answer)
        for row, found in enumerate(hits):
            best = sorted(found, key=lambda hit: (-hit[0], hit[1]))[:k]
            scores[row, :len(best)] = [score for score, _ in best]
            ids[row, :len(best)] = [pid for _, pid in best]
        return scores, ids

    @_reported
    def check(self) -> None:
        """One cheap call that needs the engine and the collection (for /health and /ready)."""
        if not self._client.has_collection(COLLECTION):
            raise BackendUnavailable(f"vector backend Milvus at {self.shown_uri}: collection {COLLECTION} is gone")

    def _search_params(self, k: int) -> dict:
        if self.index_type in ("ivf", "ivf-sq8"):
            return {"nprobe": int(self.params.get("nprobe", 32))}
        if self.index_type == "hnsw":
            return {"ef": max(k, int(self.params.get("efSearch", 128)))}
        return {}

    @_reported
    def save(self, generation: int) -> None:
        self._client.flush(COLLECTION)
        info = {"generation": generation, "uri": self.uri, "collection": COLLECTION, "index_type": self.index_type,
                "dim": self.dim, "count": self.count(), "params": self.params}
        write_atomic(self.folder / INFO_FILE, json.dumps(info, indent=2))
        self._generation = generation

    def close(self) -> None:
        if self._client is None:
            return
        self._client.close()
        self._client = None
        if self._lite:
            _lite_files.release(self.uri)

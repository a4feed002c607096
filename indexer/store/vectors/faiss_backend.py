"""FAISS vector store (the embedded default): flat exact search, HNSW or IVF, saved in the index folder.

Files: `vectors.faiss` and `vectors.json` (its generation and type), each written to a temporary file,
fsynced and renamed, so a crash leaves the previous pair or the new one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

from indexer.files import write_atomic
from indexer.store.vectors.base import VectorStore
from indexer.system import available_cores

INDEX_TYPES = ("auto", "flat", "hnsw", "ivf", "ivf-sq8")
BUILD_PARAMS = ("M", "efConstruction", "nlist")  # changing these needs a rebuild; efSearch/nprobe do not
# `auto` searches exactly below this many passages, where a flat scan still answers in a few milliseconds
# (benchmarks/README.md, ANN); above it, IVF.
AUTO_ANN_FROM = 20_000


def auto_index(n: int) -> tuple[str, dict]:
    """The index `auto` builds for n vectors, with its build parameters.

    IVF-Flat rather than HNSW: it deletes in place (an updated article does not rebuild the whole graph),
    its memory is about the raw vectors', and at its default nprobe=32 its recall@10 stays near exact at
    100k and 1M vectors (benchmarks/README.md, ANN). nlist is 4*sqrt(n) rounded down to a power of two, so the
    index is retrained only each time the collection grows (or shrinks) 4x.
    """
    if n < AUTO_ANN_FROM:
        return "flat", {}
    return "ivf", {"nlist": 2 ** int(np.log2(4 * np.sqrt(n)))}


def _factory(index_type: str, dim: int, n: int, params: dict) -> faiss.Index:
    if index_type == "flat":
        return faiss.IndexFlatIP(dim)
    if index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, int(params.get("M", 32)), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(params.get("efConstruction", 200))
        return index
    if index_type in ("ivf", "ivf-sq8"):
        nlist = int(params.get("nlist") or max(1, min(65536, int(4 * np.sqrt(max(n, 1))))))
        coder = "SQ8" if index_type == "ivf-sq8" else "Flat"
        return faiss.index_factory(dim, f"IVF{nlist},{coder}", faiss.METRIC_INNER_PRODUCT)
    raise ValueError(f"unknown index type {index_type!r}; choose one of {', '.join(INDEX_TYPES)}")


def _with_ids(index: faiss.Index) -> faiss.Index:
    """The index keyed by passage id. IVF stores ids itself and must: IndexIDMap's remove_ids assumes the
    inner index renumbers what is left, as flat does and IVF does not, so over IVF it mismaps every id after
    the first deletion."""
    return index if isinstance(index, faiss.IndexIVF) else faiss.IndexIDMap2(index)


def _unwrapped(index: faiss.Index) -> faiss.Index:
    return faiss.downcast_index(index.index if isinstance(index, faiss.IndexIDMap) else index)


class FaissStore(VectorStore):
    def __init__(self, folder: Path, dim: int, index_type: str = "auto", params: dict | None = None) -> None:
        self.folder = Path(folder)
        self.dim = dim
        self.index_type = index_type  # as asked: "auto" or a concrete type
        self.params = dict(params or {})
        self._built = auto_index(0) if index_type == "auto" else (index_type, {})  # what the index is
        self._generation = -1
        self._index = _with_ids(self._factory(0))
        self._load()

    def _factory(self, n: int) -> faiss.Index:
        kind, chosen = self._built
        return _factory(kind, self.dim, n, {**chosen, **self.params})

    @property
    def description(self) -> str:
        kind, chosen = self._built
        built = f"{kind} {' '.join(f'{k}={v}' for k, v in chosen.items())}".strip()
        return built if self.index_type == kind else f"{self.index_type} ({built})"

    def outgrown(self, n: int) -> bool:
        return self.index_type == "auto" and auto_index(n) != self._built

    @property
    def _files(self) -> tuple[Path, Path]:
        return self.folder / "vectors.faiss", self.folder / "vectors.json"

    def _load(self) -> None:
        data_file, info_file = self._files
        try:
            info = json.loads(info_file.read_text())
            built = {k: v for k, v in info.get("params", {}).items() if k in BUILD_PARAMS}
            wanted = {k: v for k, v in self.params.items() if k in BUILD_PARAMS}
            if info.get("index_type") != self.index_type or info.get("dim") != self.dim or built != wanted:
                return  # another type or shape was asked for: sync rebuilds it from the stored embeddings
            index = faiss.read_index(str(data_file))
            kind, chosen = info.get("built", [self.index_type, {}])
        except (OSError, ValueError, RuntimeError):
            return  # missing or unreadable: sync rebuilds it from the stored embeddings
        mapped_ivf = isinstance(index, faiss.IndexIDMap) and isinstance(_unwrapped(index), faiss.IndexIVF)
        if info.get("count") != index.ntotal or mapped_ivf:
            return  # torn, or IVF under an id map as earlier versions saved it: sync rebuilds it
        self._index = index
        self._built = (kind, chosen)
        self._generation = int(info["generation"])
        self._apply_params()

    @property
    def _inner(self) -> faiss.Index:
        """The index proper, without the id map flat and HNSW indexes are wrapped in."""
        return _unwrapped(self._index)

    def _apply_params(self) -> None:
        inner = self._inner
        if isinstance(inner, faiss.IndexHNSW):
            inner.hnsw.efSearch = int(self.params.get("efSearch", 128))
        elif isinstance(inner, faiss.IndexIVF):
            inner.nprobe = int(self.params.get("nprobe", 32))

    def generation(self) -> int:
        return self._generation

    def count(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        if isinstance(self._index, faiss.IndexIDMap):
            return np.sort(faiss.vector_to_array(self._index.id_map).astype(np.int64))
        lists = self._index.invlists  # IVF holds the ids themselves, list by list
        return np.sort(np.concatenate([np.zeros(0, dtype=np.int64)] + [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy() for i in range(lists.nlist)]))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not self._inner.is_trained:
            self.rebuild(ids, vectors)
            return
        self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def delete(self, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        if not self.can_delete:
            raise NotImplementedError("HNSW cannot delete in place; rebuild")
        self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))

    @property
    def can_delete(self) -> bool:  # type: ignore[override] - depends on the index built
        return not isinstance(self._inner, faiss.IndexHNSW)

    def rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """A new index of this type over exactly these vectors (IVF trains on them)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.index_type == "auto":
            self._built = auto_index(len(ids))
        inner = self._factory(len(ids))
        if not inner.is_trained and len(ids):
            inner.train(vectors)
        self._index = _with_ids(inner)
        self._apply_params()
        if len(ids) and inner.is_trained:
            self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None):
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.count() or 1))
        params = None
        inner = self._inner
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            if isinstance(inner, faiss.IndexHNSW):
                params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(k, inner.hnsw.efSearch))
            elif isinstance(inner, faiss.IndexIVF):
                params = faiss.SearchParametersIVF(sel=selector, nprobe=inner.nprobe)
            else:
                params = faiss.SearchParameters(sel=selector)
        if params is None and isinstance(inner, faiss.IndexFlat) and len(queries) == 1:
            return self._scan(inner, queries, k)
        # A few queries run on one thread: OpenMP's fork-join and spinning cost more than a filtered scan of
        # thousands of vectors (benchmarks/README.md); batches use every core.
        with omp_threads(1 if len(queries) < 20 else available_cores()):
            return self._index.search(queries, k, params=params)

    def _scan(self, inner: faiss.IndexFlat, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact search of one query in numpy over FAISS's own vector array (no copy): FAISS keeps a heap
        of k for every vector, which at the depth a hybrid query asks (k=800) costs 1.7 ms on 9k vectors
        where a product and a partial sort cost 0.4. Ties go to the lower id, as everywhere else."""
        n = inner.ntotal
        vectors = faiss.rev_swig_ptr(inner.get_xb(), n * self.dim).reshape(n, self.dim)
        scores = vectors @ query[0]
        top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        ids = faiss.rev_swig_ptr(self._index.id_map.data(), n)[top]
        order = np.lexsort((ids, -scores[top]))
        return scores[top][order][None, :], ids[order][None, :]

    def copy(self) -> FaissStore:
        twin = object.__new__(FaissStore)
        twin.__dict__.update(self.__dict__)
        twin.params = dict(self.params)
        twin._index = faiss.clone_index(self._index)
        return twin

    def save(self, generation: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)  # a profile's second store lives in a subfolder
        data_file, info_file = self._files
        write_atomic(data_file, lambda tmp: faiss.write_index(self._index, str(tmp)))
        info = {"generation": generation, "index_type": self.index_type, "built": list(self._built),
                "dim": self.dim, "count": self.count(), "params": self.params}
        write_atomic(info_file, json.dumps(info, indent=2))
        self._generation = generation


@contextmanager
def omp_threads(n: int) -> Iterator[None]:
    """OpenMP threads for one call, then back: the setting belongs to the calling thread, and a search's
    single thread must not carry over to a later rebuild (IVF training, adds) on the same thread."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


"""FAISS vector store (the embedded default): flat exact search, HNSW or IVF, saved in the index folder.

Files: `vectors.faiss` and `vectors.json` (its generation and type), each written to a temporary file,
fsynced and renamed, so a crash leaves the previous pair or the new one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import faiss
import numpy as np

from .base import VectorStore

INDEX_TYPES = ("flat", "hnsw", "ivf", "ivf-sq8")
BUILD_PARAMS = ("M", "efConstruction", "nlist")  # changing these needs a rebuild; efSearch/nprobe do not


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


class FaissStore(VectorStore):
    def __init__(self, folder: Path, dim: int, index_type: str = "flat", params: dict | None = None) -> None:
        self.folder = Path(folder)
        self.dim = dim
        self.index_type = index_type
        self.params = dict(params or {})
        self._generation = -1
        self._index = faiss.IndexIDMap2(_factory(index_type, dim, 0, self.params))
        self._load()

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
        except (OSError, ValueError, RuntimeError):
            return  # missing or unreadable: sync rebuilds it from the stored embeddings
        if info.get("count") != index.ntotal:
            return
        self._index = index
        self._generation = int(info["generation"])
        self._apply_params()

    def _apply_params(self) -> None:
        inner = faiss.downcast_index(self._index.index)
        if isinstance(inner, faiss.IndexHNSW):
            inner.hnsw.efSearch = int(self.params.get("efSearch", 128))
        elif isinstance(inner, faiss.IndexIVF):
            inner.nprobe = int(self.params.get("nprobe", 32))

    def generation(self) -> int:
        return self._generation

    def count(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        return np.sort(faiss.vector_to_array(self._index.id_map).astype(np.int64))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        inner = self._index.index
        if not inner.is_trained:
            self.rebuild(ids, vectors)
            return
        self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def delete(self, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        if isinstance(faiss.downcast_index(self._index.index), faiss.IndexHNSW):
            raise NotImplementedError("HNSW cannot delete in place; rebuild")
        self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))

    @property
    def can_delete(self) -> bool:
        return not isinstance(faiss.downcast_index(self._index.index), faiss.IndexHNSW)

    def rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """A new index of this type over exactly these vectors (IVF trains on them)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        inner = _factory(self.index_type, self.dim, len(ids), self.params)
        if not inner.is_trained and len(ids):
            inner.train(vectors)
        self._index = faiss.IndexIDMap2(inner)
        self._apply_params()
        if len(ids) and inner.is_trained:
            self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None):
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.count() or 1))
        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            inner = faiss.downcast_index(self._index.index)
            if isinstance(inner, faiss.IndexHNSW):
                params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(k, inner.hnsw.efSearch))
            elif isinstance(inner, faiss.IndexIVF):
                params = faiss.SearchParametersIVF(sel=selector, nprobe=inner.nprobe)
            else:
                params = faiss.SearchParameters(sel=selector)
        scores, ids = self._index.search(queries, k, params=params)
        return scores, ids

    def copy(self) -> FaissStore:
        twin = object.__new__(FaissStore)
        twin.__dict__.update(self.__dict__)
        twin.params = dict(self.params)
        twin._index = faiss.clone_index(self._index)
        return twin

    def save(self, generation: int) -> None:
        data_file, info_file = self._files
        tmp = data_file.with_suffix(".faiss.tmp")
        faiss.write_index(self._index, str(tmp))
        _fsync(tmp)
        os.replace(tmp, data_file)
        info = {"generation": generation, "index_type": self.index_type, "dim": self.dim,
                "count": self.count(), "params": self.params}
        write_atomic(info_file, json.dumps(info, indent=2))
        self._generation = generation


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Write-temp, fsync, rename: readers see the old file or the new one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)

"""The vector backends every contract test runs on: FAISS, Milvus Lite (the engine in-process) and a real Milvus
server process (the `milvus` wheel of the test extra) that this session starts on loopback and stops."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from benchmarks.milvusserver import MilvusServer, unavailable
from indexer.store.vectors import VectorStore, open_vector_store

BACKENDS = ("faiss", "milvus-lite", "milvus-server")
OpenStore = Callable[..., VectorStore]
_databases = itertools.count()


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory) -> Iterator[MilvusServer]:
    """One Milvus server for the session's contract tests (each test takes a database of its own)."""
    if unavailable():
        pytest.skip(f"Milvus server: {unavailable()}")
    with MilvusServer(tmp_path_factory.mktemp("milvus-server")) as server:
        yield server


def server_database(server: MilvusServer) -> str:
    """The URI of a new, empty database on `server`: a test's collection never meets another test's."""
    from pymilvus import MilvusClient

    name = f"t{next(_databases)}"
    client = MilvusClient(server.uri)
    try:
        client.create_database(name)
    finally:
        client.close()
    return f"{server.uri}/{name}"


def store_opener(backend: str, request: pytest.FixtureRequest) -> OpenStore:
    """open_vector_store for one of BACKENDS; every store it opens in a test shares that test's engine."""
    uri = server_database(request.getfixturevalue("milvus_server")) if backend == "milvus-server" else ""
    engine = "faiss" if backend == "faiss" else "milvus"

    def opened(folder: Path, dim: int, index_type: str, params: dict | None = None,
               writer: bool = True) -> VectorStore:
        return open_vector_store(engine, folder, dim, index_type, params, uri=uri, writer=writer)

    return opened


@pytest.fixture(params=BACKENDS)
def open_store(request) -> OpenStore:
    """Opens stores of each backend in turn."""
    return store_opener(request.param, request)


@pytest.fixture(params=BACKENDS[1:])
def open_milvus(request) -> OpenStore:
    """Opens stores on Milvus Lite, then on the Milvus server."""
    return store_opener(request.param, request)

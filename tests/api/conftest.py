"""Real uvicorn servers on free loopback ports, over copies of the session's small real index."""

from __future__ import annotations

import secrets
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

API_KEY = "test-write-" + secrets.token_hex(8)
NO_ALERTS = {"saved": 0, "matches": 0, "pending": 0, "delivered": 0, "dead": 0}  # /health of a server without any


class ServerThread:
    """uvicorn serving an app from a thread, on a socket bound before it starts (no port race)."""

    def __init__(self, app) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True,
                                       name=f"uvicorn-{self.port}")

    def start(self, timeout: float = 120.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the test server stopped during start-up (see the log above)")
            if time.monotonic() > deadline:
                raise TimeoutError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


def copy_index(source: Path, folder: Path) -> Path:
    target = folder / "idx"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("write.lock"))
    return target


@pytest.fixture(scope="session")
def start_server(embedder):
    """start_server(index_dir, settings) -> ServerThread, stopped at the end of the session."""
    from api.app import create_app

    started: list[ServerThread] = []

    def start(index_dir: Path, settings) -> ServerThread:
        server = ServerThread(create_app(index_dir, settings, embedder=embedder)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def api_server(small_index, tmp_path_factory, start_server) -> Iterator[str]:
    """A server for reads (it has a write key, but nothing writes through it): its base URL."""
    from api.app import Settings

    index = copy_index(small_index, tmp_path_factory.mktemp("api-read"))
    yield start_server(index, Settings(api_key=API_KEY)).url


@pytest.fixture(scope="session")
def write_server(small_index, tmp_path_factory, start_server) -> Iterator[str]:
    """A server whose index copy the tests may write to: its base URL."""
    from api.app import Settings

    index = copy_index(small_index, tmp_path_factory.mktemp("api-write"))
    yield start_server(index, Settings(api_key=API_KEY)).url


@pytest.fixture(params=["library", "client"])
def engine(request, searcher, api_server):
    """The same reading interface (`search.reader.NewsReader`), local and remote: a test taking it runs on both."""
    from api.client import NewsearchClient

    if request.param == "library":
        yield searcher
        return
    with NewsearchClient(api_server) as client:
        yield client

"""A real Milvus server (the standalone binary in the `milvus` 2.3.5 wheel, embedded etcd, local storage) on
loopback in a namespace of its own, for the backend contract tests, the outage tests and the benchmark.

Milvus' components announce and dial the machine's first non-loopback address; in a namespace holding only
`lo` every one of them uses 127.0.0.1 (benchmarks/netns.py). Its own ports are the defaults (nothing else
is in the namespace); newsearch reaches it through a `Relay` on a free port of this side's 127.0.0.1, so
`uri` is an ordinary http://127.0.0.1:PORT. The data stays in `base_dir` across `kill` and `start`, as a
server's would across a crash; the binaries are unpacked once into a cache folder shared by every server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

try:  # imported as benchmarks.milvusserver by the tests, or from beside a script in benchmarks/
    from benchmarks.netns import LoopbackNamespace, Relay, Service
    from benchmarks.netns import unavailable as namespace_unavailable
except ModuleNotFoundError:
    from netns import LoopbackNamespace, Relay, Service  # type: ignore[no-redef]
    from netns import unavailable as namespace_unavailable  # type: ignore[no-redef]

START_SECONDS = 120  # about 10 s on an idle 2-core machine; far more under load
HEALTH_PORT = 9091  # the server's /healthz (its METRICS_PORT)


def unavailable() -> str:
    """Why a server cannot run here ('' when it can)."""
    try:
        import milvus  # noqa: F401 - the `milvus` wheel, the test extra
    except ImportError:
        return "needs the milvus wheel: pip install -e '.[test]'"
    return namespace_unavailable()


def binaries() -> Path:
    """The unpacked server (about 250 MB), once per version, under $NEWSEARCH_CACHE (~/.cache/newsearch)."""
    import milvus

    cache = Path(os.environ.get("NEWSEARCH_CACHE") or Path.home() / ".cache" / "newsearch")
    folder = cache / f"milvus-{milvus.__version__}"
    milvus._initialize_data_files(str(folder))  # unpacks what is missing or changed (checked by MD5)
    return folder / "bin"


class MilvusServer(Service):
    """A Milvus standalone server with its data in `base_dir`, reachable at `uri` while it runs."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = Path(base_dir)
        self.namespace = LoopbackNamespace()
        self.relay: Relay | None = None
        self.process: subprocess.Popen | None = None
        self._port = 0
        self._env: dict[str, str] = {}

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.relay.port}"

    def _configure(self) -> dict[str, str]:
        """Write the server's config into base_dir (ports, data and log folders); its environment."""
        from milvus import MilvusServerConfig

        config = MilvusServerConfig(data_dir=str(self.base_dir))
        config.resolve()  # writes configs/milvus.yaml
        self._port = int(config.get("proxy_port"))
        link = self.base_dir / "bin"
        if not link.exists():
            link.symlink_to(binaries(), target_is_directory=True)
        return {**os.environ, "DEPLOY_MODE": "STANDALONE", "METRICS_PORT": str(HEALTH_PORT),
                "MILVUS_RUN_DIR": str(self.base_dir / "run"),
                "LD_LIBRARY_PATH": f"{link}:{os.environ.get('LD_LIBRARY_PATH', '')}"}

    def start(self) -> None:
        """Start the server (the namespace and relay first, once) and wait until it is healthy."""
        if self.relay is None:
            self.namespace.start()
            self._env = self._configure()
            self.relay = Relay(self.namespace, self._port)
        logs = self.base_dir / "logs"
        with open(logs / "milvus-stdout.log", "a") as out, open(logs / "milvus-stderr.log", "a") as err:
            self.process = self.namespace.popen([str(self.base_dir / "bin" / "milvus"), "run", "standalone"],
                                                cwd=self.base_dir, env=self._env, stdout=out, stderr=err)
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Milvus exited with {self.process.returncode}; see {self.base_dir / 'logs'}")
            try:
                with self.namespace.dial(HEALTH_PORT, timeout=2) as sock:
                    sock.settimeout(2)
                    sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                    answer = b""
                    while chunk := sock.recv(4096):
                        answer += chunk
                    if answer.startswith(b"HTTP/1.") and b" 200 " in answer[:16] and answer.endswith(b"OK"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"Milvus not healthy within {START_SECONDS} s; see {self.base_dir / 'logs'}")

    def kill(self) -> None:
        """kill -9 the server, as a crash would; `start` brings it back on the same data."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.close()
            self.relay = None
        self.namespace.stop()
        if self.process is not None:
            self.process.wait(timeout=30)
            self.process = None

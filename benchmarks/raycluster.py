"""A throwaway Ray cluster on loopback inside a private network namespace, for the Ray test and benchmark.

Ray otherwise binds to the machine's non-loopback address, and some of its processes choose their own
addresses; in a fresh network namespace (benchmarks/netns.py, root only) the one interface is `lo`, so every
listener and every connection stays on 127.0.0.1 whatever Ray picks. Each node is a `ray start` on 127.0.0.1
with its own CPU count; commands run inside with `nsenter`. Stopping kills every process in the namespace by
pid, which only this cluster's processes can be in: `ray stop` would kill every Ray process on the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

try:  # imported as benchmarks.raycluster by the tests, or from beside a script in benchmarks/
    from benchmarks.netns import LoopbackNamespace, Service
    from benchmarks.netns import unavailable as namespace_unavailable
except ModuleNotFoundError:
    from netns import LoopbackNamespace, Service  # type: ignore[no-redef]
    from netns import unavailable as namespace_unavailable  # type: ignore[no-redef]

PORT = 6379  # the namespace is private: the default port cannot collide with anything
RAY = str(Path(sys.executable).with_name("ray"))


def unavailable() -> str:
    """Why a namespaced cluster cannot run here ('' when it can)."""
    if namespace_unavailable():
        return namespace_unavailable()
    if not Path(RAY).exists():
        return f"needs Ray in this environment ({RAY}); pip install 'newsearch[scale]'"
    return ""


class LoopbackCluster(Service):
    """`nodes` Ray nodes of `cpus` CPUs each, all on 127.0.0.1 in their own network namespace."""

    def __init__(self, temp_dir: Path, nodes: int = 2, cpus: int = 1, object_store_mb: int = 256) -> None:
        self.temp_dir = Path(temp_dir)  # keep it short: Ray's socket paths under it must fit in 107 bytes
        self.nodes, self.cpus, self.object_store_mb = nodes, cpus, object_store_mb
        self.address = f"127.0.0.1:{PORT}"
        self.env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
        self.namespace = LoopbackNamespace()

    def start(self) -> None:
        """Create the namespace and start the head and workers."""
        self.namespace.start()
        common = [f"--num-cpus={self.cpus}", "--node-ip-address=127.0.0.1", "--disable-usage-stats",
                  f"--object-store-memory={self.object_store_mb * 2**20}"]
        self._ray_start(["--head", f"--port={PORT}", f"--temp-dir={self.temp_dir}", "--include-dashboard=false",
                         *common])
        for _ in range(self.nodes - 1):
            self._ray_start([f"--address={self.address}", *common])

    def _ray_start(self, args: list[str]) -> None:
        done = self.run([RAY, "start", *args], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")

    def run(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        """Run a command inside the namespace (with the cluster's environment unless `env` is given)."""
        kwargs.setdefault("env", self.env)
        return self.namespace.run(args, **kwargs)

    def stop(self) -> None:
        """Kill every process in the namespace, Ray's daemons included, and wait until none is left."""
        self.namespace.stop()

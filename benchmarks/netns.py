"""A private network namespace holding only loopback, for servers that would otherwise bind or dial the
machine's other addresses (Ray, the Milvus server), and a relay that reaches into it from this side.

A sleeping holder process (`unshare --net`, root only) keeps the namespace alive; commands run inside with
`nsenter`. Every listener in it is on 127.0.0.1 whatever the program asks for, and its ports cannot collide
with anything else on the machine. Stopping kills every process in the namespace by pid, which only the
processes started in it can be in.

`Relay` listens on 127.0.0.1 (a free port) in this process's namespace and carries each connection to a port
inside the namespace: the connection to the inside is made by a short-lived thread that joins the namespace
(setns, per thread) just to connect, so the rest of the process stays where it is.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def unavailable() -> str:
    """Why a namespace cannot be made here ('' when it can)."""
    if os.geteuid() != 0:
        return "needs root to create a network namespace"
    missing = [tool for tool in ("unshare", "nsenter", "ip") if not shutil.which(tool)]
    return f"needs {', '.join(missing)} (util-linux, iproute2)" if missing else ""


class Service:
    """Something a test or benchmark starts and stops (a namespaced server or cluster): `with` starts it and, if
    starting fails partway, stops what was started before the error goes on; leaving the block stops it."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LoopbackNamespace:
    """A fresh network namespace whose one interface, `lo`, is up."""

    def __init__(self) -> None:
        self._holder: subprocess.Popen | None = None
        self._namespace = ""

    @property
    def path(self) -> str:
        """The namespace's handle, for nsenter and setns."""
        return f"/proc/{self._holder.pid}/ns/net"

    def start(self) -> None:
        self._holder = subprocess.Popen(
            ["unshare", "--net", "sh", "-c", "ip link set lo up && echo up && exec sleep infinity"],
            stdout=subprocess.PIPE, text=True, start_new_session=True)
        if self._holder.stdout.readline().strip() != "up":
            self.stop()
            raise RuntimeError("could not create a network namespace with loopback up")
        self._namespace = os.readlink(self.path)

    def command(self, args: list[str]) -> list[str]:
        """`args` as a command that runs inside the namespace (nsenter execs it: the pid is the program's)."""
        return ["nsenter", f"--net={self.path}", "--", *args]

    def run(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(args), **kwargs)

    def popen(self, args: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.command(args), **kwargs)

    def dial(self, port: int, timeout: float = 5.0) -> socket.socket:
        """A TCP connection to 127.0.0.1:port inside the namespace, made from a thread that joins it."""
        done: dict[str, object] = {}

        def connect() -> None:
            try:
                handle = os.open(self.path, os.O_RDONLY)
                try:
                    if _libc.setns(handle, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns into the loopback namespace failed")
                finally:
                    os.close(handle)
                done["socket"] = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            except OSError as exc:
                done["error"] = exc

        thread = threading.Thread(target=connect, name="netns-dial", daemon=True)
        thread.start()
        thread.join(timeout + 5)
        if "socket" not in done:
            raise done.get("error") or TimeoutError(f"connecting to port {port} in the namespace")
        sock = done["socket"]
        sock.settimeout(None)
        return sock

    def stop(self) -> None:
        """Kill every process in the namespace and wait (at most 30 s) until none is left."""
        if not self._namespace:
            if self._holder:
                self._holder.kill()
                self._holder.wait()
                self._holder.stdout.close()
                self._holder = None
            return
        deadline = time.monotonic() + 30
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        self._holder.wait()
        self._holder.stdout.close()
        self._namespace = ""
        if pids:
            raise RuntimeError(f"processes {pids} in the namespace would not die")

    def pids(self) -> list[int]:
        """Every process in the namespace."""
        pids = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and os.readlink(entry / "ns" / "net") == self._namespace:
                    pids.append(int(entry.name))
            except OSError:  # gone meanwhile, or a zombie
                continue
        return pids


class Relay:
    """127.0.0.1:<free port> here, each connection carried to 127.0.0.1:`port` inside `namespace`.

    `upstream` counts the bytes sent inward; `on_upstream(total)`, when set, is called after each chunk (a
    test kills the server there, in the middle of a request).
    """

    def __init__(self, namespace: LoopbackNamespace, port: int) -> None:
        self.namespace, self.target = namespace, port
        self.upstream = 0
        self.on_upstream: Callable[[int], None] | None = None
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._mutex = threading.Lock()
        threading.Thread(target=self._accept, name="relay-accept", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                inner = self.namespace.dial(self.target)
            except OSError:
                client.close()  # nothing listens inside: the caller sees the connection refused
                continue
            with self._mutex:
                self._open |= {client, inner}
            threading.Thread(target=self._pump, args=(client, inner, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(inner, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, inward: bool) -> None:
        try:
            while chunk := source.recv(1 << 16):
                sink.sendall(chunk)
                if inward:
                    with self._mutex:
                        self.upstream += len(chunk)
                        total = self.upstream
                    if self.on_upstream is not None:
                        self.on_upstream(total)
        except OSError:
            pass
        for sock in (source, sink):  # one side gone: the whole connection is
            self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with self._mutex:
            self._open.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._listener.close()
        with self._mutex:
            held = list(self._open)
        for sock in held:
            self._close(sock)

"""Files that must survive a crash: written atomically (the old version or the new one, never half of one),
and locks that die with their holder."""

from __future__ import annotations

import fcntl
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_atomic(path: Path, data: str | bytes | Callable[[Path], None]) -> None:
    """Write a temporary file beside `path`, fsync it, rename it onto `path`.

    `data` is the content, or a function that writes the temporary file itself (FAISS writes its own).
    The temporary name is unique per process and call, so concurrent writers never share one.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if callable(data):
            data(tmp)
        else:
            with open(tmp, "wb") as handle:
                handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def hold_lock(path: Path, wait: bool | float = False, stop: threading.Event | None = None) -> IO | None:
    """Take an exclusive advisory lock (flock) on `path` and return the open handle that holds it (closing it
    releases the lock, as does the process's death, so a kill -9 never leaves a stale lock). None when another
    process holds it past `wait` (True: as long as it takes; a number: that many seconds; `stop`, when set,
    ends the wait early). The handle records the holder's pid, for people."""
    handle = open(path, "a+")  # noqa: SIM115 - returned to the caller, who holds it
    deadline = None if wait is True else time.monotonic() + float(wait)
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if (deadline is not None and time.monotonic() >= deadline) or (stop is not None and stop.is_set()):
                handle.close()
                return None
            time.sleep(0.05)
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle

"""The same query through the three ways in: the library in process, REST (`NewsearchClient`) and MCP over
streamable HTTP (the SDK's client), in one run, with each latency split.

    .venv/bin/newsearch index data --index index
    .venv/bin/python benchmarks/interfaces.py --index index --rounds 100 --out benchmarks/results/interfaces.json

A server (`newsearch serve`) is started on a free loopback port over the same index; this process loads the
library beside it. Each round asks the same query once each way, in turn, so a busy moment on the shared
cores falls on all three alike; medians are reported. Splits: the query's encoding alone (the embedder,
timed apart), the in-process search (`took_ms`, which includes the encoding), and for REST and MCP the wall
time seen by the client less the server's own `took_ms`: the transport (HTTP, framework, serialization,
and for MCP its JSON-RPC and the client's check of the result against the tool's output schema). The MCP
tool is also called in this process without any transport (`MCPServer.call_tool`): its layer alone
(argument validation, the thread hop, the citable text, the structured content checked against its schema).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx2
import numpy as np
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.client import NewsearchClient  # noqa: E402
from api.mcp_server import create_server  # noqa: E402
from search import Searcher  # noqa: E402

QUERY = "Russia stance on DPRK sanctions"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(index: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--index", str(index), "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = NewsearchClient(f"http://127.0.0.1:{port}", timeout=5)
    deadline = time.monotonic() + 180
    while not client.ready():
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.2)
    client.close()
    return server


async def measure(index: Path, url: str, rounds: int, k: int) -> dict[str, list[float]]:
    """Per round, ms: encoding, library (wall, took), REST (wall, took), MCP (wall, took)."""
    times: dict[str, list[float]] = {key: [] for key in (
        "encode", "library_wall", "library_took", "tool_wall", "tool_took", "rest_wall", "rest_took", "mcp_wall",
        "mcp_took")}
    searcher, client = Searcher(index), NewsearchClient(url)
    tools = create_server(lambda: searcher)
    async with httpx2.AsyncClient(timeout=60) as http, \
            streamable_http_client(f"{url}/mcp", http_client=http) as (read, write), \
            ClientSession(read, write) as session:
        await session.initialize()
        for round_ in range(rounds + 5):  # the first 5 warm every path up and are dropped
            started = time.perf_counter()
            searcher.embedder.encode_query(QUERY)
            encode = time.perf_counter() - started
            started = time.perf_counter()
            local = searcher.search(QUERY, k=k)
            library = time.perf_counter() - started
            started = time.perf_counter()
            called = await tools.call_tool("search", {"q": QUERY, "k": k})
            tool = time.perf_counter() - started
            started = time.perf_counter()
            remote = client.search(QUERY, k=k)
            rest = time.perf_counter() - started
            started = time.perf_counter()
            result = await session.call_tool("search", {"q": QUERY, "k": k})
            mcp = time.perf_counter() - started
            assert not result.is_error and result.structured_content["results"][0]["id"] == local.results[0].id
            if round_ < 5:
                continue
            for key, value in (("encode", encode * 1000), ("library_wall", library * 1000),
                               ("library_took", local.took_ms), ("tool_wall", tool * 1000),
                               ("tool_took", called.structured_content["took_ms"]), ("rest_wall", rest * 1000),
                               ("rest_took", remote.took_ms), ("mcp_wall", mcp * 1000),
                               ("mcp_took", result.structured_content["took_ms"])):
                times[key].append(value)
    searcher.close()
    client.close()
    return times


def summary(times: dict[str, list[float]]) -> dict[str, float]:
    median = {key: float(np.median(values)) for key, values in times.items()}
    transport = {f"{way}_transport": float(np.median(np.subtract(times[f"{way}_wall"], times[f"{way}_took"])))
                 for way in ("tool", "rest", "mcp")}
    return {key: round(value, 2) for key, value in {**median, **transport}.items()}


def table(result: dict) -> str:
    m = result["medians_ms"]
    rows = [("library (in process)", m["library_wall"], m["library_took"], m["encode"], "-"),
            ("MCP tool in process (no transport)", m["tool_wall"], m["tool_took"], "", m["tool_transport"]),
            ("REST, POST /search", m["rest_wall"], m["rest_took"], "", m["rest_transport"]),
            ("MCP, streamable HTTP", m["mcp_wall"], m["mcp_took"], "", m["mcp_transport"])]
    lines = ["| way in | wall ms | search took ms | of which encoding | beyond the search ms |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {wall:.2f} | {took:.2f} | {enc if enc == '' else f'{enc:.2f}'} | "
              f"{tr if tr == '-' else f'{tr:.2f}'} |" for name, wall, took, enc, tr in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    port = free_port()
    server = start_server(args.index, port)
    try:
        times = anyio.run(measure, args.index, f"http://127.0.0.1:{port}", args.rounds, args.k)
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {"query": QUERY, "k": args.k, "rounds": args.rounds, "index": str(args.index),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
              "medians_ms": summary(times), "times_ms": times}
    print(table(result))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""The MCP server through the SDK's own client: over stdio (`newsearch mcp`, a real subprocess) and over
streamable HTTP (`/mcp` of a real uvicorn server on 127.0.0.1, behind a read key)."""

from __future__ import annotations

import os
import re
import sys
from contextlib import asynccontextmanager

import anyio
import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from search.options import Filters, SearchOptions, declared
from tests.api.conftest import API_KEY, copy_index
from tests.conftest import ROOT, SEED_QUERY

READ_KEY = "test-read-key"
TOOLS = {"search", "get_article", "get_story", "timeline", "similar", "list_alerts", "alert_matches"}


@pytest.fixture(scope="module")
def read_key_server(small_index, tmp_path_factory, start_server) -> str:
    from api.app import Settings

    index = copy_index(small_index, tmp_path_factory.mktemp("mcp"))
    return start_server(index, Settings(api_key=API_KEY, read_key=READ_KEY)).url


@asynccontextmanager
async def stdio_session(index):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "api.cli", "mcp", "--index", str(index)],
                                   env=env, cwd=str(ROOT))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def http_session(url: str, key: str | None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http, \
            streamable_http_client(f"{url}/mcp", http_client=http) as (read, write), \
            ClientSession(read, write) as session:
        await session.initialize()
        yield session


def error_text(result) -> str:
    assert result.is_error, result
    return result.content[0].text


async def check_tools(session: ClientSession) -> None:
    """The acceptance checks, the same over either transport."""
    tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == TOOLS
    search = tools["search"]
    declared_params = {d.param for cls in (Filters, SearchOptions) for d in declared(cls)}
    assert declared_params <= set(search.input_schema["properties"])  # the schema follows the declarations
    assert "group" in search.description and "time_words" in search.description
    assert all(tool.output_schema for tool in tools.values())

    found = await session.call_tool("search", {"q": SEED_QUERY, "k": 3})
    assert not found.is_error, found.content
    top = found.structured_content["results"][0]
    passage = top["passages"][0]
    assert top["title"].startswith("Russia Vows") and "sanction" in passage["text"].lower()
    text = found.content[0].text
    assert text.startswith("1. Russia Vows") and f"characters {passage['start']}-{passage['end']}" in text
    assert " ".join(passage["text"].split()) in text

    article = await session.call_tool("get_article", {"id": top["id"]})
    assert article.structured_content["text"][passage["start"]:passage["end"]] == passage["text"]
    story = await session.call_tool("get_story", {"id": top["story_id"], "query": "sanctions"})
    assert top["id"] in [a["id"] for a in story.structured_content["articles"]]
    timeline = await session.call_tool("timeline", {"q": "Lindsay Lohan rehab", "interval": "month"})
    assert timeline.structured_content["matched"] and "matching articles" in timeline.content[0].text
    similar = await session.call_tool("similar", {"id": top["id"], "k": 2})
    assert len(similar.structured_content["results"]) == 2

    assert re.search(r"^k$", error_text(await session.call_tool("search", {"q": SEED_QUERY, "k": 0})), re.M)
    assert re.search(r"^mode$", error_text(await session.call_tool("search", {"q": "x", "mode": "magic"})), re.M)
    assert "since" in error_text(await session.call_tool("search", {"q": "x", "since": "last week"}))
    assert "time phrase" in error_text(await session.call_tool("search", {"q": "last week", "time_words": True}))
    assert "no article" in error_text(await session.call_tool("get_article", {"id": "no such article"}))
    saved = await session.call_tool("list_alerts", {})
    assert not saved.is_error and isinstance(saved.structured_content["alerts"], list)
    assert "no saved search" in error_text(await session.call_tool("alert_matches", {"id": "0123456789ab"}))


def test_stdio(small_index):
    async def run():
        async with stdio_session(small_index) as session:
            await check_tools(session)

    anyio.run(run)


def test_streamable_http_with_the_read_key(read_key_server):
    async def run():
        async with http_session(read_key_server, READ_KEY) as session:
            await check_tools(session)

    anyio.run(run)


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("wrong", 403)])
def test_streamable_http_refuses_a_missing_or_wrong_read_key(read_key_server, key, status):
    async def run():
        async with http_session(read_key_server, key):
            pass

    with pytest.raises(ExceptionGroup) as info:  # the SDK's task groups wrap its error
        anyio.run(run)
    assert info.group_contains(MCPError, match="error response", depth=2)
    # What the SDK saw: the REST API's refusal, before any MCP handling.
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    refused = httpx.post(f"{read_key_server}/mcp", headers={**headers, "Accept": "application/json, text/event-stream"},
                         json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert refused.status_code == status and "read key" in refused.json()["detail"]

"""The news index as MCP tools for LLM agents, on the official `mcp` SDK: `newsearch mcp --index DIR` over
stdio (desktop agents), and `/mcp` in `newsearch serve` over streamable HTTP behind the REST API's keys.

The tools call a `search.reader.NewsReader`, the interface the library and the HTTP client share. The
arguments of `search` and `timeline` are the REST request models (`api.models`), themselves derived from the
declared options (`search.options`): a new option reaches REST, the command line and MCP with no code here.
Each answer is structured content with the schema of its library dataclass, plus text a model can quote
(title, outlet, date, URL, the passage with its offsets). Arguments that fail validation, and library errors
about them, come back as tool errors that name the field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, TypeAdapter, create_model
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from api.models import EXAMPLE_ID, AlertsOut, MatchesOut, SearchRequest, TimelineQuery
from api.render import render_results, render_story, render_timeline
from indexer.errors import InvalidInput
from indexer.sources.readers import MAX_ID_CHARS
from search.options import MAX_K, MAX_QUERY_CHARS
from search.reader import NewsReader
from search.timeline import Timeline
from search.types import Article, SearchResponse, StoryPage

INSTRUCTIONS = """Semantic search over a news archive. Each result is an article with the passages that
answer the query; cite its title, outlet, date and URL, and quote the passage. Use `search` first; a result's
`story_id` leads to `get_story` (the same event across outlets, in time order), its `id` to `get_article`
(the full text) and `similar` (more like this). `timeline` counts how coverage of a topic unfolds."""

SEARCH = """Search news articles by meaning and words (hybrid by default); returns ranked articles, each with
its best passages, their character offsets into the article, outlet, date and URL, and whether it counts as
relevant. Use group="story" when the question is about events ("what happened", "how did outlets cover"): one
result per story (the same event across outlets) instead of near-identical articles. Use time_words=true when
the query names a time ("last week", "in March 2013", "since 2019") and that time is a filter, not the topic
("2014 Oscars" is a topic); set `now` for relative phrases. Use since/until/source for explicit filters and
sort="date" for the newest first."""

TIMELINE = """How coverage of a topic unfolds: the relevant articles counted per day, week or month, split by
outlet, each period with its best article and passage. Use for "when", "how much coverage", trends.
time_words=true reads a time phrase in the query as a date filter."""

ARTICLE = "One stored article by id (from a search result): its full text, outlet, date, URL, metadata and passages."
STORY = """One story (the same event across outlets) by id (a search result's `story_id`): its articles in time
order with outlet, date, URL and each one's best sentence for `query` (its lead without one)."""
SIMILAR = """More like this: the articles nearest to one article (by id) by their content. exclude_story=true
leaves out other reports of the same event, for related but different news."""

ALERTS = """The saved searches (alerts) of this index: each with its query or followed story, how many new
articles matched it (and how many are unread) and its webhook's deliveries. Saving one needs the write key
(REST `POST /alerts`, or `newsearch alerts add`)."""
ALERT_MATCHES = """The articles a saved search fired on, newest first: title, outlet, date, URL and the passage that
matched with its offsets and score. Use it to answer "what is new on X" when a saved search follows X."""

READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
ARTICLE_TEXT_CHARS = 4000  # of an article's body in the text part (the structured part has all of it)

Reader = Callable[[], NewsReader]


@cache
def _adapter(kind: type) -> TypeAdapter:
    return TypeAdapter(kind)


def _answer(kind: type, value: Any, text: str) -> CallToolResult:
    """The result as structured content (the dataclass as JSON, checked against its schema by the SDK) and text."""
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=_adapter(kind).dump_python(value, mode="json"))


def _found(value: Any, what: str) -> Any:
    if value is None:
        raise ToolError(f"no {what}")
    return value


def _calling(call: Callable[[], Any]) -> Any:
    """The library's call, its refusals of an argument (say, a query that is only a time phrase) as tool errors."""
    try:
        return call()
    except InvalidInput as exc:
        raise ToolError(str(exc)) from None


def _derived_tool(name: str, title: str, description: str, request: type[BaseModel], output: type,
                  answer: Callable[[Any], CallToolResult]) -> Tool:
    """A tool whose arguments are a REST request model: the same fields, limits and checks, hence the same
    JSON schema; validation failures name the field (the SDK reports them as tool errors)."""
    arguments = create_model(f"{name}Arguments", __base__=(request, ArgModelBase), __module__=__name__)

    def run(**values: Any) -> CallToolResult:
        return answer(arguments.model_construct(**values))

    return Tool(fn=run, name=name, title=title, description=description, is_async=False, annotations=READ_ONLY,
                parameters=arguments.model_json_schema(by_alias=True),
                fn_metadata=FuncMetadata(arg_model=arguments, output_model=output))


def create_server(reader: Reader) -> MCPServer:
    """The MCP server over the reader `reader()` returns (a `Searcher`, or the server's current one)."""

    def search(request: SearchRequest) -> CallToolResult:
        q, k, offset, filters, options = request.call()
        response = _calling(lambda: reader().search(q, k=k, offset=offset, filters=filters, options=options))
        return _answer(SearchResponse, response, render_results(response, offset, cite=True))

    def timeline(request: TimelineQuery) -> CallToolResult:
        q, interval, filters, options = request.call()
        built = _calling(lambda: reader().timeline(q, interval, filters, options))
        return _answer(Timeline, built, render_timeline(built))

    def get_article(id: Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, examples=[EXAMPLE_ID],
                                             description="the article id (a search result's `id`)")],
                    ) -> Annotated[CallToolResult, Article]:
        article = _found(reader().article(id), f"article with id {id!r}")
        where = " · ".join(x for x in (article.source, article.published[:10], article.url) if x)
        body = article.text[:ARTICLE_TEXT_CHARS] + (" …" if len(article.text) > ARTICLE_TEXT_CHARS else "")
        return _answer(Article, article, f"{article.title}\n{where}\nid {article.id}\n\n{body}")

    def get_story(id: Annotated[int, Field(ge=1, le=2**62, description="the story id (a result's `story_id`)")],
                  query: Annotated[str, Field(max_length=MAX_QUERY_CHARS, description="pick each article's best "
                                              "sentence for this (default: its lead)")] = "",
                  ) -> Annotated[CallToolResult, StoryPage]:
        page = _found(reader().story(id, query), f"story with id {id}")
        return _answer(StoryPage, page, render_story(page))

    def similar(id: Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, description="the article id")],
                k: Annotated[int, Field(ge=1, le=MAX_K, description="results")] = 10,
                exclude_story: Annotated[bool, Field(description="leave out the article's own story")] = False,
                exclude_duplicates: Annotated[bool, Field(description="leave out its near-duplicates")] = True,
                ) -> Annotated[CallToolResult, SearchResponse]:
        response = _found(reader().similar(id, k, exclude_story, exclude_duplicates), f"article with id {id!r}")
        return _answer(SearchResponse, response, render_results(response, cite=True))

    def list_alerts() -> Annotated[CallToolResult, AlertsOut]:
        found = reader().alerts()
        text = "\n".join(f"{a.id} {a.name!r}: {a.counts.matches} matches, {a.counts.unread} unread"
                         for a in found) or "no saved searches"
        return _answer(AlertsOut, AlertsOut(alerts=found), text)

    def alert_matches(id: Annotated[str, Field(max_length=64, pattern=r"^[0-9a-f]+$",
                                               description="the saved search id (from list_alerts)")],
                      limit: Annotated[int, Field(ge=1, le=100, description="matches, newest first")] = 20,
                      ) -> Annotated[CallToolResult, MatchesOut]:
        found = _found(reader().alert_matches(id, limit), f"saved search with id {id!r}")
        text = "\n\n".join(f"{m.title or m.article} ({', '.join(x for x in (m.source, m.published[:10], m.url) if x)})"
                           f"\ncharacters {m.start}-{m.end}: {m.passage}" for m in found) or "no matches yet"
        return _answer(MatchesOut, MatchesOut(alert=id, matches=found), text)

    tools = [
        _derived_tool("search", "Search the news", SEARCH, SearchRequest, SearchResponse, search),
        Tool.from_function(get_article, title="Read an article", description=ARTICLE, annotations=READ_ONLY),
        Tool.from_function(get_story, title="A story's articles", description=STORY, annotations=READ_ONLY),
        _derived_tool("timeline", "Coverage over time", TIMELINE, TimelineQuery, Timeline, timeline),
        Tool.from_function(similar, title="More like this", description=SIMILAR, annotations=READ_ONLY),
        Tool.from_function(list_alerts, title="Saved searches", description=ALERTS, annotations=READ_ONLY),
        Tool.from_function(alert_matches, title="A saved search's matches", description=ALERT_MATCHES,
                           annotations=READ_ONLY),
    ]
    # The SDK sets up the root logger at this level: INFO would log every call (and every httpx request).
    return MCPServer(name="newsearch", instructions=INSTRUCTIONS, tools=tools, log_level="WARNING")


class HttpEndpoint:
    """The streamable HTTP transport as one ASGI endpoint (`/mcp` in the REST app), each request let through
    `check` first (the REST read key). Stateless, with JSON answers: a search is one request and one response,
    so no session is kept between calls and any worker can answer. `run()` must wrap the app's life."""

    def __init__(self, server: MCPServer, check: Callable[[Request], Awaitable[None]], host: str) -> None:
        # The SDK builds its session manager with its app; the app's one route is this endpoint's job. On a
        # loopback host the SDK also refuses other Host headers (DNS rebinding).
        server.streamable_http_app(stateless_http=True, json_response=True, host=host)
        self.manager, self.check = server.session_manager, check

    def run(self):
        return self.manager.run()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.check(Request(scope, receive))
        await self.manager.handle_request(scope, receive, send)


def run_stdio(index_dir: str) -> None:
    """`newsearch mcp`: load the index and its model, then answer MCP over stdin/stdout until it closes."""
    from search import Searcher

    with Searcher(index_dir) as searcher:
        create_server(lambda: searcher).run("stdio")

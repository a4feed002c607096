"""GET and POST /search: one request model (derived from `search.options`) for both."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import TypeAdapter

from search.types import SearchResponse

from ..models import SearchQuery, SearchRequest, errors
from ..security import reads
from . import Searching

_RESPONSE = TypeAdapter(SearchResponse)


def _answer(searcher, request: SearchRequest | SearchQuery) -> Response:
    q, k, offset, filters, options = request.call()
    response = searcher.search(q, k=k, offset=offset, filters=filters, options=options)
    # The searcher's dataclass is already the response model: serialize it straight to JSON instead of
    # FastAPI's dict conversion, re-validation and encoding (benchmarks/README.md, HTTP latency).
    return Response(_RESPONSE.dump_json(response), media_type="application/json")


def router(read_key_set: bool) -> APIRouter:
    api = APIRouter(tags=["search"], dependencies=reads(read_key_set))

    @api.get("/search", response_model=SearchResponse, responses=errors(401, 403, 422, 503),
             summary="Search (query parameters)")
    def search_get(s: Searching, request: Annotated[SearchQuery, Query()]):
        """Ranked articles, each with its best passages and the offsets of the query words in them."""
        return _answer(s, request)

    @api.post("/search", response_model=SearchResponse, responses=errors(401, 403, 413, 422, 503),
              summary="Search (JSON body)")
    def search_post(s: Searching, request: SearchRequest):
        """The same as GET /search with the fields in a JSON body."""
        return _answer(s, request)

    return api

"""GET and POST /search: one request model (derived from `search.options`) for both."""

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import TypeAdapter

from api.models import SearchQuery, SearchRequest, errors, from_query_string, query_parameters
from api.routers import Searching
from api.security import reads
from search.types import SearchResponse

_RESPONSE = TypeAdapter(SearchResponse)


def _answer(searcher, request: SearchRequest | SearchQuery) -> Response:
    q, k, offset, filters, options = request.call()
    response = searcher.search(q, k=k, offset=offset, filters=filters, options=options)
    # The searcher's dataclass is already the response model: serialize it straight to JSON instead of
    # FastAPI's dict conversion, re-validation and encoding (benchmarks/README.md, HTTP latency).
    return Response(_RESPONSE.dump_json(response), media_type="application/json")


def router(read_key_set: bool) -> APIRouter:
    api = APIRouter(tags=["search"], dependencies=reads(read_key_set))

    # The query string is read by `from_query_string`, not by FastAPI (see there); the parameters are
    # documented as FastAPI would document them.
    @api.get("/search", response_model=SearchResponse, responses=errors(401, 403, 422, 503),
             summary="Search (query parameters)", openapi_extra={"parameters": query_parameters(SearchQuery)})
    def search_get(s: Searching, request: Request):
        """Ranked articles, each with its best passages and the offsets of the query words in them."""
        return _answer(s, from_query_string(SearchQuery, request.query_params))

    @api.post("/search", response_model=SearchResponse, responses=errors(401, 403, 413, 422, 503),
              summary="Search (JSON body)")
    def search_post(s: Searching, request: SearchRequest):
        """The same as GET /search with the fields in a JSON body."""
        return _answer(s, request)

    return api

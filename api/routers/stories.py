"""News views over the index: a story's articles, a query's timeline, and "more like this"."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam

from api.models import EXAMPLE_ID, TimelineQuery, errors
from api.routers import Searching
from api.security import reads
from indexer.sources.readers import MAX_ID_CHARS
from search.options import MAX_K, MAX_QUERY_CHARS
from search.timeline import Timeline
from search.types import SearchResponse, StoryPage


def router(read_key_set: bool) -> APIRouter:
    api = APIRouter(tags=["stories"], dependencies=reads(read_key_set))

    @api.get("/stories/{story_id}", response_model=StoryPage, responses=errors(401, 403, 404, 422, 503),
             summary="One story's articles")
    def story(s: Searching, story_id: Annotated[int, PathParam(ge=1, le=2**62)],
              q: Annotated[str, Query(max_length=MAX_QUERY_CHARS, description="mark each article's best "
                                      "sentence for this query (default: its lead)")] = ""):
        """The articles of one story (one event across outlets) in time order, with source, date and best
        sentence. An id that a merge folded into another story gives that story (`asked` says which)."""
        page = s.story(story_id, q)
        if page is None:
            raise HTTPException(404, f"no story with id {story_id}")
        return page

    @api.get("/timeline", response_model=Timeline, responses=errors(401, 403, 422, 503),
             summary="How coverage of a query unfolds")
    def timeline(s: Searching, request: Annotated[TimelineQuery, Query()]):
        """Matching articles per day, week or month, split by outlet, each bucket with its best passage."""
        q, interval, filters, options = request.call()
        return s.timeline(q, interval, filters, options)

    @api.get("/articles/{article_id:path}/similar", response_model=SearchResponse,
             responses=errors(401, 403, 404, 422, 503), summary="More like this", tags=["articles"])
    def similar(s: Searching, article_id: Annotated[str, PathParam(max_length=MAX_ID_CHARS, examples=[EXAMPLE_ID])],
                k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
                exclude_story: Annotated[bool, Query(description="leave out the article's own story")] = False,
                exclude_duplicates: Annotated[bool, Query(description="leave out its near-duplicates")] = True):
        """The articles nearest to this one by its passage vectors (not its title)."""
        response = s.similar(article_id, k, exclude_story=exclude_story, exclude_duplicates=exclude_duplicates)
        if response is None:
            raise HTTPException(404, f"no article with id {article_id!r}")
        return response

    return api

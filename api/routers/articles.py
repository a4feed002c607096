"""Stored articles: read one, upsert a list (write key), delete one (write key)."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException
from fastapi import Path as PathParam

from api.models import EXAMPLE_ID, ArticleIn, DeleteOut, WriteOut, errors
from api.routers import App, Searching
from api.security import reads, write_key
from indexer.sources.readers import MAX_ID_CHARS
from search.types import Article

ArticleId = Annotated[str, PathParam(max_length=MAX_ID_CHARS, examples=[EXAMPLE_ID])]


def router(read_key_set: bool, max_articles: int) -> APIRouter:
    api = APIRouter(tags=["articles"])

    @api.get("/articles/{article_id:path}", response_model=Article, dependencies=reads(read_key_set),
             responses=errors(401, 403, 404, 503), summary="One stored article")
    def get_article(s: Searching, article_id: ArticleId):
        """The article's text, metadata and passages (with their offsets)."""
        article = s.article(article_id)
        if article is None:
            raise HTTPException(404, f"no article with id {article_id!r}")
        return article

    @api.post("/articles", response_model=WriteOut, dependencies=[Depends(write_key)],
              responses=errors(401, 403, 409, 413, 422, 503), summary="Upsert articles")
    def add_articles(app: App, articles: Annotated[list[ArticleIn], Body(
            min_length=1, max_length=max_articles,
            description=f"1 to {max_articles} articles; an id already stored is replaced")]):
        """Clean, chunk, embed and store the articles in one atomic batch; unchanged ones are skipped.

        Any article that cannot be indexed (e.g. no text left after cleaning) makes the whole request 422.
        """
        report, ids = app.upsert(articles)
        return {"indexed": report.indexed, "unchanged": report.unchanged, "passages": report.passages, "ids": ids}

    @api.delete("/articles/{article_id:path}", response_model=DeleteOut, dependencies=[Depends(write_key)],
                responses=errors(401, 403, 404, 409, 503), summary="Delete an article")
    def delete_article(app: App, s: Searching, article_id: Annotated[str, PathParam(max_length=MAX_ID_CHARS)]):
        """Delete the article and its passages; 404 when no article has this id."""
        if s.article(article_id) is None or not app.delete(article_id):
            raise HTTPException(404, f"no article with id {article_id!r}")
        return {"id": article_id, "deleted": True}

    return api

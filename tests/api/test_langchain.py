"""The LangChain retriever over the library and over the HTTP client (langchain-core only, no LLM)."""

from __future__ import annotations

from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from api.langchain import NewsRetriever
from search import Filters, SearchOptions
from tests.conftest import SEED_QUERY


def test_documents_carry_the_passage_and_its_citation(engine, searcher):
    retriever = NewsRetriever(reader=engine, k=3)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke(SEED_QUERY)
    assert len(docs) == 3 and all(isinstance(doc, Document) for doc in docs)
    top, meta = docs[0], docs[0].metadata
    assert meta["title"].startswith("Russia Vows") and "sanction" in top.page_content.lower()
    assert set(meta) >= {"id", "title", "source", "url", "published", "story_id", "start", "end"}
    assert searcher.article(meta["id"]).text[meta["start"]:meta["end"]] == top.page_content
    assert meta["story_id"] == searcher.search(SEED_QUERY, k=1).results[0].story_id


def test_filters_and_options_reach_the_search(engine):
    stories = NewsRetriever(reader=engine, k=5, options=SearchOptions(group="story")).invoke("Lindsay Lohan rehab")
    assert len({doc.metadata["story_id"] for doc in stories}) == len(stories)
    assert NewsRetriever(reader=engine, filters=Filters(sources=("no such outlet",))).invoke(SEED_QUERY) == []

"""A LangChain retriever over any `search.reader.NewsReader`: the library in-process or a server through
`NewsearchClient`. Optional: `pip install -e '.[langchain]'`.

    from api.langchain import NewsRetriever
    from search import Searcher

    retriever = NewsRetriever(reader=Searcher("index"), k=5)
    docs = retriever.invoke("Russia stance on DPRK sanctions")   # Documents: the best passage of each article

Each Document is one article's best passage for the query, with what a RAG answer needs to cite it in its
metadata: the article's id, title, outlet, URL and date, its story, and the passage's offsets into the body.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from search.options import Filters, SearchOptions
from search.reader import NewsReader
from search.types import SearchResult


class NewsRetriever(BaseRetriever):
    """`k` articles per query, searched with `filters` and `options` (group="story" gives one per story)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    reader: NewsReader
    k: int = 4
    filters: Filters | None = None
    options: SearchOptions | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        response = self.reader.search(query, k=self.k, filters=self.filters, options=self.options)
        return [document(result) for result in response.results if result.passages]


def document(result: SearchResult) -> Document:
    """The result's best passage as a Document, with the article's citation in its metadata."""
    best = result.passages[0]
    metadata: dict[str, Any] = {
        "id": best.article or result.id, "title": result.title, "source": result.source, "url": result.url,
        "published": result.published, "story_id": result.story_id, "start": best.start, "end": best.end,
        "score": result.score, "relevant": result.relevant}
    return Document(page_content=best.text, metadata=metadata, id=result.id)

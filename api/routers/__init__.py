"""One router per area of the API; each delegates to the application object (`api.service.Service`)."""

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from api.service import Service
from search import Searcher


async def _service(request: Request) -> Service:
    return request.app.state.newsearch


async def _searcher(request: Request) -> Searcher:
    service: Service = request.app.state.newsearch
    if not service.ready:
        raise HTTPException(503, "index not loaded")
    return service.searcher


App = Annotated[Service, Depends(_service)]
Searching = Annotated[Searcher, Depends(_searcher)]

"""How each error becomes an HTTP answer: one table, read top to bottom, the first class that matches wins.

Bad input is an `InvalidInput` (422, its message names the field); an index that cannot serve is 503 or 409.
Anything else, a bare `ValueError` included, is a bug: 500 with no detail, and its trace in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.service import InvalidArticles, NotReady
from indexer.errors import BackendUnavailable, IndexLocked, IndexUnavailable, InvalidInput, NotFound

log = logging.getLogger("newsearch.api")

# (error class, status, the detail sent, whether the server logs it as an error)
STATUS: tuple[tuple[type[Exception], int, Callable[[Exception], Any], bool], ...] = (
    (IndexLocked, 409, lambda exc: "another process is writing to the index; try again when it has finished", False),
    (NotReady, 503, lambda exc: "index not loaded", False),
    (BackendUnavailable, 503, str, True),  # names the backend and its URI (never its token)
    (IndexUnavailable, 503, lambda exc: "index unavailable", True),
    (InvalidArticles, 422, lambda exc: exc.problems, False),
    (NotFound, 404, str, False),
    (InvalidInput, 422, str, False),
)


def status_of(exc: Exception) -> tuple[int, Any]:
    """(HTTP status, detail) for an error raised while answering; (500, "internal error") for a bug."""
    for kind, status, detail, logged in STATUS:
        if isinstance(exc, kind):
            if logged:
                log.error("newsearch: %s: %s", detail(exc), exc)
            return status, detail(exc)
    return 500, "internal error"


def add_error_handlers(app: FastAPI) -> None:
    """Each failure as its HTTP status with a message; never a stack trace to the client."""

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        status, detail = status_of(exc)
        if status == 500:
            log.error("newsearch: unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": detail}, status_code=status)

    # Each class of the table gets its own handler: Starlette answers those in its exception middleware. A
    # handler for `Exception` goes to its server-error middleware, which answers and then re-raises (the 500).
    for kind, *_ in STATUS:
        app.add_exception_handler(kind, handler)
    app.add_exception_handler(Exception, handler)

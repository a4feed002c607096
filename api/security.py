"""API keys: the write key for writes, an optional read key for reads, compared in constant time.

The write key comes from NEWSEARCH_API_KEY (or the file named by NEWSEARCH_API_KEY_FILE), sent as
`Authorization: Bearer KEY` or `X-API-Key: KEY`. With no write key configured every write is refused (403);
a missing key is 401, a wrong one 403. With NEWSEARCH_READ_KEY set, reads need the read key or the write key.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

_bearer = HTTPBearer(auto_error=False, description="the key as `Authorization: Bearer KEY`")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the key as `X-API-Key: KEY`")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
Header = Annotated[str | None, Depends(_api_key_header)]


def _sent_keys(bearer: HTTPAuthorizationCredentials | None, header: str | None) -> list[str]:
    """Every key the request carries; when both headers are sent, both must be right."""
    return [k for k in (bearer.credentials if bearer is not None else None, header) if k]


def _matches(sent: str, key: str) -> bool:
    return bool(key) and hmac.compare_digest(sent.encode("utf-8", "replace"), key.encode("utf-8"))


# Dependencies are async: FastAPI runs a plain `def` dependency in the thread pool, a hop per request that
# costs more than these checks.
async def write_key(request: Request, bearer: Bearer, header: Header) -> None:
    key = request.app.state.newsearch.settings.api_key
    if not key:
        raise HTTPException(403, "writes are disabled on this server: no API key is configured "
                                 "(set NEWSEARCH_API_KEY or NEWSEARCH_API_KEY_FILE)")
    sent = _sent_keys(bearer, header)
    if not sent:
        raise HTTPException(401, "this needs the API key (Authorization: Bearer KEY or X-API-Key: KEY)",
                            headers={"WWW-Authenticate": "Bearer"})
    if not all([_matches(k, key) for k in sent]):  # a list: every key compared
        raise HTTPException(403, "wrong API key")


async def read_key(request: Request, bearer: Bearer, header: Header) -> None:
    settings = request.app.state.newsearch.settings
    if not settings.read_key:
        return
    sent = _sent_keys(bearer, header)
    if not sent:
        raise HTTPException(401, "this server needs a read key (Authorization: Bearer KEY or X-API-Key: KEY)",
                            headers={"WWW-Authenticate": "Bearer"})
    # Both keys compared, always: the time taken does not say which one was close.
    if not all([_matches(k, settings.read_key) | _matches(k, settings.api_key) for k in sent]):
        raise HTTPException(403, "wrong read key")


async def check_read_key(request: Request) -> None:
    """`read_key` for a route that checks by hand: one that also admits another credential (a feed's token),
    or one FastAPI resolves no dependencies for (the MCP transport, a plain ASGI app)."""
    await read_key(request, await _bearer(request), await _api_key_header(request))


def reads(read_key_set: bool) -> list:
    """The dependencies of a read endpoint: none without a read key, so the OpenAPI document says reads
    are open."""
    return [Depends(read_key)] if read_key_set else []

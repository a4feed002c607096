"""Saved searches: make (write key), list, read, delete (write key), their matches and their Atom feed."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi import Path as PathParam

from api import atom
from api.models import AlertIn, AlertsOut, MatchesOut, errors
from api.routers import Searching
from api.security import check_read_key, reads, write_key
from search.alerts import Alert

AlertId = Annotated[str, PathParam(max_length=64, pattern=r"^[0-9a-f]+$", examples=["3f2a9c1b7d4e"])]
ATOM_TYPE = "application/atom+xml; charset=utf-8"


def router(read_key_set: bool) -> APIRouter:
    api = APIRouter(tags=["alerts"])

    def _found(s, alert_id: str) -> Alert:
        alert = s.alert(alert_id)
        if alert is None:
            raise HTTPException(404, f"no saved search with id {alert_id!r}")
        return alert

    @api.post("/alerts", response_model=Alert, status_code=201, dependencies=[Depends(write_key)],
              responses=errors(401, 403, 404, 422, 503), summary="Save a search")
    def add_alert(s: Searching, body: AlertIn):  # type: ignore[valid-type]
        """Save a query (with a search's options and filters) or a story to follow. Only articles committed
        from now on fire it; each match is kept, shown in its feed and, with `webhook`, POSTed signed."""
        return s.add_alert(body.spec())

    @api.get("/alerts", response_model=AlertsOut, dependencies=reads(read_key_set), responses=errors(401, 403, 503),
             summary="Saved searches")
    def list_alerts(s: Searching):
        """Every saved search with its counts: matches, unread, and its webhook's pending, delivered and dead."""
        return {"alerts": s.alerts()}

    @api.get("/alerts/{alert_id}", response_model=Alert, dependencies=reads(read_key_set),
             responses=errors(401, 403, 404, 503), summary="One saved search")
    def get_alert(s: Searching, alert_id: AlertId):
        return _found(s, alert_id)

    @api.delete("/alerts/{alert_id}", dependencies=[Depends(write_key)], responses=errors(401, 403, 404, 503),
                summary="Delete a saved search")
    def delete_alert(s: Searching, alert_id: AlertId) -> dict:
        """Delete it with its matches and pending deliveries."""
        if not s.remove_alert(alert_id):
            raise HTTPException(404, f"no saved search with id {alert_id!r}")
        return {"id": alert_id, "deleted": True}

    @api.get("/alerts/{alert_id}/matches", response_model=MatchesOut, dependencies=reads(read_key_set),
             responses=errors(401, 403, 404, 503), summary="A saved search's matches")
    def alert_matches(s: Searching, alert_id: AlertId, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                      offset: Annotated[int, Query(ge=0, le=100_000)] = 0, mark_read: bool = False):
        """Newest first: the article, its outlet and date, the passage that matched and its score, and the
        delivery state. `mark_read=true`: count these as read (the page's unread count)."""
        found = s.alert_matches(alert_id, limit, offset, mark_read)
        if found is None:
            raise HTTPException(404, f"no saved search with id {alert_id!r}")
        return {"alert": alert_id, "matches": found}

    @api.get("/alerts/{alert_id}/feed.atom", response_class=Response, summary="A saved search's Atom feed",
             responses={200: {"content": {"application/atom+xml": {"schema": {"type": "string"}}}},
                        **errors(401, 403, 404, 503)})
    async def alert_feed(request: Request, s: Searching, alert_id: AlertId,
                         token: Annotated[str, Query(max_length=100, description="the saved search's feed token "
                                                     "(instead of a read key, for feed readers)")] = ""):
        """Valid Atom with stable entry ids; readable with the saved search's `feed_token` where a read key
        is required (feed readers cannot send headers)."""
        alert = _found(s, alert_id)
        if read_key_set and not (token and hmac.compare_digest(token.encode(), alert.feed_token.encode())):
            await check_read_key(request)
        found = s.alert_matches(alert_id, atom.MAX_ENTRIES) or []
        texts = s.alert_texts(found)
        body = atom.feed(alert, found, str(request.url.remove_query_params("token")), texts)
        return Response(body, media_type=ATOM_TYPE)

    return api


"""Service routes: health and version."""

from __future__ import annotations

from fastapi import APIRouter, Request

from geo311 import __version__
from geo311.api.deps import SessionDep
from geo311.api.responses import JSONBody
from geo311.db import database_health

router = APIRouter(tags=["service"])


@router.get("/healthz", summary="Is the service up and its database reachable?")
def healthz(request: Request, session: SessionDep) -> JSONBody:
    """The primary decides the status; replicas are listed with their state and lag (a replica
    that is down or lagging is skipped by reads, so the service stays up without it)."""
    db = database_health(session)
    ok = db["database"] == "ok"
    body = {"status": "ok" if ok else "unavailable", "version": __version__, **db}
    pool = request.app.state.replicas
    if pool:
        body["replicas"] = [st.as_dict() for st in pool.states()]
    return JSONBody(body, status_code=200 if ok else 503)

"""Service routes: health and version."""

from __future__ import annotations

from fastapi import APIRouter

from geo311 import __version__
from geo311.api.deps import SessionDep
from geo311.api.responses import JSONBody
from geo311.db import database_health

router = APIRouter(tags=["service"])


@router.get("/healthz", summary="Is the service up and its database reachable?")
def healthz(session: SessionDep) -> JSONBody:
    db = database_health(session)
    ok = db["database"] == "ok"
    return JSONBody({"status": "ok" if ok else "unavailable", "version": __version__, **db},
                    status_code=200 if ok else 503)

"""Geocoding for everyone: typed address -> candidates, point -> nearest address."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from geo311 import geocoding
from geo311.api.deps import ReadSessionDep, get_principal
from geo311.api.responses import JSONBody
from geo311.errors import NotFound
from geo311.schemas import ErrorReply

router = APIRouter(prefix="/api/v1", tags=["geocoding"], dependencies=[Depends(get_principal)])


@router.get("/geocode", summary="Candidates for a typed address, best first (an empty list is a miss)",
            responses={422: {"model": ErrorReply}})
def geocode(session: ReadSessionDep, q: Annotated[str, Query(max_length=200, examples=["4129 SE McLoughlin Blvd"])],
            limit: Annotated[int, Query(ge=1, le=20)] = 5) -> JSONBody:
    return JSONBody(geocoding.geocode(session, q, limit))


@router.get("/reverse", summary="The nearest address to a point and its distance in metres",
            responses={404: {"model": ErrorReply}, 422: {"model": ErrorReply}})
def reverse(session: ReadSessionDep, lon: Annotated[float, Query(ge=-180, le=180)],
            lat: Annotated[float, Query(ge=-90, le=90)]) -> JSONBody:
    found = geocoding.reverse(session, lon, lat)
    if found is None:
        raise NotFound("no address points are loaded (geo311 addresses load FILE)")
    return JSONBody(found)

"""Staff API: crews, their work lists, and the status actions of the field and of dispatch."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from geo311 import crews, worklists
from geo311.api.deps import PrincipalDep, ReadSessionDep, SessionDep
from geo311.api.responses import GeoJSONResponse, JSONBody
from geo311.errors import Forbidden
from geo311.reports import get_report_feature
from geo311.schemas import ErrorReply
from geo311.status import ACTIONS, apply_action

router = APIRouter(prefix="/api/v1", tags=["field"])
_AUTH_ERRORS = {401: {"model": ErrorReply, "description": "no valid key"},
                403: {"model": ErrorReply, "description": "the role may not do this"}}


class CrewIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["North Portland"])
    areas: list[str] = Field(min_length=1, max_length=500, examples=[["coalition:North Portland Neighborhood Services"]],
                             description="districts as layer:name")
    categories: list[str] = Field(min_length=1, max_length=100, examples=[["campsite", "illegal_dumping"]])
    yard: tuple[float, float] = Field(description="[lon, lat] where its work lists start", examples=[[-122.7, 45.58]])


class CrewPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    areas: list[str] | None = Field(default=None, min_length=1, max_length=500)
    categories: list[str] | None = Field(default=None, min_length=1, max_length=100)
    yard: tuple[float, float] | None = None
    active: bool | None = None


class ActionIn(BaseModel):
    action: Literal["assign", "start", "resolve", "close_duplicate", "close_not_actionable", "reopen"] = Field(
        description=f"one of {', '.join(ACTIONS)}")
    note: str = Field(default="", max_length=2000)
    crew: str | int | None = Field(default=None, description="assign: the crew (name or id)")
    duplicate_of: int | None = Field(default=None, ge=1, description="close_duplicate: the open report it repeats")


@router.get("/crews", summary="Crews (managers and admins; a crew sees itself)", responses=_AUTH_ERRORS)
def list_crews(session: ReadSessionDep, principal: PrincipalDep) -> JSONBody:
    principal.require("crew", "manager", "admin")
    rows = crews.list_crews(session)
    if principal.role == "crew":
        rows = [c for c in rows if c["id"] == principal.crew_id]
    return JSONBody({"crews": rows})


@router.post("/crews", status_code=201, summary="Create a crew", responses=_AUTH_ERRORS)
def create_crew(body: CrewIn, session: SessionDep, principal: PrincipalDep) -> JSONBody:
    principal.require("manager", "admin")
    crew = crews.create_crew(session, body.name, areas=body.areas, categories=body.categories, yard=body.yard)
    return JSONBody(crew, status_code=201, headers={"Location": f"/api/v1/crews/{crew['id']}"})


@router.get("/crews/{crew}", summary="One crew", responses=_AUTH_ERRORS)
def get_crew(crew: str, session: ReadSessionDep, principal: PrincipalDep) -> JSONBody:
    principal.require("crew", "manager", "admin")
    found = crews.get_crew(session, crew)
    _own_crew_only(principal, found["id"])
    return JSONBody(found)


@router.patch("/crews/{crew}", summary="Change a crew's name, areas, categories, yard or active flag",
              responses=_AUTH_ERRORS)
def update_crew(crew: str, body: CrewPatch, session: SessionDep, principal: PrincipalDep) -> JSONBody:
    principal.require("manager", "admin")
    return JSONBody(crews.update_crew(session, crew, **body.model_dump(exclude_none=True)))


def _own_crew_only(principal, crew_id: int) -> None:
    if principal.role == "crew" and principal.crew_id != crew_id:
        raise Forbidden("a crew key sees its own crew's work only")


@router.get("/crews/{crew}/worklist", summary="The crew's open work, most urgent first, in a short driving order",
            responses={**_AUTH_ERRORS, 200: {"content": {"application/geo+json": {}, "text/csv": {},
                                                         "application/gpx+xml": {}}}})
def worklist(crew: str, session: ReadSessionDep, principal: PrincipalDep,
             from_: Annotated[str | None, Query(alias="from", description="lon,lat; default the crew's yard")] = None,
             limit: Annotated[int, Query(ge=1, le=worklists.MAX_STOPS)] = 200,
             categories: Annotated[str | None, Query(description="category codes, comma separated")] = None,
             format: Literal["geojson", "csv", "gpx"] = "geojson") -> Response:
    principal.require("crew", "manager", "admin")
    _own_crew_only(principal, crews.crew_id_of(session, crew))
    wl = worklists.worklist(session, crew, start=crews.parse_point(from_) if from_ else None, limit=limit,
                            categories=[c.strip() for c in categories.split(",") if c.strip()] if categories else None)
    slug = re.sub(r"[^a-z0-9]+", "-", wl["crew"]["name"].lower()).strip("-") or str(wl["crew"]["id"])
    name = f"worklist-{slug}"  # ASCII only: a header cannot carry "Łódź" or a quote
    if format == "csv":
        return Response(worklists.as_csv(wl), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if format == "gpx":
        return Response(worklists.as_gpx(wl), media_type="application/gpx+xml",
                        headers={"Content-Disposition": f'attachment; filename="{name}.gpx"'})
    return GeoJSONResponse(worklists.as_geojson(wl))


@router.post("/reports/{report_id}/events", summary="A status action: assign, start, resolve, close, reopen",
             responses={**_AUTH_ERRORS, 404: {"model": ErrorReply},
                        409: {"model": ErrorReply, "description": "not allowed from the current status; "
                                                                  "details.allowed_actions lists what is"}})
def act(report_id: Annotated[int, Path(ge=1)], body: ActionIn, session: SessionDep,
        principal: PrincipalDep) -> GeoJSONResponse:
    change = apply_action(session, report_id, body.action, principal, note=body.note, crew=body.crew,
                          duplicate_of=body.duplicate_of)
    feature = get_report_feature(session, report_id)
    feature["properties"]["change"] = change
    return GeoJSONResponse(feature)

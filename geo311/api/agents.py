"""Agents' API (311 customer service): caller lookups, notes on reports, contact volume."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from geo311.api.deps import PrincipalDep, ReadSessionDep, SessionDep
from geo311.api.responses import JSONBody
from geo311.auth import STAFF
from geo311.contacts import add_note, caller_history, contact_volume
from geo311.schemas import ErrorReply

router = APIRouter(prefix="/api/v1", tags=["agents"])
_AUTH = {401: {"model": ErrorReply}, 403: {"model": ErrorReply}, 422: {"model": ErrorReply}}


class NoteIn(BaseModel):
    note: str = Field(min_length=1, max_length=2000)
    internal: bool = Field(default=True, description="internal notes reach staff only; public ones the report page")


@router.get("/callers", summary="A caller's submissions and reports, by phone or email (staff)", responses=_AUTH)
def caller(session: ReadSessionDep, principal: PrincipalDep,
           phone: Annotated[str | None, Query(max_length=50, examples=["(503) 555-0100"])] = None,
           email: Annotated[str | None, Query(max_length=320)] = None) -> JSONBody:
    principal.require(*STAFF)
    return JSONBody(caller_history(session, phone=phone, email=email))


@router.post("/reports/{report_id}/notes", status_code=201, summary="Add a note to a report's history (staff)",
             responses={**_AUTH, 404: {"model": ErrorReply}})
def note(report_id: Annotated[int, Path(ge=1)], body: NoteIn, session: SessionDep, principal: PrincipalDep) -> JSONBody:
    principal.require(*STAFF)
    return JSONBody(add_note(session, report_id, body.note, actor=principal.label, internal=body.internal),
                    status_code=201)


@router.get("/stats/contacts", summary="Submissions per channel per day, week or month (managers)", responses=_AUTH)
def contacts(session: ReadSessionDep, principal: PrincipalDep, interval: Literal["day", "week", "month"] = "week",
             since: date | None = None, until: date | None = None, format: Literal["json", "csv"] = "json") -> Response:
    principal.require("manager", "admin")
    data = contact_volume(session, interval, since=since, until=until)
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["period", *data["channels"], "total"])
        for row in data["series"]:
            writer.writerow([row["period"], *(row[c] for c in data["channels"]), row["total"]])
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="contacts-{interval}.csv"'})
    return JSONBody(data)

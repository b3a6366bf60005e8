"""Managers' API: heatmaps, district dashboards and trends (manager or admin role), JSON or CSV."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from geo311 import heatmaps, stats
from geo311.api.deps import PrincipalDep, ReadSessionDep
from geo311.api.responses import GeoJSONResponse, JSONBody
from geo311.boundaries import service_area
from geo311.categories import category_ids
from geo311.reports import district_ids, parse_bbox, parse_list, parse_statuses
from geo311.schemas import ErrorReply

router = APIRouter(prefix="/api/v1", tags=["managers"])
_AUTH = {401: {"model": ErrorReply}, 403: {"model": ErrorReply}, 422: {"model": ErrorReply}}
Format = Literal["json", "csv"]
CategoryQ = Annotated[str | None, Query(description="category codes, comma separated")]
DistrictQ = Annotated[str | None, Query(description="layer:name")]
Since = Annotated[date | None, Query(description="first day (UTC), inclusive")]
Until = Annotated[date | None, Query(description="last day (UTC), exclusive")]


def _csv(rows: list[list], header: tuple[str, ...], name: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def _cats(session, category: str | None) -> list[int] | None:
    return category_ids(session, parse_list(category, None, "category"))


@router.get("/heatmap", summary="Report counts on a grid sized for the zoom, from the rollups",
            response_class=GeoJSONResponse, responses=_AUTH)
def heatmap(session: ReadSessionDep, principal: PrincipalDep,
            bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat; default the service area")] = None,
            zoom: Annotated[int, Query(ge=0, le=22)] = 12, category: CategoryQ = None,
            status: Annotated[str | None, Query(description="statuses, comma separated; `open` = the open ones")] = None,
            since: Since = None, until: Until = None, district: DistrictQ = None,
            format: Format = "json") -> Response:
    principal.require("manager", "admin")
    box = parse_bbox(bbox) or tuple(service_area(session)["bbox"] or (-180, -85, 180, 85))
    body = heatmaps.heatmap(session, heatmaps.HeatQuery(
        bbox=box, zoom=zoom, category_ids=_cats(session, category), statuses=parse_statuses(status),
        since=since, until=until, district_ids=district_ids(session, district)))
    if format == "csv":
        cells = orjson.loads(body)["features"]
        return _csv([[f["properties"]["center"][0], f["properties"]["center"][1], f["properties"]["reports"],
                      f["properties"]["submissions"]] for f in cells],
                    ("center_lon", "center_lat", "reports", "submissions"), "heatmap")
    return GeoJSONResponse(body)


@router.get("/stats/districts", summary="Per district: open, new, resolved, median age, overdue",
            response_class=GeoJSONResponse, responses=_AUTH)
def districts(session: ReadSessionDep, principal: PrincipalDep,
              layer: Annotated[str, Query(description="a district layer key")] = "neighborhood",
              category: CategoryQ = None, since: Since = None, until: Until = None,
              format: Format = "json") -> Response:
    principal.require("manager", "admin")
    body = stats.district_dashboard(session, layer, category_ids=_cats(session, category), since=since, until=until)
    if format == "csv":
        features = orjson.loads(body)["features"]
        return _csv([[f["properties"][k] if f["properties"][k] is not None else "" for k in stats.DASHBOARD_COLUMNS]
                     for f in features], stats.DASHBOARD_COLUMNS, f"districts-{layer}")
    return GeoJSONResponse(body)


@router.get("/stats/timeseries", summary="New and resolved reports per day, week or month",
            responses=_AUTH)
def timeseries(session: ReadSessionDep, principal: PrincipalDep,
               interval: Literal["day", "week", "month"] = "week", category: CategoryQ = None,
               district: DistrictQ = None, since: Since = None, until: Until = None,
               format: Format = "json") -> Response:
    principal.require("manager", "admin")
    data = stats.timeseries(session, interval, category_ids=_cats(session, category),
                            district_ids=district_ids(session, district), since=since, until=until)
    if format == "csv":
        return _csv([[r["period"], r["new"], r["resolved"]] for r in data["series"]], ("period", "new", "resolved"),
                    f"timeseries-{interval}")
    return JSONBody(data)

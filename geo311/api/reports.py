"""Residents' report API: submit, read, list, the map layer and the 'already reported?' check."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from sqlalchemy.orm import Session

from geo311 import intake
from geo311.api.deps import PrincipalDep, ReadSessionDep, SessionDep, SettingsDep, get_principal
from geo311.api.responses import GeoJSONResponse
from geo311.contacts import AGENT_CHANNELS
from geo311.errors import InvalidInput
from geo311.reports import (
    ReportFilter,
    district_ids,
    get_report_feature,
    list_reports,
    nearby_reports,
    parse_bbox,
    parse_list,
    parse_statuses,
    report_events,
    report_points,
)
from geo311.schemas import ErrorReply, ReportCollection, ReportFeature, ReportFeatureIn

router = APIRouter(prefix="/api/v1", tags=["reports"], dependencies=[Depends(get_principal)])

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorReply, "description": text} for code, text in (
        (409, "Idempotency-Key reused with another body, or the chosen report is closed"),
        (413, "body too large"),
        (422, "invalid: malformed JSON or GeoJSON, bad coordinates, unknown category, outside the "
              "service area, bad attributes, description too long")
    )}
_FEATURE_REPLY = {"model": ReportFeature, "content": {"application/geo+json": {}}}
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200,
                                              description="retries with the same key and body store nothing new")]
Channel = Annotated[Literal["web", "api", "phone", "email", "walk_in"], Header(
    alias="X-Geo311-Channel",
    description="web for the resident map page, api otherwise; agents entering a caller's report: "
                "phone, email or walk_in")]


def _may_submit(principal, settings, channel: str) -> None:
    """Anonymous submission unless switched off; agents (and dispatchers) say how the caller came."""
    if principal.role == "anonymous" and not settings.allow_anonymous_submissions:
        principal.require("resident", "agent", "crew", "manager", "admin")
    if channel in AGENT_CHANNELS:
        principal.require("agent", "manager", "admin")
    elif principal.role == "agent":
        raise InvalidInput(f"an agent records how the caller reached 311: X-Geo311-Channel "
                           f"{', '.join(AGENT_CHANNELS)} (not {channel})", code="bad_channel")


def _to_submission(feature: ReportFeatureIn, channel: str, key: str | None, principal) -> intake.NewSubmission:
    props = feature.properties
    reporter = props.reporter
    lon, lat = (float(feature.geometry.coordinates[0]), float(feature.geometry.coordinates[1])) \
        if feature.geometry else (None, None)
    for_caller = channel in AGENT_CHANNELS
    return intake.NewSubmission(
        lon=lon, lat=lat, category=props.category, raw=feature.model_dump(mode="json"),
        description=props.description, address=props.address,
        reporter_name=reporter.name if reporter else None, reporter_email=reporter.email if reporter else None,
        reporter_phone=reporter.phone if reporter else None, attributes=props.attributes,
        channel=channel, idempotency_key=key,
        actor=principal.label if for_caller else "resident",
        submitted_by=principal.label if for_caller else None,
    )


def _reply(session: Session, result: intake.SubmitResult) -> GeoJSONResponse:
    feature = result.feature or get_report_feature(session, result.report_id)
    feature["properties"]["merged"] = not result.created
    if not result.created:
        feature["properties"]["distance_m"] = round(result.distance_m, 1)
    headers = {"Location": f"/api/v1/reports/{result.report_id}"}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return GeoJSONResponse(feature, status_code=201 if result.created else 200, headers=headers)


#: the same routes also take multipart/form-data with photos (served by api/photos.py)
WITH_PHOTOS: dict[str, Any] = {"requestBody": {"content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["feature"], "properties": {
        "feature": {"type": "string", "description": "the GeoJSON Feature, as JSON text"},
        "photos": {"type": "array", "maxItems": 3, "items": {"type": "string", "format": "binary"},
                   "description": "up to 3 JPEG, PNG, WebP or HEIC images (413 too large or too many pixels, "
                                  "415 not such an image, 422 damaged); public copies carry no EXIF data"}}}}}}}


@router.post("/reports", summary="Report a problem at a point",
             responses={201: {**_FEATURE_REPLY, "description": "a new report"},
                        200: {**_FEATURE_REPLY, "description": "joined an open report of the same thing nearby"},
                        **_ERRORS},
             status_code=201, response_class=GeoJSONResponse, openapi_extra=WITH_PHOTOS)
def create_report(feature: ReportFeatureIn, session: SessionDep, settings: SettingsDep, principal: PrincipalDep,
                  idempotency_key: IdempotencyKey = None, channel: Channel = "api") -> GeoJSONResponse:
    _may_submit(principal, settings, channel)
    result = intake.submit(session, _to_submission(feature, channel, idempotency_key, principal),
                           boundary_margin_m=settings.boundary_margin_m, describe=get_report_feature)
    return _reply(session, result)


@router.post("/reports/{report_id}/submissions", summary="Add your submission to a report you recognise",
             responses={200: _FEATURE_REPLY, 404: {"model": ErrorReply}, **_ERRORS},
             response_class=GeoJSONResponse, openapi_extra=WITH_PHOTOS)
def join_report(report_id: Annotated[int, Path(ge=1)], feature: ReportFeatureIn, session: SessionDep,
                settings: SettingsDep, principal: PrincipalDep, idempotency_key: IdempotencyKey = None,
                channel: Channel = "api") -> GeoJSONResponse:
    _may_submit(principal, settings, channel)
    result = intake.submit(session, _to_submission(feature, channel, idempotency_key, principal),
                           boundary_margin_m=settings.boundary_margin_m, join_report_id=report_id,
                           describe=get_report_feature)
    return _reply(session, result)


def _filter(session: Session, bbox, category, status, district, since, until) -> ReportFilter:
    return ReportFilter(bbox=parse_bbox(bbox), categories=parse_list(category, None, "category"),
                        statuses=parse_statuses(status), district_ids=district_ids(session, district),
                        since=since, until=until)


Bbox = Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat", examples=["-122.70,45.50,-122.63,45.54"])]
CategoryQ = Annotated[str | None, Query(description="category codes, comma separated")]
StatusQ = Annotated[str | None, Query(description="statuses, comma separated; `open` means open, assigned and in_progress")]
DistrictQ = Annotated[str | None, Query(description="layer:name, e.g. neighborhood:BUCKMAN COMMUNITY ASSOCIATION")]


@router.get("/reports", summary="Reports, newest first, filtered, one page at a time",
            response_class=GeoJSONResponse, responses={200: {"model": ReportCollection,
                                                             "content": {"application/geo+json": {}}}})
def reports(request: Request, session: ReadSessionDep, bbox: Bbox = None, category: CategoryQ = None,
            status: StatusQ = None, district: DistrictQ = None, since: datetime | None = None,
            until: datetime | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
            cursor: str | None = None) -> GeoJSONResponse:
    flt = _filter(session, bbox, category, status, district, since, until)
    features, following = list_reports(session, flt, limit=limit, cursor=cursor)
    links, headers = [], {}
    if following:
        href = str(request.url.include_query_params(cursor=following))
        links.append({"rel": "next", "href": href, "type": "application/geo+json"})
        headers["Link"] = f'<{href}>; rel="next"'
    body = f'{{"type":"FeatureCollection","features":{features},"links":{orjson.dumps(links).decode()}}}'
    return GeoJSONResponse(body, headers=headers)


@router.get("/reports/points", summary="The lean map layer: points with id, category, status and count",
            response_class=GeoJSONResponse)
def points(session: ReadSessionDep, bbox: Bbox = None, category: CategoryQ = None, status: StatusQ = "open",
           district: DistrictQ = None, since: datetime | None = None,
           until: datetime | None = None) -> GeoJSONResponse:
    return GeoJSONResponse(report_points(session, _filter(session, bbox, category, status, district, since, until)))


@router.get("/reports/nearby", summary="Open reports of a category near a point: 'is it already reported?'",
            response_class=GeoJSONResponse, responses={422: {"model": ErrorReply}})
def nearby(session: ReadSessionDep, lon: float, lat: float, category: str,
           radius_m: Annotated[float | None, Query(ge=0, le=1000, description="default: the category's dedup radius")] = None,
           limit: Annotated[int, Query(ge=1, le=100)] = 20) -> GeoJSONResponse:
    return GeoJSONResponse(nearby_reports(session, lon, lat, category, radius_m, limit))


@router.get("/reports/{report_id}", summary="One report", response_class=GeoJSONResponse,
            responses={200: _FEATURE_REPLY, 404: {"model": ErrorReply}})
def report(report_id: Annotated[int, Path(ge=1)], session: ReadSessionDep) -> GeoJSONResponse:
    return GeoJSONResponse(get_report_feature(session, report_id))


@router.get("/reports/{report_id}/events", summary="A report's history: created, merges, status changes "
            "(staff also see who acted and the reporters' contact data)", responses={404: {"model": ErrorReply}})
def events(report_id: Annotated[int, Path(ge=1)], session: ReadSessionDep, principal: PrincipalDep) -> dict:
    return {"events": report_events(session, report_id, staff=principal.is_staff)}

"""Photos on the wire: reports sent with photos (multipart/form-data), reading a photo's location,
and serving the photos.

- `POST /api/v1/reports` and `POST /api/v1/reports/{id}/submissions` as multipart/form-data: the
  GeoJSON Feature as a part named `feature` (JSON text) and up to 3 images as parts named `photos`.
  The reply is the same as for JSON. These routes match multipart requests only (MultipartRoute),
  so JSON bodies go on to the JSON routes in reports.py: include `uploads` before reports.router.
- `POST /api/v1/photos/locate`: one image as the part `photo`; its EXIF position and time. A photo
  without a position is a 200 with `located: false` (it is a good photo, only without a place).
- `GET /photos/<sha256>.webp`: a public copy or thumbnail (no metadata), cached for a year.
- `GET /api/v1/photos/{id}/original`: the file as it was sent, EXIF and all; staff only, not cached.

Refusals: 413 too large (file, request, or pixels: a decompression bomb), 415 not an image of a
type taken (read from the content), 422 a damaged image or more than 3 photos; see photos.py.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import UploadFile as Upload
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

from geo311 import photos
from geo311.api.deps import PrincipalDep, ReadSessionDep, SessionDep, SettingsDep
from geo311.api.limits import UploadLimit
from geo311.api.reports import Channel, IdempotencyKey, _may_submit, _reply, _to_submission
from geo311.api.responses import GeoJSONResponse, JSONBody
from geo311.auth import STAFF
from geo311.errors import InvalidInput, PayloadTooLarge
from geo311.models import ROLES
from geo311.photo_store import PhotoStore, store_from_settings
from geo311.reports import get_report_feature
from geo311.schemas import ErrorReply, ReportFeatureIn
from geo311.settings import Settings

UPLOAD_PATHS = re.compile(r"/api/v1/(reports|reports/[0-9]+/submissions|photos/locate)")
PUBLIC_CACHE = "public, max-age=31536000, immutable"

def upload_limits(settings: Settings) -> list[UploadLimit]:
    """The body limit of photo uploads: the photos plus room for the feature and the multipart framing."""
    return [UploadLimit(UPLOAD_PATHS, settings.photo_max_request_bytes + settings.max_body_bytes,
                        f"photos: at most {settings.photo_max_request_bytes / 1048576:.1f} MB in one request, "
                        f"{settings.photo_max_bytes / 1048576:.1f} MB each")]


def _is_multipart(scope: Scope) -> bool:
    for name, value in scope.get("headers") or ():
        if name == b"content-type":
            return value.split(b";")[0].strip().lower() == b"multipart/form-data"
    return False


class MultipartRoute(APIRoute):
    """A route that only matches multipart/form-data requests."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and not _is_multipart(scope):
            return Match.NONE, {}
        return match, child


def get_photo_store(request: Request) -> PhotoStore:
    state = request.app.state
    if getattr(state, "photo_store", None) is None:
        state.photo_store = store_from_settings(state.settings)
    return state.photo_store


StoreDep = Annotated[PhotoStore, Depends(get_photo_store)]
FeaturePart = Annotated[str | UploadFile, Form(description="the GeoJSON Feature, as JSON text")]
PhotoParts = Annotated[list[UploadFile | str], File(description="up to 3 images")]

uploads = APIRouter(prefix="/api/v1", tags=["reports"], route_class=MultipartRoute, include_in_schema=False)
router = APIRouter(tags=["photos"])
_REFUSALS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorReply, "description": "a file or the request is too large, or has too many pixels"},
    415: {"model": ErrorReply, "description": "not a JPEG, PNG, WebP or HEIC image (judged by its content)"},
    422: {"model": ErrorReply, "description": "a damaged image"},
}


def _feature(part: str | UploadFile, settings: Settings) -> ReportFeatureIn:
    """The `feature` part, validated as the JSON body is (the same messages, under `feature.`).
    (Parts are starlette's UploadFile, `Upload` here; fastapi's UploadFile only subclasses it.)"""
    data = part.file.read(settings.max_body_bytes + 1) if isinstance(part, Upload) else part.encode()
    if len(data) > settings.max_body_bytes:
        raise PayloadTooLarge(f"the feature part is larger than {settings.max_body_bytes} bytes; send less "
                              "(descriptions are limited to 4,000 characters)")
    try:
        return ReportFeatureIn.model_validate_json(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            raise InvalidInput(f"the feature part is not valid JSON ({(first.get('ctx') or {}).get('error', '')})",
                               code="invalid") from exc
        if not first.get("loc") and first.get("type") in ("model_type", "model_attributes_type", "dict_type"):
            raise InvalidInput('the feature part must be a GeoJSON Feature: {"type": "Feature", "geometry": '
                               '{"type": "Point", "coordinates": [lon, lat]}, "properties": {...}}',
                               code="invalid") from exc
        raise RequestValidationError([{**e, "loc": ("body", "feature", *e["loc"])} for e in errors]) from exc


def _read(parts: list[UploadFile | str], limits: photos.Limits) -> list[bytes]:
    """The photo parts' bytes; the sizes are checked before anything is read. Empty parts (a form's
    empty file input) are skipped; a text part is refused."""
    files = [p for p in parts if not (isinstance(p, str) and p == "") and not (
        isinstance(p, Upload) and not p.filename and not p.size)]
    if any(isinstance(p, str) for p in files):
        raise InvalidInput("photos: send each photo as a file part (with a filename), not as text", code="bad_photo")
    photos.check_sizes([p.size or 0 for p in files], limits)
    return [p.file.read(limits.max_bytes + 1) for p in files]


def _may_upload(principal, settings: Settings) -> None:
    if principal.role == "anonymous" and not settings.allow_anonymous_submissions:
        principal.require(*ROLES)


def _submit(session, settings: Settings, principal, store: PhotoStore, feature: str | UploadFile, files, idempotency_key: str | None,
            channel: str, *, join_report_id: int | None = None) -> GeoJSONResponse:
    """A submission with its photos, new or joining `join_report_id`; the reply is read in its transaction."""
    _may_submit(principal, settings, channel)
    sub = _to_submission(_feature(feature, settings), channel, idempotency_key, principal)
    limits = photos.Limits.from_settings(settings)
    result = photos.submit_with_photos(session, sub, _read(files, limits), store, limits,
                                       boundary_margin_m=settings.boundary_margin_m, join_report_id=join_report_id,
                                       describe=get_report_feature)
    return _reply(session, result)


@uploads.post("/reports", status_code=201, response_class=GeoJSONResponse)
def create_report_with_photos(feature: FeaturePart, session: SessionDep, settings: SettingsDep,
                              principal: PrincipalDep, store: StoreDep, photos_: Annotated[
                                  list[UploadFile | str], File(alias="photos")] = [],  # noqa: B006
                              idempotency_key: IdempotencyKey = None, channel: Channel = "api") -> GeoJSONResponse:
    return _submit(session, settings, principal, store, feature, photos_, idempotency_key, channel)


@uploads.post("/reports/{report_id}/submissions", response_class=GeoJSONResponse)
def join_report_with_photos(report_id: Annotated[int, Path(ge=1)], feature: FeaturePart, session: SessionDep,
                            settings: SettingsDep, principal: PrincipalDep, store: StoreDep, photos_: Annotated[
                                list[UploadFile | str], File(alias="photos")] = [],  # noqa: B006
                            idempotency_key: IdempotencyKey = None, channel: Channel = "api") -> GeoJSONResponse:
    return _submit(session, settings, principal, store, feature, photos_, idempotency_key, channel,
                   join_report_id=report_id)


@router.post("/api/v1/photos/locate", summary="Where and when a photo was taken, from its EXIF data; stores nothing",
             responses={200: {"description": "`{located: true, lon, lat, accuracy_m, taken_at}`, or `{located: "
                                             "false, message, taken_at}` for a photo without a GPS position"},
                        **_REFUSALS})
def locate(photo: Annotated[UploadFile, File(description="one JPEG, PNG, WebP or HEIC image")],
           settings: SettingsDep, principal: PrincipalDep) -> JSONBody:
    _may_upload(principal, settings)
    limits = photos.Limits.from_settings(settings)
    photos.check_sizes([photo.size or 0], limits)
    return JSONBody(photos.inspect(photo.file.read(limits.max_bytes + 1), limits).as_reply())


@router.head("/photos/{name}", response_class=Response, include_in_schema=False)
@router.get("/photos/{name}", response_class=Response,
            summary="A public photo or thumbnail (`<sha256>.webp`, no metadata); never changes",
            responses={200: {"content": {"image/webp": {}}}, 404: {"model": ErrorReply}})
def public_photo(name: str, request: Request, store: StoreDep) -> Response:
    key = photos.public_key(name)
    headers = {"Cache-Control": PUBLIC_CACHE, "ETag": f'"{key}"', "X-Content-Type-Options": "nosniff"}
    if key and request.headers.get("if-none-match") == headers["ETag"] and store.exists("public", key):
        return Response(status_code=304, headers=headers)
    return Response(photos.public_file(store, name), media_type="image/webp", headers=headers)


@router.get("/api/v1/photos/{photo_id}/original", response_class=Response,
            summary="A photo exactly as it was sent, with its EXIF data (staff only)",
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}, "image/heic": {}}},
                       401: {"model": ErrorReply}, 403: {"model": ErrorReply}, 404: {"model": ErrorReply}})
def original_photo(photo_id: Annotated[int, Path(ge=1)], session: ReadSessionDep, principal: PrincipalDep,
                   store: StoreDep) -> Response:
    principal.require(*STAFF)
    data, media_type, filename = photos.original_file(session, store, photo_id)
    inline = media_type in ("image/jpeg", "image/png", "image/webp")
    return Response(data, media_type=media_type, headers={
        "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{filename}"',
        "Content-Security-Policy": "default-src 'none'; sandbox", "Referrer-Policy": "no-referrer"})

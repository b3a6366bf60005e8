"""Open311 GeoReport v2 under /open311/v2/: discovery, services, service definitions, POST and GET
requests, one request, tokens and mySociety's servicerequestupdates, each as .json and .xml.

Errors on these paths come in Open311's own format, `[{"code": 400, "description": "..."}]` or
`<errors><error>...`, with HTTP 400, 403 or 404: the route class below turns domain and
validation errors raised here into it, and `install()` does the same for unknown paths under the
prefix. `jurisdiction_id` may be left out; any other than the configured one is a 404.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from geo311.api.deps import ReadSessionDep, SessionDep, SettingsDep
from geo311.api.errors import describe_validation
from geo311.api.guards import RETRY_HEADER
from geo311.auth import authenticate
from geo311.errors import DomainError, Forbidden, InvalidInput
from geo311.open311 import params, queries, wire

PREFIX = "/open311/v2"
log = logging.getLogger("geo311.open311")


def error_reply(path: str, exc: Exception) -> Response:
    """Any error on an Open311 path, in Open311's format (a 500 is logged with a reference). A database
    that does not answer (or a replica that died mid-read) is a 503 with Retry-After, which the
    RetryReads middleware turns into one more try of a GET (on the primary when a replica failed)."""
    headers = None
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        log.warning("database unavailable on %s: %s", path, type(exc).__name__)
        status, lines = 503, ["the database is not answering just now; try again shortly"]
        headers = {"Retry-After": "5", RETRY_HEADER.decode(): "1"}
    elif isinstance(exc, DomainError):
        status, lines = wire.http_status(exc.status), wire.error_lines(exc)
    elif isinstance(exc, RequestValidationError):
        status, lines = 400, describe_validation(exc.errors())
    elif isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        lines = [f"no such Open311 endpoint; the endpoints are under {PREFIX}/ (see discovery.json)"
                 if status == 404 else str(exc.detail)]
    else:
        ref = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s on %s", ref, path, exc_info=exc)
        status, lines = 500, [f"internal error; quote reference {ref} when reporting it"]
    fmt = wire.format_of(path)
    return Response(wire.render(fmt, wire.errors(status, lines), "errors", "error"), status_code=status,
                    media_type=wire.MEDIA_TYPES[fmt], headers=headers)


class Open311Route(APIRoute):
    """Catches what the endpoint (or its dependencies) raise and answers in Open311's format."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def open311_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # noqa: BLE001 - every error becomes an Open311 error reply
                return error_reply(request.url.path, exc)

        return open311_handler


def check_jurisdiction(settings: SettingsDep, jurisdiction_id: Annotated[str | None, Query(
        description="optional: this endpoint serves one jurisdiction")] = None) -> None:
    params.check_jurisdiction(jurisdiction_id, settings.open311_jurisdiction_id)


router = APIRouter(prefix=PREFIX, tags=["open311"], route_class=Open311Route,
                   dependencies=[Depends(check_jurisdiction)])


def response_format(request: Request) -> str:
    return wire.format_of(request.url.path)


FormatDep = Annotated[str, Depends(response_format)]
Param = Annotated[str | None, Query()]


def both(path: str, *, methods: tuple[str, ...] = ("GET",), **kwargs: Any) -> Callable:
    """Register an endpoint as path.json and path.xml."""
    def register(fn: Callable) -> Callable:
        for fmt in wire.MEDIA_TYPES:
            router.add_api_route(f"{path}.{fmt}", fn, methods=list(methods), response_class=Response,
                                 name=f"open311_{fn.__name__}_{fmt}", **kwargs)
        return fn
    return register


def reply(fmt: str, data: Any, root: str, item: str | None = None, *, headers: dict[str, str] | None = None,
          status_code: int = 200) -> Response:
    return Response(wire.render(fmt, data, root, item), status_code=status_code, media_type=wire.MEDIA_TYPES[fmt],
                    headers=headers)


def _next_page(request: Request, page: int, more: bool) -> dict[str, str] | None:
    if not more:
        return None
    return {"Link": f'<{request.url.include_query_params(page=page + 1)}>; rel="next"'}


# ----- discovery and services ---------------------------------------------------------------
@both("/discovery", summary="Service discovery: where this endpoint is and what it speaks")
def discovery(request: Request, session: ReadSessionDep, settings: SettingsDep, fmt: FormatDep) -> Response:
    url = str(request.base_url).rstrip("/") + PREFIX
    jurisdiction = settings.open311_jurisdiction_id
    data = wire.discovery(
        url, queries.changeset(session), contact=f"The 311 program of {jurisdiction}, served by geo311",
        key_service="POST requests needs an api_key: a geo311 key (resident keys are the usual kind) "
                    "that the 311 program issues with `geo311 keys create --role resident --label <your app>`")
    return reply(fmt, data, "discovery")


@both("/services", summary="The services (report categories) offered")
def services(session: ReadSessionDep, fmt: FormatDep) -> Response:
    return reply(fmt, [wire.service(c) for c in queries.services(session)], "services", "service")


@both("/services/{service_code}", summary="A service's definition: the questions its requests answer")
def service_definition(service_code: str, session: ReadSessionDep, fmt: FormatDep) -> Response:
    return reply(fmt, wire.service_definition(queries.service(session, service_code)), "service_definition")


# ----- submitting -----------------------------------------------------------------------------
async def form_items(request: Request) -> list[tuple[str, Any]]:
    """The POST body's fields in order (repeated ones repeated), form-encoded as Open311 says."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if (await request.body()).strip():
            raise InvalidInput("send the fields form-encoded (Content-Type: application/x-www-form-urlencoded), "
                               f"as Open311 says; this request said {content_type or 'no Content-Type'}",
                               code="bad_form")
        return []
    form = await request.form()
    return list(form.multi_items())


@both("/requests", methods=("POST",), summary="Submit a service request (form-encoded; needs api_key)",
      description="Fields: api_key, service_code, lat, long, attribute[CODE] (attribute[CODE][] for "
                  "multivaluelist), description, address_string, email, device_id, account_id, first_name, "
                  "last_name, phone, media_url, jurisdiction_id. The reply carries the service_request_id at "
                  "once; the X-Open311-Token header carries a token for tokens/{token} too.")
def post_request(request: Request, session: SessionDep, settings: SettingsDep, fmt: FormatDep,
                 items: Annotated[list[tuple[str, Any]], Depends(form_items)]) -> Response:
    form = params.parse_form(items)
    key = form.get("api_key") or params.blank(request.query_params.get("api_key"))
    if key is None:
        raise Forbidden("api_key is required to submit a request; the 311 program issues keys")
    principal = authenticate(session, key)
    if principal is None:
        raise Forbidden("api_key is not valid or has been revoked")
    params.check_jurisdiction(form.get("jurisdiction_id"), settings.open311_jurisdiction_id)
    sub = params.to_submission(form, actor=f"open311:{principal.label}", key_id=principal.key_id)
    done = queries.submit_request(session, sub, boundary_margin_m=settings.boundary_margin_m)
    row = queries.get_request(session, done.report_id)
    body = [wire.created(row, new=done.created, account_id=form.get("account_id"))]
    headers = {"X-Open311-Token": done.token, "Location": f"{PREFIX}/requests/{done.report_id}.{fmt}"}
    return reply(fmt, body, "service_requests", "request", headers=headers)


@both("/tokens/{token}", summary="The service request a token stands for")
def token(token: str, session: ReadSessionDep, fmt: FormatDep) -> Response:
    return reply(fmt, [wire.token_reply(queries.resolve_token(session, token), token)],
                 "service_requests", "request")


# ----- following requests --------------------------------------------------------------------
@both("/requests", summary="Service requests: by id, or filtered (the last 90 days by default)")
def requests(request: Request, session: ReadSessionDep, fmt: FormatDep,
             service_request_id: Annotated[str | None, Query(description="ids, comma separated; overrides the rest")] = None,
             service_code: Annotated[str | None, Query(description="codes, comma separated")] = None,
             start_date: Annotated[str | None, Query(description="ISO 8601; at most 90 days before end_date")] = None,
             end_date: Annotated[str | None, Query(description="ISO 8601")] = None,
             status: Annotated[str | None, Query(description="open and/or closed, comma separated")] = None,
             page: Annotated[str | None, Query(description="extension: page number, from 1")] = None,
             page_size: Annotated[str | None, Query(description="extension: up to 1000 (the default)")] = None,
             lat_ne: Param = None, long_ne: Param = None, lat_sw: Param = None, long_sw: Param = None) -> Response:
    ids = params.parse_ids(service_request_id)
    if ids:
        flt, page_no, size = queries.RequestFilter(ids=ids), 1, params.MAX_IDS
    else:
        start, end = params.parse_window(start_date, end_date)
        codes = params.parse_codes(service_code)
        queries.check_codes(session, codes)
        flt = queries.RequestFilter(codes=codes, statuses=params.parse_statuses(status), start=start, end=end,
                                    bbox=params.parse_bbox(lat_ne, long_ne, lat_sw, long_sw))
        page_no, size = params.parse_page(page, page_size)
    rows, more = queries.find_requests(session, flt, page=page_no, page_size=size)
    return reply(fmt, [wire.service_request(r, str(request.base_url)) for r in rows], "service_requests",
                 "request", headers=_next_page(request, page_no, more))


@both("/requests/{service_request_id}", summary="One service request")
def one_request(service_request_id: str, request: Request, session: ReadSessionDep, fmt: FormatDep) -> Response:
    row = queries.get_request(session, params.request_id(service_request_id))
    return reply(fmt, [wire.service_request(row, str(request.base_url))], "service_requests", "request")


@both("/servicerequestupdates", summary="mySociety's extension: status changes between two dates")
def updates(request: Request, session: ReadSessionDep, fmt: FormatDep,
            start_date: Annotated[str | None, Query(description="ISO 8601")] = None,
            end_date: Annotated[str | None, Query(description="ISO 8601; at most 90 days after start_date")] = None,
            page: Param = None, page_size: Param = None,
            api_key: Annotated[str | None, Query(description="accepted and not needed: updates are public")] = None,
            ) -> Response:
    start, end = params.parse_window(start_date, end_date)
    page_no, size = params.parse_page(page, page_size)
    rows, more = queries.status_updates(session, start, end, page=page_no, page_size=size)
    return reply(fmt, [wire.status_update(r) for r in rows], "service_requests_updates", "request_update",
                 headers=_next_page(request, page_no, more))


def install(app: FastAPI) -> None:
    """Serve the routes, and answer unknown paths and methods under the prefix in Open311's format."""
    app.include_router(router)
    fallback = app.exception_handlers.get(StarletteHTTPException, http_exception_handler)

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(PREFIX + "/"):
            return error_reply(request.url.path, exc)
        return await fallback(request, exc)

    app.add_exception_handler(StarletteHTTPException, http_error)

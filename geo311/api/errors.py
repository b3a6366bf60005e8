"""The one place where errors become HTTP replies: {"error": {"code", "message", "details"?}}."""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo311.api.responses import JSONBody
from geo311.errors import DomainError

log = logging.getLogger("geo311.api")


def error_body(code: str, message: str, details=None) -> dict:
    err = {"code": code, "message": message}
    if details is not None:
        err["details"] = details
    return {"error": err}


def _where(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


def _describe(e: dict) -> str:
    loc = tuple(e.get("loc", ()))
    kind = e.get("type", "")
    if kind == "json_invalid":
        detail = (e.get("ctx") or {}).get("error", "")
        return f"the body is not valid JSON ({detail}, at character {loc[-1] if len(loc) > 1 else '?'})"
    if loc == ("body",) and kind in ("missing", "model_attributes_type", "dict_type"):
        return ("the body must be a GeoJSON Feature: "
                '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": {...}}')
    msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
    if kind == "literal_error" and loc[-1:] == ("type",):
        msg = f"must be {(e.get('ctx') or {}).get('expected', 'Feature')}"
    return f"{_where(loc)}: {msg}"


def describe_validation(errors) -> list[str]:
    """Pydantic's errors as lines a person can act on: `properties.category: Field required`."""
    return [_describe(e) for e in errors]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError):
        request.state.error_code = exc.code  # for the intake outcome metric
        headers = {"WWW-Authenticate": 'Bearer realm="geo311"'} if exc.status == 401 else None
        return JSONBody(error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        lines = describe_validation(exc.errors())
        content_type = request.headers.get("content-type", "")
        if any(tuple(e.get("loc", ())) == ("body",) for e in exc.errors()) and "json" not in content_type:
            lines.insert(0, f"send the body as JSON with Content-Type: application/json "
                            f"(this request said {content_type or 'no Content-Type'})")
        return JSONBody(error_body("invalid", "; ".join(lines), lines), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONBody(error_body(code, str(exc.detail)), status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    @app.exception_handler(psycopg.DataError)
    async def refused_value(request: Request, exc: Exception):
        # the database refused a value (a NUL character in text, a number out of range): the
        # request's fault, and its transaction is rolled back; say what without any SQL
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        if "NUL" in reason:
            reason = "text may not contain NUL (0x00) characters"
        request.state.error_code = "bad_value"
        return JSONBody(error_body("bad_value", f"a value in the request was refused: {reason}"), status_code=422)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def database_unavailable(request: Request, exc: Exception):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        request.state.error_code = "database_unavailable"
        return JSONBody(error_body("database_unavailable", "the database is not answering just now; try again shortly"),
                        status_code=503, headers={"Retry-After": "5", "x-geo311-retry": "1"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        ref = getattr(request.state, "request_id", None) or "unknown"
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONBody(error_body("internal", f"internal error; quote request id {ref} when reporting it"),
                        status_code=500, headers={"X-Request-ID": ref})


def document_errors(app: FastAPI) -> None:
    """Make the OpenAPI schema tell the truth: validation errors come in geo311's error format, not
    FastAPI's default `{"detail": [...]}`."""
    from geo311.schemas import ErrorReply

    generate = app.openapi

    def openapi():
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("ErrorReply", ErrorReply.model_json_schema(ref_template="#/components/schemas/{model}"))
        for name, sub in ErrorReply.model_json_schema(ref_template="#/components/schemas/{model}").get("$defs", {}).items():
            components.setdefault(name, sub)
        components["HTTPValidationError"] = {"$ref": "#/components/schemas/ErrorReply"}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi

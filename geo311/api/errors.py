"""The one place where errors become HTTP replies: {"error": {"code", "message", "details"?}}."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
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

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        ref = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s on %s %s", ref, request.method, request.url.path)
        return JSONBody(error_body("internal", f"internal error; quote reference {ref} when reporting it"),
                        status_code=500, headers={"X-Error-Reference": ref})

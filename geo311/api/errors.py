"""The one place where errors become HTTP replies: {"error": {"code", "message", "details"?, "lang"?}}.

Messages a resident can meet are written with geo311.errors.msg(); here they are translated into
the request's language (`?lang=`, the picker's cookie, Accept-Language; see geo311.i18n). A reply
in another language than English says so in `lang` and Content-Language; English replies are as
they always were."""

from __future__ import annotations

import logging
from functools import reduce
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo311 import i18n
from geo311.api.responses import JSONBody
from geo311.errors import DomainError, Msg, msg, translated

log = logging.getLogger("geo311.api")


def error_body(code: str, message: str, details=None, lang: str | None = None) -> dict:
    err = {"code": code, "message": message}
    if details is not None:
        err["details"] = details
    if lang and lang != i18n.DEFAULT:
        err["lang"] = i18n.LANGUAGES[lang].tag
    return {"error": err}


def reply_language(request: Request) -> i18n.Translator:
    return i18n.Translator(i18n.pick(request.query_params, request.cookies, request.headers))


def translated_details(details: Any, tr: i18n.Translator) -> Any:
    """Details that are messages (a list of problems) in the reply's language; data stays data."""
    if isinstance(details, Msg):
        return details.translate(tr.lookup)
    if isinstance(details, list):
        return [translated_details(d, tr) if isinstance(d, Msg | list) else d for d in details]
    return details


def reply(code: str, message: str, status_code: int, tr: i18n.Translator, details=None,
          headers: dict | None = None) -> JSONBody:
    """An error reply in the reader's language (a message written without msg() stays English, and
    the reply says so)."""
    if not isinstance(message, Msg):
        tr = i18n.Translator(i18n.DEFAULT)
    body = error_body(code, translated(message, tr.lookup), translated_details(details, tr), lang=tr.code)
    headers = {**(headers or {}), "Content-Language": tr.tag, "Vary": "Accept-Language, Cookie"}
    return JSONBody(body, status_code=status_code, headers=headers)


def _where(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


FEATURE_EXAMPLE = '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": {...}}'


def _problem(e: dict) -> str:
    """Pydantic's words for one problem; ours (a Msg raised in a validator) when we wrote them."""
    kind = e.get("type", "")
    error = (e.get("ctx") or {}).get("error")
    if isinstance(error, ValueError) and error.args and isinstance(error.args[0], Msg):
        return error.args[0]
    if kind == "missing":
        return msg("Field required")
    return str(e.get("msg", "invalid")).removeprefix("Value error, ")


def _describe(e: dict) -> str:
    loc = tuple(e.get("loc", ()))
    kind = e.get("type", "")
    if kind == "json_invalid":
        detail = (e.get("ctx") or {}).get("error", "")
        return msg("the body is not valid JSON ({detail}, at character {at})", detail=detail,
                   at=loc[-1] if len(loc) > 1 else "?")
    if loc == ("body",) and kind in ("missing", "model_attributes_type", "dict_type"):
        return msg("the body must be a GeoJSON Feature: {example}", example=FEATURE_EXAMPLE)
    problem = _problem(e)
    if kind == "literal_error" and loc[-1:] == ("type",):
        problem = msg("must be {expected}", expected=(e.get("ctx") or {}).get("expected", "Feature"))
    return msg("{where}: {problem}", where=_where(loc), problem=problem)


def describe_validation(errors) -> list[str]:
    """Pydantic's errors as lines a person can act on: `properties.category: Field required`."""
    return [_describe(e) for e in errors]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError):
        request.state.error_code = exc.code  # for the intake outcome metric
        headers = {"WWW-Authenticate": 'Bearer realm="geo311"'} if exc.status == 401 else None
        return reply(exc.code, exc.message, exc.status, reply_language(request), exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        lines = describe_validation(exc.errors())
        content_type = request.headers.get("content-type", "")
        if any(tuple(e.get("loc", ())) == ("body",) for e in exc.errors()) and "json" not in content_type:
            said = content_type or msg("no Content-Type")
            lines.insert(0, msg("send the body as JSON with Content-Type: application/json (this request said {said})",
                                said=said))
        message = reduce(lambda a, b: a + "; " + b, lines) if lines else msg("invalid request")
        return reply("invalid", message, 422, reply_language(request), lines)

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
            reason = msg("text may not contain NUL (0x00) characters")
        request.state.error_code = "bad_value"
        return reply("bad_value", msg("a value in the request was refused: {reason}", reason=reason), 422,
                     reply_language(request))

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def database_unavailable(request: Request, exc: Exception):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        request.state.error_code = "database_unavailable"
        return reply("database_unavailable", msg("the database is not answering just now; try again shortly"), 503,
                     reply_language(request), headers={"Retry-After": "5", "x-geo311-retry": "1"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        ref = getattr(request.state, "request_id", None) or "unknown"
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return reply("internal", msg("internal error; quote request id {ref} when reporting it", ref=ref), 500,
                     reply_language(request), headers={"X-Request-ID": ref})


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

"""FastAPI dependencies, as Annotated aliases: SessionDep (the primary), ReadSessionDep (a replica
when one is fit), SettingsDep, PrincipalDep."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from geo311.api.consistency import READ_FROM, wanted_lsn, watch
from geo311.auth import (
    ANONYMOUS,
    Principal,
    authenticate,
    check_csrf,
    principal_for_key_id,
    read_session_token,
)
from geo311.errors import Forbidden, Unauthorized
from geo311.replicas import PRIMARY
from geo311.settings import Settings

SESSION_COOKIE = "geo311_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session on the primary: every write, and the reads that must see one. Made on the event
    loop (no I/O until its first query, in the route's thread); closed in the thread pool, where
    handing its connection back may talk to the server. Each thread hop saved is a few tens of
    microseconds off every request."""
    made = request.app.state.sessionmaker()
    session = made.__enter__()
    watch(session, request.scope)
    try:
        yield session
    finally:
        await run_in_threadpool(made.__exit__, None, None, None)


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_principal(request: Request, session: SessionDep, settings: SettingsDep) -> Principal:
    """A Bearer key, or the session cookie of the staff pages (whose unsafe requests must carry
    the CSRF token), or anonymous. A key that is wrong or revoked is a 401, never anonymous.
    Anonymous callers are told apart on the event loop; a key or a cookie is looked up in the
    thread pool (it reads the database)."""
    if not request.headers.get("authorization") and not request.cookies.get(SESSION_COOKIE):
        return ANONYMOUS
    return await run_in_threadpool(_principal, request, session, settings)


def _principal(request: Request, session: Session, settings: Settings) -> Principal:
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("use Authorization: Bearer <key>", code="unauthorized")
        principal = authenticate(session, token.strip())
        if principal is None:
            raise Unauthorized("the API key is not valid or has been revoked", code="unauthorized")
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        secret = settings.session_secret()
        key_id = read_session_token(secret, cookie)
        principal = principal_for_key_id(session, key_id) if key_id else None
        if principal is not None:
            if request.method not in SAFE_METHODS and not check_csrf(secret, cookie, request.headers.get(CSRF_HEADER)):
                raise Forbidden("missing or wrong CSRF token; reload the page", code="csrf")
            return principal
    return ANONYMOUS


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_read_session(request: Request, primary: SessionDep) -> Iterator[Session]:
    """A session for a read-only route: on a healthy replica that has replayed the caller's own
    latest write (see api/consistency.py), else the primary's session. A replica that fails a
    read is skipped from then on, and the read is retried once (api/guards.RetryReads)."""
    state = request.app.state
    replicas = getattr(state, "replicas", None)  # an app without a pool (a bare router) reads the primary
    found = replicas.read_session(wanted_lsn(request.scope, state.write_memory, state.session_secret)) \
        if replicas else None
    request.scope.setdefault("state", {})[READ_FROM] = found[0].name if found else PRIMARY
    if found is None:
        yield primary
        return
    replica, session = found
    with session:
        try:
            yield session
        except (OperationalError, InterfaceError) as exc:
            replicas.mark_down(replica.name, exc)
            raise


ReadSessionDep = Annotated[Session, Depends(get_read_session)]

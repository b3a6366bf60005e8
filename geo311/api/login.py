"""Sign-in for the staff pages: a form takes an API key and sets a signed, expiring session cookie
(HttpOnly, SameSite=Strict); sign-out clears it. State-changing requests made with the cookie
must carry the session's CSRF token (see deps.get_principal)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from geo311.api.deps import SESSION_COOKIE, SessionDep, SettingsDep
from geo311.auth import STAFF, authenticate, make_session_token
from geo311.errors import Forbidden
from geo311.map_assets import page_headers
from geo311.staff_pages import login_page

router = APIRouter(tags=["pages"], include_in_schema=False)
HOME = {"agent": "/agent", "crew": "/crew", "manager": "/manager", "admin": "/manager"}


def safe_next(value: str | None, default: str = "/crew") -> str:
    """Only paths on this site (no scheme, no host, no //evil.example) are followed after sign-in."""
    if not value or not value.startswith("/") or value.startswith("//") or urlsplit(value).netloc:
        return default
    return value


def same_origin(request: Request) -> bool:
    """A form post must come from our own pages (Origin, else Referer); browsers send one of them."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return False
    return urlsplit(source).netloc == request.headers.get("host")


def _html(html: str, settings, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status,
                        headers=page_headers(html, settings.tile_url) | {"Cache-Control": "no-store"})


@router.get("/login", response_class=HTMLResponse)
def login_form(settings: SettingsDep, next: str | None = None) -> HTMLResponse:
    return _html(login_page(next_path=safe_next(next)), settings)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, session: SessionDep, settings: SettingsDep,
          key: Annotated[str, Form(max_length=200)], next: Annotated[str, Form(max_length=500)] = "") -> HTMLResponse:
    if not same_origin(request):
        raise Forbidden("sign-in must come from this site's own sign-in page", code="csrf")
    principal = authenticate(session, key)
    if principal is None or principal.role not in STAFF:
        message = "That key is not valid, has been revoked, or is not a staff key."
        return _html(login_page(next_path=safe_next(next), error=message), settings, status=401)
    token = make_session_token(settings.session_secret(), principal.key_id, settings.session_hours * 3600)
    target = safe_next(next, HOME[principal.role])
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=int(settings.session_hours * 3600), httponly=True,
                        samesite="strict", secure=settings.secure_cookies, path="/")
    return response


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    if not same_origin(request):
        raise Forbidden("sign-out must come from this site's own pages", code="csrf")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def page_session(request: Request, session, settings, roles: tuple[str, ...]):
    """For a staff page: (principal, CSRF token) of the signed-in user, or the redirect to sign in.

    A user signed in with a key of another role gets a 403."""
    from geo311.auth import csrf_token, principal_for_key_id, read_session_token

    secret = settings.session_secret()
    cookie = request.cookies.get(SESSION_COOKIE)
    key_id = read_session_token(secret, cookie)
    principal = principal_for_key_id(session, key_id) if key_id else None
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': target}, safe='/')}", status_code=303)
    try:
        principal.require(*roles)
    except Forbidden as exc:
        raise WrongRole(exc.message, principal) from None
    return principal, csrf_token(secret, cookie)


class WrongRole(Forbidden):
    """A staff page asked for by someone signed in with a key of another role: the page answers
    with a 403 page that names them and links to their own page (`principal` is who they are)."""

    def __init__(self, message: str, principal) -> None:
        super().__init__(message, code="forbidden")
        self.principal = principal

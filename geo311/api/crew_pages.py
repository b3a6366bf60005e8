"""The crew page `/crew` (see geo311/crew_page.py and maps/crew.js).

Signed-in staff only (the session cookie of /login): a crew sees its own crew's work list; a
manager or admin picks a crew with `?crew=NAME` (default: the first crew by name). The page holds
the session's CSRF token, which crew.js sends as X-CSRF-Token when it changes a stop's status.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from geo311 import crew_page, crews
from geo311.api.deps import ReadSessionDep, SettingsDep
from geo311.api.login import HOME, WrongRole, page_session
from geo311.auth import Principal
from geo311.errors import NotFound
from geo311.map_assets import STATIC_PREFIX, page_headers

router = APIRouter(tags=["pages"], include_in_schema=False)
ROLES = ("crew", "manager", "admin")


def signed_in_as(principal: Principal) -> str:
    """How the page names who is signed in (plain text; the template escapes it)."""
    if principal.role == "crew":
        return f"crew {principal.crew_name}"
    return f"{principal.role} (key {principal.key_id})"


def staff_html(html: str, tile_url: str, status_code: int = 200) -> HTMLResponse:
    """A staff page's reply: its security headers, and never cached (it names who is signed in)."""
    headers = page_headers(html, tile_url) | {"Cache-Control": "no-store"}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def refused(exc: WrongRole, page: str) -> tuple[str, str | None]:
    """For the 403 page of `page`: how to name who is signed in, and their own page (if not this one)."""
    home = HOME.get(exc.principal.role)
    return signed_in_as(exc.principal), home if home != page else None


@router.get("/crew", response_class=HTMLResponse, summary="The crew page: the work list as a route")
def crew_work_page(request: Request, session: ReadSessionDep, settings: SettingsDep,
                   crew: str | None = None) -> Response:
    signed_in = page_session(request, session, settings, ROLES)
    if isinstance(signed_in, RedirectResponse):
        return signed_in
    principal, token = signed_in
    who = signed_in_as(principal)
    choices: list[dict] = []
    if principal.role == "crew":      # a crew key sees its own crew, whatever ?crew= says
        info = crews.get_crew(session, principal.crew_id)
    else:
        choices = crews.list_crews(session)
        if not choices:
            html = crew_page.no_crew_page(
                title="No crews yet", signed_in_as=who, static_prefix=STATIC_PREFIX,
                message="There are no crews yet. Create one with `geo311 crews create` or POST /api/v1/crews.")
            return staff_html(html, settings.tile_url)
        if crew is None or not crew.strip():
            info = choices[0]
        else:
            try:
                info = crews.get_crew(session, crew.strip())
            except NotFound:
                html = crew_page.no_crew_page(
                    title="No such crew", signed_in_as=who, choices=choices, static_prefix=STATIC_PREFIX,
                    message=f"There is no crew named {crew.strip()!r}. Pick one of these:")
                return staff_html(html, settings.tile_url, status_code=404)
    html = crew_page.crew_page(crew=info, csrf_token=token, signed_in_as=who, choices=choices,
                               tile_url=settings.tile_url, tile_attribution=settings.tile_attribution,
                               static_prefix=STATIC_PREFIX)
    return staff_html(html, settings.tile_url)

"""The agent page `/agent` (see geo311/agent_page.py and maps/agent.js).

Signed-in agents, managers (dispatchers) and admins (the session cookie of /login): without a
session the page sends the browser to sign in (and back here after); a signed-in user of another
role gets a 403 page that says why. The page holds the session's CSRF token, which agent.js sends
as X-CSRF-Token with the reports, attachments and notes it posts.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from geo311 import agent_page, boundaries
from geo311.api.crew_pages import signed_in_as
from geo311.api.deps import SESSION_COOKIE, ReadSessionDep, SettingsDep
from geo311.api.login import HOME, page_session
from geo311.auth import principal_for_key_id, read_session_token
from geo311.errors import Forbidden
from geo311.map_assets import STATIC_PREFIX, page_headers

router = APIRouter(tags=["pages"], include_in_schema=False)
ROLES = ("agent", "manager", "admin")


def _html(html: str, tile_url: str, status_code: int = 200) -> HTMLResponse:
    headers = page_headers(html, tile_url) | {"Cache-Control": "no-store"}
    return HTMLResponse(html, status_code=status_code, headers=headers)


@router.get("/agent", response_class=HTMLResponse, summary="The agent page: take a caller's report")
def agent_desk(request: Request, session: ReadSessionDep, settings: SettingsDep) -> Response:
    try:
        signed_in = page_session(request, session, settings, ROLES)
    except Forbidden:
        key_id = read_session_token(settings.session_secret(), request.cookies.get(SESSION_COOKIE))
        principal = principal_for_key_id(session, key_id) if key_id else None
        who = signed_in_as(principal) if principal else "another role"
        home = HOME.get(principal.role) if principal else None
        html = agent_page.forbidden_page(signed_in_as=who, home=home if home != "/agent" else None,
                                         static_prefix=STATIC_PREFIX)
        return _html(html, settings.tile_url, status_code=403)
    if isinstance(signed_in, RedirectResponse):
        return signed_in
    principal, token = signed_in
    area = boundaries.service_area(session)
    html = agent_page.agent_page(
        csrf_token=token, signed_in_as=signed_in_as(principal), bbox=area.get("bbox"),
        tile_url=settings.tile_url, tile_attribution=settings.tile_attribution, static_prefix=STATIC_PREFIX)
    return _html(html, settings.tile_url)

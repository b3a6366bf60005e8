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
from geo311.api.crew_pages import refused, signed_in_as, staff_html
from geo311.api.deps import ReadSessionDep, SettingsDep
from geo311.api.login import WrongRole, page_session
from geo311.map_assets import STATIC_PREFIX

router = APIRouter(tags=["pages"], include_in_schema=False)
ROLES = ("agent", "manager", "admin")


@router.get("/agent", response_class=HTMLResponse, summary="The agent page: take a caller's report")
def agent_desk(request: Request, session: ReadSessionDep, settings: SettingsDep) -> Response:
    try:
        signed_in = page_session(request, session, settings, ROLES)
    except WrongRole as exc:
        who, home = refused(exc, "/agent")
        html = agent_page.forbidden_page(signed_in_as=who, home=home,
                                         static_prefix=STATIC_PREFIX)
        return staff_html(html, settings.tile_url, status_code=403)
    if isinstance(signed_in, RedirectResponse):
        return signed_in
    principal, token = signed_in
    area = boundaries.service_area(session)
    html = agent_page.agent_page(
        csrf_token=token, signed_in_as=signed_in_as(principal), bbox=area.get("bbox"),
        tile_url=settings.tile_url, tile_attribution=settings.tile_attribution, static_prefix=STATIC_PREFIX)
    return staff_html(html, settings.tile_url)

"""The manager page `/manager` (see geo311/manager_page.py and maps/manager.js).

Signed-in managers and admins only (the session cookie of /login): without a session the page
sends the browser to sign in (and back here after); a crew signed in gets a 403 page that says
why. The query string pre-fills the filters (`category`, `status`, `from`, `to`, `layer`, `view`,
`measure`, `interval`; unknown values are dropped), so a view can be bookmarked or shared.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from geo311 import boundaries, categories, manager_page
from geo311.api.crew_pages import refused, signed_in_as, staff_html
from geo311.api.deps import ReadSessionDep, SettingsDep
from geo311.api.login import WrongRole, page_session
from geo311.map_assets import STATIC_PREFIX

router = APIRouter(tags=["pages"], include_in_schema=False)
ROLES = ("manager", "admin")
Text = Annotated[str | None, Query(max_length=100)]
FromDay = Annotated[str | None, Query(alias="from", max_length=100)]


@router.get("/manager", response_class=HTMLResponse, summary="The manager page: heat map, districts, overdue work")
def manager_dashboard(request: Request, session: ReadSessionDep, settings: SettingsDep,
                      category: Text = None, status: Text = None, from_: FromDay = None, to: Text = None, layer: Text = None, view: Text = None, measure: Text = None,
                      interval: Text = None) -> Response:
    try:
        signed_in = page_session(request, session, settings, ROLES)
    except WrongRole as exc:
        who, home = refused(exc, "/manager")
        html = manager_page.forbidden_page(signed_in_as=who, home=home,
                                           static_prefix=STATIC_PREFIX)
        return staff_html(html, settings.tile_url, status_code=403)
    if isinstance(signed_in, RedirectResponse):
        return signed_in
    principal, token = signed_in
    area = boundaries.service_area(session)
    html = manager_page.manager_page(
        csrf_token=token, signed_in_as=signed_in_as(principal),
        categories=categories.list_categories(session),
        layers=boundaries.list_boundaries(session)["layers"], bbox=area.get("bbox"),
        filters={"category": category, "status": status, "from": from_, "to": to, "layer": layer,
                 "view": view, "measure": measure, "interval": interval},
        tile_url=settings.tile_url, tile_attribution=settings.tile_attribution, static_prefix=STATIC_PREFIX)
    return staff_html(html, settings.tile_url)

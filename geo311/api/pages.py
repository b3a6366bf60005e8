"""The map pages as HTML: `/` (the resident map) and `/reports/{id}` (one report, public fields).

Each reply carries a Content-Security-Policy that allows the page's own inline scripts (by hash),
our files under /maps/static/, the API on this server and the tile host, and nothing else.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from geo311 import boundaries, categories, pages, photos, reports
from geo311.api.deps import SessionDep, SettingsDep
from geo311.errors import NotFound
from geo311.map_assets import STATIC_PREFIX, page_headers
from geo311.settings import Settings

router = APIRouter(tags=["pages"], include_in_schema=False)


def tiles(settings: Settings) -> tuple[str, str]:
    """(tile URL template, attribution HTML) from Settings."""
    return settings.tile_url, settings.tile_attribution


def html_page(html: str, tile_url: str, status_code: int = 200) -> HTMLResponse:
    headers = page_headers(html, tile_url) | {"Cache-Control": "no-cache"}
    return HTMLResponse(html, status_code=status_code, headers=headers)


@router.get("/", response_class=HTMLResponse, summary="The resident map: drop a pin, report a problem")
def resident_map(session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    tile_url, attribution = tiles(settings)
    html = pages.resident_page(
        categories=categories.list_categories(session, active_only=True),
        service_area=boundaries.service_area(session),
        tile_url=tile_url, tile_attribution=attribution, static_prefix=STATIC_PREFIX,
        photo_max_bytes=settings.photo_max_bytes, photo_max_request_bytes=settings.photo_max_request_bytes,
        photo_max_count=photos.MAX_PHOTOS,
    )
    return html_page(html, tile_url)


@router.get("/reports/{report_id}", response_class=HTMLResponse, summary="One report, as a page")
def report_detail(report_id: str, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    tile_url, attribution = tiles(settings)
    try:
        if not report_id.isascii() or not report_id.isdigit():
            raise NotFound(f"There is no report {report_id!r}: report numbers are whole numbers.")
        feature = reports.get_report_feature(session, int(report_id))
    except NotFound as exc:
        html = pages.message_page("Report not found", exc.message, static_prefix=STATIC_PREFIX)
        return html_page(html, tile_url, status_code=404)
    events = reports.report_events(session, int(report_id))
    titles = {layer["key"]: layer["title"] for layer in boundaries.list_boundaries(session)["layers"]
              if layer.get("title")}
    html = pages.report_page(feature, events, tile_url=tile_url, tile_attribution=attribution,
                             static_prefix=STATIC_PREFIX, layer_titles=titles)
    return html_page(html, tile_url)

"""The map pages as HTML: `/` (the resident map) and `/reports/{id}` (one report, public fields).

Each reply carries a Content-Security-Policy that allows the page's own inline scripts (by hash),
our files under /maps/static/, the API on this server and the tile host, and nothing else.

Language: `?lang=` (the page's picker sends it, and it is remembered in a cookie), else that
cookie, else Accept-Language, else English; see geo311.i18n.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from geo311 import boundaries, categories, i18n, pages, photos, reports
from geo311.api.deps import ReadSessionDep, SettingsDep
from geo311.errors import NotFound
from geo311.map_assets import STATIC_PREFIX, page_headers
from geo311.settings import Settings

router = APIRouter(tags=["pages"], include_in_schema=False)

COOKIE_MAX_AGE = 365 * 24 * 3600


def tiles(settings: Settings) -> tuple[str, str]:
    """(tile URL template, attribution HTML) from Settings."""
    return settings.tile_url, settings.tile_attribution


def language(request: Request) -> str:
    return i18n.pick(request.query_params, request.cookies, request.headers)


def html_page(html: str, tile_url: str, status_code: int = 200, *, request: Request | None = None,
              lang: str = i18n.DEFAULT) -> HTMLResponse:
    headers = page_headers(html, tile_url) | {"Cache-Control": "no-cache", "Vary": "Accept-Language, Cookie",
                                              "Content-Language": i18n.LANGUAGES[lang].tag}
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    chosen = i18n.match(request.query_params.get("lang")) if request is not None else None
    if chosen and request is not None and request.cookies.get(i18n.COOKIE) != chosen:
        # the picker's choice holds for the next pages (a preference, not a tracker)
        response.set_cookie(i18n.COOKIE, chosen, max_age=COOKIE_MAX_AGE, path="/", samesite="lax",
                            httponly=True, secure=request.url.scheme == "https")
    return response


@router.get("/", response_class=HTMLResponse, summary="The resident map: drop a pin, report a problem")
def resident_map(request: Request, session: ReadSessionDep, settings: SettingsDep) -> HTMLResponse:
    tile_url, attribution = tiles(settings)
    lang = language(request)
    html = pages.resident_page(
        categories=categories.list_categories(session, active_only=True),
        service_area=boundaries.service_area(session),
        tile_url=tile_url, tile_attribution=attribution, static_prefix=STATIC_PREFIX,
        photo_max_bytes=settings.photo_max_bytes, photo_max_request_bytes=settings.photo_max_request_bytes,
        photo_max_count=photos.MAX_PHOTOS, lang=lang,
    )
    return html_page(html, tile_url, request=request, lang=lang)


@router.get("/reports/{report_id}", response_class=HTMLResponse, summary="One report, as a page")
def report_detail(report_id: str, request: Request, session: ReadSessionDep, settings: SettingsDep) -> HTMLResponse:
    tile_url, attribution = tiles(settings)
    lang = language(request)
    tr = i18n.Translator(lang)

    def not_found(message: str) -> HTMLResponse:
        html = pages.message_page(tr.gettext("Report not found"), message, static_prefix=STATIC_PREFIX, lang=lang,
                                  action=request.url.path)
        return html_page(html, tile_url, status_code=404, request=request, lang=lang)

    if not (report_id.isascii() and report_id.isdigit()):
        return not_found(tr.gettext("There is no report {id}: report numbers are whole numbers.", id=repr(report_id)))
    try:
        feature = reports.get_report_feature(session, int(report_id))
    except NotFound:
        return not_found(tr.gettext("There is no report {id}.", id=report_id))
    events = reports.report_events(session, int(report_id))
    titles = {layer["key"]: layer["title"] for layer in boundaries.list_boundaries(session)["layers"]
              if layer.get("title")}
    html = pages.report_page(feature, events, tile_url=tile_url, tile_attribution=attribution,
                             static_prefix=STATIC_PREFIX, layer_titles=titles, lang=lang)
    return html_page(html, tile_url, request=request, lang=lang)

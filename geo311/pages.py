"""Folium page builders: pure functions from data to HTML (no database, no HTTP).

GeoJSON is [lon, lat]; folium wants [lat, lon]: the conversion happens here and nowhere else.
All text that comes from data (descriptions, addresses, category and district names, notes) is
escaped by Jinja's autoescape in the server-built HTML, and embedded JSON goes through
map_assets.script_json(); the browser side (maps/resident.js) builds popups with textContent.

Every builder takes `lang` (an i18n code): the page's text, the category texts, dates and numbers
are in that language, <html> carries its lang and dir, and a language picker sits on the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import folium
import jinja2
from folium.plugins import MarkerCluster
from markupsafe import Markup

from geo311 import i18n, page_templates
from geo311.map_assets import (
    MAPS_DIR,
    STATIC_PREFIX,
    add_body,
    finish,
    local_figure,
    script_json,
    zoom_control,
)

DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_TILE_ATTRIBUTION = ('&copy; <a href="https://www.openstreetmap.org/copyright">'
                            "OpenStreetMap</a> contributors")
PUBLIC_ATTRIBUTE_KEYS = ("code", "description", "datatype", "required", "values")

_env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)


@lru_cache
def _template(name: str) -> jinja2.Template:
    return _env.from_string(getattr(page_templates, name))


def lat_lon(coordinates: Sequence[float]) -> list[float]:
    """GeoJSON [lon, lat(, z)] -> folium [lat, lon]."""
    lon, lat = float(coordinates[0]), float(coordinates[1])
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"not a lon/lat position: {list(coordinates)!r}")
    return [lat, lon]


def bbox_bounds(bbox: Sequence[float]) -> list[list[float]]:
    """GeoJSON bbox [minlon, minlat, maxlon, maxlat] -> folium bounds [[minlat, minlon], [maxlat, maxlon]]."""
    minlon, minlat, maxlon, maxlat = (float(v) for v in bbox)
    return [lat_lon([minlon, minlat]), lat_lon([maxlon, maxlat])]


def public_category(c: Mapping[str, Any], tr: i18n.Translator | None = None) -> dict[str, Any]:
    """What the page may show of a category (no routes, keywords or internal settings), its texts
    in the reader's language."""
    tr = tr or i18n.Translator()
    return {
        "code": c["code"], "name": tr.category_text(c["name"]),
        "description": tr.category_text(c.get("description") or ""),
        "group": tr.category_text(c.get("group")) or None, "dedup_radius_m": c.get("dedup_radius_m"),
        "attributes": [translate_attribute({k: a.get(k) for k in PUBLIC_ATTRIBUTE_KEYS if k in a}, tr)
                       for a in (c.get("attributes") or [])],
    }


def translate_attribute(a: dict[str, Any], tr: i18n.Translator) -> dict[str, Any]:
    """An attribute definition with its question and its answers' names in the reader's language."""
    out = dict(a)
    if out.get("description"):
        out["description"] = tr.category_text(out["description"])
    if out.get("values"):
        out["values"] = [dict(v, name=tr.category_text(v.get("name"))) for v in out["values"]]
    return out


def status_label(status: Any, tr: i18n.Translator) -> str:
    """A report status (or event kind, or the intake's own notes) as words in the reader's language."""
    _ = tr.gettext
    labels = {
        "open": _("open"), "assigned": _("assigned"), "in_progress": _("in progress"),
        "resolved": _("resolved"), "duplicate": _("duplicate"), "not_actionable": _("not actionable"),
        "created": _("created"), "merged": _("merged"), "status": _("status"), "note": _("note"),
        "reported": _("reported"), "another submission joined": _("another submission joined"),
    }
    return labels.get(str(status or ""), _words(status))


def language_picker(tr: i18n.Translator, action: str) -> Markup:
    """The visible, labelled language choice (a GET form: it works without script)."""
    return Markup(_template("LANGUAGE_PICKER").render(
        _=tr.gettext, action=action, code=tr.code, languages=list(i18n.LANGUAGES.values())))


@lru_cache
def script_msgids() -> tuple[str, ...]:
    """The msgids resident.js asks for (its `_("...")` calls), for the page's message table."""
    from geo311.i18n_extract import javascript_messages

    return tuple(javascript_messages(MAPS_DIR / "resident.js"))


def _category_groups(categories: Sequence[Mapping[str, Any]]) -> list[tuple[str | None, list]]:
    groups: dict[str | None, list] = {}
    for c in categories:
        groups.setdefault(c.get("group") or None, []).append(c)
    return list(groups.items())


def _outline_style(feature: dict) -> dict:
    kind = (feature.get("properties") or {}).get("kind")
    if kind == "city":
        return {"color": "#1d4ed8", "weight": 3, "fill": False}
    return {"color": "#475569", "weight": 2, "dashArray": "6 4", "fill": False}


def resident_page(
    *,
    categories: Sequence[Mapping[str, Any]],
    service_area: Mapping[str, Any] | None = None,
    tile_url: str = DEFAULT_TILE_URL,
    tile_attribution: str = DEFAULT_TILE_ATTRIBUTION,
    center: Sequence[float] | None = None,
    zoom: int = 12,
    static_prefix: str = STATIC_PREFIX,
    api_base: str = "/api/v1",
    nearby_radius_m: float = 250,
    photo_max_bytes: int = 10 * 1024 * 1024,
    photo_max_request_bytes: int = 25 * 1024 * 1024,
    photo_max_count: int = 3,
    lang: str = i18n.DEFAULT,
) -> str:
    """The resident map `/`: the service area's outline, open reports clustered (loaded by
    resident.js for the visible area), and the report form with its no-pointer paths (an address
    search, coordinates, a district's centre, a photo's location) and its photos.

    `service_area` is boundaries.service_area(): {"bbox": [minlon, minlat, maxlon, maxlat],
    "outline": FeatureCollection}; `center` is [lon, lat] (default: the bbox's centre). The photo
    limits are Settings.photo_max_bytes and photo_max_request_bytes and photos.MAX_PHOTOS: the page
    checks them before sending (the server checks them again). The address search places the pin
    without asking by intake's rule (geocoding.clear_best), which the config carries."""
    from geo311 import geocoding  # the thresholds of clear_best

    tr = i18n.Translator(lang)
    _ = tr.gettext

    def megabytes(n: int) -> str:  # as the server's messages count them: MB of 1,048,576 bytes
        return _("{n} MB", n=tr.number(n / 1048576))

    area = service_area or {}
    bbox = area.get("bbox")
    if center is None and bbox:
        center = [(bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2]
    location = lat_lon(center) if center else [0.0, 0.0]
    m = local_figure(title=_("Report a problem") + " · geo311", location=location,
                     zoom=zoom if center else 2, tile_url=tile_url,
                     tile_attribution=tile_attribution, control_scale=True, zoom_control=False)
    zoom_control(m, _("Zoom in"), _("Zoom out"))
    outline = area.get("outline")
    if outline and outline.get("features"):
        folium.GeoJson(outline, name="Service area", style_function=_outline_style,
                       interactive=False, control=False).add_to(m)
    cluster = MarkerCluster(name="Open reports", control=False, options={
        "chunkedLoading": True, "showCoverageOnHover": False, "maxClusterRadius": 60,
        "spiderfyOnMaxZoom": True, "removeOutsideVisibleBounds": True,
    }).add_to(m)
    if bbox:
        m.fit_bounds(bbox_bounds(bbox))
    public = [public_category(c, tr) for c in categories]
    photos = {"max_count": int(photo_max_count), "max_bytes": int(photo_max_bytes),
              "max_request_bytes": int(photo_max_request_bytes)}
    config = {
        "map": m.get_name(), "reports": cluster.get_name(), "api": api_base.rstrip("/"),
        "report_url": "/reports/", "nearby_radius_m": nearby_radius_m, "categories": public,
        "photos": photos, "lang": tr.code, "lang_tag": tr.tag, "dir": tr.dir,
        "messages": tr.messages(script_msgids()),
        "geocode": {"clear_score": geocoding.CLEAR_SCORE, "clear_margin": geocoding.CLEAR_MARGIN,
                    "lone_score": geocoding.LONE_SCORE, "lone_margin": geocoding.LONE_MARGIN, "limit": 5},
    }
    add_body(m, "geo311_panel", _template("RESIDENT_PANEL").render(
        _=_, picker=language_picker(tr, "/"),
        groups=_category_groups(public), config_json=script_json(config),
        photos={**photos, "max_mb": megabytes(photo_max_bytes), "max_request_mb": megabytes(photo_max_request_bytes)}))
    return finish(m, static_prefix, css=["geo311.css"], js=["resident.js"], body_class="g311-resident",
                  lang=tr.tag, direction=tr.dir)


def _when(value: Any, tr: i18n.Translator | None = None) -> tuple[str, str]:
    """(machine ISO 8601, the date and time as the reader's locale writes them) from a datetime or
    an ISO string."""
    if value is None or value == "":
        return "", ""
    dt = value if isinstance(value, datetime) else None
    if dt is None:
        try:
            dt = datetime.fromisoformat(str(value))
        except ValueError:
            return "", str(value)
    return dt.isoformat(), (tr or i18n.Translator()).datetime(dt)


def _words(code: Any) -> str:
    return str(code or "").replace("_", " ")


def public_photos(photos: Any) -> list[dict[str, Any]]:
    """A report's photos as the page shows them: only our own public URLs (/photos/...), with sizes."""
    out = []
    for ph in photos or ():
        url, thumb = str(ph.get("url") or ""), str(ph.get("thumbnail_url") or "")
        if url.startswith("/photos/") and thumb.startswith("/photos/"):
            out.append({"url": url, "thumbnail_url": thumb, "width": ph.get("thumbnail_width"),
                        "height": ph.get("thumbnail_height")})
    return out


def report_page(
    feature: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    *,
    tile_url: str = DEFAULT_TILE_URL,
    tile_attribution: str = DEFAULT_TILE_ATTRIBUTION,
    static_prefix: str = STATIC_PREFIX,
    zoom: int = 17,
    layer_titles: Mapping[str, str] | None = None,
    lang: str = i18n.DEFAULT,
) -> str:
    """`/reports/{id}`: status, category, agency, districts and history of one report, with a
    small map. Only public fields are shown (no reporter's name or contact); the map only repeats
    the location the page gives as text."""
    tr = i18n.Translator(lang)
    _ = tr.gettext
    p = dict(feature.get("properties") or {})
    geometry = feature.get("geometry") or {}
    location = lat_lon(geometry["coordinates"]) if geometry.get("type") == "Point" else None
    category = tr.category_text(p.get("category_name")) or p.get("category") or _("Report")
    m = local_figure(title=_("Report {id}: {category}", id=p.get("id"), category=category) + " · geo311",
                     location=location or [0.0, 0.0], zoom=zoom if location else 2,
                     tile_url=tile_url, tile_attribution=tile_attribution, height=320,
                     scroll_wheel_zoom=False, zoom_control=False)
    zoom_control(m, _("Zoom in"), _("Zoom out"), _("Map of the report's location"))
    if location:
        folium.Marker(location, alt=_("Report location"), keyboard=False).add_to(m)
    titles = {k: tr.lookup(v, i18n.LAYER_CONTEXT) for k, v in (layer_titles or {}).items()}
    districts = [(titles.get(k) or _words(k).capitalize(), list(v) if isinstance(v, list | tuple) else [v])
                 for k, v in (p.get("districts") or {}).items()]
    history = [{"when": _when(e.get("at"), tr), "kind": status_label(e.get("kind"), tr),
                "from": status_label(e.get("from_status"), tr), "to": status_label(e.get("to_status"), tr),
                "note": status_label(e.get("note"), tr) if e.get("note") in ("reported", "another submission joined")
                else e.get("note") or ""} for e in events]
    submissions = tr.number(p["submission_count"], 0) if p.get("submission_count") else ""
    add_body(m, "geo311_report", _template("REPORT_BODY").render(
        _=_, picker=language_picker(tr, f"/reports/{p.get('id')}"),
        p=p, category=category, status=status_label(p.get("status"), tr), districts=districts,
        created=_when(p.get("created_at"), tr), updated=_when(p.get("updated_at"), tr), history=history,
        location=location, photos=public_photos(p.get("photos")), submissions=submissions))
    return finish(m, static_prefix, css=["geo311.css"], body_class="g311-report-page", also_from=["/photos/"],
                  lang=tr.tag, direction=tr.dir)


def message_page(title: str, message: str, *, static_prefix: str = STATIC_PREFIX,
                 lang: str = i18n.DEFAULT, action: str = "/") -> str:
    """A plain page (no map, no script) for a missing report or another error shown to a person.
    `title` and `message` are already in the reader's language."""
    tr = i18n.Translator(lang)
    return _template("PLAIN_PAGE").render(title=title, message=message, _=tr.gettext, tag=tr.tag, dir=tr.dir,
                                          picker=language_picker(tr, action),
                                          css=f"{static_prefix.rstrip('/')}/geo311.css")

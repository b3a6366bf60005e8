"""Folium page builders: pure functions from data to HTML (no database, no HTTP).

GeoJSON is [lon, lat]; folium wants [lat, lon]: the conversion happens here and nowhere else.
All text that comes from data (descriptions, addresses, category and district names, notes) is
escaped by Jinja's autoescape in the server-built HTML, and embedded JSON goes through
map_assets.script_json(); the browser side (maps/resident.js) builds popups with textContent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import folium
import jinja2
from folium.plugins import MarkerCluster

from geo311 import page_templates
from geo311.map_assets import (
    STATIC_PREFIX,
    add_body,
    finish,
    local_figure,
    script_json,
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


def public_category(c: Mapping[str, Any]) -> dict[str, Any]:
    """What the page may show of a category (no routes, keywords or internal settings)."""
    return {
        "code": c["code"], "name": c["name"], "description": c.get("description") or "",
        "group": c.get("group"), "dedup_radius_m": c.get("dedup_radius_m"),
        "attributes": [{k: a.get(k) for k in PUBLIC_ATTRIBUTE_KEYS if k in a}
                       for a in (c.get("attributes") or [])],
    }


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

    def megabytes(n: int) -> str:  # as the server's messages count them: MB of 1,048,576 bytes
        return f"{n / 1048576:.1f}".removesuffix(".0") + " MB"

    area = service_area or {}
    bbox = area.get("bbox")
    if center is None and bbox:
        center = [(bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2]
    location = lat_lon(center) if center else [0.0, 0.0]
    m = local_figure(title="Report a problem · geo311", location=location,
                     zoom=zoom if center else 2, tile_url=tile_url,
                     tile_attribution=tile_attribution, control_scale=True)
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
    public = [public_category(c) for c in categories]
    photos = {"max_count": int(photo_max_count), "max_bytes": int(photo_max_bytes),
              "max_request_bytes": int(photo_max_request_bytes)}
    config = {
        "map": m.get_name(), "reports": cluster.get_name(), "api": api_base.rstrip("/"),
        "report_url": "/reports/", "nearby_radius_m": nearby_radius_m, "categories": public,
        "photos": photos,
        "geocode": {"clear_score": geocoding.CLEAR_SCORE, "clear_margin": geocoding.CLEAR_MARGIN,
                    "lone_score": geocoding.LONE_SCORE, "lone_margin": geocoding.LONE_MARGIN, "limit": 5},
    }
    add_body(m, "geo311_panel", _template("RESIDENT_PANEL").render(
        groups=_category_groups(public), config_json=script_json(config),
        photos={**photos, "max_mb": megabytes(photo_max_bytes), "max_request_mb": megabytes(photo_max_request_bytes)}))
    return finish(m, static_prefix, css=["geo311.css"], js=["resident.js"], body_class="g311-resident")


def _when(value: Any) -> tuple[str, str]:
    """(machine ISO 8601, human 'YYYY-MM-DD HH:MM UTC±hh:mm') from a datetime or an ISO string."""
    if value is None or value == "":
        return "", ""
    dt = value if isinstance(value, datetime) else None
    if dt is None:
        try:
            dt = datetime.fromisoformat(str(value))
        except ValueError:
            return "", str(value)
    human = dt.strftime("%Y-%m-%d %H:%M")
    if dt.tzinfo is not None:
        offset = dt.strftime("%z")
        human += " UTC" if offset in ("+0000", "-0000") else f" UTC{offset[:3]}:{offset[3:]}"
    return dt.isoformat(), human


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
) -> str:
    """`/reports/{id}`: status, category, agency, districts and history of one report, with a
    small map. Only public fields are shown (no reporter's name or contact)."""
    p = dict(feature.get("properties") or {})
    geometry = feature.get("geometry") or {}
    location = lat_lon(geometry["coordinates"]) if geometry.get("type") == "Point" else None
    category = p.get("category_name") or p.get("category") or "Report"
    m = local_figure(title=f"Report {p.get('id')}: {category} · geo311",
                     location=location or [0.0, 0.0], zoom=zoom if location else 2,
                     tile_url=tile_url, tile_attribution=tile_attribution, height=320,
                     scroll_wheel_zoom=False)
    if location:
        folium.Marker(location, alt="Report location", keyboard=False).add_to(m)
    titles = dict(layer_titles or {})
    districts = [(titles.get(k) or _words(k).capitalize(), list(v) if isinstance(v, list | tuple) else [v])
                 for k, v in (p.get("districts") or {}).items()]
    history = [{"when": _when(e.get("at")), "kind": _words(e.get("kind")),
                "from": _words(e.get("from_status")), "to": _words(e.get("to_status")),
                "note": e.get("note") or ""} for e in events]
    add_body(m, "geo311_report", _template("REPORT_BODY").render(
        p=p, category=category, status=_words(p.get("status")), districts=districts,
        created=_when(p.get("created_at")), updated=_when(p.get("updated_at")), history=history,
        location=location, photos=public_photos(p.get("photos"))))
    return finish(m, static_prefix, css=["geo311.css"], body_class="g311-report-page", also_from=["/photos/"])


def message_page(title: str, message: str, *, static_prefix: str = STATIC_PREFIX) -> str:
    """A plain page (no map, no script) for a missing report or another error shown to a person."""
    return _template("PLAIN_PAGE").render(title=title, message=message,
                                          css=f"{static_prefix.rstrip('/')}/geo311.css")

"""The map pages: pure builders (geo311.pages) and their router, without a database.

The router tests stub the domain functions they call (reports, service_area) so that they run
before and after those exist; no test here touches PostGIS.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
import sys
import types
from contextlib import nullcontext
from urllib.parse import urlsplit

import folium
import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient

import geo311
from geo311 import map_assets, pages
from geo311.errors import NotFound
from geo311.settings import Settings
from tests.html_tags import Tags

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "</script><script>alert(1)</script>"
TILE = "https://tile.example.org/{z}/{x}/{y}.png"

CATEGORIES = [
    {"code": "campsite", "name": f"Campsite {SCRIPT}", "description": f"Tents {IMG}",
     "group": f"Homeless {IMG}", "keywords": ["tent"], "dedup_radius_m": 75.0,
     "dedup_window_days": 14.0, "priority": 3, "target_days": 5, "active": True,
     "routes": [{"jurisdiction": "City of Portland", "agency": "Secret Agency"}],
     "attributes": [{"code": "tents", "description": f"How many {IMG}", "datatype": "number",
                     "required": False, "variable": True, "order": 1, "values": []}]},
    {"code": "pothole", "name": "Pothole", "description": "", "group": None, "keywords": [],
     "dedup_radius_m": 20.0, "attributes": [], "routes": []},
]
AREA = {
    "bbox": [-122.84, 45.43, -122.47, 45.65],
    "outline": {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": f"City {SCRIPT}", "kind": "city"},
         "geometry": {"type": "Polygon", "coordinates": [
             [[-122.8, 45.45], [-122.5, 45.45], [-122.5, 45.62], [-122.8, 45.62], [-122.8, 45.45]]]}}]},
}
FEATURE = {
    "type": "Feature", "geometry": {"type": "Point", "coordinates": [-122.6543, 45.5123]},
    "properties": {
        "id": 12, "category": "campsite", "category_name": f"Campsite {SCRIPT}", "status": "in_progress",
        "priority": 3, "jurisdiction": "City of Portland", "agency": f"Impact Reduction {IMG}",
        "districts": {"neighborhood": [f"Buckman {IMG}"], "council_district": ["District 3"]},
        "submission_count": 3, "near_boundary": True, "description": f"{IMG} and {SCRIPT}",
        "address": f"SE 12th & Main {IMG}", "created_at": "2025-05-01T10:00:00+00:00",
        "updated_at": "2025-05-02T11:30:00-07:00",
        "reporter": {"name": "Jo Private", "email": "jo@example.org"},
    },
}
EVENTS = [
    {"at": "2025-05-01T10:00:00+00:00", "kind": "created", "from_status": None, "to_status": "open", "note": None},
    {"at": "2025-05-02T11:30:00-07:00", "kind": "status", "from_status": "open",
     "to_status": "in_progress", "note": f"crew {SCRIPT}"},
]


def resident(**kw) -> str:
    return pages.resident_page(categories=CATEGORIES, service_area=AREA, tile_url=TILE,
                               tile_attribution='&copy; <a href="https://attr.example.org/c">Tiles</a>', **kw)


def report(**kw) -> str:
    return pages.report_page(FEATURE, EVENTS, tile_url=TILE, tile_attribution="Tiles", **kw)


def config_of(html: str) -> dict:
    (attrs, text), = [s for s in Tags(html).scripts if s[0].get("id") == "geo311-config"]
    assert attrs.get("type") == "application/json"
    return json.loads(text)


@pytest.mark.parametrize("build", [resident, report])
def test_pages_load_assets_only_from_static_prefix(build):
    html = build()
    urls = map_assets.loaded_urls(html)
    assert urls and all(u.startswith("/maps/static/") for u in urls), urls
    for url in urls:
        assert (map_assets.MAPS_DIR / url.removeprefix("/maps/static/")).is_file(), url
    for bad in ("cdn", "jquery", "bootstrap", "awesome", "fontawesome", "cloudflare"):
        assert bad not in html.lower()


@pytest.mark.parametrize("build", [resident, report])
def test_no_host_but_the_tile_host_and_attribution_links(build):
    html = build()
    hosts = {urlsplit(u).hostname for u in re.findall(r"https?://[^\s\"'<>\\]+", html)}
    assert hosts <= {"tile.example.org", "attr.example.org"}, hosts
    assert "tile.example.org" in hosts


def test_static_prefix_is_configurable():
    html = resident(static_prefix="/assets/")
    assert all(u.startswith("/assets/") for u in map_assets.loaded_urls(html))
    assert '/assets/resident.js' in html and '/assets/geo311.css' in html


def test_folium_class_defaults_are_left_alone():
    before = list(folium.Map.default_js)
    resident()
    assert folium.Map.default_js == before


def test_unvendored_plugin_is_refused():
    m = map_assets.local_figure(title="t", location=[45.5, -122.6], zoom=12, tile_url=TILE,
                                tile_attribution="")
    folium.plugins.Fullscreen().add_to(m)
    with pytest.raises(ValueError, match="does not vendor"):
        map_assets.finish(m, "/maps/static/")


def test_heatmap_uses_the_vendored_plugin():
    m = map_assets.local_figure(title="t", location=[45.5, -122.6], zoom=12, tile_url=TILE,
                                tile_attribution="")
    folium.plugins.HeatMap([[45.5, -122.6, 1.0]]).add_to(m)
    html = map_assets.finish(m, "/maps/static/")
    assert "/maps/static/vendor/leaflet.heat-0.2.0/leaflet-heat.js" in map_assets.loaded_urls(html)


@pytest.mark.parametrize("build", [resident, report])
def test_user_text_cannot_become_markup(build, monkeypatch):
    html = build()
    assert IMG not in html and SCRIPT not in html
    parsed = Tags(html)
    assert not [a for _, a in parsed.tags if any(k.startswith("on") for k in a)]
    # the same page from harmless text has exactly the same elements: nothing was injected
    harmless = json.loads(json.dumps([CATEGORIES, AREA, FEATURE, EVENTS]).replace(
        json.dumps(IMG)[1:-1], "img").replace(json.dumps(SCRIPT)[1:-1], "script"))
    for name, value in zip(("CATEGORIES", "AREA", "FEATURE", "EVENTS"), harmless, strict=True):
        monkeypatch.setitem(globals(), name, value)
    assert [t for t, _ in Tags(build()).tags] == [t for t, _ in parsed.tags]


def test_resident_scripts_are_exactly_ours():
    scripts = Tags(resident()).scripts
    srcs = [a.get("src") for a, _ in scripts if a.get("src")]
    assert srcs == ["/maps/static/vendor/leaflet-1.9.4/leaflet.js",
                    "/maps/static/vendor/leaflet.markercluster-1.5.3/leaflet.markercluster.js",
                    "/maps/static/resident.js"]
    inline = [a for a, t in scripts if not a.get("src")]
    # folium's switches, our JSON config, and the map script: nothing injected
    assert len(inline) == 3


def test_resident_text_is_shown_as_text():
    html = resident()
    assert "Campsite &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'label="Homeless &lt;img src=x onerror=alert(1)&gt;"' in html


def test_resident_config_round_trips_and_is_public():
    cfg = config_of(resident())
    assert cfg["api"] == "/api/v1" and cfg["report_url"] == "/reports/"
    assert cfg["map"].startswith("map_") and cfg["reports"].startswith("marker_cluster_")
    camp = cfg["categories"][0]
    assert camp["name"] == f"Campsite {SCRIPT}"
    assert camp["attributes"][0] == {"code": "tents", "description": f"How many {IMG}",
                                     "datatype": "number", "required": False, "values": []}
    assert "routes" not in camp and "keywords" not in camp
    assert "Secret Agency" not in resident()


def test_resident_map_uses_lat_lon_order_and_the_service_area():
    html = resident()
    assert "center: [45.54, -122.655]" in html
    assert "[[45.43, -122.84], [45.65, -122.47]]" in html    # fitBounds of the bbox
    assert '"https://tile.example.org/{z}/{x}/{y}.png"' in html
    assert "L.markerClusterGroup(" in html and '"chunkedLoading": true' in html
    assert '"interactive": false' in html                     # the outline lets clicks through


def test_resident_without_service_area_still_renders():
    html = pages.resident_page(categories=[], service_area={"bbox": None, "outline": None})
    assert "center: [0.0, 0.0]" in html and "tile.openstreetmap.org" in html


def test_pages_are_accessible_documents():
    for html in (resident(), report()):
        assert '<html lang="en" dir="ltr">' in html
        assert "user-scalable=no" not in html and "maximum-scale" not in html
        assert "<title>" in html
    html = resident()
    for field in ("g311-lat", "g311-lon", "g311-category", "g311-description", "g311-layer",
                  "g311-district", "g311-name", "g311-email", "g311-phone", "g311-search", "g311-photos",
                  "g311-address"):
        assert f'<label for="{field}">' in html, field
    assert 'role="status"' in html and 'id="g311-submit" disabled' in html


def _by_id(html: str) -> dict[str, tuple[str, dict]]:
    return {a["id"]: (t, a) for t, a in Tags(html).tags if a.get("id")}


def _label_text(html: str, for_id: str) -> str:
    m = re.search(rf'<label for="{for_id}">(.*?)</label>', html, re.S)
    assert m, for_id
    return re.sub(r"<[^>]+>", "", m.group(1)).strip()


def test_resident_ids_used_by_the_script_are_on_the_page():
    """RESIDENT_PANEL's element ids are the contract with resident.js: every $("id") it uses exists."""
    script = (map_assets.MAPS_DIR / "resident.js").read_text(encoding="utf-8")
    used = set(re.findall(r'\$\("([a-z0-9-]+)"\)', script))
    assert {"g311-search", "g311-search-go", "g311-candidates", "g311-nearest", "g311-photos",
            "g311-photo-list", "g311-photos-status"} <= used
    ids = _by_id(resident())
    assert used - set(ids) == set()
    assert {f"g311-{k}" for k in ("name", "email", "phone")} <= set(ids)   # $("g311-" + k)


def test_resident_address_search_is_labelled_and_keyboard_ready():
    html = resident()
    ids = _by_id(html)
    assert _label_text(html, "g311-search") == "Find an address"
    tag, search = ids["g311-search"]
    assert tag == "input" and search["type"] == "search" and search["aria-describedby"] == "g311-search-status"
    assert ids["g311-search-go"][1]["type"] == "button"          # not a submit: Enter searches, never sends
    assert ids["g311-search-status"][1]["role"] == "status"
    assert ids["g311-candidates"][0] == "ul" and "hidden" in ids["g311-candidates"][1]
    assert "hidden" in ids["g311-nearest"][1]
    # the search sits in "Where", before the coordinates
    assert html.index('id="g311-where"') < html.index('id="g311-search"') < html.index('id="g311-lat"')


def test_resident_photo_input_is_labelled_and_takes_the_photo_types():
    html = resident()
    ids = _by_id(html)
    tag, photos = ids["g311-photos"]
    assert tag == "input" and photos["type"] == "file" and "multiple" in photos
    assert photos["accept"] == "image/jpeg,image/png,image/webp,image/heic,image/heif,.heic,.heif"
    assert _label_text(html, "g311-photos") == "Add photos"
    assert photos["aria-describedby"] == "g311-photos-help"
    help_text = re.search(r'id="g311-photos-help"[^>]*>(.*?)</p>', html, re.S).group(1)
    assert "up to 3 photos" in help_text and "10 MB each and 25 MB together" in " ".join(help_text.split())
    assert ids["g311-photos-status"][1]["role"] == "status"
    assert ids["g311-photo-list"][0] == "ul"
    # the photos are part of the form, before "Is it one of these?" and the sender's details
    assert html.index('id="g311-what"') < html.index('id="g311-photos"') < html.index('id="g311-nearby"')


def test_resident_config_carries_the_photo_limits_and_the_geocoding_rule():
    from geo311 import geocoding, photos

    cfg = config_of(resident())
    assert cfg["photos"] == {"max_count": photos.MAX_PHOTOS, "max_bytes": 10 * 1024 * 1024,
                             "max_request_bytes": 25 * 1024 * 1024}
    assert cfg["geocode"] == {"clear_score": geocoding.CLEAR_SCORE, "clear_margin": geocoding.CLEAR_MARGIN,
                              "lone_score": geocoding.LONE_SCORE, "lone_margin": geocoding.LONE_MARGIN, "limit": 5}
    html = resident(photo_max_bytes=2 * 1024 * 1024 + 512 * 1024, photo_max_request_bytes=6 * 1024 * 1024,
                    photo_max_count=2)
    assert config_of(html)["photos"] == {"max_count": 2, "max_bytes": 2621440, "max_request_bytes": 6291456}
    assert "up to 2 photos, 2.5 MB each and 6 MB together" in " ".join(html.split())


def test_report_page_shows_public_fields():
    html = report(layer_titles={"neighborhood": "Neighborhoods"})
    assert "Report 12: Campsite &lt;/script&gt;" in html
    assert "in progress" in html and "Impact Reduction &lt;img" in html
    assert "<dt>Neighborhoods</dt><dd>Buckman &lt;img src=x onerror=alert(1)&gt;</dd>" in html
    assert "<dt>Council district</dt><dd>District 3</dd>" in html
    assert "open → in progress" in html and "crew &lt;/script&gt;" in html
    assert '<time datetime="2025-05-02T11:30:00-07:00">May 2, 2025, 11:30\u202fAM (GMT-07:00)</time>' in html
    assert "SE 12th &amp; Main" in html
    assert "Jo Private" not in html and "jo@example.org" not in html
    assert "[45.5123, -122.6543]" in html                     # the marker, [lat, lon]


def test_report_page_with_few_fields():
    html = pages.report_page({"type": "Feature", "geometry": None, "properties": {"id": 3}}, [])
    assert "Report 3: Report" in html and "No changes yet." in html
    assert "center: [0.0, 0.0]" in html and "L.marker(" not in html


def test_report_page_has_no_page_script_of_ours():
    srcs = [a.get("src") for a, _ in Tags(report()).scripts if a.get("src")]
    assert srcs == ["/maps/static/vendor/leaflet-1.9.4/leaflet.js"]


def test_message_page_escapes():
    html = pages.message_page("Report not found", f"No report {IMG}")
    assert IMG not in html and "No report &lt;img" in html
    assert map_assets.loaded_urls(html) == ["/maps/static/geo311.css"]


def test_lat_lon_checks_ranges():
    assert pages.lat_lon([-122.5, 45.5, 12.0]) == [45.5, -122.5]
    with pytest.raises(ValueError):
        pages.lat_lon([45.5, -122.5 - 100])
    assert pages.bbox_bounds([1, 2, 3, 4]) == [[2.0, 1.0], [4.0, 3.0]]


def test_script_json_cannot_close_the_script():
    out = map_assets.script_json({"a": SCRIPT + "&<!--\u2028"})
    assert "<" not in out and ">" not in out and "&" not in out and "\u2028" not in out
    assert json.loads(out) == {"a": SCRIPT + "&<!--\u2028"}


def test_csp_hashes_every_inline_script():
    html = resident()
    csp = map_assets.content_security_policy(html, TILE)
    script_src = re.search(r"script-src ([^;]+)", csp).group(1).split()
    assert "'unsafe-inline'" not in script_src and "'self'" in script_src
    for attrs, text in Tags(html).scripts:
        if attrs.get("src") or attrs.get("type") == "application/json":
            continue
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src
    assert "img-src 'self' data: https://tile.example.org" in csp
    assert "connect-src 'self'" in csp


@pytest.mark.parametrize(("url", "source"), [
    ("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png", "https://*.tile.openstreetmap.org"),
    ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tile.openstreetmap.org"),
    ("http://localhost:8080/tiles/{z}/{x}/{y}.png", "http://localhost:8080"),
    ("https://{a}.example.org/{z}/{x}/{y}.png", "https:"),
])
def test_tile_source(url, source):
    assert map_assets.tile_source(url) == source


# ---- the router, with the domain functions stubbed ----

@pytest.fixture
def client(monkeypatch):
    if importlib.util.find_spec("geo311.reports") is None:     # not written yet: a stand-in
        stub = types.ModuleType("geo311.reports")
        monkeypatch.setitem(sys.modules, "geo311.reports", stub)
        monkeypatch.setattr(geo311, "reports", stub, raising=False)
    from geo311 import boundaries, categories, reports
    from geo311.api import pages as pages_router
    from geo311.api.errors import install_error_handlers

    def get_report_feature(session, report_id):
        if report_id != 12:
            raise NotFound(f"no report {report_id}")
        return FEATURE

    monkeypatch.setattr(reports, "get_report_feature", get_report_feature, raising=False)
    monkeypatch.setattr(reports, "report_events", lambda session, report_id: EVENTS, raising=False)
    monkeypatch.setattr(categories, "list_categories", lambda session, active_only=True: CATEGORIES)
    monkeypatch.setattr(boundaries, "service_area", lambda session: AREA, raising=False)
    monkeypatch.setattr(boundaries, "list_boundaries", lambda session: {
        "jurisdictions": [], "layers": [{"key": "neighborhood", "title": "Neighborhoods"}]})
    app = FastAPI()
    app.state.settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none")
    app.state.sessionmaker = lambda: nullcontext(None)
    install_error_handlers(app)
    app.include_router(pages_router.router)
    app.mount("/maps/static", StaticFiles(directory=map_assets.MAPS_DIR), name="maps")
    return TestClient(app)


def test_router_serves_the_resident_page(client):
    res = client.get("/")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    csp = res.headers["content-security-policy"]
    assert "https://tile.openstreetmap.org" in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
    assert "Campsite &lt;/script&gt;" in res.text
    for url in map_assets.loaded_urls(res.text):
        assert client.get(url).status_code == 200, url


def test_router_gives_the_page_the_photo_limits_of_the_settings(client):
    from geo311 import photos

    client.app.state.settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none",
                                         photo_max_bytes=3 * 1024 * 1024, photo_max_request_bytes=7 * 1024 * 1024)
    res = client.get("/")
    assert res.status_code == 200
    assert config_of(res.text)["photos"] == {"max_count": photos.MAX_PHOTOS, "max_bytes": 3 * 1024 * 1024,
                                             "max_request_bytes": 7 * 1024 * 1024}
    # previews are blob: images, which the page's CSP allows (and only as images)
    csp = res.headers["content-security-policy"]
    assert "blob:" in re.search(r"img-src ([^;]+)", csp).group(1)
    assert "blob:" not in re.search(r"script-src ([^;]+)", csp).group(1)
    assert re.search(r"connect-src ([^;]+)", csp).group(1) == "'self'"


def test_router_serves_a_report_and_refuses_unknown_ones(client):
    res = client.get("/reports/12")
    assert res.status_code == 200 and "<dt>Neighborhoods</dt>" in res.text
    assert IMG not in res.text and "Jo Private" not in res.text
    for path in ("/reports/13", "/reports/abc", "/reports/%3Cimg%3E"):
        res = client.get(path)
        assert res.status_code == 404 and res.headers["content-type"].startswith("text/html"), path
        assert "<img" not in res.text


def test_router_reads_tile_settings(client):
    from geo311.api import pages as pages_router

    settings = types.SimpleNamespace(tile_url=TILE, tile_attribution="Example tiles")
    assert pages_router.tiles(settings) == (TILE, "Example tiles")
    from geo311.settings import Settings

    assert Settings(tile_url=TILE).tile_url == TILE
    assert Settings().tile_url == pages.DEFAULT_TILE_URL

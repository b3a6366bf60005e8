"""The manager page `/manager`: the pure builder (geo311.manager_page), and its router on the test
database (sign-in, roles, headers, filters from the query string)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from geo311 import manager_page, map_assets
from geo311.api import create_app
from geo311.api.deps import SESSION_COOKIE, get_session
from geo311.auth import csrf_token
from tests.html_tags import Tags
from tests.staff import make_world

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "</script><script>alert(1)</script>"
TILE = "https://tile.example.org/{z}/{x}/{y}.png"
TOKEN = 'tok"en<&>'
BBOX = [-122.84, 45.43, -122.47, 45.65]
CATEGORIES = [{"code": "campsite", "name": "Campsite", "active": True},
              {"code": "graffiti", "name": f"Graffiti {IMG}", "active": True},
              {"code": "old", "name": f"Old {SCRIPT}", "active": False}]
LAYERS = [{"key": "coalition", "title": "Neighborhood coalitions"},
          {"key": "neighborhood", "title": f"Neighborhoods {IMG}"},
          {"key": "ward", "title": None}]


def build(filters=None, **kw) -> str:
    kw.setdefault("bbox", BBOX)
    kw.setdefault("layers", LAYERS)
    return manager_page.manager_page(csrf_token=TOKEN, signed_in_as=f"manager {IMG}", categories=CATEGORIES,
                                     filters=filters, tile_url=TILE, tile_attribution="Tiles", **kw)


def config_of(html: str) -> dict:
    (attrs, text), = [s for s in Tags(html).scripts if s[0].get("id") == "geo311-config"]
    assert attrs.get("type") == "application/json"
    return json.loads(text)


def selected(html: str, select_id: str) -> str:
    """The value of the <option selected> in one <select> (the first option when none is)."""
    block = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', html, re.S).group(1)
    options = re.findall(r'<option value="([^"]*)"( selected)?', block)
    return next((v for v, s in options if s), options[0][0])


# ----- the builder ------------------------------------------------------------------------------
def test_assets_are_local_and_exist():
    html = build()
    urls = map_assets.loaded_urls(html)
    assert all(u.startswith("/maps/static/") for u in urls), urls
    for url in urls:
        assert (map_assets.MAPS_DIR / url.removeprefix("/maps/static/")).is_file(), url
    for mine in ("/maps/static/manager.js", "/maps/static/manager.css",
                 "/maps/static/vendor/leaflet.heat-0.2.0/leaflet-heat.js"):
        assert mine in urls
    assert urls.index("/maps/static/geo311.css") < urls.index("/maps/static/manager.css")
    hosts = {urlsplit(u).hostname for u in re.findall(r"https?://[^\s\"'<>\\]+", html)}
    assert hosts == {"tile.example.org"}


def test_scripts_are_exactly_ours():
    scripts = Tags(build()).scripts
    assert [a["src"] for a, _ in scripts if a.get("src")] == [
        "/maps/static/vendor/leaflet-1.9.4/leaflet.js", "/maps/static/vendor/leaflet.heat-0.2.0/leaflet-heat.js",
        "/maps/static/manager.js"]
    # folium's switches, our JSON config and the map script: nothing else, nothing injected
    assert len([a for a, _ in scripts if not a.get("src")]) == 3


def test_csp_allows_the_inline_scripts_by_hash_only():
    html = build()
    csp = map_assets.content_security_policy(html, TILE)
    script_src = re.search(r"script-src ([^;]+)", csp).group(1).split()
    assert "'unsafe-inline'" not in script_src
    for attrs, text in Tags(html).scripts:
        if not attrs.get("src") and attrs.get("type") != "application/json":
            assert "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'" in script_src
    assert "connect-src 'self'" in csp and "img-src 'self' data: https://tile.example.org" in csp


def test_text_from_data_cannot_become_markup():
    html = build()
    for bad in (IMG, SCRIPT):
        assert bad not in html
    parsed = Tags(html)
    assert not [a for _, a in parsed.tags if any(k.startswith("on") for k in a)]
    assert "Signed in as manager &lt;img src=x onerror=alert(1)&gt;" in html
    assert "Graffiti &lt;img src=x onerror=alert(1)&gt;</option>" in html
    assert "Old &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; (inactive)</option>" in html
    assert "Neighborhoods &lt;img src=x onerror=alert(1)&gt;</option>" in html
    # the names reach the config as JSON that cannot end the <script> block
    cfg = config_of(html)
    assert cfg["categories"]["old"] == f"Old {SCRIPT}" and cfg["layers"]["neighborhood"] == f"Neighborhoods {IMG}"
    # the same page from harmless text has exactly the same elements
    plain = [dict(c, name="x") for c in CATEGORIES]
    tags = [t for t, _ in Tags(manager_page.manager_page(
        csrf_token="t", signed_in_as="manager", categories=plain, layers=[dict(layer, title="x") for layer in LAYERS],
        bbox=BBOX, tile_url=TILE)).tags]
    assert tags == [t for t, _ in parsed.tags]


def test_a_hostile_query_string_is_dropped_not_echoed():
    html = build({"category": IMG, "status": SCRIPT, "from": IMG, "to": "2025-02-30", "layer": IMG,
                  "view": IMG, "measure": IMG, "interval": SCRIPT})
    assert IMG not in html and SCRIPT not in html
    assert config_of(html)["filters"] == config_of(build())["filters"]
    assert 'name="from" type="date" value=""' in html and 'name="to" type="date" value=""' in html
    assert html.count("&lt;img") == build().count("&lt;img")      # only the names from data, escaped


def test_csrf_token_is_one_meta_in_the_head():
    parsed = Tags(build())
    metas = [a for t, a in parsed.head if t == "meta" and a.get("name") == "csrf-token"]
    assert metas == [{"name": "csrf-token", "content": TOKEN}]
    assert TOKEN not in build()


def test_config_names_the_map_and_the_heat_layer_and_holds_no_data():
    html = build()
    cfg = config_of(html)
    assert Tags(html).find("div", id=cfg["map"]), "the config names the folium map"
    assert f"var {cfg['map']} = L.map(" in html
    assert f"var {cfg['heat']} = L.heatLayer(\n                [],"  in html     # empty: manager.js fills it
    assert f"{cfg['heat']}.addTo({cfg['map']})" in html
    assert cfg["endpoints"] == {"heat": "/api/v1/heatmap", "districts": "/api/v1/stats/districts",
                                "trend": "/api/v1/stats/timeseries"}
    assert cfg["login_url"] == "/login?next=/manager" and cfg["page"] == "/manager"
    assert [m["key"] for m in cfg["measures"]] == ["overdue", "open", "new", "resolved"]
    assert all(len(m["palette"]) == 5 for m in cfg["measures"])
    assert cfg["categories"] == {"campsite": "Campsite", "graffiti": f"Graffiti {IMG}", "old": f"Old {SCRIPT}"}
    assert cfg["layers"] == {"coalition": "Neighborhood coalitions", "neighborhood": f"Neighborhoods {IMG}",
                             "ward": "Ward"}
    assert cfg["statuses"]["open"] == "open" and cfg["statuses"]["closed"] == "resolved,duplicate,not_actionable"
    assert cfg["defaults"] == {"category": "", "status": "", "from": "", "to": "", "layer": "neighborhood",
                               "view": "heat", "measure": "overdue", "interval": "week"}
    assert cfg["bbox"] == BBOX
    assert "fitBounds(\n                [[45.43, -122.84], [45.65, -122.47]]" in html
    # the heat layer's options: gradient and minimum opacity as in the config, intensity not scaled by zoom
    assert '"maxZoom": 0' in html and '"minOpacity": 0.2' in html
    assert json.dumps(cfg["heat_gradient"]) == json.dumps(manager_page.HEAT_GRADIENT)
    assert "features" not in json.dumps(cfg)


def test_filters_from_the_query_string_fill_the_form_and_the_downloads():
    f = {"category": "graffiti", "status": "closed", "from": "2025-03-01", "to": "2025-03-31", "layer": "coalition",
         "view": "districts", "measure": "new", "interval": "month"}
    html = build(f)
    assert config_of(html)["filters"] == f
    assert selected(html, "g311-category") == "graffiti"
    assert selected(html, "g311-status-filter") == "closed"
    assert selected(html, "g311-layer") == "coalition"
    assert selected(html, "g311-measure") == "new"
    assert selected(html, "g311-interval") == "month"
    assert 'id="g311-from" name="from" type="date" value="2025-03-01"' in html
    assert 'id="g311-to" name="to" type="date" value="2025-03-31"' in html
    assert "checked" in Tags(html).find("input", id="g311-view-districts")[0]
    assert "checked" not in Tags(html).find("input", id="g311-view-heat")[0]
    links = {a["id"]: a["href"] for a in Tags(html).find("a") if a.get("id", "").startswith("g311-csv-")}
    q = {k: parse_qs(urlsplit(v).query) for k, v in links.items()}
    assert urlsplit(links["g311-csv-heat"]).path == "/api/v1/heatmap"
    assert q["g311-csv-heat"] == {"bbox": ["-122.84000,45.43000,-122.47000,45.65000"], "zoom": ["11"],
                                  "category": ["graffiti"], "status": ["resolved,duplicate,not_actionable"],
                                  "since": ["2025-03-01"], "until": ["2025-04-01"], "format": ["csv"]}
    # `to` is the last day, inclusive: the API's `until` is the day after
    assert q["g311-csv-districts"] == {"category": ["graffiti"], "since": ["2025-03-01"], "until": ["2025-04-01"],
                                       "layer": ["coalition"], "format": ["csv"]}
    assert urlsplit(links["g311-csv-trend"]).path == "/api/v1/stats/timeseries"
    assert q["g311-csv-trend"] == {"category": ["graffiti"], "since": ["2025-03-01"], "until": ["2025-04-01"],
                                   "interval": ["month"], "format": ["csv"]}
    assert "Most overdue work: <span id=\"g311-overdue-layer\">Neighborhood coalitions</span>" in html


def test_defaults_and_swapped_dates():
    cfg = config_of(build())
    assert cfg["filters"]["layer"] == "neighborhood" and cfg["filters"]["view"] == "heat"
    assert config_of(build(layers=LAYERS[:1]))["filters"]["layer"] == "coalition"   # no neighborhoods: the first
    swapped = config_of(build({"from": "2025-04-01", "to": "2025-03-01"}))["filters"]
    assert (swapped["from"], swapped["to"]) == ("2025-03-01", "2025-04-01")
    assert manager_page.api_params({"status": "open", "layer": "x", "interval": "day"}, "heat") == {"status": "open"}
    assert manager_page.api_params({"status": "open", "layer": "x", "interval": "day"}, "districts") == {"layer": "x"}
    assert manager_page.api_params({"status": "open", "layer": "x", "interval": "day"}, "trend") == {"interval": "day"}


def test_panel_controls_and_accessibility():
    html = build()
    parsed = Tags(html)
    assert '<html lang="en">' in html and '<body class="g311-manager">' in html
    assert parsed.find("form", id="g311-logout", method="post", action="/logout")
    assert parsed.find("button", id="g311-signout", type="submit")
    assert parsed.find("form", id="g311-filters", method="get", action="/manager")
    for control in ("g311-category", "g311-status-filter", "g311-from", "g311-to", "g311-layer", "g311-interval"):
        assert f'<label for="{control}">' in html, control
    assert parsed.find("select", id="g311-measure")[0]["aria-label"] == "Colour the districts by"
    assert parsed.find("table", id="g311-overdue-table") and parsed.find("tbody", id="g311-overdue-rows")
    headers = re.findall(r'<th scope="col"[^>]*>([^<]+)</th>', html.split('id="g311-overdue-table"')[1].split("</thead>")[0])
    assert headers == ["District", "Open", "Overdue", "Median age", "New", "Resolved"]
    assert parsed.find("div", id="g311-trend-chart") and parsed.find("tbody", id="g311-trend-rows")
    assert parsed.find("p", id="g311-status", role="status")
    assert 'class="g311-skip" href="#g311-overdue-title"' in html
    ids = [a["id"] for _, a in parsed.tags if a.get("id")]
    assert len(ids) == len(set(ids)), "element ids are unique"


def test_static_prefix_and_api_base_are_configurable():
    html = build(static_prefix="/assets/", api_base="/api/v2/")
    assert all(u.startswith("/assets/") for u in map_assets.loaded_urls(html))
    assert config_of(html)["endpoints"]["districts"] == "/api/v2/stats/districts"
    assert 'href="/api/v2/stats/timeseries?interval=week&amp;format=csv"' in html


def test_without_a_service_area_the_page_still_renders():
    html = build(bbox=None)
    assert "fitBounds" not in html and config_of(html)["bbox"] is None
    assert "bbox" not in parse_qs(urlsplit(Tags(html).find("a", id="g311-csv-heat")[0]["href"]).query)


def test_forbidden_page_is_plain_and_escaped():
    html = manager_page.forbidden_page(signed_in_as=f"crew {IMG}", home="/crew")
    assert IMG not in html and "crew &lt;img" in html
    assert map_assets.loaded_urls(html) == ["/maps/static/geo311.css"]
    assert "<script" not in html
    assert Tags(html).find("form", action="/logout", method="post")
    assert Tags(html).find("a", href="/crew")


# ----- the router, on the test database ------------------------------------------------------
SAME = {"origin": "http://testserver"}


@pytest.fixture
def client(settings, session_factory):
    app = create_app(settings)
    if not any(getattr(r, "path", None) == "/manager" for r in app.routes):     # not wired into app.py
        from geo311.api import manager_pages
        app.include_router(manager_pages.router)

    def session():
        with session_factory() as s:
            yield s
    app.dependency_overrides[get_session] = session
    with TestClient(app) as c:
        yield c


def sign_in(client, key: str, next_path: str = "/manager") -> str:
    r = client.post("/login", data={"key": key, "next": next_path}, headers=SAME, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.cookies[SESSION_COOKIE]


def test_anonymous_is_sent_to_sign_in_and_back(client):
    r = client.get("/manager", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/manager"
    r = client.get("/manager?category=campsite&view=districts", follow_redirects=False)
    assert r.status_code == 303
    assert parse_qs(urlsplit(r.headers["location"]).query)["next"] == ["/manager?category=campsite&view=districts"]


@pytest.mark.parametrize("who", ["manager", "admin"])
def test_managers_and_admins_see_the_page(client, session, settings, who):
    world = make_world(session)
    cookie = sign_in(client, world.keys[who])
    r = client.get("/manager")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    assert "script-src 'self' 'sha256-" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert f"Signed in as {who} (key " in r.text
    (meta,) = [a for t, a in Tags(r.text).head if t == "meta" and a.get("name") == "csrf-token"]
    assert meta["content"] == csrf_token(settings.session_secret(), cookie)
    cfg = config_of(r.text)
    assert {"campsite", "graffiti", "pothole"} <= set(cfg["categories"])
    assert {"neighborhood", "coalition", "council_district"} <= set(cfg["layers"])
    assert cfg["layers"]["neighborhood"] == "Neighborhoods"
    minlon, minlat, maxlon, maxlat = cfg["bbox"]
    assert minlon < -122.6 < maxlon and minlat < 45.5 < maxlat        # Portland's service area
    # the data the page asks for answers with the same cookie
    for url in ("/api/v1/heatmap?zoom=11", "/api/v1/stats/districts?layer=neighborhood",
                "/api/v1/stats/timeseries?interval=week"):
        assert client.get(url).status_code == 200, url
    client.cookies.clear()


def test_the_query_string_fills_the_filters(client, session):
    world = make_world(session)
    sign_in(client, world.keys["manager"])
    r = client.get("/manager?category=campsite&status=open&from=2025-01-01&to=2025-01-31&layer=coalition"
                   "&view=districts&measure=open&interval=day")
    assert config_of(r.text)["filters"] == {"category": "campsite", "status": "open", "from": "2025-01-01",
                                            "to": "2025-01-31", "layer": "coalition", "view": "districts",
                                            "measure": "open", "interval": "day"}
    bad = client.get(f"/manager?category={IMG}&layer=nowhere&from=yesterday")
    assert bad.status_code == 200 and IMG not in bad.text
    assert config_of(bad.text)["filters"]["layer"] == "neighborhood"
    client.cookies.clear()


@pytest.mark.parametrize("who", ["crew_own", "crew_other"])
def test_a_crew_gets_a_403_page(client, session, who):
    world = make_world(session)
    sign_in(client, world.keys[who], next_path="/crew")
    r = client.get("/manager", follow_redirects=False)
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "Managers only" in r.text and "Signed in as crew " in r.text
    assert 'href="/crew"' in r.text and "<script" not in r.text
    assert "content-security-policy" in r.headers and r.headers["cache-control"] == "no-store"
    # and the API agrees
    assert client.get("/api/v1/heatmap").status_code == 403
    client.cookies.clear()


def test_a_revoked_key_goes_back_to_sign_in(client, session):
    from geo311.auth import revoke_key

    world = make_world(session)
    sign_in(client, world.keys["manager"])
    assert client.get("/manager").status_code == 200
    revoke_key(session, world.keys["manager"].split("_")[1])
    r = client.get("/manager", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/manager"
    client.cookies.clear()

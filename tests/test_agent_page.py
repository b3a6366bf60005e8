"""The agent page `/agent`: the pure builder (geo311.agent_page), and its router on the test
database (sign-in, who may see it, headers, the CSRF token the page carries)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from geo311 import agent_page, geocoding, map_assets
from geo311.api import create_app
from geo311.api.deps import SESSION_COOKIE, get_session
from geo311.auth import create_key, csrf_token, make_session_token
from tests.html_tags import Tags
from tests.staff import make_world

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "</script><script>alert(1)</script>"
TILE = "https://tile.example.org/{z}/{x}/{y}.png"
TOKEN = 'tok"en<&>'
BBOX = [-122.84, 45.43, -122.47, 45.65]


def build(**kw) -> str:
    kw = {"csrf_token": TOKEN, "signed_in_as": f"agent {IMG}", "bbox": BBOX, "tile_url": TILE,
          "tile_attribution": "Tiles"} | kw
    return agent_page.agent_page(**kw)


def config_of(html: str) -> dict:
    (attrs, text), = [s for s in Tags(html).scripts if s[0].get("id") == "geo311-config"]
    assert attrs.get("type") == "application/json"
    return json.loads(text)


# ----- the builder ------------------------------------------------------------------------------
def test_assets_are_local_and_exist():
    html = build()
    urls = map_assets.loaded_urls(html)
    assert all(u.startswith("/maps/static/") for u in urls), urls
    for url in urls:
        assert (map_assets.MAPS_DIR / url.removeprefix("/maps/static/")).is_file(), url
    assert "/maps/static/agent.js" in urls and "/maps/static/agent.css" in urls
    assert urls.index("/maps/static/geo311.css") < urls.index("/maps/static/agent.css")
    hosts = {urlsplit(u).hostname for u in re.findall(r"https?://[^\s\"'<>\\]+", html)}
    assert hosts == {"tile.example.org"}


def test_scripts_are_exactly_ours():
    scripts = Tags(build()).scripts
    assert [a["src"] for a, _ in scripts if a.get("src")] == [
        "/maps/static/vendor/leaflet-1.9.4/leaflet.js", "/maps/static/agent.js"]
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
    assert "connect-src 'self'" in csp and "form-action 'self'" in csp


def test_text_from_data_cannot_become_markup():
    html = build(signed_in_as=f"agent {SCRIPT} {IMG}")
    for bad in (IMG, SCRIPT):
        assert bad not in html
    assert "Signed in as agent &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &lt;img" in html
    assert not [a for _, a in Tags(html).tags if any(k.startswith("on") for k in a)]
    # the same page from harmless text has exactly the same elements
    assert [t for t, _ in Tags(html).tags] == [t for t, _ in Tags(build(signed_in_as="agent x")).tags]


def test_csrf_token_is_one_meta_in_the_head():
    parsed = Tags(build())
    metas = [a for t, a in parsed.head if t == "meta" and a.get("name") == "csrf-token"]
    assert metas == [{"name": "csrf-token", "content": TOKEN}]
    assert TOKEN not in build()            # escaped in the attribute


def test_config_names_the_map_and_the_api():
    html = build()
    cfg = config_of(html)
    assert Tags(html).find("div", id=cfg["map"]), "the config names the folium map"
    assert f"var {cfg['map']} = L.map(" in html
    assert cfg["api"] == "/api/v1" and cfg["login_url"] == "/login?next=/agent" and cfg["report_url"] == "/reports/"
    assert cfg["channels"] == {"phone": "Phone", "email": "Email", "walk_in": "Walk-in"}
    assert cfg["default_channel"] == "phone" and cfg["report_id_digits"] == 9
    assert cfg["nearby_radius_m"] == agent_page.NEARBY_RADIUS_M
    assert cfg["geocode"]["clear_score"] == geocoding.CLEAR_SCORE
    assert cfg["geocode"]["lone_margin"] == geocoding.LONE_MARGIN
    assert "fitBounds" in html and "[45.43, -122.84]" in html           # the service area, [lat, lon]
    # nothing about callers or reports is in the page itself: agent.js asks the API
    assert "callers" not in json.dumps(cfg) and "L.marker(" not in html


def test_every_control_is_labelled_and_in_order():
    html = build()
    parsed = Tags(html)
    label_for = {a.get("for") for a, _ in parsed.labels if a.get("for")}
    controls = [a for t, a in parsed.tags if t in ("input", "select", "textarea")]
    assert controls
    for a in controls:
        assert a.get("id") in label_for or a.get("aria-label"), a
    # the order a call takes: search, caller, where, what, submit; the report and the history beside
    ids = [a.get("id") for _, a in parsed.tags if a.get("id")]
    order = ["g311-search-q", "g311-search-go", "g311-channel-phone", "g311-name", "g311-phone", "g311-email",
             "g311-address", "g311-find", "g311-category", "g311-nearby-list", "g311-description",
             "g311-submit", "g311-outcome", "g311-report-view", "g311-note", "g311-history-list"]
    assert [i for i in ids if i in order] == order
    assert [a["value"] for a in parsed.find("input", name="channel")] == ["phone", "email", "walk_in"]
    assert "checked" in parsed.find("input", id="g311-channel-phone")[0]
    assert "checked" in build(channel="walk_in").split('id="g311-channel-walk_in"')[1].split(">")[0]
    assert parsed.find("form", id="g311-search", role="search")
    assert parsed.find("button", id="g311-search-go", type="submit")
    assert parsed.find("button", id="g311-new-call", type="button")
    assert parsed.find("button", id="g311-submit", type="submit")
    assert parsed.find("button", id="g311-find", type="button")
    assert parsed.find("form", id="g311-logout", method="post", action="/logout")
    for field in ("search", "phone", "email"):
        (err,) = parsed.find("p", id=f"g311-{field}-error")
        assert err["role"] == "alert"
        (control,) = [a for _, a in parsed.tags if a.get("id") == ("g311-search-q" if field == "search" else f"g311-{field}")]
        assert f"g311-{field}-error" in control["aria-describedby"].split()
    (internal,) = parsed.find("input", id="g311-note-internal")
    assert "checked" in internal and internal["value"] == "internal"
    assert parsed.find("input", id="g311-note-public", value="public")
    assert parsed.find("p", id="g311-status", role="status")


def test_accessible_document():
    html = build()
    assert '<html lang="en">' in html and "maximum-scale" not in html
    assert 'class="g311-skip" href="#g311-search-q"' in html
    assert '<body class="g311-agent">' in html
    assert "<title>Take a call · geo311</title>" in html


def test_bad_channel_and_configurable_paths():
    with pytest.raises(ValueError):
        build(channel="web")
    html = build(static_prefix="/assets/", api_base="/api/v2/")
    assert all(u.startswith("/assets/") for u in map_assets.loaded_urls(html))
    assert config_of(html)["api"] == "/api/v2"
    assert "[0.0, 0.0]" in build(bbox=None)          # no service area loaded yet: the whole world


def test_forbidden_page_is_plain_and_escaped():
    html = agent_page.forbidden_page(signed_in_as=f"crew {IMG}", home="/crew")
    assert IMG not in html and "crew &lt;img" in html
    assert map_assets.loaded_urls(html) == ["/maps/static/geo311.css"]
    assert "<script" not in html and "Agents only" in html
    assert Tags(html).find("a", href="/crew")
    assert not Tags(agent_page.forbidden_page(signed_in_as="resident")).find("a")


# ----- the router, on the test database ------------------------------------------------------
SAME = {"origin": "http://testserver"}


@pytest.fixture
def client(settings, session_factory):
    app = create_app(settings)
    if not any(getattr(r, "path", None) == "/agent" for r in app.routes):     # not wired into app.py
        from geo311.api import agent_pages
        app.include_router(agent_pages.router)

    def session():
        with session_factory() as s:
            yield s
    app.dependency_overrides[get_session] = session
    with TestClient(app) as c:
        yield c


def sign_in(client, key: str, next_path: str = "/agent") -> str:
    r = client.post("/login", data={"key": key, "next": next_path}, headers=SAME, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.cookies[SESSION_COOKIE]


def test_anonymous_is_sent_to_sign_in(client):
    r = client.get("/agent", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/agent"


def test_an_agent_signs_in_to_the_agent_page(client, session, settings):
    world = make_world(session)
    r = client.post("/login", data={"key": world.keys["agent"]}, headers=SAME, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/agent"          # an agent's home
    cookie = r.cookies[SESSION_COOKIE]
    r = client.get("/agent")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    assert "script-src 'self' 'sha256-" in r.headers["content-security-policy"]
    assert "nosniff" in r.headers["x-content-type-options"]
    assert "Signed in as agent (key " in r.text
    (meta,) = [a for t, a in Tags(r.text).head if t == "meta" and a.get("name") == "csrf-token"]
    assert meta["content"] == csrf_token(settings.session_secret(), cookie)
    # the token in the page is the one the API wants for what the page posts with the cookie
    url = f"/api/v1/reports/{world.north_report}/notes"
    assert client.post(url, json={"note": "called back"}).status_code == 403
    r = client.post(url, json={"note": "called back"}, headers={"X-CSRF-Token": meta["content"]})
    assert r.status_code == 201 and r.json()["internal"] is True
    # and with it, the caller's history (personal data) is the agent's to see
    r = client.get("/api/v1/callers", params={"phone": "(503) 555-0111"})
    assert r.status_code == 200 and r.json()["submissions"][0]["name"] == "Pat Private"
    client.cookies.clear()


@pytest.mark.parametrize("who", ["manager", "admin"])
def test_dispatchers_may_use_it_too(client, session, who):
    world = make_world(session)
    sign_in(client, world.keys[who])
    r = client.get("/agent")
    assert r.status_code == 200 and f"Signed in as {who}" in r.text
    client.cookies.clear()


def test_a_crew_gets_a_403_page(client, session):
    world = make_world(session)
    sign_in(client, world.keys["crew_own"])
    r = client.get("/agent")
    assert r.status_code == 403 and "Agents only" in r.text and "<script" not in r.text
    assert "content-security-policy" in r.headers and r.headers["cache-control"] == "no-store"
    assert 'href="/crew"' in r.text and "crew North Portland" in r.text
    client.cookies.clear()


def test_a_resident_key_gets_403(client, session, settings):
    key_id, key = create_key(session, "resident")
    # residents cannot sign in to staff pages at all ...
    r = client.post("/login", data={"key": key, "next": "/agent"}, headers=SAME, follow_redirects=False)
    assert r.status_code == 401
    # ... and a session for a resident's key (were one ever made) does not open the page
    client.cookies.set(SESSION_COOKIE, make_session_token(settings.session_secret(), key_id, 600))
    r = client.get("/agent", follow_redirects=False)
    assert r.status_code == 403 and "Agents only" in r.text and "Signed in as resident" in r.text
    assert client.get("/api/v1/callers", params={"phone": "5035550111"},
                      headers={"Authorization": f"Bearer {key}"}).status_code == 403
    client.cookies.clear()

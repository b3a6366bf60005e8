"""The crew page `/crew`: the pure builder (geo311.crew_page), and its router on the test database
(sign-in, which crew is shown, headers, the CSRF token the page carries)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from geo311 import crew_page, map_assets
from geo311.api import create_app
from geo311.api.deps import SESSION_COOKIE, get_session
from geo311.auth import create_key, csrf_token
from tests.html_tags import Tags
from tests.staff import make_world

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "</script><script>alert(1)</script>"
TILE = "https://tile.example.org/{z}/{x}/{y}.png"
TOKEN = 'tok"en<&>'
CREW = {"id": 7, "name": f"North {SCRIPT}", "yard": [-122.71, 45.58], "active": True,
        "areas": [f"coalition:North Portland {IMG}", "neighborhood:ST. JOHNS"],
        "categories": ["campsite", "illegal_dumping"]}
CHOICES = [CREW, {"id": 9, "name": f"Southeast {IMG}", "yard": [-122.65, 45.5], "active": False,
                  "areas": [], "categories": []}]


def build(crew=None, choices=(), **kw) -> str:
    return crew_page.crew_page(crew=crew or CREW, csrf_token=TOKEN, signed_in_as=f"crew {IMG}", choices=choices,
                               tile_url=TILE, tile_attribution="Tiles", **kw)


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
    assert "/maps/static/crew.js" in urls and "/maps/static/crew.css" in urls
    assert urls.index("/maps/static/geo311.css") < urls.index("/maps/static/crew.css")
    hosts = {urlsplit(u).hostname for u in re.findall(r"https?://[^\s\"'<>\\]+", html)}
    assert hosts == {"tile.example.org"}


def test_scripts_are_exactly_ours():
    scripts = Tags(build(choices=CHOICES)).scripts
    assert [a["src"] for a, _ in scripts if a.get("src")] == [
        "/maps/static/vendor/leaflet-1.9.4/leaflet.js", "/maps/static/crew.js"]
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
    html = build(choices=CHOICES)
    for bad in (IMG, SCRIPT):
        assert bad not in html
    parsed = Tags(html)
    assert not [a for _, a in parsed.tags if any(k.startswith("on") for k in a)]
    assert "Work list: North &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; · geo311</title>" in html
    assert "North Portland &lt;img src=x onerror=alert(1)&gt;" in html
    assert "Signed in as crew &lt;img" in html
    # the same page from harmless text has exactly the same elements
    harmless = json.loads(json.dumps([CREW, CHOICES]).replace(json.dumps(IMG)[1:-1], "img")
                          .replace(json.dumps(SCRIPT)[1:-1], "script"))
    tags = [t for t, _ in Tags(crew_page.crew_page(crew=harmless[0], csrf_token="t", signed_in_as="crew img",
                                                    choices=harmless[1], tile_url=TILE)).tags]
    assert tags == [t for t, _ in parsed.tags]


def test_csrf_token_is_one_meta_in_the_head():
    parsed = Tags(build())
    metas = [a for t, a in parsed.head if t == "meta" and a.get("name") == "csrf-token"]
    assert metas == [{"name": "csrf-token", "content": TOKEN}]
    assert TOKEN not in build()            # escaped in the attribute


def test_config_names_the_map_and_the_api_and_holds_no_stops():
    html = build()
    cfg = config_of(html)
    assert cfg["crew"] == {"id": 7, "name": CREW["name"]}
    assert cfg["yard"] == [-122.71, 45.58]
    assert cfg["worklist"] == "/api/v1/crews/7/worklist" and cfg["api"] == "/api/v1"
    assert cfg["bands"] == ["urgent", "high", "normal"] and cfg["limit"] == 200
    assert Tags(html).find("div", id=cfg["map"]), "the config names the folium map"
    assert f"var {cfg['map']} = L.map(" in html
    assert "center: [45.58, -122.71]" in html                   # the yard, [lat, lon]
    assert "features" not in json.dumps(cfg) and "L.marker(" not in html


def test_downloads_sign_out_and_controls():
    parsed = Tags(build())
    (csv,) = parsed.find("a", id="g311-csv")
    (gpx,) = parsed.find("a", id="g311-gpx")
    assert csv["href"] == "/api/v1/crews/7/worklist?format=csv"
    assert gpx["href"] == "/api/v1/crews/7/worklist?format=gpx"
    assert parsed.find("form", id="g311-logout", method="post", action="/logout")
    assert parsed.find("button", id="g311-signout", type="submit")
    assert parsed.find("button", id="g311-reload", type="button")
    assert parsed.find("ol", id="g311-stops")
    assert parsed.find("p", id="g311-status", role="status")
    assert not parsed.find("form", id="g311-crew-pick")        # a crew gets no picker


def test_managers_pick_a_crew():
    html = build(choices=CHOICES)
    parsed = Tags(html)
    assert parsed.find("form", id="g311-crew-pick", method="get", action="/crew")
    assert '<label for="g311-crew">Crew</label>' in html
    options = parsed.find("option")
    assert [o["value"] for o in options] == [CREW["name"], CHOICES[1]["name"]]
    assert "selected" in options[0] and "selected" not in options[1]
    assert "Southeast &lt;img src=x onerror=alert(1)&gt; (inactive)" in html


def test_accessible_document():
    html = build(choices=CHOICES)
    assert '<html lang="en">' in html and "maximum-scale" not in html
    assert 'class="g311-skip" href="#g311-stops-title"' in html
    assert 'id="g311-stops-title" tabindex="-1"' in html
    assert '<body class="g311-crew">' in html


def test_static_prefix_and_api_base_are_configurable():
    html = build(static_prefix="/assets/", api_base="/api/v2/")
    assert all(u.startswith("/assets/") for u in map_assets.loaded_urls(html))
    assert config_of(html)["worklist"] == "/api/v2/crews/7/worklist"
    assert 'href="/api/v2/crews/7/worklist?format=gpx"' in html


def test_no_crew_page_is_plain_and_escaped():
    html = crew_page.no_crew_page(title="No such crew", message=f"There is no crew {IMG}", signed_in_as="manager",
                                  choices=CHOICES)
    assert IMG not in html and "There is no crew &lt;img" in html
    assert map_assets.loaded_urls(html) == ["/maps/static/geo311.css"]
    assert "<script" not in html
    hrefs = [a["href"] for a in Tags(html).find("a")]
    assert [parse_qs(urlsplit(h).query)["crew"] for h in hrefs] == [[CREW["name"]], [CHOICES[1]["name"]]]
    assert Tags(html).find("form", action="/logout", method="post")


# ----- the router, on the test database ------------------------------------------------------
SAME = {"origin": "http://testserver"}


@pytest.fixture
def client(settings, session_factory):
    app = create_app(settings)
    if not any(getattr(r, "path", None) == "/crew" for r in app.routes):     # not wired into app.py
        from geo311.api import crew_pages
        app.include_router(crew_pages.router)

    def session():
        with session_factory() as s:
            yield s
    app.dependency_overrides[get_session] = session
    with TestClient(app) as c:
        yield c


def sign_in(client, key: str) -> str:
    r = client.post("/login", data={"key": key, "next": "/crew"}, headers=SAME, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.cookies[SESSION_COOKIE]


def page_crew(html: str) -> dict:
    return config_of(html)["crew"]


def test_anonymous_is_sent_to_sign_in(client):
    r = client.get("/crew", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/crew"


def test_crew_sees_its_own_list_with_its_csrf_token(client, session, settings):
    world = make_world(session)
    cookie = sign_in(client, world.keys["crew_own"])
    r = client.get("/crew")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    assert "script-src 'self' 'sha256-" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert page_crew(r.text) == {"id": world.north["id"], "name": "North Portland"}
    assert "Signed in as crew North Portland" in r.text
    (meta,) = [a for t, a in Tags(r.text).head if t == "meta" and a.get("name") == "csrf-token"]
    assert meta["content"] == csrf_token(settings.session_secret(), cookie)
    # another crew's name in the query changes nothing for a crew
    assert page_crew(client.get("/crew?crew=Southeast").text)["name"] == "North Portland"
    # the token in the page is the one the API wants for changes made with the cookie
    url = f"/api/v1/reports/{world.north_report}/events"
    assert client.post(url, json={"action": "start"}).status_code == 403
    assert client.post(url, json={"action": "start"}, headers={"X-CSRF-Token": meta["content"]}).status_code == 200
    client.cookies.clear()


@pytest.mark.parametrize("who", ["manager", "admin"])
def test_managers_choose_the_crew(client, session, who):
    world = make_world(session)
    sign_in(client, world.keys[who])
    r = client.get("/crew")
    assert r.status_code == 200
    assert page_crew(r.text)["name"] == "North Portland"          # the first by name
    assert page_crew(client.get("/crew?crew=southeast").text)["id"] == world.southeast["id"]
    assert page_crew(client.get(f"/crew?crew={world.southeast['id']}").text)["name"] == "Southeast"
    assert len(Tags(r.text).find("option")) == 2
    missing = client.get("/crew?crew=Nowhere")
    assert missing.status_code == 404 and missing.headers["cache-control"] == "no-store"
    assert "There is no crew named &#39;Nowhere&#39;" in missing.text
    assert 'href="/crew?crew=Southeast"' in missing.text
    client.cookies.clear()


def test_manager_without_crews_gets_a_message(client, session):
    _, key = create_key(session, "manager")
    sign_in(client, key)
    r = client.get("/crew")
    assert r.status_code == 200 and "No crews yet" in r.text and "<script" not in r.text
    assert "content-security-policy" in r.headers
    client.cookies.clear()


def test_an_expired_session_goes_back_to_sign_in(client, session, settings):
    from geo311.auth import make_session_token

    world = make_world(session)
    key_id = world.keys["crew_own"].split("_")[1]
    client.cookies.set(SESSION_COOKIE, make_session_token(settings.session_secret(), key_id, 60, now=1_000_000))
    r = client.get("/crew", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    client.cookies.clear()

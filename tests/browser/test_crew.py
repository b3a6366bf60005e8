"""The crew page `/crew` in headless Chromium against the live server, every host but 127.0.0.1
blocked (tests/browser/conftest.py: the `tab` fixture).

A crew signs in through the form with its key, sees its route (numbered markers in the work
list's order, the list in the same order, the path from the yard through the stops), starts and
resolves stops with the buttons, and the database shows who did it. Crews and keys made here
persist in the live database, so each test makes its own (unique names) and deletes them after.
"""

from __future__ import annotations

import csv
import io
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Response, expect
from sqlalchemy import create_engine, pool
from sqlalchemy.orm import Session

from geo311.auth import create_key
from geo311.crews import create_crew

pytestmark = pytest.mark.live

IMG = "<img src=x onerror=alert(1)>"
SE_YARD = (-122.6500, 45.5000)
# points in the Southeast Uplift coalition, far enough apart that none merges into another
HOSFORD = (-122.6587, 45.5122)     # SE Water Ave & Salmon St
BUCKMAN = (-122.6446, 45.5163)     # SE 20th & Belmont
SUNNYSIDE = (-122.6251, 45.5120)   # SE 37th & Hawthorne
RICHMOND = (-122.6218, 45.5048)    # SE 40th & Division
BROOKLYN = (-122.6560, 45.4970)    # SE Milwaukie & Powell
READY = "() => window.geo311Crew && window.geo311Crew.loads() > 0 && !window.geo311Crew.busy()"


@dataclass
class CrewWorld:
    live: object
    name: str
    crew_id: int
    key: str
    manager_key: str
    extra_crews: list[int] = field(default_factory=list)

    def report(self, point, category="campsite", priority: int | None = None, **props) -> int:
        """A report through the API, as a resident sends it; `priority` then set in the database."""
        body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(point)},
                "properties": {"category": category, **props}}
        r = httpx.post(f"{self.live.url}/api/v1/reports", json=body, timeout=30,
                       headers={"Idempotency-Key": str(uuid.uuid4())})
        assert r.status_code == 201, r.text
        props = r.json()["properties"]
        assert "Southeast Uplift" in props["districts"]["coalition"], props["districts"]
        if priority is not None:
            self.live.sql("UPDATE reports SET priority = %s WHERE id = %s", (priority, props["id"]))
        return props["id"]

    def worklist(self) -> dict:
        r = httpx.get(f"{self.live.url}/api/v1/crews/{self.crew_id}/worklist", timeout=30,
                      headers={"Authorization": f"Bearer {self.key}"})
        assert r.status_code == 200, r.text
        return r.json()

    def act(self, report_id: int, action: str) -> None:
        r = httpx.post(f"{self.live.url}/api/v1/reports/{report_id}/events", json={"action": action}, timeout=30,
                       headers={"Authorization": f"Bearer {self.key}"})
        assert r.status_code == 200, r.text


def new_crew(session: Session, name: str) -> dict:
    return create_crew(session, name, areas=["coalition:Southeast Uplift"],
                       categories=["campsite", "illegal_dumping", "graffiti"], yard=SE_YARD)


@pytest.fixture
def world(live) -> Iterator[CrewWorld]:
    """A crew of Southeast Uplift (a name with markup in it), its key and a manager key."""
    engine = create_engine(live.database_url, poolclass=pool.NullPool)
    name = f"SE <b>crew</b> & co {uuid.uuid4().hex[:8]}"
    with Session(engine) as session:
        crew = new_crew(session, name)
        _, key = create_key(session, "crew", crew=name, label="browser test")
        manager_id, manager_key = create_key(session, "manager", label="browser test")
    w = CrewWorld(live, name, crew["id"], key, manager_key)
    try:
        yield w
    finally:
        live.sql("DELETE FROM api_keys WHERE key_id = %s", (manager_id,))
        live.sql("DELETE FROM crews WHERE id = ANY(%s)", ([w.crew_id, *w.extra_crews],))   # keys go with them
        engine.dispose()


def is_api(path: str, method: str = "GET"):
    def match(response: Response) -> bool:
        return response.request.method == method and urlsplit(response.url).path == "/api/v1" + path
    return match


def sign_in(page: Page, w: CrewWorld, key: str | None = None) -> Response:
    """From /crew to the sign-in form and back, signed in; returns the page's first work-list load."""
    page.goto("/crew")
    expect(page).to_have_url(f"{w.live.url}/login?next=/crew")
    page.fill("#g311-key", key or w.key)
    with page.expect_response(lambda r: r.request.method == "GET" and "/worklist" in r.url) as loaded:
        page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{w.live.url}/crew")
    page.wait_for_function(READY)
    assert loaded.value.status == 200
    return loaded.value


def list_ids(page: Page) -> list[int]:
    return [int(v) for v in page.eval_on_selector_all("#g311-stops > li", "els => els.map(e => e.dataset.id)")]


def map_markers(page: Page) -> list[dict]:
    """The stop markers on the map: their report id, the number on the icon and where they are."""
    return page.evaluate("""() => Array.from(window.geo311Crew.markers.entries()).map(([id, m]) => {
        const e = m.getElement(), ll = m.getLatLng();
        return {id: Number(id), text: e ? e.textContent : null, lat: ll.lat, lon: ll.lng,
                label: e ? e.getAttribute('aria-label') : null, classes: e ? e.className : '',
                onMap: !!(e && e.isConnected)};
      })""")


def route_path(page: Page) -> list[list[float]]:
    return page.evaluate("() => window.geo311Crew.route().getLatLngs().map(ll => [ll.lng, ll.lat])")


def close(a, b) -> bool:
    return abs(a[0] - b[0]) < 1e-6 and abs(a[1] - b[1]) < 1e-6


def assert_route_matches(page: Page, wl: dict) -> None:
    """List, markers and path all follow the work list's order."""
    feats = wl["features"]
    ids = [f["properties"]["id"] for f in feats]
    assert [f["properties"]["sequence"] for f in feats] == list(range(1, len(feats) + 1))
    expect(page.locator("#g311-stops > li")).to_have_count(len(ids))
    assert list_ids(page) == ids
    headings = page.locator("#g311-stops > li h3").all_inner_texts()
    assert headings == [f"Stop {f['properties']['sequence']}: {f['properties']['category_name']}" for f in feats]
    markers = {m["id"]: m for m in map_markers(page)}
    assert set(markers) == set(ids)
    for f in feats:
        m, p = markers[f["properties"]["id"]], f["properties"]
        assert m["onMap"] and m["text"] == str(p["sequence"])
        assert close([m["lon"], m["lat"]], f["geometry"]["coordinates"])
        assert m["label"].startswith(f"Stop {p['sequence']}: {p['category_name']}, report {p['id']}")
        assert f"g311-band-{p['band']}" in m["classes"]
    icons = page.locator(".leaflet-marker-pane .g311-stop-icon")
    expect(icons).to_have_count(len(ids))
    assert sorted(int(t) for t in icons.all_inner_texts()) == list(range(1, len(ids) + 1))
    path = route_path(page)
    assert close(path[0], wl["start"]) and len(path) == len(feats) + 1
    assert all(close(a, f["geometry"]["coordinates"]) for a, f in zip(path[1:], feats, strict=True))


# ----- tests ------------------------------------------------------------------------------------
def test_anonymous_visit_goes_to_sign_in(tab, live):
    page = tab.page
    page.goto("/crew")
    expect(page).to_have_url(f"{live.url}/login?next=/crew")
    expect(page.get_by_label("API key")).to_be_visible()
    r = httpx.get(f"{live.url}/crew", follow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/crew"
    tab.assert_clean()


def test_crew_signs_in_sees_the_route_and_works_through_it(tab, world):
    page = tab.page
    urgent = world.report(RICHMOND, "illegal_dumping", priority=5, description=f"Mattress {IMG}",
                          address="SE 40th & Division", reporter={"name": "Pat <i>Caller</i>",
                                                                  "email": "pat@example.org",
                                                                  "phone": "503-555-0111"})
    high = world.report(BROOKLYN, "campsite", priority=4, description="Two tents")
    normal = [world.report(HOSFORD, "campsite"), world.report(BUCKMAN, "graffiti"),
              world.report(SUNNYSIDE, "campsite")]
    wl = world.worklist()
    ids = [f["properties"]["id"] for f in wl["features"]]
    assert ids[:2] == [urgent, high] and sorted(ids[2:]) == sorted(normal)

    first = sign_in(page, world)
    assert [f["properties"]["id"] for f in first.json()["features"]] == ids
    expect(page.locator("h1")).to_have_text(f"Work list: {world.name}")     # markup in the name is text
    expect(page.locator("#g311-summary")).to_contain_text("5 stops")
    assert_route_matches(page, wl)
    expect(page.locator(".g311-start-icon")).to_have_count(1)
    assert page.locator(".leaflet-overlay-pane path.g311-route").count() == 1

    # everything from data is text: the description, the contact
    stop1 = page.locator(f"#g311-stop-{urgent}")
    expect(stop1.locator(".g311-stop-desc")).to_have_text(f"Mattress {IMG}")
    expect(stop1).to_contain_text("Pat <i>Caller</i>")
    expect(stop1.locator('a[href="mailto:pat@example.org"]')).to_have_text("pat@example.org")
    expect(stop1.locator('a[href="tel:5035550111"]')).to_have_text("503-555-0111")
    expect(stop1).to_contain_text("urgent")
    assert page.locator("#g311-panel img, #g311-panel i").count() == 0

    # resolve stop 2 with its button: it leaves the list and the map, and the others move up
    stop2 = page.locator(f"#g311-stop-{high}")
    with page.expect_response(is_api(f"/reports/{high}/events", "POST")) as posted, \
            page.expect_response(lambda r: r.request.method == "GET" and "/worklist" in r.url):
        stop2.get_by_role("button", name=f"Resolve stop 2 (report {high})").click()
    assert posted.value.status == 200
    assert posted.value.request.headers.get("x-csrf-token")
    page.wait_for_function(READY)
    expect(page.locator(f"#g311-stop-{high}")).to_have_count(0)
    expect(page.locator("#g311-status")).to_have_text(f"Stop 2 (report {high}) resolved.")
    after = world.worklist()
    assert high not in [f["properties"]["id"] for f in after["features"]]
    assert_route_matches(page, after)
    assert page.evaluate("() => document.activeElement.closest('#g311-stops') !== null")
    assert world.live.sql("SELECT status FROM reports WHERE id = %s", (high,)) == [("resolved",)]
    assert world.live.sql("SELECT actor, from_status FROM report_events WHERE report_id = %s AND to_status = 'resolved'",
                          (high,)) == [(f"crew:{world.name}", "open")]

    # start stop 1 from the keyboard: it stays, in progress, on the list and the map
    page.get_by_role("button", name=f"Start stop 1 (report {urgent})").focus()
    with page.expect_response(is_api(f"/reports/{urgent}/events", "POST")) as posted:
        page.keyboard.press("Enter")
    assert posted.value.status == 200
    page.wait_for_function(READY)
    stop1 = page.locator(f"#g311-stop-{urgent}")
    expect(stop1.locator(".g311-status")).to_have_text("in progress")
    expect(stop1.get_by_role("button", name=f"Start stop 1 (report {urgent})")).to_be_disabled()
    expect(page.locator(".leaflet-marker-pane .g311-stop-icon.g311-status-in_progress")).to_have_count(1)
    focused = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
    assert focused == f"Resolve stop 1 (report {urgent})"
    assert world.live.sql("SELECT status FROM reports WHERE id = %s", (urgent,)) == [("in_progress",)]
    assert world.live.sql("SELECT actor FROM report_events WHERE report_id = %s AND to_status = 'in_progress'",
                          (urgent,)) == [(f"crew:{world.name}",)]

    # and resolve it: the list is down to the three normal stops
    with page.expect_response(is_api(f"/reports/{urgent}/events", "POST")):
        page.keyboard.press("Enter")
    page.wait_for_function(READY)
    expect(page.locator("#g311-stops > li")).to_have_count(3)
    assert_route_matches(page, world.worklist())
    tab.assert_clean()


def test_a_marker_leads_to_its_stop_and_back(tab, world):
    page = tab.page
    a, b = world.report(HOSFORD, "campsite"), world.report(SUNNYSIDE, "graffiti")
    sign_in(page, world)
    seq_b = list_ids(page).index(b) + 1
    page.locator(".leaflet-marker-pane .g311-stop-icon", has_text=str(seq_b)).click()
    expect(page.locator(f"#g311-stop-{b}")).to_have_class("g311-stop g311-band-normal g311-status-open g311-selected")
    expect(page.locator(".leaflet-popup-content h3")).to_have_text(f"Stop {seq_b}: Graffiti")
    page.get_by_role("button", name=f"Show stop {3 - seq_b} (report {a}) on the map").click()
    expect(page.locator(".leaflet-popup")).to_have_count(1)      # the other one has faded out
    expect(page.locator(".leaflet-popup-content h3")).to_have_text(f"Stop {3 - seq_b}: Campsite")
    page.get_by_role("button", name=f"Go to stop {3 - seq_b} (report {a}) in the list").click()
    expect(page.locator(f"#g311-stop-{a}")).to_be_focused()
    expect(page.locator(".leaflet-popup")).to_have_count(0)
    tab.assert_clean()


def test_conflicts_are_shown_next_to_the_stop(tab, world):
    page = tab.page
    started = world.report(HOSFORD, "campsite")
    gone = world.report(SUNNYSIDE, "campsite")
    sign_in(page, world)
    # meanwhile, someone else (another device of the crew) starts one
    world.act(started, "start")

    with page.expect_response(is_api(f"/reports/{started}/events", "POST")) as posted:
        page.locator(f"#g311-stop-{started} button[data-action=start]").click()
    assert posted.value.status == 409
    page.wait_for_function(READY)
    error = page.locator(f"#g311-stop-{started}-error")
    expect(error).to_contain_text(f"Start failed: report {started} is in_progress; allowed actions:")
    expect(error).to_have_attribute("role", "alert")
    expect(page.locator(f"#g311-stop-{started} .g311-status")).to_have_text("in progress")

    # and then resolves the other
    expect(page.locator(f"#g311-stop-{gone}")).to_have_count(1)
    world.act(gone, "resolve")
    with page.expect_response(is_api(f"/reports/{gone}/events", "POST")) as posted:
        page.locator(f"#g311-stop-{gone} button[data-action=resolve]").click()
    assert posted.value.status == 409
    page.wait_for_function(READY)
    expect(page.locator(f"#g311-stop-{gone}")).to_have_count(0)
    expect(page.locator("#g311-status")).to_contain_text(f"Report {gone}: Resolve failed: report {gone} is resolved")
    expect(page.locator(".leaflet-marker-pane .g311-stop-icon")).to_have_count(1)
    tab.assert_clean()


def test_downloads_and_sign_out(tab, world):
    page = tab.page
    world.report(HOSFORD, "campsite", description="=HYPERLINK(\"x\")")
    world.report(BUCKMAN, "graffiti")
    world.report(BROOKLYN, "illegal_dumping", priority=5)
    ids = [f["properties"]["id"] for f in world.worklist()["features"]]
    sign_in(page, world)

    with page.expect_download() as download:
        page.get_by_role("link", name="CSV (spreadsheet)").click()
    assert download.value.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert [int(r["report_id"]) for r in rows] == ids
    assert [r["sequence"] for r in rows] == ["1", "2", "3"] and rows[0]["band"] == "urgent"

    with page.expect_download() as download:
        page.get_by_role("link", name="GPX (GPS apps)").click()
    gpx = ET.parse(download.value.path()).getroot()
    ns = {"g": "http://www.topografix.com/GPX/1/1"}
    assert [n.text.split("#")[-1] for n in gpx.findall("g:rte/g:rtept/g:name", ns)] == [str(i) for i in ids]

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{world.live.url}/login")
    page.goto("/crew")
    expect(page).to_have_url(f"{world.live.url}/login?next=/crew")
    tab.assert_clean()


def test_a_manager_picks_the_crew(tab, world, live):
    page = tab.page
    other = f"Other crew {uuid.uuid4().hex[:8]}"
    engine = create_engine(live.database_url, poolclass=pool.NullPool)
    with Session(engine) as session:
        world.extra_crews.append(new_crew(session, other)["id"])
    engine.dispose()
    report = world.report(HOSFORD, "campsite")
    sign_in(page, world, key=world.manager_key)
    expect(page.locator("#g311-who")).to_contain_text("Signed in as manager")
    page.select_option("#g311-crew", label=world.name)
    with page.expect_response(lambda r: r.request.method == "GET" and f"/crews/{world.crew_id}/worklist" in r.url):
        page.get_by_role("button", name="Show this crew").click()
    page.wait_for_function(READY)
    expect(page.locator("h1")).to_have_text(f"Work list: {world.name}")
    assert list_ids(page) == [report]
    # a manager's action is recorded as the manager's
    with page.expect_response(is_api(f"/reports/{report}/events", "POST")) as posted:
        page.get_by_role("button", name=f"Resolve stop 1 (report {report})").click()
    assert posted.value.status == 200
    page.wait_for_function(READY)
    expect(page.locator("#g311-summary")).to_contain_text("No stops")
    (actor,), = live.sql("SELECT actor FROM report_events WHERE report_id = %s AND to_status = 'resolved'", (report,))
    assert actor.startswith("manager:")
    tab.assert_clean()

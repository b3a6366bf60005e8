"""The resident map `/` and the report page `/reports/{id}` in headless Chromium, against the live
server, with every host but 127.0.0.1 blocked (base-map tiles fail, as without internet access).

Each test drives the page as a resident would (clicks, the form, the keyboard path), waits for the
API responses the page makes, and checks both what the page shows and what the database holds.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Response, expect
from sqlalchemy import create_engine, pool
from sqlalchemy.orm import Session

from geo311.auth import create_key
from tests.browser.conftest import TIMEOUT_MS
from tests.test_intake import CITY_HALL, HOSFORD, VANCOUVER_WA, offset

pytestmark = pytest.mark.live

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "</script><script>alert(1)</script>"
CITY_AGENCY = "Impact Reduction Program (Portland Solutions)"
HOSFORD_DISTRICTS = ("HOSFORD-ABERNETHY NEIGHBORHOOD DISTRICT ASSN.", "District 3", "Southeast Uplift")


# ----- helpers --------------------------------------------------------------------------------
def api_report(live, point, category="campsite", key: str | None = None, **props: Any) -> dict:
    """A report submitted through the API (as another resident would), its reply's JSON."""
    body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(point)},
            "properties": {"category": category, **props}}
    r = httpx.post(f"{live.url}/api/v1/reports", json=body, timeout=30,
                   headers={"Idempotency-Key": key or str(uuid.uuid4())})
    assert r.status_code in (200, 201), r.text
    return r.json()


def is_api(path: str, method: str = "GET"):
    """A predicate for page.expect_response: this method on this API path (query ignored)."""
    def match(response: Response) -> bool:
        return (response.request.method == method
                and urlsplit(response.url).path == "/api/v1" + path)
    return match


def open_map(page: Page, markers: int = 0) -> None:
    """Load `/` and wait until the open reports are on the map and the district layers are listed."""
    with page.expect_response(is_api("/layers")) as layers:
        ids = load_points(page, lambda: page.goto("/"))
    assert layers.value.status == 200
    assert len(ids) == markers
    expect(page.locator("#g311-layer option")).not_to_have_count(1)
    expect(page.locator("#g311-submit")).to_be_enabled()


def place_by_coordinates(page: Page, point, *, enter: bool = False) -> None:
    """The keyboard path: type latitude and longitude, then the button (or Enter)."""
    lon, lat = point
    page.fill("#g311-lat", f"{lat:.6f}")
    page.fill("#g311-lon", f"{lon:.6f}")
    if enter:
        page.press("#g311-lon", "Enter")
    else:
        page.click("#g311-place")
    expect(page.locator("#g311-where-status")).to_contain_text(f"latitude {lat:.5f}, longitude {lon:.5f}")


def choose_category(page: Page, code: str) -> Response | None:
    """Pick the category; with a pin down, returns the page's nearby check."""
    if page.input_value("#g311-lat") == "":
        page.select_option("#g311-category", code)
        return None
    with page.expect_response(is_api("/reports/nearby")) as nearby:
        page.select_option("#g311-category", code)
    return nearby.value


def send(page: Page) -> Response:
    with page.expect_response(is_api("/reports", "POST")) as reply:
        page.click("#g311-submit")
    return reply.value


def next_frame(page: Page) -> None:
    page.evaluate("() => new Promise((resolve) => requestAnimationFrame(() => resolve()))")


def pin_input(page: Page) -> tuple[float, float]:
    """The pin as the form holds it: (lon, lat)."""
    return float(page.input_value("#g311-lon")), float(page.input_value("#g311-lat"))


def map_point(page: Page, lon: float, lat: float) -> tuple[float, float]:
    """Viewport pixel of a lon/lat on the map."""
    return tuple(page.evaluate(
        """([lat, lon]) => {
             const m = window.geo311Resident.map, p = m.latLngToContainerPoint([lat, lon]);
             const r = m.getContainer().getBoundingClientRect();
             return [r.left + p.x, r.top + p.y];
           }""", [lat, lon]))


def set_view(page: Page, point, zoom: int) -> None:
    """Centre the map on a lon/lat at a zoom, without animation. Leaflet ignores setView while a zoom
    animation runs (such as the page's first fitBounds), so wait for that to end first."""
    got = page.evaluate(
        """([lat, lon, z]) => new Promise((resolve) => {
             const m = window.geo311Resident.map;
             const go = () => {
               if (m._animatingZoom) return setTimeout(go, 20);
               m.setView([lat, lon], z, {animate: false});
               resolve(m.getZoom());
             };
             go();
           })""", [point[1], point[0], zoom])
    assert got == zoom


def load_points(page: Page, action) -> list[int]:
    """Do `action` (which loads the page or moves the map) and wait until the page has put the open
    reports of the new view (the visible area padded by 20 %) into the cluster layer; returns their
    ids. A reply for an earlier view (the page also refetches when its first fitBounds animation
    ends) is not taken for this one."""
    replies: list[Response] = []
    collect = is_api("/reports/points")

    def on_response(response: Response) -> None:
        if collect(response):
            replies.append(response)

    def for_this_view(response: Response) -> bool:
        got = [float(v) for v in parse_qs(urlsplit(response.url).query)["bbox"][0].split(",")]
        return got == pytest.approx(want, abs=2e-5)

    page.on("response", on_response)
    try:
        action()
        want = page.evaluate("""() => {
            const b = window.geo311Resident.map.getBounds().pad(0.2);
            return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
        }""")
        # the newest reply for this view whose body arrived: the page aborts a fetch that a newer
        # one for the same view replaces, and Chromium then has headers but no body for it
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        body = None
        while body is None:
            for reply in reversed([r for r in replies if for_this_view(r)]):
                try:
                    body = reply.json()
                    break
                except PlaywrightError:
                    continue
            if body is None:
                assert time.monotonic() < deadline, f"no complete reply for the view {want}: {replies}"
                page.wait_for_timeout(50)  # responses keep arriving through on_response meanwhile
    finally:
        page.remove_listener("response", on_response)
    assert reply.status == 200
    ids = [f["id"] for f in body["features"]]
    page.wait_for_function(
        """(ids) => {
             const g = window.geo311Resident;
             return !!g && g.markers.size === ids.length && ids.every((id) => g.markers.has(String(id)));
           }""", arg=ids)
    return ids


def marker_icon(page: Page, report_id: int, point):
    """Zoom in on a report until its marker stands alone (out of any cluster); return its icon."""
    assert report_id in load_points(page, lambda: set_view(page, point, 18))
    # markercluster animates icons in (opacity 0 -> 1): wait until this one is shown for good
    page.wait_for_function(
        """(id) => {
             const g = window.geo311Resident, m = g.markers.get(String(id));
             return !!m && g.reports.getVisibleParent(m) === m && !!m._icon &&
               getComputedStyle(m._icon).opacity === "1" &&
               !document.querySelector(".leaflet-marker-icon[style*='opacity: 0']");
           }""", arg=report_id)
    icon = page.locator(f'img.leaflet-marker-icon[title*=", report {report_id}, "]')
    expect(icon).to_be_visible()
    return icon


def open_popup(page: Page, report_id: int, point):
    """Click a report's marker; wait for the report the popup fetches; return the popup."""
    icon = marker_icon(page, report_id, point)
    with page.expect_response(is_api(f"/reports/{report_id}")) as reply:
        icon.click()
    assert reply.value.status == 200
    popup = page.locator(".leaflet-popup-content .g311-report-summary")
    expect(popup).to_contain_text(f"report {report_id}")
    return popup


def counts(live) -> tuple[int, int]:
    """(reports, submissions) in the live database."""
    return live.sql("SELECT (SELECT count(*) FROM reports), (SELECT count(*) FROM submissions)")[0]


def manager_key(live) -> str:
    engine = create_engine(live.database_url, poolclass=pool.NullPool)
    try:
        with Session(engine) as session:
            return create_key(session, "manager", label="browser tests")[1]
    finally:
        engine.dispose()


# ----- drop a pin and submit ------------------------------------------------------------------
def test_click_the_map_drag_the_pin_and_submit_a_new_report(tab, live):
    page = tab.page
    open_map(page)
    set_view(page, HOSFORD, 16)
    page.mouse.click(*map_point(page, *HOSFORD))

    pin = page.locator(".leaflet-marker-icon:has(.g311-pin)")
    expect(pin).to_be_visible()
    lon, lat = pin_input(page)
    assert abs(lon - HOSFORD[0]) < 5e-5 and abs(lat - HOSFORD[1]) < 5e-5     # a pixel at z16 is ~1.5 m

    # drag the pin 40 px east: the form follows it
    box = pin.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for dx in range(4, 41, 4):
        page.mouse.move(x + dx, y)
        next_frame(page)          # Leaflet moves the icon on the next frame: let it follow the pointer
    page.mouse.up()
    expect(page.locator("#g311-lon")).not_to_have_value(f"{lon:.6f}")
    lon2, lat2 = pin_input(page)
    px = 360 / (256 * 2**16)                                                # degrees of longitude a pixel at z16
    assert lon2 - lon == pytest.approx(40 * px, abs=3 * px) and abs(lat2 - lat) < 3 * px

    nearby = choose_category(page, "campsite")
    assert nearby.status == 200 and nearby.json()["features"] == []
    expect(page.locator("#g311-nearby")).to_be_hidden()
    page.fill("#g311-description", "Two tents on the sidewalk")
    page.fill("#g311-name", "Pat Example")
    page.fill("#g311-email", "pat@example.org")
    reply = send(page)

    assert reply.status == 201
    p = reply.json()["properties"]
    assert p["merged"] is False and p["agency"] == CITY_AGENCY
    outcome = page.locator("#g311-outcome")
    expect(outcome).to_contain_text(f"Your report is number {p['id']}.")
    expect(outcome).to_contain_text(f"It went to {CITY_AGENCY} (City of Portland).")
    expect(outcome.get_by_role("link", name=f"Follow report {p['id']}")).to_have_attribute(
        "href", f"/reports/{p['id']}")
    expect(page.locator("#g311-lat")).to_have_value("")                   # the form is ready for the next

    rows = live.sql("SELECT r.id, c.code, r.status, r.agency, r.description, r.submission_count, "
                    "ST_X(r.location), ST_Y(r.location) FROM reports r JOIN categories c ON c.id = r.category_id")
    assert len(rows) == 1
    rid, code, status, agency, description, count, x, y = rows[0]
    assert (rid, code, status, agency, description, count) == (
        p["id"], "campsite", "open", CITY_AGENCY, "Two tents on the sidewalk", 1)
    assert abs(x - lon2) < 1e-6 and abs(y - lat2) < 1e-6
    assert live.sql("SELECT reporter_name, reporter_email, channel FROM submissions") == [
        ("Pat Example", "pat@example.org", "web")]
    # the new report appears on the map
    page.wait_for_function("(id) => window.geo311Resident.markers.has(String(id))", arg=p["id"])
    tab.assert_clean()


def test_a_second_submission_nearby_joins_the_first(tab, live):
    page = tab.page
    open_map(page)
    choose_category(page, "campsite")
    place_by_coordinates(page, HOSFORD)
    first = send(page)
    assert first.status == 201
    first_id = first.json()["properties"]["id"]
    expect(page.locator("#g311-outcome")).to_contain_text(f"Your report is number {first_id}.")

    # someone else, 10 m away, the same thing: the nearby check lists it; send anyway
    with page.expect_response(is_api("/reports/nearby")):
        place_by_coordinates(page, offset(HOSFORD, north_m=10))
    expect(page.locator("#g311-nearby-list li")).to_have_count(1)
    page.fill("#g311-description", "still there")
    second = send(page)

    assert second.status == 200
    p = second.json()["properties"]
    assert p["merged"] is True and p["id"] == first_id and p["submission_count"] == 2
    outcome = page.locator("#g311-outcome")
    expect(outcome).to_contain_text("This was already reported.")
    expect(outcome).to_contain_text(re.compile(
        rf"Your report joined report {first_id} \(it now has 2 submissions, 1\d m from your pin\)\."))
    assert live.sql("SELECT id, submission_count FROM reports") == [(first_id, 2)]
    assert counts(live) == (1, 2)
    tab.assert_clean()


def test_nearby_open_report_is_suggested_and_can_be_joined(tab, live):
    page = tab.page
    existing = api_report(live, HOSFORD, description="Tents by the fence")["properties"]
    api_report(live, offset(HOSFORD, east_m=30), category="graffiti")     # another category: not listed
    open_map(page, markers=2)

    place_by_coordinates(page, offset(HOSFORD, north_m=30))
    nearby = choose_category(page, "campsite")
    assert nearby.status == 200 and [f["id"] for f in nearby.json()["features"]] == [existing["id"]]

    section = page.locator("#g311-nearby")
    expect(section).to_be_visible()
    expect(section.get_by_role("heading", name="Is it one of these?")).to_be_visible()
    items = page.locator("#g311-nearby-list li")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text(f"Campsite · report {existing['id']}")
    expect(items.first).to_contain_text("Tents by the fence")
    expect(items.first).to_contain_text(re.compile(r"\b(29|30|31) m away"))

    page.fill("#g311-description", "three tents now")
    with page.expect_response(is_api(f"/reports/{existing['id']}/submissions", "POST")) as reply:
        items.first.get_by_role("button", name=f"Yes, add mine to report {existing['id']}").click()

    assert reply.value.status == 200
    p = reply.value.json()["properties"]
    assert p["id"] == existing["id"] and p["submission_count"] == 2
    expect(page.locator("#g311-outcome")).to_contain_text(
        f"Your report joined report {existing['id']} (it now has 2 submissions")
    assert live.sql("SELECT id, submission_count FROM reports WHERE category_id = "
                    "(SELECT id FROM categories WHERE code = 'campsite')") == [(existing["id"], 2)]
    assert counts(live) == (2, 3)
    assert live.sql("SELECT description, channel FROM submissions WHERE report_id = %s ORDER BY id",
                    (existing["id"],)) == [("Tents by the fence", "api"), ("three tents now", "web")]
    tab.assert_clean()


def test_a_pin_outside_the_service_area_is_refused_next_to_the_pin(tab, live):
    page = tab.page
    open_map(page)
    choose_category(page, "campsite")
    place_by_coordinates(page, VANCOUVER_WA, enter=True)
    page.fill("#g311-description", "across the river")
    reply = send(page)

    assert reply.status == 422
    message = reply.json()["error"]["message"]
    assert message
    popup = page.locator(".leaflet-popup .g311-error[role=alert]")
    expect(popup).to_have_text(message)
    # the popup is the pin's own, at the pin
    at = page.evaluate("""() => {
        let at = null;
        window.geo311Resident.map.eachLayer((l) => { if (l instanceof L.Popup) at = l.getLatLng(); });
        return at && [at.lng, at.lat];
    }""")
    assert at == pytest.approx(list(VANCOUVER_WA), abs=1e-6)
    outcome = page.locator("#g311-outcome")
    expect(outcome).to_contain_text("Your report was not accepted.")
    expect(outcome).to_contain_text(message)
    expect(page.locator("#g311-description")).to_have_value("across the river")   # nothing is lost
    assert counts(live) == (0, 0)
    tab.assert_clean()


# ----- no pointing needed -----------------------------------------------------------------------
def test_coordinates_and_a_district_centre_place_the_pin_without_pointing(tab, live):
    page = tab.page
    open_map(page)

    place_by_coordinates(page, CITY_HALL, enter=True)
    expect(page.locator(".leaflet-marker-icon:has(.g311-pin)")).to_be_visible()
    center = page.evaluate("() => { const c = window.geo311Resident.map.getCenter(); return [c.lng, c.lat]; }")
    assert center == pytest.approx(list(CITY_HALL), abs=1e-4)            # the map went to the pin
    choose_category(page, "graffiti")
    assert send(page).status == 201
    x, y = live.sql("SELECT ST_X(location), ST_Y(location) FROM reports")[0]
    assert (x, y) == pytest.approx(CITY_HALL, abs=1e-6)

    # a district's centre
    page.click("#g311-districts summary")
    with page.expect_response(is_api("/districts")) as reply:
        page.select_option("#g311-layer", "neighborhood")
    name = "BUCKMAN COMMUNITY ASSOCIATION"
    feature = next(f for f in reply.value.json()["features"] if f["properties"]["name"] == name)
    expect(page.locator("#g311-district")).to_be_enabled()
    page.select_option("#g311-district", label=name)
    expect(page.locator("#g311-district-go")).to_be_enabled()
    with page.expect_response(is_api("/reports/nearby")):
        page.click("#g311-district-go")
    expect(page.locator("#g311-status")).to_contain_text(f"Pin placed at the centre of {name}.")
    lon, lat = pin_input(page)
    assert (lon, lat) == pytest.approx(feature["properties"]["center"], abs=1e-6)
    reply = send(page)
    assert reply.status == 201
    rid = reply.json()["properties"]["id"]
    assert live.sql(
        "SELECT d.name FROM report_districts rd JOIN districts d ON d.id = rd.district_id "
        "JOIN district_layers l ON l.id = d.layer_id WHERE rd.report_id = %s AND l.key = 'neighborhood'",
        (rid,)) == [(name,)]
    assert counts(live) == (2, 2)
    tab.assert_clean()


# ----- safety -----------------------------------------------------------------------------------
def test_hostile_descriptions_show_as_text_and_run_nothing(tab, live):
    page = tab.page
    img = api_report(live, HOSFORD, description=IMG, address=SCRIPT)["properties"]
    script = api_report(live, CITY_HALL, category="graffiti", description=SCRIPT, address=IMG)["properties"]
    open_map(page, markers=2)

    for report, point, text in ((img, HOSFORD, IMG), (script, CITY_HALL, SCRIPT)):
        popup = open_popup(page, report["id"], point)
        expect(popup.locator("p", has_text=text).first).to_have_text(text)
        page.click(".leaflet-popup-close-button")
        expect(page.locator(".leaflet-popup")).to_have_count(0)

    # in the "Is it one of these?" list too
    set_view(page, HOSFORD, 15)
    place_by_coordinates(page, offset(HOSFORD, east_m=10))
    choose_category(page, "campsite")
    expect(page.locator("#g311-nearby-list li")).to_contain_text(IMG)

    for report, text in ((img, IMG), (script, SCRIPT)):
        response = page.goto(f"/reports/{report['id']}")
        assert response.status == 200
        expect(page.locator(".g311-description")).to_have_text(text)
        expect(page.locator("#g311-report")).to_contain_text(IMG if text == SCRIPT else SCRIPT)  # the address
        expect(page.locator("img.leaflet-marker-icon[alt='Report location']")).to_have_count(1)

    assert page.locator("img[src='x']").count() == 0
    assert tab.dialogs == []
    tab.assert_clean()


def test_the_page_loads_nothing_from_outside_but_tiles(tab, live):
    page = tab.page
    report = api_report(live, HOSFORD, description="tents")["properties"]
    api_report(live, CITY_HALL, category="graffiti")
    open_map(page, markers=2)

    # use the page: zooming, a pin by clicking, the nearby check, a district, a popup, the report page
    spot = offset(HOSFORD, east_m=300)
    load_points(page, lambda: set_view(page, spot, 16))
    page.mouse.click(*map_point(page, *spot))
    expect(page.locator(".leaflet-marker-icon:has(.g311-pin)")).to_be_visible()
    assert choose_category(page, "campsite").status == 200
    page.click("#g311-districts summary")
    with page.expect_response(is_api("/districts")):
        page.select_option("#g311-layer", "council_district")
    open_popup(page, report["id"], HOSFORD)
    page.wait_for_load_state("networkidle")
    resources = page.evaluate("() => performance.getEntriesByType('resource').map((e) => e.name)")
    page.goto(f"/reports/{report['id']}")
    page.wait_for_load_state("networkidle")
    resources += page.evaluate("() => performance.getEntriesByType('resource').map((e) => e.name)")

    assert tab.non_tile_outside == []
    foreign = [u for u in resources if urlsplit(u).hostname != "127.0.0.1" and not tab.tiles.fullmatch(u)]
    assert foreign == []
    if urlsplit(tab.tiles.pattern.replace("\\", "")).hostname not in ("127.0.0.1", None):
        assert tab.tile_requests, "the guard saw no tile request: is it working?"
    tab.assert_clean()


def test_the_outside_request_guard_catches_a_non_tile_request(tab, live):
    """The guard itself: an outside request that is not a tile, or one the page's CSP refuses, is
    recorded and fails assert_clean (so the test above would fail if the page asked for one)."""
    page = tab.page
    open_map(page)
    tile_origin = re.match(r"https?://[^/]+", tab.tiles.pattern.replace("\\", "")).group(0)
    if urlsplit(tile_origin).hostname in ("127.0.0.1", None):
        pytest.skip("the tiles come from this server")
    stray = tile_origin + "/not-a-tile.js"
    with page.expect_event("requestfailed", lambda r: r.url == stray):
        page.evaluate("(src) => { const i = new Image(); i.src = src; }", stray)
    assert stray in tab.non_tile_outside
    with pytest.raises(AssertionError, match="requests outside the server"):
        tab.assert_clean()

    # what the page's Content-Security-Policy stops before the network is caught too
    tab.outside.clear()
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        page.evaluate("""() => { const s = document.createElement("script");
                                s.src = "https://cdn.example.org/leaflet.js"; document.head.appendChild(s); }""")
    assert any("cdn.example.org" in m for m in tab.csp)
    with pytest.raises(AssertionError):
        tab.assert_clean()


# ----- the report page --------------------------------------------------------------------------
def test_the_report_page_shows_public_facts_and_history_only(tab, live):
    page = tab.page
    first = api_report(live, HOSFORD, description="Tents by the fence", address="SE Water Ave & Salmon St",
                       reporter={"name": "Robin Reporter", "email": "robin@example.org", "phone": "503-555-0100"})
    rid = first["properties"]["id"]
    api_report(live, offset(HOSFORD, north_m=5), reporter={"name": "Sam Second", "email": "sam@example.org"})
    r = httpx.post(f"{live.url}/api/v1/reports/{rid}/events", json={"action": "start", "note": "Crew on the way"},
                   headers={"Authorization": f"Bearer {manager_key(live)}"}, timeout=30)
    assert r.status_code == 200, r.text

    response = page.goto(f"/reports/{rid}")
    assert response.status == 200
    expect(page.locator("h1")).to_have_text(f"Report {rid}: Campsite")
    facts = dict(zip(page.locator(".g311-facts dt").all_text_contents(),
                     page.locator(".g311-facts dd").all_text_contents(), strict=True))
    assert facts["Status"] == "in progress"
    assert facts["Category"] == "Campsite"
    assert facts["Agency"] == CITY_AGENCY
    assert facts["Jurisdiction"] == "City of Portland"
    assert facts["Submissions"] == "2"
    assert facts["Address"] == "SE Water Ave & Salmon St"
    for district in HOSFORD_DISTRICTS:
        assert district in facts.values(), f"{district} missing from {facts}"
    expect(page.locator(".g311-description")).to_have_text("Tents by the fence")

    rows = page.locator("table.g311-history tbody tr")
    history = [r.locator("td").all_text_contents() for r in rows.all()]
    assert len(history) == live.sql("SELECT count(*) FROM report_events WHERE report_id = %s", (rid,))[0][0]
    assert any(what == "open → in progress" and note == "Crew on the way" for _when, what, note in history), history
    # dates as the reader's locale writes them (English here), with the offset shown
    assert all(re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d\u202f[AP]M \(GMT\+00:00\)", when)
               for when, _what, _note in history), history

    html = page.content()
    for private in ("Robin", "robin@example.org", "503-555-0100", "Sam Second", "sam@example.org"):
        assert private not in html
    expect(page.locator("img.leaflet-marker-icon[alt='Report location']")).to_have_count(1)

    missing = page.goto("/reports/999999")
    assert missing.status == 404
    expect(page.locator("h1")).to_have_text("Report not found")
    tab.assert_clean()

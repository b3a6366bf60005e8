"""The manager page `/manager` in headless Chromium against the live server, every host but
127.0.0.1 blocked (tests/browser/conftest.py: the `tab` fixture).

A manager signs in through the form with a key, sees the heat layer drawn from the aggregated
cells of GET /api/v1/heatmap, changes the filters and sees the map, the districts, the overdue
table and the trend reload, switches to the district choropleth, and downloads the CSVs. An
anonymous visit goes to sign-in; a crew's key gets a 403. Keys and crews made here persist in the
live database, so each test makes its own and deletes them after.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Response, expect
from sqlalchemy import create_engine, pool
from sqlalchemy.orm import Session

from geo311.auth import create_key
from geo311.crews import create_crew

pytestmark = pytest.mark.live

# Portland places far enough apart that none merges into another
HOSFORD = (-122.6587, 45.5122)     # SE Water Ave & Salmon St (Hosford-Abernethy)
BUCKMAN = (-122.6446, 45.5163)     # SE 20th & Belmont
SUNNYSIDE = (-122.6251, 45.5120)   # SE 37th & Hawthorne
RICHMOND = (-122.6218, 45.5048)    # SE 40th & Division
ST_JOHNS = (-122.7545, 45.5900)    # North Portland
READY = ("() => window.geo311Manager && window.geo311Manager.loads().heat > 0"
         " && window.geo311Manager.loads().districts > 0 && window.geo311Manager.loads().trend > 0"
         " && !window.geo311Manager.busy()")


@dataclass
class Reports:
    """Reports made through the API: id -> (category, neighborhood)."""

    live: object
    made: dict
    overdue_id: int = 0

    def add(self, point, category: str) -> dict:
        body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(point)},
                "properties": {"category": category, "description": "browser test"}}
        r = httpx.post(f"{self.live.url}/api/v1/reports", json=body, timeout=30,
                       headers={"Idempotency-Key": str(uuid.uuid4())})
        assert r.status_code == 201, r.text
        props = r.json()["properties"]
        self.made[props["id"]] = (category, props["districts"]["neighborhood"][0])
        return props


@pytest.fixture
def manager_key(live) -> Iterator[str]:
    engine = create_engine(live.database_url, poolclass=pool.NullPool)
    with Session(engine) as session:
        key_id, key = create_key(session, "manager", label="browser test: manager page")
    engine.dispose()
    try:
        yield key
    finally:
        live.sql("DELETE FROM api_keys WHERE key_id = %s", (key_id,))


@pytest.fixture
def reports(live) -> Reports:
    """Five reports in Portland: three campsites (one of them 20 days old, so overdue), graffiti,
    illegal dumping."""
    r = Reports(live, {})
    old = r.add(HOSFORD, "campsite")
    r.add(ST_JOHNS, "campsite")
    r.add(SUNNYSIDE, "campsite")
    r.add(BUCKMAN, "graffiti")
    r.add(RICHMOND, "illegal_dumping")
    # the rollups follow the update in the same transaction (statement triggers)
    live.sql("UPDATE reports SET created_at = now() - interval '20 days' WHERE id = %s", (old["id"],))
    r.overdue_id = old["id"]
    return r


def api(path: str):
    def match(response: Response) -> bool:
        return response.request.method == "GET" and urlsplit(response.url).path == "/api/v1" + path
    return match


def query_of(response: Response) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(response.url).query).items()}


def sign_in(page: Page, live, key: str) -> Response:
    """From /manager to the sign-in form and back, signed in; returns the page's first heat map."""
    page.goto("/manager")
    expect(page).to_have_url(f"{live.url}/login?next=/manager")
    page.fill("#g311-key", key)
    with page.expect_response(api("/heatmap")) as first:
        page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live.url}/manager")
    page.wait_for_function(READY)
    assert first.value.status == 200
    return first.value


def heat_state(page: Page) -> dict:
    """What the page holds and draws: the cells from the API, and the heat layer's points and max."""
    return page.evaluate("""() => {
        const m = window.geo311Manager, h = m.heat();
        return {cells: m.cells(), info: m.heatInfo(), onMap: m.map.hasLayer(h),
                points: h._latlngs.map(p => [p[0], p[1], p[2]]), max: h.options.max};
      }""")


def assert_heat_matches(page: Page, reply: dict) -> dict:
    """The heat layer is the reply's cells: one point per cell at its centre, weighted by its
    report count, `max` the largest count."""
    s = heat_state(page)
    cells = [f["properties"] for f in reply["features"]]
    assert sorted((c["center"][0], c["center"][1], c["reports"]) for c in cells) == \
        sorted((c["center"][0], c["center"][1], c["reports"]) for c in s["cells"])
    assert sorted(s["points"]) == sorted([c["center"][1], c["center"][0], c["reports"]] for c in cells)
    assert s["info"]["total_reports"] == reply["total_reports"] == sum(c["reports"] for c in cells)
    assert s["max"] == max(1, reply["max_reports"])
    return s


def table_rows(page: Page) -> list[list[str]]:
    return page.eval_on_selector_all(
        "#g311-overdue-rows tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent.trim()))")


# ----- tests ------------------------------------------------------------------------------------
def test_anonymous_visit_goes_to_sign_in(tab, live):
    page = tab.page
    page.goto("/manager")
    expect(page).to_have_url(f"{live.url}/login?next=/manager")
    expect(page.get_by_label("API key")).to_be_visible()
    r = httpx.get(f"{live.url}/manager", follow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/manager"
    assert httpx.get(f"{live.url}/api/v1/heatmap", timeout=30).status_code == 401
    tab.assert_clean()


def test_a_crew_key_gets_403(tab, live):
    engine = create_engine(live.database_url, poolclass=pool.NullPool)
    name = f"Manager-page test crew {uuid.uuid4().hex[:8]}"
    with Session(engine) as session:
        crew = create_crew(session, name, areas=["coalition:Southeast Uplift"], categories=["campsite"],
                           yard=(-122.65, 45.50))
        _, key = create_key(session, "crew", crew=name, label="browser test: manager page")
    engine.dispose()
    try:
        page = tab.page
        page.goto("/manager")
        page.fill("#g311-key", key)
        with page.expect_response(lambda r: urlsplit(r.url).path == "/manager" and r.request.method == "GET") as shown:
            page.get_by_role("button", name="Sign in").click()
        assert shown.value.status == 403
        expect(page).to_have_url(f"{live.url}/manager")
        expect(page.locator("h1")).to_have_text("Managers only")
        expect(page.locator("#g311-message")).to_contain_text(f"crew {name}")
        expect(page.get_by_role("link", name="Go to your own page")).to_have_attribute("href", "/crew")
        assert page.evaluate("() => window.geo311Manager === undefined")
        # the data is refused too, with the same cookie
        assert page.request.get(f"{live.url}/api/v1/stats/districts").status == 403
        tab.assert_clean()
    finally:
        live.sql("DELETE FROM crews WHERE id = %s", (crew["id"],))     # its key goes with it


def test_manager_sees_the_heat_map_and_the_filters_reload_it(tab, live, manager_key, reports):
    page = tab.page
    first = sign_in(page, live, manager_key)
    q = query_of(first)
    assert set(q) == {"bbox", "zoom"}                  # the visible box and zoom, no filters yet
    assert q["zoom"] == str(page.evaluate("() => window.geo311Manager.map.getZoom()"))
    reply = first.json()
    assert reply["total_reports"] == 5
    s = assert_heat_matches(page, reply)
    assert s["onMap"] and len(s["cells"]) >= 2
    # the heat layer is drawn: leaflet.heat's canvas is in the overlay pane
    expect(page.locator(".leaflet-overlay-pane canvas.leaflet-heatmap-layer")).to_have_count(1)
    page.wait_for_function("""() => { const c = document.querySelector('canvas.leaflet-heatmap-layer');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true; return false; }""")
    legend = page.locator("#g311-legend")
    expect(legend).to_contain_text("Reports per cell")
    expect(page.locator("#g311-heat-max")).to_have_text(str(reply["max_reports"]))
    expect(page.locator("#g311-heat-total")).to_contain_text("5 reports in")
    expect(page.locator("#g311-summary")).to_contain_text("5 reports in view · all categories · any status · all time")

    # the category filter reloads the heat map (and the districts and the trend) for campsites only
    with page.expect_response(lambda r: api("/heatmap")(r) and query_of(r).get("category") == "campsite") as heat, \
            page.expect_response(lambda r: api("/stats/districts")(r) and query_of(r).get("category") == "campsite"), \
            page.expect_response(lambda r: api("/stats/timeseries")(r) and query_of(r).get("category") == "campsite"):
        page.select_option("#g311-category", "campsite")
    page.wait_for_function(READY)
    assert heat.value.status == 200 and heat.value.json()["total_reports"] == 3
    assert_heat_matches(page, heat.value.json())
    assert "category=campsite" in heat_state(page)["info"]["query"]
    expect(page.locator("#g311-heat-total")).to_contain_text("3 reports in")
    assert parse_qs(urlsplit(page.url).query) == {"category": ["campsite"]}        # the address follows

    # a date range: only the two campsites of today; `to` is the last day, so `until` is the day after
    today = datetime.now(UTC).date()
    with page.expect_response(lambda r: api("/heatmap")(r) and "since" in query_of(r)) as heat:
        page.fill("#g311-from", (today - timedelta(days=7)).isoformat())
    page.wait_for_function(READY)
    assert query_of(heat.value)["since"] == (today - timedelta(days=7)).isoformat()
    assert heat.value.json()["total_reports"] == 2
    with page.expect_response(lambda r: api("/heatmap")(r) and "until" in query_of(r)) as heat:
        page.fill("#g311-to", today.isoformat())
    page.wait_for_function(READY)
    assert query_of(heat.value)["until"] == (today + timedelta(days=1)).isoformat()
    assert_heat_matches(page, heat.value.json())

    # the status filter: none of them is closed
    with page.expect_response(lambda r: api("/heatmap")(r) and "status" in query_of(r)) as heat:
        page.select_option("#g311-status-filter", "closed")
    page.wait_for_function(READY)
    assert query_of(heat.value)["status"] == "resolved,duplicate,not_actionable"
    assert heat.value.json()["total_reports"] == 0 and heat_state(page)["cells"] == []
    expect(page.locator("#g311-heat-total")).to_have_text("No reports in view with these filters.")

    # clearing the filters brings all five back
    with page.expect_response(lambda r: api("/heatmap")(r) and "category" not in query_of(r)) as heat:
        page.get_by_role("button", name="Clear filters").click()
    page.wait_for_function(READY)
    assert heat.value.json()["total_reports"] == 5

    # moving the map reloads the cells for the new box and zoom (debounced: one request)
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/api/v1/heatmap" in r.url else None)
    with page.expect_response(lambda r: api("/heatmap")(r) and query_of(r)["zoom"] == "14") as heat:
        page.evaluate(f"() => {{ const m = window.geo311Manager.map;"
                      f" m.setView([{HOSFORD[1]}, {HOSFORD[0]}], 14, {{animate: false}});"
                      " m.panBy([20, 10], {animate: false}); }")
    page.wait_for_function(READY)
    west, south, east, north = (float(v) for v in query_of(heat.value)["bbox"].split(","))
    assert west < HOSFORD[0] < east and south < HOSFORD[1] < north and east - west < 0.2
    assert heat.value.json()["level"] == 2                  # finer cells at neighbourhood zooms (level 3 from 15)
    assert_heat_matches(page, heat.value.json())
    assert len(asked) == 1, asked
    tab.assert_clean()


def test_districts_overdue_table_trend_and_downloads(tab, live, manager_key, reports):
    page = tab.page
    sign_in(page, live, manager_key)
    overdue_hood = reports.made[reports.overdue_id][1]

    # the table: the district of the old campsite first, with its one overdue report
    rows = table_rows(page)
    assert rows[0][0] == overdue_hood and rows[0][1:3] == ["1", "1"] and rows[0][3] == "20 days"
    hoods = {hood for _cat, hood in reports.made.values()}
    assert {r[0] for r in rows} == hoods and len(rows) == len(hoods)
    assert all(r[2] == "0" for r in rows[1:])
    expect(page.locator("#g311-overdue-layer")).to_have_text("Neighborhoods")

    # switch to the choropleth: one polygon per district, the heat layer off, a legend of classes
    dashboard = page.evaluate("() => window.geo311Manager.dashboard()")
    page.check("#g311-view-districts")
    polygons = page.locator(".leaflet-overlay-pane path.g311-district")
    expect(polygons).to_have_count(len(dashboard["features"]))
    assert len(dashboard["features"]) > 90                           # Portland's neighborhoods
    expect(page.locator(".leaflet-overlay-pane canvas.leaflet-heatmap-layer")).to_have_count(0)
    legend = page.locator("#g311-legend")
    expect(legend).to_contain_text("Districts: overdue")
    expect(legend.locator(".g311-classes li")).to_have_count(2)      # 0, and 1
    fills = page.eval_on_selector_all(".leaflet-overlay-pane path.g311-district", "ps => ps.map(p => p.getAttribute('fill'))")
    assert len(set(fills)) == 2                                      # the overdue one stands out
    assert parse_qs(urlsplit(page.url).query) == {"view": ["districts"]}

    # colour by open reports: no reload, new colours and legend
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/api/v1/" in r.url else None)
    page.select_option("#g311-measure", "open")
    expect(legend).to_contain_text("Districts: open")
    assert asked == []
    fills = page.eval_on_selector_all(".leaflet-overlay-pane path.g311-district", "ps => ps.map(p => p.getAttribute('fill'))")
    opens = {f["properties"]["open"] for f in dashboard["features"]} - {0}
    assert fills.count("#f3f4f6") == len(fills) - len(hoods)          # no open work: grey
    assert len(set(fills)) == 1 + len(opens)                            # a class per count, here

    # a district in the table: the map goes there and its popup tells its figures
    page.get_by_role("button", name=f"Show {overdue_hood} on the map").click()
    popup = page.locator(".leaflet-popup-content")
    expect(popup.locator("h3")).to_have_text(overdue_hood)
    expect(popup).to_contain_text("Overdue1")
    # and its trend
    district = f"neighborhood:{overdue_hood}"
    with page.expect_response(lambda r: api("/stats/timeseries")(r) and query_of(r).get("district") == district) as got:
        popup.get_by_role("button", name="Trend of this district").click()
    page.wait_for_function(READY)
    assert sum(p["new"] for p in got.value.json()["series"]) == 1
    expect(page.locator("#g311-trend-where")).to_contain_text(f"in {overdue_hood}")
    assert parse_qs(urlsplit(page.get_attribute("#g311-csv-trend", "href")).query)["district"] == [district]

    # another layer: the coalitions, reloaded
    with page.expect_response(lambda r: api("/stats/districts")(r) and query_of(r).get("layer") == "coalition") as got:
        page.select_option("#g311-layer", "coalition")
    page.wait_for_function(READY)
    expect(polygons).to_have_count(len(got.value.json()["features"]))
    expect(page.locator("#g311-overdue-layer")).to_have_text("Neighborhood coalitions")
    rows = table_rows(page)
    assert rows[0][0] == "Southeast Uplift" and rows[0][1:3] == ["4", "1"]
    expect(page.locator("#g311-trend-where")).to_have_text("")         # another layer: the whole area again

    # the trend: a bar pair per week, the numbers in a table; 5 new reports in all
    trend = page.evaluate("() => window.geo311Manager.trend()")
    assert sum(p["new"] for p in trend["series"]) == 5
    expect(page.locator("#g311-trend-chart rect.g311-bar-new")).to_have_count(len(trend["series"]))
    expect(page.locator("#g311-trend-rows tr")).to_have_count(len(trend["series"]))
    expect(page.locator("#g311-trend-chart svg title").last).to_contain_text(f"{trend['series'][-1]['new']} new")

    # the CSV downloads follow the filters
    with page.expect_response(lambda r: api("/stats/districts")(r) and query_of(r).get("category") == "campsite"):
        page.select_option("#g311-category", "campsite")
    page.wait_for_function(READY)
    with page.expect_download() as download:
        page.get_by_role("link", name="districts", exact=True).click()
    assert download.value.suggested_filename == "districts-coalition.csv"
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    by_name = {r["name"]: r for r in rows}
    assert by_name["Southeast Uplift"]["open"] == "2" and by_name["Southeast Uplift"]["overdue"] == "1"
    with page.expect_download() as download:
        page.get_by_role("link", name="trend", exact=True).click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert sum(int(r["new"]) for r in rows) == 3
    heat_href = page.get_attribute("#g311-csv-heat", "href")
    assert {"bbox", "zoom"} <= set(parse_qs(urlsplit(heat_href).query))
    assert parse_qs(urlsplit(heat_href).query)["category"] == ["campsite"]
    # the heat map's CSV is the cells of the view on the screen
    west, south, east, north = (float(v) for v in parse_qs(urlsplit(heat_href).query)["bbox"][0].split(","))
    bounds = page.evaluate("() => window.geo311Manager.map.getBounds().toBBoxString()").split(",")
    assert [west, south, east, north] == pytest.approx([float(v) for v in bounds], abs=1e-4)
    r = page.request.get(live.url + heat_href)
    assert r.status == 200 and r.headers["content-type"].startswith("text/csv")
    as_json = page.request.get(live.url + heat_href.replace("&format=csv", "")).json()
    assert sum(int(row["reports"]) for row in csv.DictReader(io.StringIO(r.text()))) == as_json["total_reports"] > 0

    # signing out ends it
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live.url}/login")
    page.goto("/manager")
    expect(page).to_have_url(f"{live.url}/login?next=/manager")
    tab.assert_clean()


def test_a_shared_address_opens_with_its_filters(tab, live, manager_key, reports):
    page = tab.page
    page.goto("/manager?category=graffiti&view=districts&measure=new&layer=coalition")
    page.fill("#g311-key", manager_key)
    with page.expect_response(lambda r: api("/stats/districts")(r) and query_of(r).get("layer") == "coalition") as got:
        page.get_by_role("button", name="Sign in").click()
    page.wait_for_function("() => window.geo311Manager && window.geo311Manager.loads().districts > 0"
                           " && window.geo311Manager.loads().trend > 0 && !window.geo311Manager.busy()")
    assert query_of(got.value)["category"] == "graffiti"
    expect(page.locator("#g311-category")).to_have_value("graffiti")
    expect(page.locator("#g311-view-districts")).to_be_checked()
    expect(page.locator("#g311-legend")).to_contain_text("Districts: new in the period")
    expect(page.locator(".leaflet-overlay-pane path.g311-district")).to_have_count(len(got.value.json()["features"]))
    # the heat map is not asked for until it is shown
    assert page.evaluate("() => window.geo311Manager.loads().heat") == 0
    with page.expect_response(lambda r: api("/heatmap")(r) and query_of(r).get("category") == "graffiti") as heat:
        page.check("#g311-view-heat")
    page.wait_for_function(READY)
    assert heat.value.json()["total_reports"] == 1
    expect(page.locator(".leaflet-overlay-pane path.g311-district")).to_have_count(0)
    expect(page.locator(".leaflet-overlay-pane canvas.leaflet-heatmap-layer")).to_have_count(1)
    tab.assert_clean()

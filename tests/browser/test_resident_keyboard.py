"""The resident map with a keyboard alone, in headless Chromium against the live server: no click,
no pointer; only Tab, Shift+Tab, typing, Enter, Space and the arrow keys (WCAG 2.1.1, 2.1.2, 2.4.7).
Focus is moved with Tab until it reaches the control, so each step also proves it is reachable."""

from __future__ import annotations

import math

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_resident import HOSFORD, counts, is_api, open_map, pin_input
from tests.test_intake import offset

pytestmark = pytest.mark.live

METRES_PER_DEGREE = 111_320


def focused(page: Page) -> dict:
    """What has the focus: its id, tag, data-move, whether it is inside the map, and its focus ring."""
    return page.evaluate("""() => {
        const e = document.activeElement, s = e ? getComputedStyle(e) : null;
        return e && {id: e.id, tag: e.tagName.toLowerCase(), move: e.getAttribute("data-move"),
                     inMap: !!e.closest(".folium-map"), isMap: e.classList.contains("folium-map"),
                     pin: !!e.querySelector(".g311-pin"),
                     ring: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2};
    }""")


def tab_to(page: Page, want, *, limit: int = 120, back: bool = False) -> dict:
    """Press Tab (or Shift+Tab) until `want(focused)` holds; every stop on the way shows a focus ring."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        now = focused(page)
        if now and now["tag"] != "body":
            assert now["ring"], f"no visible focus on {now}"
        if now and want(now):
            return now
    raise AssertionError(f"Tab never reached the control (last: {focused(page)})")


def by_id(name: str):
    return lambda f: f["id"] == name


def choose_with_arrows(page: Page, select_id: str, value: str) -> None:
    """A closed <select> with the focus: ArrowDown until it holds `value`."""
    for _ in range(40):
        if page.input_value(f"#{select_id}") == value:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"{value!r} is not reachable in #{select_id}")


def metres(a, b) -> tuple[float, float]:
    """(east, north) metres from lon/lat a to b."""
    east = (b[0] - a[0]) * METRES_PER_DEGREE * math.cos(math.radians(a[1]))
    return east, (b[1] - a[1]) * METRES_PER_DEGREE


def test_a_keyboard_only_resident_reports_a_campsite(tab, live):
    page = tab.page
    open_map(page)

    # the first stop is the skip link, shown when it has the focus; it leads to the form
    first = tab_to(page, lambda f: f["tag"] == "a")
    assert page.evaluate("() => document.activeElement.classList.contains('g311-skip')") and first["ring"]
    assert page.evaluate("() => document.activeElement.getBoundingClientRect().left >= 0")

    # typed coordinates, Enter places the pin
    tab_to(page, by_id("g311-lat"))
    page.keyboard.type(f"{HOSFORD[1]:.6f}")
    page.keyboard.press("Tab")
    page.keyboard.type(f"{HOSFORD[0]:.6f}")
    page.keyboard.press("Enter")
    status = page.locator("#g311-where-status")
    expect(status).to_contain_text(f"latitude {HOSFORD[1]:.5f}, longitude {HOSFORD[0]:.5f}")
    assert status.get_attribute("aria-live") == "polite" and status.get_attribute("role") == "status"

    # the "Move the pin" buttons: Enter moves 5 m north, the arrow keys move it too (Shift: 50 m)
    tab_to(page, lambda f: f["move"] == "north")
    page.keyboard.press("Enter")
    expect(status).to_contain_text("Pin moved 5 m north.")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowDown")
    expect(status).to_contain_text("Pin moved 50 m south.")
    east, north = metres(HOSFORD, pin_input(page))
    assert east == pytest.approx(10, abs=0.5) and north == pytest.approx(-45, abs=0.5)

    # the category with the arrow keys (its nearby check runs), a description, then Enter on Send
    tab_to(page, by_id("g311-category"))
    with page.expect_response(is_api("/reports/nearby")):
        choose_with_arrows(page, "g311-category", "campsite")
    tab_to(page, by_id("g311-attr-0"))                                # "How many tents or structures?"
    page.keyboard.type("2")
    tab_to(page, by_id("g311-description"))
    page.keyboard.type("Two tents by the path, typed with a keyboard only")
    tab_to(page, by_id("g311-submit"))
    with page.expect_response(is_api("/reports", "POST")) as reply:
        page.keyboard.press("Enter")

    assert reply.value.status == 201
    rid = reply.value.json()["properties"]["id"]
    outcome = page.locator("#g311-outcome")
    expect(outcome).to_contain_text(f"Thank you. Your report is number {rid}.")
    expect(outcome).to_be_focused()                 # the result takes the focus, and it is a live region
    assert outcome.get_attribute("aria-live") == "polite"
    (x, y, description, tents), = live.sql(
        "SELECT ST_X(r.location), ST_Y(r.location), r.description, s.attributes->>'tents' FROM reports r "
        "JOIN submissions s ON s.report_id = r.id")
    east, north = metres(HOSFORD, (x, y))
    assert east == pytest.approx(10, abs=0.5) and north == pytest.approx(-45, abs=0.5)
    assert description == "Two tents by the path, typed with a keyboard only" and tents == "2"

    # follow the report, by keyboard
    tab_to(page, lambda f: f["tag"] == "a" and not f["inMap"] and
           page.evaluate("() => document.activeElement.textContent") == f"Follow report {rid}")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text(f"Report {rid}: Campsite")
    assert counts(live) == (1, 1)
    tab.assert_clean()


def test_the_map_takes_the_keyboard_and_gives_it_back(tab, live):
    page = tab.page
    open_map(page)
    tab_to(page, lambda f: f["isMap"])

    # Enter on the map drops the pin at its centre; the arrow keys then move the pin, not the map
    centre = page.evaluate("() => { const c = window.geo311Resident.map.getCenter(); return [c.lng, c.lat]; }")
    page.keyboard.press("Enter")
    expect(page.locator("#g311-status")).to_contain_text("Pin dropped at the centre of the map.")
    assert pin_input(page) == pytest.approx(centre, abs=1e-6)
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Shift+ArrowLeft")
    east, north = metres(centre, pin_input(page))
    assert east == pytest.approx(-50, abs=0.5) and north == pytest.approx(5, abs=0.5)
    moved = page.evaluate("() => { const c = window.geo311Resident.map.getCenter(); return [c.lng, c.lat]; }")
    assert moved == pytest.approx(centre, abs=1e-9)          # the map stayed: the pin moved

    # the pin itself takes the focus and the arrow keys
    tab_to(page, lambda f: f["pin"])
    before = pin_input(page)
    page.keyboard.press("ArrowDown")
    east, north = metres(before, pin_input(page))
    assert north == pytest.approx(-5, abs=0.5) and abs(east) < 0.5

    # not a trap: Tab goes on out of the map, and Shift+Tab comes back to the form
    tab_to(page, lambda f: not f["inMap"] and f["tag"] != "body", limit=60)
    tab_to(page, by_id("g311-submit"), back=True, limit=60)
    tab.assert_clean()


def test_problems_are_announced(tab, live):
    page = tab.page
    open_map(page)
    tab_to(page, by_id("g311-submit"))
    page.keyboard.press("Enter")                     # the browser's own check: the category is required
    expect(page.locator("#g311-category")).to_be_focused()
    choose_with_arrows(page, "g311-category", "graffiti")
    tab_to(page, by_id("g311-submit"))
    page.keyboard.press("Enter")                     # no pin yet
    status = page.locator("#g311-status")
    expect(status).to_have_text("Place a pin first: click the map, enter coordinates, or pick a district.")
    assert status.get_attribute("role") == "status" and status.get_attribute("aria-live") == "assertive"
    expect(page.locator("#g311-lat")).to_be_focused()        # and the focus goes where it can be fixed

    page.keyboard.type("45.5")
    page.keyboard.press("Enter")                              # no longitude
    expect(status).to_have_text("Enter both latitude and longitude.")
    assert counts(live) == (0, 0)
    tab.assert_clean()


def test_moving_the_pin_far_keeps_it_in_view(tab, live):
    page = tab.page
    open_map(page)
    tab_to(page, by_id("g311-lat"))
    start = offset(HOSFORD, north_m=0)
    page.keyboard.type(f"{start[1]:.6f}")
    page.keyboard.press("Tab")
    page.keyboard.type(f"{start[0]:.6f}")
    page.keyboard.press("Enter")
    tab_to(page, lambda f: f["move"] == "east")
    for _ in range(12):
        page.keyboard.press("Shift+ArrowRight")             # 600 m: further than the view at zoom 16
    inside = page.evaluate("""() => {
        const g = window.geo311Resident, p = [Number(document.getElementById('g311-lat').value),
                                             Number(document.getElementById('g311-lon').value)];
        return g.map.getBounds().contains(p);
    }""")
    assert inside
    tab.assert_clean()

"""The address search and the nearest-address hint on the resident map `/`, in headless Chromium
against the live server, on the SE Division/Hawthorne address sample the live database holds
(tests/conftest.py): an address typed as people type it lands the pin on its address point; an
ambiguous one lists the candidates to choose from; a miss says so; a click names the nearest address."""

from __future__ import annotations

import csv
import json

import pytest
from playwright.sync_api import Page, expect

from geo311 import geocoding
from tests.browser.test_resident import choose_category, is_api, map_point, open_map, send, set_view
from tests.conftest import ADDRESS_SAMPLE

pytestmark = pytest.mark.live

ROWS = list(csv.DictReader(ADDRESS_SAMPLE.open(encoding="utf-8")))


def address_point(number: str, street: str) -> tuple[float, float]:
    """(lon, lat) of an address in the sample file (the first building of it)."""
    row = next(r for r in ROWS if r["NUMBER"] == number and r["STREET"] == street)
    return float(row["LON"]), float(row["LAT"])


DIVISION_1101 = address_point("1101", "Southeast Division Street")
DIVISION_1125 = address_point("1125", "Southeast Division Street")    # a building ~30 m from others


def search(page: Page, text: str, *, enter: bool = True):
    """Type into "Find an address" and press Enter (or the button); the page's /geocode reply."""
    page.get_by_label("Find an address").fill(text)
    with page.expect_response(is_api("/geocode")) as reply:
        if enter:
            page.press("#g311-search", "Enter")
        else:
            page.click("#g311-search-go")
    assert reply.value.status == 200
    return reply.value.json()


def pin(page: Page) -> tuple[float, float]:
    """(lon, lat) of the pin itself (full precision) and the form's rounded copy agree."""
    lon, lat = page.evaluate("""() => {
        let at = null;
        window.geo311Resident.map.eachLayer((l) => {
          if (l instanceof L.Marker && l.getElement() && l.getElement().querySelector('.g311-pin')) at = l.getLatLng();
        });
        return at && [at.lng, at.lat];
    }""")
    assert float(page.input_value("#g311-lon")) == pytest.approx(lon, abs=1e-6)
    assert float(page.input_value("#g311-lat")) == pytest.approx(lat, abs=1e-6)
    return lon, lat


def test_a_typed_address_places_the_pin_on_its_point_and_the_report_there(tab, live):
    page = tab.page
    open_map(page)
    expect(page.get_by_label("Find an address")).to_be_visible()
    found = search(page, "1101 se division st")
    best = found["candidates"][0]
    assert geocoding.clear_best(found) == best and best["address"] == "1101 Southeast Division Street"

    status = page.locator("#g311-search-status")
    expect(status).to_have_text("Pin placed at 1101 Southeast Division Street. Drag it to the exact spot if needed.")
    expect(page.locator(".leaflet-marker-icon:has(.g311-pin)")).to_be_visible()
    assert pin(page) == pytest.approx(DIVISION_1101, abs=1e-6)            # the address point itself
    assert (best["lon"], best["lat"]) == pytest.approx(DIVISION_1101, abs=1e-6)
    expect(page.locator("#g311-candidates")).to_be_hidden()               # nothing else to choose
    expect(page.locator("#g311-address")).to_have_value("1101 Southeast Division Street")
    center = page.evaluate("() => { const c = window.geo311Resident.map.getCenter(); return [c.lng, c.lat]; }")
    assert center == pytest.approx(DIVISION_1101, abs=1e-3)               # the map went there

    choose_category(page, "graffiti")
    reply = send(page)
    assert reply.status == 201
    sent = json.loads(reply.request.post_data)
    assert sent["geometry"]["coordinates"] == pytest.approx(list(DIVISION_1101), abs=1e-7)
    assert sent["properties"]["address"] == "1101 Southeast Division Street"
    rid = reply.json()["properties"]["id"]
    x, y, address = live.sql("SELECT ST_X(location), ST_Y(location), address FROM reports WHERE id = %s", (rid,))[0]
    assert (x, y) == pytest.approx(DIVISION_1101, abs=1e-7)
    assert address == "1101 Southeast Division Street"
    # the report's point is that address's point: the nearest address to it is the one typed, 0 m away
    nearest = live.sql("SELECT a.label, ST_Distance(a.location::geography, r.location::geography) FROM reports r, "
                       "LATERAL (SELECT label, location FROM addresses ORDER BY location <-> r.location LIMIT 1) a "
                       "WHERE r.id = %s", (rid,))[0]
    assert nearest[0] == "1101 Southeast Division Street" and nearest[1] < 0.5
    # the form is ready for the next report
    expect(page.get_by_label("Find an address")).to_have_value("")
    expect(status).to_have_text("")
    tab.assert_clean()


def test_a_nearest_number_match_says_which_address_it_used(tab, live):
    page = tab.page
    open_map(page)
    found = search(page, "1100 SE Division", enter=False)                  # the button, this time
    best = found["candidates"][0]
    assert best["match"] == "nearest_number" and geocoding.clear_best(found) == best
    expect(page.locator("#g311-search-status")).to_have_text(
        f"Pin placed at {best['address']} (the nearest house number we know, {best['number_gap']} from the "
        "number you typed). Drag it to the exact spot if needed.")
    assert pin(page) == pytest.approx((best["lon"], best["lat"]), abs=1e-6)
    tab.assert_clean()


def test_an_ambiguous_address_lists_the_candidates_and_the_chosen_one_places_the_pin(tab, live):
    page = tab.page
    open_map(page)
    found = search(page, "4000 se grant")
    cands = found["candidates"]
    assert len(cands) >= 2 and geocoding.clear_best(found) is None       # Grant Street and Grant Court

    expect(page.locator("#g311-search-status")).to_have_text(f"{len(cands)} addresses might match 4000 se grant: choose one.")
    buttons = page.locator("#g311-candidates button.g311-candidate")
    expect(buttons).to_have_count(len(cands))
    labels = {"exact": "exact match", "nearest_number": "nearest house number we know", "fuzzy": "similar address"}
    for button, c in zip(buttons.all(), cands, strict=True):             # best first, with how each matched
        expect(button).to_contain_text(c["address"])
        expect(button).to_contain_text(labels[c["match"]])
    expect(page.locator("#g311-lat")).to_have_value("")                   # no pin until one is chosen

    second = cands[1]
    with page.expect_response(is_api("/reports/nearby")) as nearby:
        page.select_option("#g311-category", "campsite")
        page.get_by_role("button", name=second["address"]).click()
    assert nearby.value.status == 200
    assert pin(page) == pytest.approx((second["lon"], second["lat"]), abs=1e-6)
    expect(page.locator("#g311-candidates")).to_be_hidden()
    expect(page.locator("#g311-search-status")).to_contain_text(f"Pin placed at {second['address']}")
    expect(page.locator("#g311-description")).to_be_focused()
    tab.assert_clean()


def test_an_unknown_address_says_so_and_places_no_pin(tab, live):
    page = tab.page
    open_map(page)
    found = search(page, "12 Nowhere Lane")
    assert found["candidates"] == []
    status = page.locator("#g311-search-status")
    expect(status).to_have_text("No address like '12 Nowhere Lane' is known here. "
                                "Check the address, or place the pin on the map.")
    expect(status).to_have_class("g311-error")
    expect(page.locator("#g311-candidates")).to_be_hidden()
    expect(page.locator("#g311-lat")).to_have_value("")

    # no house number: the server says what is needed
    search(page, "SE Division St")
    expect(status).to_contain_text("A house number and a street are needed")
    # nothing typed: no request, a prompt
    page.get_by_label("Find an address").fill("")
    page.press("#g311-search", "Enter")
    expect(status).to_have_text("Type an address first: a house number and a street.")
    tab.assert_clean()


def test_a_click_names_the_nearest_address_and_fills_the_empty_address_field(tab, live):
    page = tab.page
    open_map(page)
    near = DIVISION_1125[0] + 0.00002, DIVISION_1125[1]                   # ~1.5 m east of 1125's point
    set_view(page, near, 18)
    with page.expect_response(is_api("/reverse")) as reply:
        page.mouse.click(*map_point(page, *near))
    got = reply.value.json()
    assert got["address"] == "1125 Southeast Division Street" and got["distance_m"] < 10
    hint = page.locator("#g311-nearest")
    expect(hint).to_have_text(f"Nearest address: 1125 Southeast Division Street, {round(got['distance_m'])} m from the pin.")
    expect(page.locator("#g311-address")).to_have_value("1125 Southeast Division Street")

    # dragged ~67 m west: the hint follows; the page's own prefill follows too
    pinned = page.locator(".leaflet-marker-icon:has(.g311-pin)")
    box = pinned.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for dx in range(8, 161, 8):
        page.mouse.move(x - dx, y)
        page.evaluate("() => new Promise((resolve) => requestAnimationFrame(() => resolve()))")
    with page.expect_response(is_api("/reverse")) as reply:
        page.mouse.up()
    moved = reply.value.json()
    assert moved["address"] != "1125 Southeast Division Street"
    expect(hint).to_contain_text(f"Nearest address: {moved['address']}, ")
    want = moved["address"] if moved["distance_m"] <= 30 else f"Near {moved['address']}"
    expect(page.locator("#g311-address")).to_have_value(want)

    # what the resident typed is theirs: a later pin does not overwrite it
    page.fill("#g311-address", "behind the bus shelter")
    with page.expect_response(is_api("/reverse")):
        page.mouse.click(*map_point(page, *near))
    expect(hint).to_contain_text("Nearest address: 1125 Southeast Division Street")
    expect(page.locator("#g311-address")).to_have_value("behind the bus shelter")
    tab.assert_clean()

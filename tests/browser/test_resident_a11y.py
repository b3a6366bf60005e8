"""axe-core on the resident pages, in headless Chromium against the live server: no violation of the
WCAG 2.1 A and AA rules on `/` and `/reports/{id}`, in English (left to right) and in Arabic (right
to left), with open reports on the map (markers, clusters, the pin and a popup are checked too).

axe-core is vendored for the tests only (tests/vendor/axe-core, see its README); it is evaluated in
the page through the DevTools protocol, so the page's Content-Security-Policy stays as it is.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_resident import (
    HOSFORD,
    api_report,
    is_api,
    load_points,
    open_map,
    place_by_coordinates,
    set_view,
)
from tests.test_intake import CITY_HALL, offset

pytestmark = pytest.mark.live

AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page: Page) -> list[dict]:
    """axe.run() on the whole document, WCAG 2.0/2.1 A and AA rules only; its violations."""
    if not page.evaluate("() => !!window.axe"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("""(tags) => axe.run(document, {runOnly: {type: "tag", values: tags},
                                                           resultTypes: ["violations"]})""", WCAG_21_AA)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [(n["target"], n.get("failureSummary", "")[:300]) for n in v["nodes"][:5]]}
            for v in result["violations"]]


def assert_no_violations(page: Page) -> None:
    found = axe_violations(page)
    assert found == [], "axe-core found WCAG 2.1 A/AA violations:\n" + "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(f"{t}: {s}" for t, s in v["nodes"])
        for v in found)


def reports_on_the_map(live) -> list[dict]:
    """A few open reports: a cluster near Hosford, one alone at City Hall."""
    made = [api_report(live, offset(HOSFORD, east_m=120 * i), description=f"tents {i}")["properties"]
            for i in range(3)]
    made.append(api_report(live, CITY_HALL, category="graffiti", description="tags on the wall")["properties"])
    return made


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_the_resident_map_has_no_wcag_violations(tab, live, lang):
    page = tab.page
    made = reports_on_the_map(live)
    with page.expect_response(is_api("/layers")):
        ids = load_points(page, lambda: page.goto(f"/?lang={lang}"))
    assert sorted(ids) == sorted(p["id"] for p in made)
    expect(page.locator("html")).to_have_attribute("dir", "rtl" if lang == "ar" else "ltr")
    expect(page.locator(".marker-cluster").first).to_be_visible()
    assert_no_violations(page)

    # with a pin, a category's questions, the "Is it one of these?" list and a single marker shown
    place_by_coordinates(page, offset(HOSFORD, north_m=10)) if lang == "en" else _place_ar(page)
    with page.expect_response(is_api("/reports/nearby")):
        page.select_option("#g311-category", "campsite")
    expect(page.locator("#g311-nearby")).to_be_visible()
    page.locator("#g311-districts summary").press("Enter")
    load_points(page, lambda: set_view(page, CITY_HALL, 18))
    assert_no_violations(page)
    # axe judges contrast only where it can see: look again with the panel scrolled to its end
    page.evaluate("() => { const p = document.getElementById('g311-panel'); p.scrollTop = p.scrollHeight; }")
    assert_no_violations(page)
    tab.assert_clean()


def _place_ar(page: Page) -> None:
    lon, lat = offset(HOSFORD, north_m=10)
    page.fill("#g311-lat", f"{lat:.6f}")
    page.fill("#g311-lon", f"{lon:.6f}")
    page.click("#g311-place")
    expect(page.locator("#g311-where-status")).to_contain_text(f"{lat:.5f}")


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_the_report_page_has_no_wcag_violations(tab, live, lang):
    page = tab.page
    rid = api_report(live, HOSFORD, description="Two tents by the fence")["properties"]["id"]
    api_report(live, offset(HOSFORD, east_m=5), description="still there")      # joins it: history
    response = page.goto(f"/reports/{rid}?lang={lang}")
    assert response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.locator(".leaflet-marker-icon")).to_have_count(1)
    assert_no_violations(page)

    response = page.goto(f"/reports/{rid + 1000}?lang={lang}")           # the "not found" page too
    assert response.status == 404
    assert_no_violations(page)
    tab.assert_clean()


def test_the_report_page_reads_without_the_map(tab, live):
    """Everything the report page says is in its text: without the map (or its script) nothing is lost."""
    page = tab.page
    rid = api_report(live, HOSFORD, description="Two tents by the fence", address="SE 12th & Hawthorne")["properties"]["id"]
    page.route("**/leaflet.js", lambda route: route.abort())
    page.goto(f"/reports/{rid}")
    main = page.locator("#g311-report")
    for text in (f"Report {rid}: Campsite", "Status", "open", "Two tents by the fence", "SE 12th & Hawthorne",
                 f"{HOSFORD[1]:.6f}, {HOSFORD[0]:.6f}", "History", "Reported"):
        expect(main).to_contain_text(text)
    assert_no_violations(page)


def test_the_check_would_see_a_violation(tab, live):
    """The axe check is live: an unlabelled field and low-contrast text are reported."""
    page = tab.page
    open_map(page)
    page.evaluate("""() => {
        const f = document.getElementById("g311-what");
        const i = document.createElement("input"); i.id = "unlabelled"; f.appendChild(i);
        const p = document.createElement("p"); p.textContent = "faint text"; p.style.color = "#cccccc";
        document.getElementById("g311-title").after(p);
    }""")
    assert {"label", "color-contrast"} <= {v["id"] for v in axe_violations(page)}

"""Residents who read Spanish, Vietnamese or Arabic report a campsite end to end, in headless
Chromium against the live server: the page, the category and its questions, the refusals, the
outcome and the report page all in their language; the language picker remembers the choice."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import TIMEOUT_MS, VIEWPORT, Tab, is_local
from tests.browser.test_resident import (
    CITY_AGENCY,
    HOSFORD,
    VANCOUVER_WA,
    api_report,
    counts,
    is_api,
    open_map,
)
from tests.test_intake import offset

pytestmark = pytest.mark.live

DIVISION_1101 = "1101 Southeast Division Street"


@pytest.fixture
def vi_tab(browser, live, tile_regex) -> Iterator[Tab]:
    """Like `tab`, in a browser whose language is Vietnamese (its Accept-Language says so)."""
    context = browser.new_context(base_url=live.url, viewport=VIEWPORT, service_workers="block",
                                  locale="vi-VN", timezone_id="America/Los_Angeles")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    tab = Tab(page, tile_regex)

    def block(route, request) -> None:
        tab._outside(request.url)
        route.abort("internetdisconnected")

    context.route(lambda url: not is_local(url), block)
    page.on("request", lambda request: tab._outside(request.url))
    page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    page.on("console", lambda msg: tab.csp.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text else None)
    page.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
    yield tab
    context.close()


def send_by_button(page: Page, name: str):
    with page.expect_response(is_api("/reports", "POST")) as reply:
        page.get_by_role("button", name=name, exact=True).click()
    return reply.value


def pick_language(page: Page, code: str, button: str) -> None:
    """The visible picker: choose a language and press its button (a GET form: the page reloads)."""
    page.select_option("#g311-lang", code)
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


def test_a_spanish_speaking_resident_reports_a_campsite(tab, live):
    page = tab.page
    open_map(page)
    pick_language(page, "es", "Change language")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", level=1)).to_have_text("Reportar un problema")
    expect(page.locator("#g311-submit")).to_be_enabled()
    expect(page.locator("#g311-layer option")).not_to_have_count(1)

    # a pin across the river is refused, in Spanish, and nothing is lost
    lon, lat = VANCOUVER_WA
    page.get_by_label("Latitud").fill(f"{lat:.6f}")
    page.get_by_label("Longitud").fill(f"{lon:.6f}")
    page.get_by_role("button", name="Colocar el marcador en estas coordenadas").click()
    expect(page.locator("#g311-where-status")).to_contain_text("Marcador en latitud")
    page.get_by_label("Categoría").select_option(label="Campamento")
    page.get_by_label("Descripción").fill("Dos carpas junto a la cerca")
    reply = send_by_button(page, "Enviar reporte")
    assert reply.status == 422
    assert reply.json()["error"]["lang"] == "es"
    assert "fuera del área de servicio" in reply.json()["error"]["message"]
    outcome = page.locator("#g311-outcome")
    expect(outcome).to_contain_text("Su reporte no fue aceptado.")
    expect(outcome).to_contain_text("fuera del área de servicio")
    expect(page.get_by_label("Descripción")).to_have_value("Dos carpas junto a la cerca")

    # the right place: the category's questions are in Spanish too
    lon, lat = HOSFORD
    page.get_by_label("Latitud").fill(f"{lat:.6f}")
    page.get_by_label("Longitud").fill(f"{lon:.6f}")
    with page.expect_response(is_api("/reports/nearby")):
        page.get_by_role("button", name="Colocar el marcador en estas coordenadas").click()
    page.get_by_label("¿Cuántas carpas o estructuras hay? (opcional)").fill("2")
    page.get_by_label("¿Bloquea una acera, un sendero o una entrada? (opcional)").select_option(label="Sí")
    page.get_by_label("Agujas u objetos punzantes").check()
    reply = send_by_button(page, "Enviar reporte")

    assert reply.status == 201
    rid = reply.json()["properties"]["id"]
    expect(outcome).to_contain_text(f"Gracias. Su reporte es el número {rid}.")
    expect(outcome).to_contain_text(f"Se envió a {CITY_AGENCY} (City of Portland).")
    (description, attributes), = live.sql(
        "SELECT r.description, s.attributes FROM reports r JOIN submissions s ON s.report_id = r.id")
    assert description == "Dos carpas junto a la cerca"
    assert attributes == {"tents": 2, "blocking": "yes", "hazards": ["needles"]}

    # the report page follows the choice (the picker's cookie)
    with page.expect_navigation():
        outcome.get_by_role("link", name=f"Seguir el reporte {rid}").click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("h1")).to_have_text(f"Reporte {rid}: Campamento")
    facts = page.locator(".g311-facts")
    expect(facts).to_contain_text("Estado")
    expect(facts.locator(".g311-status-value")).to_have_text("abierto")
    expect(page.get_by_role("heading", name="Historial")).to_be_visible()
    # the date the Spanish way: day, month in Spanish, year, 24-hour time
    expect(page.locator("time").first).to_have_text(re.compile(r"\d{1,2} (ene|feb|mar|abr|may|jun|jul|ago|sept?|oct|nov|dic)\.? \d{4}, \d{1,2}:\d\d \(GMT\+00:00\)"))
    assert counts(live) == (1, 1)
    tab.assert_clean()


def test_a_vietnamese_speaking_resident_reports_a_campsite(vi_tab, live):
    tab = vi_tab
    page = tab.page
    existing = api_report(live, HOSFORD, description="Lều cạnh hàng rào")["properties"]
    open_map(page, markers=1)
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.get_by_role("heading", level=1)).to_have_text("Báo cáo sự cố")

    # an address that is not known: said in Vietnamese, not in the server's English note
    page.get_by_label("Tìm địa chỉ").fill("12 nowhere lane")
    with page.expect_response(is_api("/geocode")):
        page.get_by_role("button", name="Tìm", exact=True).click()
    expect(page.locator("#g311-search-status")).to_contain_text("Không tìm thấy địa chỉ nào giống 12 nowhere lane ở đây.")
    expect(page.locator("#g311-search-status")).not_to_contain_text("is known here")

    # an address, found in Vietnamese words
    page.get_by_label("Tìm địa chỉ").fill("1101 se division st")
    with page.expect_response(is_api("/geocode")):
        page.get_by_role("button", name="Tìm", exact=True).click()
    expect(page.locator("#g311-search-status")).to_have_text(
        f"Đã đặt ghim tại {DIVISION_1101}. Kéo ghim đến đúng chỗ nếu cần.")
    page.get_by_label("Loại sự cố").select_option(label="Nơi cắm trại")
    page.get_by_label("Mô tả").fill("Hai cái lều trên vỉa hè")
    reply = send_by_button(page, "Gửi báo cáo")
    assert reply.status == 201
    rid = reply.json()["properties"]["id"]
    outcome = page.locator("#g311-outcome")
    expect(outcome).to_contain_text(f"Cảm ơn quý vị. Báo cáo của quý vị có số {rid}.")
    expect(outcome).to_contain_text(f"Báo cáo đã được chuyển đến {CITY_AGENCY} (City of Portland).")

    # next to an open report: "Is it one of these?", in Vietnamese, and joining it
    lon, lat = offset(HOSFORD, north_m=20)
    page.get_by_label("Vĩ độ").fill(f"{lat:.6f}")
    page.get_by_label("Kinh độ").fill(f"{lon:.6f}")
    page.get_by_role("button", name="Đặt ghim tại tọa độ này").click()
    with page.expect_response(is_api("/reports/nearby")):
        page.get_by_label("Loại sự cố").select_option(label="Nơi cắm trại")
    nearby = page.locator("#g311-nearby")
    expect(nearby.get_by_role("heading", name="Có phải là một trong những báo cáo này không?")).to_be_visible()
    expect(nearby).to_contain_text(f"Nơi cắm trại · báo cáo {existing['id']}")
    expect(nearby).to_contain_text("đang mở")
    page.get_by_label("Mô tả").fill("Vẫn còn đó")
    with page.expect_response(is_api(f"/reports/{existing['id']}/submissions", "POST")) as joined:
        nearby.get_by_role("button", name=f"Có, thêm báo cáo của tôi vào báo cáo {existing['id']}").click()
    assert joined.value.status == 200
    expect(outcome).to_contain_text("Cảm ơn quý vị. Sự cố này đã được báo cáo.")
    expect(outcome).to_contain_text(f"Báo cáo của quý vị đã được gộp vào báo cáo {existing['id']} (hiện có 2 lần gửi")
    assert counts(live) == (2, 3)
    tab.assert_clean()


def test_the_picker_switches_to_arabic_right_to_left_and_remembers(tab, live):
    page = tab.page
    open_map(page)
    pick_language(page, "ar", "Change language")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_role("heading", level=1)).to_have_text("الإبلاغ عن مشكلة")
    expect(page.locator("#g311-submit")).to_be_enabled()
    panel, map_box = page.locator("#g311-panel").bounding_box(), page.locator(".folium-map").bounding_box()
    assert panel["x"] > map_box["x"]                        # the form reads first: on the right
    assert page.evaluate("() => getComputedStyle(document.querySelector('.leaflet-container')).direction") == "ltr"

    page.goto("/")                                          # no parameter: the cookie holds the choice
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    pick_language(page, "en", "تغيير اللغة")
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    expect(page.get_by_role("heading", level=1)).to_have_text("Report a problem")
    tab.assert_clean()

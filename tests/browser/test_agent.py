"""The agent page `/agent` in headless Chromium against the live server, every host but 127.0.0.1
blocked (tests/browser/conftest.py: the `tab` fixture).

An agent signs in through the form with a key, takes calls as they come: finds a caller by phone
(whatever way the number was written before), places the pin from the typed address, sees the
open report of the category nearby and attaches the caller to it, and sees it in the caller's
history; enters a fresh report for a walk-in; adds an internal note that the public never sees.
The database shows the channel, the agent and the caller's normalized phone. An anonymous visit
goes to sign-in; a resident's key gets a 403. Keys made here persist in the live database, so
each test makes its own and deletes it after.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Response, expect
from sqlalchemy import create_engine, pool
from sqlalchemy.orm import Session

from geo311.api.deps import SESSION_COOKIE
from geo311.auth import create_key, make_session_token
from geo311.settings import Settings

pytestmark = pytest.mark.live

IMG = "<img src=x onerror=alert(1)>"
DIVISION_1101 = (-122.6544224, 45.5050030)    # 1101 SE Division St, in the address sample
NEAR_1101 = (-122.6542, 45.5051)               # about 20 m away: the campsite already reported
HOSFORD = (-122.6587, 45.5122)                 # SE Water Ave & Salmon St: the caller's earlier report
READY = ("() => window.geo311Agent && window.geo311Agent.loads().categories > 0"
         " && !window.geo311Agent.busy()")


@dataclass
class Agent:
    live: Any
    key_id: str
    key: str
    label: str

    @property
    def actor(self) -> str:
        """How the agent appears in submitted_by and in a report's history."""
        return f"agent:{self.label} ({self.key_id})"


@pytest.fixture
def agent(live) -> Iterator[Agent]:
    engine = create_engine(live.database_url, poolclass=pool.NullPool)
    label = f"browser test {uuid.uuid4().hex[:6]}"
    with Session(engine) as session:
        key_id, key = create_key(session, "agent", label=label)
    engine.dispose()
    try:
        yield Agent(live, key_id, key, label)
    finally:
        live.sql("DELETE FROM api_keys WHERE key_id = %s", (key_id,))


def api_report(live, point, category: str = "campsite", **props: Any) -> dict:
    """A report submitted through the API by a resident; its reply's properties."""
    body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(point)},
            "properties": {"category": category, **props}}
    r = httpx.post(f"{live.url}/api/v1/reports", json=body, timeout=30,
                   headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201, r.text
    return r.json()["properties"]


def is_api(path: str, method: str = "GET"):
    """A predicate for page.expect_response: this method on this API path (query ignored)."""
    def match(response: Response) -> bool:
        return response.request.method == method and urlsplit(response.url).path == "/api/v1" + path
    return match


def query_of(response: Response) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(response.url).query).items()}


def sign_in(page: Page, live, key: str) -> None:
    """From /agent to the sign-in form and back, signed in, the categories loaded."""
    page.goto("/agent")
    expect(page).to_have_url(f"{live.url}/login?next=/agent")
    page.fill("#g311-key", key)
    with page.expect_response(is_api("/categories")) as cats:
        page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live.url}/agent")
    assert cats.value.status == 200
    page.wait_for_function(READY)
    expect(page.locator("#g311-submit")).to_be_enabled()


def wait_ready(page: Page) -> None:
    page.wait_for_function(READY)


def place_pin_at(page: Page, address: str) -> dict:
    """Type the address, press Enter: the pin goes to the geocoder's clear best match (or, when
    the page lists candidates, to the first one chosen). Returns the pin's position."""
    page.fill("#g311-address", address)
    with page.expect_response(is_api("/geocode")) as geo:
        page.press("#g311-address", "Enter")
    assert geo.value.status == 200 and query_of(geo.value)["q"] == address
    wait_ready(page)
    if page.evaluate("() => window.geo311Agent.where()") is None:
        page.locator("#g311-candidates button").first.click()
    wait_ready(page)
    where = page.evaluate("() => window.geo311Agent.where()")
    assert where is not None
    return where


def history_reports(page: Page) -> list[int]:
    return [int(v) for v in page.eval_on_selector_all("#g311-history-list > li", "els => els.map(e => e.dataset.report)")]


# ----- tests ------------------------------------------------------------------------------------
def test_anonymous_visit_goes_to_sign_in(tab, live):
    page = tab.page
    page.goto("/agent")
    expect(page).to_have_url(f"{live.url}/login?next=/agent")
    expect(page.get_by_label("API key")).to_be_visible()
    r = httpx.get(f"{live.url}/agent", follow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/agent"
    assert httpx.get(f"{live.url}/api/v1/callers", params={"phone": "5035550100"}, timeout=30).status_code == 401
    tab.assert_clean()


def test_a_resident_key_gets_403(tab, live):
    engine = create_engine(live.database_url, poolclass=pool.NullPool)
    with Session(engine) as session:
        key_id, key = create_key(session, "resident", label="browser test: agent page")
    engine.dispose()
    try:
        page = tab.page
        # the sign-in form takes staff keys only
        page.goto("/agent")
        page.fill("#g311-key", key)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#g311-login-error")).to_contain_text("not a staff key")
        # a session for the resident's key (signed with the server's own secret) gets the 403 page
        token = make_session_token(Settings().session_secret(), key_id, 600)
        page.context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": live.url}])
        with page.expect_response(lambda r: urlsplit(r.url).path == "/agent") as shown:
            page.goto("/agent")
        assert shown.value.status == 403
        expect(page.locator("h1")).to_have_text("Agents only")
        expect(page.locator("#g311-message")).to_contain_text("signed in as resident")
        assert page.evaluate("() => window.geo311Agent === undefined")
        # the callers' data is refused to the same cookie, and to the key itself
        assert page.request.get(f"{live.url}/api/v1/callers?phone=5035550100").status == 403
        r = httpx.get(f"{live.url}/api/v1/callers", params={"phone": "5035550100"}, timeout=30,
                      headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 403
        tab.assert_clean()
    finally:
        live.sql("DELETE FROM api_keys WHERE key_id = %s", (key_id,))


def test_a_caller_found_by_phone_is_attached_to_the_report_nearby(tab, live, agent):
    page = tab.page
    # before the call: the caller reported once, writing the number another way; and someone
    # else reported a campsite by 1101 SE Division St
    earlier = api_report(live, HOSFORD, "graffiti", description="Tag on the wall",
                         reporter={"name": f"Robin {IMG}", "phone": "+1 503.555.0142"})
    existing = api_report(live, NEAR_1101, "campsite", description="Two tents by the bus stop",
                          address="SE 11th & Division")
    sign_in(page, live, agent.key)
    expect(page.locator("#g311-who")).to_contain_text(f"Signed in as agent (key {agent.key_id})")

    # the search: a phone number, Enter
    page.fill("#g311-search-q", "(503) 555-0142")
    with page.expect_response(is_api("/callers")) as found:
        page.press("#g311-search-q", "Enter")
    assert found.value.status == 200 and query_of(found.value) == {"phone": "(503) 555-0142"}
    wait_ready(page)
    expect(page.locator("#g311-history-summary")).to_have_text(
        "Caller with phone (503) 555-0142: 1 submission on 1 report, newest first.")
    assert history_reports(page) == [earlier["id"]]
    item = page.locator(f"#g311-history-list > li[data-report='{earlier['id']}']")
    expect(item.locator("h3")).to_have_text(f"Report {earlier['id']}: Graffiti")
    expect(item).to_contain_text(f"Robin {IMG}")                 # markup from data is text
    expect(item).to_contain_text("Tag on the wall")
    assert page.locator("#g311-side img").count() == 0
    # the caller's details are filled in from the search and the history
    expect(page.locator("#g311-phone")).to_have_value("(503) 555-0142")
    expect(page.locator("#g311-name")).to_have_value(f"Robin {IMG}")
    expect(page.locator("#g311-channel-phone")).to_be_checked()

    # the address, Enter: the pin goes to it
    where = place_pin_at(page, "1101 SE Division St")
    assert abs(where["lon"] - DIVISION_1101[0]) < 1e-5 and abs(where["lat"] - DIVISION_1101[1]) < 1e-5
    expect(page.locator("#g311-pin-status")).to_contain_text("1101 Southeast Division Street")
    expect(page.locator(".leaflet-marker-pane .g311-pin")).to_have_count(1)

    # the category: the campsite already reported nearby is listed first, and circled on the map
    with page.expect_response(lambda r: is_api("/reports/nearby")(r)
                              and query_of(r).get("category") == "campsite") as near:
        page.select_option("#g311-category", "campsite")
    assert near.value.status == 200
    wait_ready(page)
    items = page.locator("#g311-nearby-list > li")
    expect(items).to_have_count(1)
    expect(items.first.locator("h4")).to_have_text(f"1. Report {existing['id']}: Campsite")
    expect(items.first).to_contain_text("Two tents by the bus stop")
    expect(page.locator("#g311-nearby-status")).to_contain_text("1 open campsite report within 250 m")
    expect(page.locator(".leaflet-overlay-pane path.g311-nearby-mark")).to_have_count(1)

    # attach the caller to it, from the keyboard: the next stop after the category is that button
    page.focus("#g311-category")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name=f"Attach caller to this one (report {existing['id']})")).to_be_focused()
    with page.expect_response(is_api(f"/reports/{existing['id']}/submissions", "POST")) as attached, \
            page.expect_response(lambda r: is_api("/callers")(r) and r.request.method == "GET") as refreshed:
        page.keyboard.press("Enter")
    assert attached.value.status == 200, attached.value.text()
    sent = attached.value.request
    assert sent.headers["x-geo311-channel"] == "phone" and sent.headers.get("x-csrf-token")
    assert sent.headers.get("idempotency-key")
    body = sent.post_data_json
    assert body["properties"]["reporter"] == {"name": f"Robin {IMG}", "phone": "(503) 555-0142"}
    assert body["properties"]["category"] == "campsite"
    assert refreshed.value.status == 200
    wait_ready(page)
    outcome = page.locator("#g311-outcome")
    expect(outcome.locator(".g311-outcome-head")).to_have_text(f"Caller attached to report {existing['id']}.")
    expect(outcome).to_contain_text("It now has 2 submissions.")
    expect(outcome).to_be_focused()

    # and the report is in the caller's history now
    expect(page.locator("#g311-history-list > li")).to_have_count(2)
    assert history_reports(page) == [existing["id"], earlier["id"]]
    expect(page.locator("#g311-history-summary")).to_have_text(
        "Caller with phone (503) 555-0142: 2 submissions on 2 reports, newest first.")

    # the database: the caller's submission, entered by this agent, by phone, the number normalized
    rows = live.sql("SELECT channel, submitted_by, reporter_phone, reporter_phone_norm, reporter_name "
                    "FROM submissions WHERE report_id = %s ORDER BY id", (existing["id"],))
    assert rows[1:] == [("phone", agent.actor, "(503) 555-0142", "5035550142", f"Robin {IMG}")]
    assert live.sql("SELECT count(*) FROM reports") == [(2,)]                   # nothing new created
    assert live.sql("SELECT actor, kind FROM report_events WHERE report_id = %s ORDER BY id",
                    (existing["id"],)) == [("resident", "created"), (agent.actor, "merged")]

    # a new report there instead is merged by the server into the same one, and the page says so
    page.fill("#g311-description", "Still there")
    with page.expect_response(is_api("/reports", "POST")) as merged:
        page.get_by_role("button", name="Create report").click()
    assert merged.value.status == 200 and merged.value.json()["properties"]["merged"] is True
    wait_ready(page)
    expect(outcome.locator(".g311-outcome-head")).to_have_text(
        f"Joined report {existing['id']}: it was already reported nearby.")
    expect(outcome).to_contain_text("It now has 3 submissions.")
    expect(page.locator("#g311-history-summary")).to_have_text(
        "Caller with phone (503) 555-0142: 3 submissions on 2 reports, newest first.")
    tab.assert_clean()


def test_a_walk_in_report_and_notes(tab, live, agent):
    page = tab.page
    sign_in(page, live, agent.key)

    # a malformed phone number is refused next to the field, with the API's message: at once ...
    page.fill("#g311-name", "Sam Walker")
    page.fill("#g311-phone", "503-555-CALL")
    with page.expect_response(is_api("/callers")) as looked:
        page.locator("#g311-email").focus()                  # leaving the field looks the caller up
    assert looked.value.status == 422
    expect(page.locator("#g311-phone-error")).to_contain_text("has letters")
    expect(page.locator("#g311-phone")).to_have_attribute("aria-invalid", "true")

    # the walk-in: the channel, the place, the category (nothing of it nearby), the description
    page.fill("#g311-email", "Sam.Walker@Example.ORG")
    page.check("#g311-channel-walk_in")
    # an address that could be two places: both are offered, choosing one places the pin
    page.fill("#g311-address", "2000 SE 32nd")
    with page.expect_response(is_api("/geocode")):
        page.press("#g311-address", "Enter")
    wait_ready(page)
    choices = page.locator("#g311-candidates button")
    expect(choices).to_have_count(2)
    expect(page.locator("#g311-address-status")).to_contain_text("2 addresses match 2000 SE 32nd: choose one below.")
    assert page.evaluate("() => window.geo311Agent.where()") is None
    chosen = next(c for c in page.evaluate("() => window.geo311Agent.candidates()")
                  if c["address"] == "2003 Southeast 32nd Avenue")
    choices.filter(has_text="2003 Southeast 32nd Avenue").click()
    wait_ready(page)
    expect(page.locator("#g311-category")).to_be_focused()              # the next thing to ask
    expect(choices).to_have_count(0)
    assert page.evaluate("() => window.geo311Agent.where()") == {"lat": chosen["lat"], "lon": chosen["lon"]}
    # the map adjusts it: a click places the pin there and names the nearest address ...
    box = page.locator(".folium-map").bounding_box()
    with page.expect_response(is_api("/reverse")) as rev:
        page.mouse.click(box["x"] + box["width"] / 2 + 60, box["y"] + box["height"] / 2)
    assert rev.value.status == 200
    clicked = page.evaluate("() => window.geo311Agent.where()")
    assert clicked["lon"] > chosen["lon"] and abs(clicked["lat"] - chosen["lat"]) < 1e-4
    expect(page.locator("#g311-pin-status")).to_contain_text(f" m from {rev.value.json()['address']}.")
    # ... and so does dragging the pin
    pin = page.locator(".leaflet-marker-pane .g311-pin").bounding_box()
    page.mouse.move(pin["x"] + pin["width"] / 2, pin["y"] + pin["height"] / 2)
    page.mouse.down()
    page.mouse.move(pin["x"] + pin["width"] / 2 - 20, pin["y"] + pin["height"] / 2 + 15, steps=5)
    with page.expect_response(is_api("/reverse")):
        page.mouse.move(pin["x"] + pin["width"] / 2 - 40, pin["y"] + pin["height"] / 2 + 30, steps=5)
        page.mouse.up()
    wait_ready(page)
    dragged = page.evaluate("() => window.geo311Agent.where()")
    assert dragged["lon"] < clicked["lon"] and dragged["lat"] < clicked["lat"]
    page.select_option("#g311-category", "graffiti")
    wait_ready(page)
    expect(page.locator("#g311-nearby-list > li")).to_have_count(0)
    expect(page.locator("#g311-nearby-status")).to_contain_text("No open graffiti report within 250 m")
    page.fill("#g311-description", f"Tag on the mailbox {IMG}")
    # ... and when the report is sent anyway
    with page.expect_response(is_api("/reports", "POST")) as refused:
        page.get_by_role("button", name="Create report").click()
    assert refused.value.status == 422 and refused.value.json()["error"]["code"] == "bad_phone"
    expect(page.locator("#g311-phone-error")).to_have_text(refused.value.json()["error"]["message"])
    expect(page.locator("#g311-phone")).to_be_focused()
    expect(page.locator("#g311-outcome")).to_be_empty()
    assert live.sql("SELECT count(*) FROM reports") == [(0,)]
    page.fill("#g311-phone", "503 555 0199")
    expect(page.locator("#g311-phone-error")).to_have_text("")
    with page.expect_response(is_api("/reports", "POST")) as created:
        page.get_by_role("button", name="Create report").click()
    assert created.value.status == 201, created.value.text()
    assert created.value.request.headers["x-geo311-channel"] == "walk_in"
    assert created.value.request.headers.get("x-csrf-token")
    report = created.value.json()["properties"]
    wait_ready(page)
    outcome = page.locator("#g311-outcome")
    expect(outcome.locator(".g311-outcome-head")).to_have_text(f"New report {report['id']}.")
    expect(outcome).to_contain_text(f"Sent to {report['agency']} ({report['jurisdiction']}).")
    expect(page.locator("#g311-history-list > li")).to_have_count(1)
    assert history_reports(page) == [report["id"]]
    rows = live.sql("SELECT channel, submitted_by, reporter_phone_norm, reporter_email_norm, description "
                    "FROM submissions WHERE report_id = %s", (report["id"],))
    assert rows == [("walk_in", agent.actor, "5035550199", "sam.walker@example.org", f"Tag on the mailbox {IMG}")]
    ((lon, lat),) = live.sql("SELECT ST_X(location), ST_Y(location) FROM reports WHERE id = %s", (report["id"],))
    assert abs(lon - dragged["lon"]) < 1e-6 and abs(lat - dragged["lat"]) < 1e-6      # where the pin was left

    # the report by its number: its history, with the caller's contact, and an internal note
    page.fill("#g311-search-q", str(report["id"]))
    with page.expect_response(is_api(f"/reports/{report['id']}/events")):
        page.press("#g311-search-q", "Enter")
    wait_ready(page)
    expect(page.locator("#g311-report-title")).to_have_text(f"Report {report['id']}: Graffiti")
    expect(page.locator("#g311-report-title")).to_be_focused()
    events = page.locator("#g311-events > li")
    expect(events).to_have_count(1)
    expect(events.first).to_contain_text("by Walk-in · Sam Walker · 503 555 0199 · Sam.Walker@Example.ORG")
    expect(events.first).to_contain_text(agent.actor)
    secret = f"Caller is the building manager, call after 5 {IMG}"
    page.fill("#g311-note", secret)
    with page.expect_response(is_api(f"/reports/{report['id']}/notes", "POST")) as noted, \
            page.expect_response(is_api(f"/reports/{report['id']}/events")):
        page.get_by_role("button", name="Add note").click()
    assert noted.value.status == 201 and noted.value.request.post_data_json == {"note": secret, "internal": True}
    wait_ready(page)
    expect(events).to_have_count(2)
    expect(events.last.locator(".g311-note-text")).to_have_text(f"internal {secret}")
    expect(page.locator("#g311-note-status")).to_have_text(f"Internal note added to report {report['id']}.")
    # a public one too
    page.fill("#g311-note", "A crew will come this week.")
    page.check("#g311-note-public")
    with page.expect_response(is_api(f"/reports/{report['id']}/notes", "POST")) as noted, \
            page.expect_response(is_api(f"/reports/{report['id']}/events")):
        page.get_by_role("button", name="Add note").click()
    assert noted.value.request.post_data_json == {"note": "A crew will come this week.", "internal": False}
    wait_ready(page)
    expect(events).to_have_count(3)
    expect(page.locator("#g311-note-internal")).to_be_checked()          # back to internal for the next one

    # the public sees the public note, never the internal one nor the caller
    public = httpx.get(f"{live.url}/api/v1/reports/{report['id']}/events", timeout=30)
    assert public.status_code == 200
    notes = [e["note"] for e in public.json()["events"] if e["kind"] == "note"]
    assert notes == ["A crew will come this week."]
    assert "building manager" not in public.text and "0199" not in public.text and "Walker" not in public.text
    assert live.sql("SELECT actor, internal FROM report_events WHERE report_id = %s AND kind = 'note' ORDER BY id",
                    (report["id"],)) == [(agent.actor, True), (agent.actor, False)]

    # New call: everything cleared for the next caller, the focus back in the search
    page.get_by_role("button", name="New call").click()
    wait_ready(page)
    expect(page.locator("#g311-search-q")).to_be_focused()
    for field in ("#g311-search-q", "#g311-name", "#g311-phone", "#g311-email", "#g311-address", "#g311-description"):
        expect(page.locator(field)).to_have_value("")
    expect(page.locator("#g311-category")).to_have_value("")
    expect(page.locator("#g311-channel-walk_in")).to_be_checked()        # the desk's channel stays
    expect(page.locator("#g311-report-view")).to_be_hidden()
    expect(page.locator("#g311-history-list > li")).to_have_count(0)
    expect(page.locator("#g311-outcome")).to_be_empty()
    assert page.evaluate("() => window.geo311Agent.where() === null && window.geo311Agent.pin() === null")
    expect(page.locator(".leaflet-marker-pane .g311-pin")).to_have_count(0)

    # the same caller again, found by email in other letters: the details come back from the history
    page.keyboard.type("SAM.WALKER@example.org")
    with page.expect_response(is_api("/callers")) as found:
        page.keyboard.press("Enter")
    assert query_of(found.value) == {"email": "SAM.WALKER@example.org"}
    wait_ready(page)
    assert history_reports(page) == [report["id"]]
    expect(page.locator("#g311-email")).to_have_value("SAM.WALKER@example.org")
    expect(page.locator("#g311-phone")).to_have_value("503 555 0199")
    expect(page.locator("#g311-name")).to_have_value("Sam Walker")
    # and a search that is none of the three says so next to the box, asking nothing of the server
    page.fill("#g311-search-q", "Sam Walker")
    page.press("#g311-search-q", "Enter")
    expect(page.locator("#g311-search-error")).to_have_text(
        "That is not a report number, a phone number or an email address.")
    expect(page.locator("#g311-search-q")).to_have_attribute("aria-invalid", "true")
    tab.assert_clean()

"""Photos on the resident map `/`, in headless Chromium against the live server: attach, preview,
"use this photo's location", send with the report (multipart/form-data), see the thumbnails in the
reply; a photo without GPS, a renamed text file, the client-side limits, removing a photo, and the
Idempotency-Key of a retry when the selection changed."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from tests import photo_samples as s
from tests.browser.test_resident import (
    choose_category,
    is_api,
    open_map,
    place_by_coordinates,
    send,
)
from tests.test_intake import HOSFORD

pytestmark = pytest.mark.live

PHOTO_COUNTS = "SELECT (SELECT count(*) FROM photos), (SELECT count(*) FROM submission_photos)"


def image(name: str, data: bytes, mime: str = "image/jpeg") -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


def attach(page: Page, *files: dict) -> None:
    page.set_input_files("#g311-photos", files=list(files))


def photo_item(page: Page, name: str):
    return page.locator("#g311-photo-list li.g311-photo", has_text=name)


def use_location(page: Page, name: str):
    """Click the photo's "Use this photo's location"; the page's /photos/locate reply."""
    with page.expect_response(is_api("/photos/locate", "POST")) as reply:
        photo_item(page, name).get_by_role("button", name="Use this photo's location").click()
    return reply.value


def as_sentence(message: str) -> str:
    """A server message as the page shows it: capitalized, with a full stop."""
    text = message[0].upper() + message[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def blob_loads(page: Page, url: str) -> bool:
    """Whether a blob: URL still gives an image (a revoked one does not)."""
    return page.evaluate("""(url) => new Promise((resolve) => {
        const i = new Image();
        i.onload = () => resolve(true);
        i.onerror = () => resolve(false);
        i.src = url;
    })""", url)


def previews_loaded(page: Page) -> None:
    page.wait_for_function("() => Array.from(document.querySelectorAll('#g311-photo-list img'))"
                           ".every((i) => i.complete && i.naturalWidth > 0)")


# ----- attach, place the pin from the photo, send ----------------------------------------------
def test_a_photo_places_the_pin_and_goes_with_the_report(tab, live):
    page = tab.page
    before = live.sql(PHOTO_COUNTS)[0]
    open_map(page)
    data = s.jpeg(s.exif_block(gps=s.PORTLAND), size=(640, 480))
    attach(page, image("IMG_1.jpg", data))

    item = photo_item(page, "IMG_1.jpg")
    expect(item).to_have_count(1)
    preview = item.locator("img")
    expect(preview).to_have_attribute("alt", "Preview of IMG_1.jpg")
    assert preview.get_attribute("src").startswith("blob:")
    previews_loaded(page)
    expect(page.locator("#g311-photos-status")).to_have_text("1 photo will be sent with your report.")

    reply = use_location(page, "IMG_1.jpg")
    assert reply.status == 200
    got = reply.json()
    assert got["located"] is True
    lon, lat = float(page.input_value("#g311-lon")), float(page.input_value("#g311-lat"))
    assert (lon, lat) == pytest.approx(HOSFORD, abs=1e-4)                 # the photo's EXIF position
    assert (got["lon"], got["lat"]) == pytest.approx((lon, lat), abs=1e-6)
    expect(page.locator(".leaflet-marker-icon:has(.g311-pin)")).to_be_visible()
    expect(item.locator(".g311-photo-note")).to_contain_text("The pin is where this photo was taken")
    expect(item.locator(".g311-photo-note")).to_contain_text("to within about 5 m")
    # the nearest address is offered as a hint, and fills the empty address field
    expect(page.locator("#g311-nearest")).to_contain_text("Nearest address: ")
    expect(page.locator("#g311-address")).not_to_have_value("")

    choose_category(page, "campsite")
    page.fill("#g311-description", "tents, see the photo")
    reply = send(page)

    assert reply.status == 201, reply.text()
    request = reply.request
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert request.headers["x-geo311-channel"] == "web" and request.headers["idempotency-key"]
    p = reply.json()["properties"]
    assert len(p["photos"]) == 1
    # the database: the submission and its photo
    rows = live.sql("SELECT s.report_id, s.channel, sp.position, ph.media_type, ph.bytes FROM submissions s "
                    "JOIN submission_photos sp ON sp.submission_id = s.id JOIN photos ph ON ph.id = sp.photo_id")
    assert rows == [(p["id"], "web", 1, "image/jpeg", len(data))]
    x, y = live.sql("SELECT ST_X(location), ST_Y(location) FROM reports")[0]
    assert (x, y) == pytest.approx((lon, lat), abs=1e-6)
    after = live.sql(PHOTO_COUNTS)[0]
    assert after[1] == 1 and after[0] in (before[0], before[0] + 1)       # the same photo is stored once

    # the reply shows the report's thumbnail, from this server, and links to the public copy
    outcome = page.locator("#g311-outcome")
    expect(outcome).to_contain_text(f"Your report is number {p['id']}.")
    thumb = outcome.locator(".g311-thumbs img")
    expect(thumb).to_have_count(1)
    expect(thumb).to_have_attribute("src", p["photos"][0]["thumbnail_url"])
    expect(thumb).to_have_attribute("alt", f"Photo 1 of report {p['id']}")
    page.wait_for_function("() => { const i = document.querySelector('#g311-outcome .g311-thumbs img');"
                           " return !!i && i.complete && i.naturalWidth > 0; }")
    assert outcome.locator(".g311-thumbs a").get_attribute("href") == p["photos"][0]["url"]
    # the form is ready for the next report: no photos left, their previews released
    expect(page.locator("#g311-photo-list li")).to_have_count(0)
    assert page.evaluate("() => window.geo311Resident.photos().length") == 0
    assert page.evaluate("() => document.getElementById('g311-photos').files.length") == 0
    tab.assert_clean()


def test_the_nearby_list_shows_the_photos_of_open_reports(tab, live):
    page = tab.page
    open_map(page)
    attach(page, image("IMG_1.jpg", s.jpeg(s.exif_block(gps=s.PORTLAND))))
    choose_category(page, "campsite")
    place_by_coordinates(page, HOSFORD)
    assert send(page).status == 201

    with page.expect_response(is_api("/reports/nearby")):
        place_by_coordinates(page, HOSFORD)
    item = page.locator("#g311-nearby-list li").first
    expect(item.locator(".g311-thumbs img")).to_have_count(1)
    page.wait_for_function("() => { const i = document.querySelector('#g311-nearby-list .g311-thumbs img');"
                           " return !!i && i.complete && i.naturalWidth > 0; }")
    tab.assert_clean()


# ----- photos that do not place the pin --------------------------------------------------------
def test_a_photo_without_gps_says_it_carries_no_location(tab, live):
    page = tab.page
    open_map(page)
    attach(page, image("IMG_2.jpg", s.jpeg(s.exif_block(gps=None))))
    reply = use_location(page, "IMG_2.jpg")
    assert reply.status == 200 and reply.json()["located"] is False
    message = reply.json()["message"]
    note = photo_item(page, "IMG_2.jpg").locator(".g311-photo-note")
    expect(note).to_have_text(as_sentence(message))
    expect(note).to_contain_text("carries no location")
    expect(page.locator("#g311-lat")).to_have_value("")                   # no pin
    expect(page.locator(".leaflet-marker-icon:has(.g311-pin)")).to_have_count(0)
    tab.assert_clean()


def test_a_renamed_text_file_is_refused_with_the_servers_message_and_nothing_is_stored(tab, live):
    page = tab.page
    before = live.sql(PHOTO_COUNTS)[0]
    open_map(page)
    attach(page, image("photo.jpg", s.TEXT_FILE))
    item = photo_item(page, "photo.jpg")
    # the browser cannot show it: a placeholder, not a broken image
    expect(item.locator(".g311-photo-placeholder")).to_have_text("No preview: this browser cannot show this file.")

    reply = use_location(page, "photo.jpg")
    assert reply.status == 415
    message = reply.json()["error"]["message"]
    expect(item.locator(".g311-photo-note")).to_have_text(as_sentence(message))

    choose_category(page, "campsite")
    place_by_coordinates(page, HOSFORD)
    reply = send(page)
    assert reply.status == 415
    message = reply.json()["error"]["message"]
    outcome = page.locator("#g311-outcome")
    expect(outcome).to_contain_text("Your report was not accepted.")
    expect(outcome).to_contain_text(message)
    expect(photo_item(page, "photo.jpg")).to_have_count(1)                # kept, to remove or replace
    assert live.sql("SELECT count(*) FROM reports")[0][0] == 0
    assert live.sql("SELECT count(*) FROM submissions")[0][0] == 0
    assert live.sql(PHOTO_COUNTS)[0] == before
    tab.assert_clean()


def test_a_heic_photo_gets_a_text_placeholder_where_the_browser_cannot_show_it(tab, live):
    data = s.heic(s.exif_block(gps=s.PORTLAND))
    if data is None:
        pytest.skip("pillow-heif cannot write HEIC here")
    page = tab.page
    open_map(page)
    attach(page, image("IMG_3.HEIC", data, "image/heic"))
    item = photo_item(page, "IMG_3.HEIC")
    expect(item.locator(".g311-photo-placeholder")).to_have_text(
        "No preview: this browser cannot show HEIC photos. It will be sent as it is.")
    reply = use_location(page, "IMG_3.HEIC")                              # the server reads it all the same
    assert reply.status == 200 and reply.json()["located"] is True
    assert (float(page.input_value("#g311-lon")), float(page.input_value("#g311-lat"))) == pytest.approx(
        HOSFORD, abs=1e-4)
    tab.assert_clean()


# ----- the selection: limits, removing, the retry key ------------------------------------------
def test_limits_are_checked_before_sending_and_photos_can_be_removed(tab, live):
    page = tab.page
    open_map(page)
    cfg = json.loads(page.locator("#geo311-config").text_content())["photos"]
    assert cfg == {"max_count": 3, "max_bytes": 10 * 1024 * 1024, "max_request_bytes": 25 * 1024 * 1024}

    big = image("BIG.jpg", b"\xff\xd8\xff" + b"\0" * (cfg["max_bytes"] + 1024 * 1024 // 2 - 3))
    attach(page, big)
    expect(page.locator("#g311-photos-status")).to_have_text(
        "BIG.jpg was not added: it is 10.5 MB, and each photo may be at most 10 MB.")
    expect(page.locator("#g311-photos-status")).to_have_class("g311-error")
    expect(page.locator("#g311-photo-list li")).to_have_count(0)

    attach(page, *[image(f"IMG_{i}.jpg", s.jpeg(size=(64 + i, 48))) for i in range(1, 5)])
    expect(page.locator("#g311-photo-list li")).to_have_count(3)
    expect(page.locator("#g311-photos-status")).to_have_text(
        "IMG_4.jpg was not added: at most 3 photos go with one report.")
    assert page.evaluate("() => document.getElementById('g311-photos').files.length") == 3
    previews_loaded(page)

    urls = page.evaluate("() => window.geo311Resident.photos().map((p) => p.url)")
    photo_item(page, "IMG_2.jpg").get_by_role("button", name="Remove IMG_2.jpg").click()
    expect(page.locator("#g311-photo-list li")).to_have_count(2)
    expect(page.locator("#g311-photos-status")).to_have_text("IMG_2.jpg was removed; 2 left.")
    assert page.evaluate("() => window.geo311Resident.photos().map((p) => p.name)") == ["IMG_1.jpg", "IMG_3.jpg"]
    # the removed preview's blob: URL is revoked; the others still load
    assert blob_loads(page, urls[0]) is True
    assert blob_loads(page, urls[1]) is False

    # all together at most 25 MB: two of 9 MB go, a third does not
    for name in ("IMG_1.jpg", "IMG_3.jpg"):
        photo_item(page, name).get_by_role("button", name=f"Remove {name}").click()
    expect(page.locator("#g311-photo-list li")).to_have_count(0)
    expect(page.locator("#g311-photos-status")).to_have_text("IMG_3.jpg was removed.")
    nine = b"\xff\xd8\xff" + b"\0" * (9 * 1024 * 1024 - 3)
    attach(page, *[image(f"BIG_{i}.jpg", nine) for i in range(1, 4)])
    expect(page.locator("#g311-photo-list li")).to_have_count(2)
    expect(page.locator("#g311-photos-status")).to_have_text(
        "BIG_3.jpg was not added: the photos would be 27 MB together, and at most 25 MB go with one report.")
    tab.assert_clean()


def test_a_retry_keeps_its_key_only_while_the_photos_are_the_same(tab, live):
    """A network failure keeps the Idempotency-Key for the retry of the same report and photos; a
    changed selection is another submission and gets a new key."""
    page = tab.page
    open_map(page)
    choose_category(page, "campsite")
    place_by_coordinates(page, HOSFORD)
    attach(page, image("IMG_1.jpg", s.jpeg()))

    keys: list[str] = []
    fail = {"on": True}

    def route(route, request):
        if request.method == "POST" and request.url.endswith("/api/v1/reports"):
            keys.append(request.headers["idempotency-key"])
            if fail["on"]:
                route.abort("internetdisconnected")
                return
        route.continue_()

    page.route("**/api/v1/reports", route)
    page.click("#g311-submit")
    expect(page.locator("#g311-outcome")).to_contain_text("Not sent.")
    page.click("#g311-submit")                                            # the same again: the same key
    expect(page.locator("#g311-outcome")).to_contain_text("Not sent.")
    attach(page, image("IMG_2.jpg", s.png()))                             # another photo: a new key
    expect(page.locator("#g311-photo-list li")).to_have_count(2)
    fail["on"] = False
    reply = send(page)
    assert reply.status == 201
    assert len(keys) == 3 and keys[0] == keys[1] != keys[2]
    assert live.sql("SELECT count(*) FROM submission_photos")[0][0] == 2
    tab.assert_clean()

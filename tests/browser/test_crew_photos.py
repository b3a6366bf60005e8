"""Photos on the crew page and the report page, in headless Chromium against the live server: the
stop shows its thumbnails (loaded from /photos/ within the page's CSP), each links to the public
copy, and staff open the original (with its EXIF data) with their session cookie."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests import photo_samples as s
from tests.browser.test_crew import HOSFORD, sign_in, world  # noqa: F401  (the `world` fixture)

pytestmark = pytest.mark.live


def report_with_photos(live, point, photos) -> dict:
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(point)},
               "properties": {"category": "campsite", "description": "tents, see the photos"}}
    r = httpx.post(f"{live.url}/api/v1/reports", data={"feature": json.dumps(feature)},
                   files=[("photos", (f"IMG_{i}.jpg", p, "image/jpeg")) for i, p in enumerate(photos)],
                   headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()["properties"]


def test_crew_sees_thumbnails_and_opens_the_original(tab, world):  # noqa: F811
    original = s.jpeg(s.exif_block(gps=s.PORTLAND), size=(640, 480))
    p = report_with_photos(world.live, HOSFORD, [original, s.png(size=(300, 200))])
    page = tab.page
    sign_in(page, world)
    stop = page.locator(f"#g311-stop-{p['id']}")
    thumbs = stop.locator(".g311-stop-photos img")
    expect(thumbs).to_have_count(2)
    expect(thumbs.first).to_have_attribute("src", p["photos"][0]["thumbnail_url"])
    expect(thumbs.first).to_have_attribute("alt", f"Photo 1 of report {p['id']}")
    page.wait_for_function("id => Array.from(document.querySelectorAll(`#g311-stop-${id} .g311-stop-photos img`))"
                           ".every(i => i.complete && i.naturalWidth > 0)", arg=p["id"])
    assert stop.locator(".g311-stop-photos a.g311-photo").first.get_attribute("href") == p["photos"][0]["url"]
    original_link = stop.get_by_role("link", name=f"Original of photo 1 of report {p['id']}, with its metadata")
    href = original_link.get_attribute("href")
    assert href == f"/api/v1/photos/{p['photos'][0]['id']}/original"
    got = page.evaluate("url => fetch(url, {credentials: 'same-origin'}).then(async r => "
                        "({status: r.status, type: r.headers.get('content-type'), size: (await r.arrayBuffer()).byteLength}))",
                        href)
    assert got == {"status": 200, "type": "image/jpeg", "size": len(original)}
    assert httpx.get(world.live.url + href, timeout=30).status_code == 401  # not without the cookie
    tab.assert_clean()


def test_report_page_shows_thumbnails(tab, live):
    p = report_with_photos(live, HOSFORD, [s.jpeg(s.exif_block(gps=s.SANTIAGO)), s.webp()])
    page = tab.page
    page.goto(f"/reports/{p['id']}")
    images = page.locator("#g311-photos img")
    expect(images).to_have_count(2)
    page.wait_for_function("() => Array.from(document.querySelectorAll('#g311-photos img'))"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    with page.expect_navigation():
        page.get_by_role("link", name=f"Photo 2 of report {p['id']}").click()
    assert page.url == f"{live.url}{p['photos'][1]['url']}"
    tab.assert_clean()

"""Photos through the app: reports sent as multipart/form-data, the locate endpoint, the public copies
and the staff-only originals, refusals that store nothing, merges, replays, Open311's media_url, the
report page and the work list."""

from __future__ import annotations

import io
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import create_engine, pool, text
from sqlalchemy.orm import Session

from geo311.api import create_app
from geo311.api.deps import get_session
from geo311.auth import create_key
from tests import photo_samples as s
from tests.open311.support import BASE, check_json, get_both
from tests.staff import make_world
from tests.test_intake import HOSFORD, VANCOUVER_WA, offset


def feature(point=HOSFORD, category="campsite", **props) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(point)},
            "properties": {"category": category, **props}}


def send(client, body, photos=(), path="/api/v1/reports", names=None, **headers):
    """POST multipart: `feature` as a text part, each photo as a file part named `photos`."""
    files = [("photos", ((names or {}).get(i, f"photo{i}.jpg"), data, "image/jpeg")) for i, data in enumerate(photos)]
    data = {"feature": body if isinstance(body, str) else json.dumps(body)}
    return client.post(path, data=data, files=files or [("photos", ("", b"", "application/octet-stream"))],
                       headers=headers)


def photo_files(settings) -> set[Path]:
    root = settings.data_dir / "photos"
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def counts(session) -> tuple[int, ...]:
    return session.execute(text(
        "SELECT (SELECT count(*) FROM reports), (SELECT count(*) FROM submissions), "
        "(SELECT count(*) FROM photos), (SELECT count(*) FROM submission_photos)")).one()


@pytest.fixture
def make_client(settings, session_factory):
    """A client on an app with other settings (smaller limits), on the test's transaction."""
    made = []

    def build(**changes) -> TestClient:
        app = create_app(settings.model_copy(update=changes))

        def session():
            with session_factory() as sess:
                yield sess
        app.dependency_overrides[get_session] = session
        client = TestClient(app)
        client.__enter__()
        made.append(client)
        return client
    yield build
    for client in made:
        client.__exit__(None, None, None)


# ----- sending photos with a report ---------------------------------------------------------
def test_report_with_photos_and_their_public_copies(client, session, settings):
    original = s.jpeg(s.exif_block(gps=s.SANTIAGO, orientation=6))
    r = send(client, feature(description="tents, see photos"), [original, s.png()])
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/geo+json"
    p = r.json()["properties"]
    assert p["merged"] is False and p["description"] == "tents, see photos"
    assert len(p["photos"]) == 2
    first = p["photos"][0]
    assert set(first) == {"id", "url", "width", "height", "thumbnail_url", "thumbnail_width", "thumbnail_height"}
    assert (first["width"], first["height"]) == (48, 64)  # upright
    for url in (first["url"], first["thumbnail_url"]):
        got = client.get(url)
        assert got.status_code == 200 and got.headers["content-type"] == "image/webp"
        assert got.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "nosniff" in got.headers["x-content-type-options"]
        im = Image.open(io.BytesIO(got.content))
        assert im.format == "WEBP" and not im.getexif()
        for marker in s.IDENTIFYING:
            assert marker not in got.content
        etag = got.headers["etag"]
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
        head = client.head(url)
        assert head.status_code == 200 and head.headers["content-type"] == "image/webp" and not head.content
    assert client.get(f"/api/v1/reports/{p['id']}").json()["properties"]["photos"] == p["photos"]
    listed = client.get("/api/v1/reports?limit=5").json()["features"]
    assert next(f for f in listed if f["id"] == p["id"])["properties"]["photos"] == p["photos"]


def test_the_json_path_is_unchanged(client):
    r = client.post("/api/v1/reports", json=feature())
    assert r.status_code == 201 and r.json()["properties"]["photos"] == []
    big = client.post("/api/v1/reports", content=json.dumps(feature(description="x" * (70 * 1024))),
                      headers={"content-type": "application/json"})
    assert big.status_code == 413 and "4,000 characters" in big.json()["error"]["message"]


def test_multipart_without_photos_and_the_feature_as_a_file(client):
    r = send(client, feature(description="no photo"))
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["photos"] == []
    as_file = client.post("/api/v1/reports", files=[
        ("feature", ("feature.json", json.dumps(feature()).encode(), "application/json")),
        ("photos", ("a.webp", s.webp(), "image/webp"))])
    assert as_file.status_code in (200, 201), as_file.text
    assert len(as_file.json()["properties"]["photos"]) == 1


@pytest.mark.parametrize("body, fragment", [
    ('{"type": "Feature",', "the feature part is not valid JSON"),
    ("[1, 2]", "must be a GeoJSON Feature"),
    ({"type": "Feature", "geometry": {"type": "Point", "coordinates": list(HOSFORD)}, "properties": {}},
     "feature.properties.category: Field required"),
    (feature(VANCOUVER_WA), "outside the service area"),
    (feature(category="bigfoot"), "unknown; choose one of"),
])
def test_a_bad_feature_stores_nothing(client, session, settings, body, fragment):
    before, files = counts(session), photo_files(settings)
    r = send(client, body, [s.jpeg(s.exif_block(gps=s.PORTLAND)), s.png()])
    assert r.status_code == 422, r.text
    assert fragment in r.json()["error"]["message"]
    assert counts(session) == before and photo_files(settings) == files


def test_no_feature_part(client):
    r = client.post("/api/v1/reports", files=[("photos", ("a.jpg", s.jpeg(), "image/jpeg"))])
    assert r.status_code == 422 and "feature: Field required" in r.json()["error"]["message"]


# ----- refusals -----------------------------------------------------------------------------
REFUSED = [
    pytest.param([s.TEXT_FILE], 415, "unsupported_photo", id="renamed-text-file"),
    pytest.param([b"%PDF-1.4\n%%EOF\n" * 20], 415, "unsupported_photo", id="pdf"),
    pytest.param([s.jpeg(), s.png_bomb()], 413, "photo_too_many_pixels", id="bomb"),
    pytest.param([s.png_bomb(9000, 9000)], 413, "photo_too_many_pixels", id="81-megapixels"),
    pytest.param([s.truncated_jpeg()], 422, "bad_photo", id="damaged"),
    pytest.param([s.jpeg(), s.png(), s.webp(), s.jpeg(size=(32, 32))], 422, "too_many_photos", id="four"),
]


@pytest.mark.parametrize("photos, status, code", REFUSED)
def test_refused_photos_store_nothing(client, session, settings, photos, status, code):
    before, files = counts(session), photo_files(settings)
    r = send(client, feature(), photos)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert counts(session) == before and photo_files(settings) == files


def test_size_limits_per_file_and_per_request(make_client, session, settings):
    files = photo_files(settings)
    big = s.jpeg(size=(600, 400), quality=95)
    one = make_client(photo_max_bytes=len(big) - 1, photo_max_request_bytes=10 * len(big))
    before = counts(session)
    r = send(one, feature(), [big])
    assert r.status_code == 413 and r.json()["error"]["code"] == "photo_too_large"
    assert "each photo may be at most" in r.json()["error"]["message"]
    # per request: the photos together, checked by the domain ...
    two = make_client(photo_max_bytes=len(big), photo_max_request_bytes=len(big) + 10)
    r = send(two, feature(), [big, s.jpeg(size=(300, 200), quality=95)])
    assert r.status_code == 413 and "together" in r.json()["error"]["message"]
    # ... and the whole body, before anything is read
    tiny = make_client(photo_max_bytes=1024, photo_max_request_bytes=1024, max_body_bytes=1024)
    r = send(tiny, feature(), [big])
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert "photos: at most" in r.json()["error"]["message"]
    r = tiny.post("/api/v1/photos/locate", files={"photo": ("a.jpg", big, "image/jpeg")})
    assert r.status_code == 413
    assert counts(session) == before and photo_files(settings) == files


# ----- merges, joins and replays ------------------------------------------------------------
def test_a_merged_submission_brings_its_photos(client, session):
    first = send(client, feature(), [s.jpeg(s.exif_block(gps=s.PORTLAND))]).json()
    r = send(client, feature(offset(HOSFORD, east_m=20)), [s.png(), s.webp()])
    assert r.status_code == 200, r.text
    p = r.json()["properties"]
    assert p["merged"] is True and p["id"] == first["id"] and p["submission_count"] == 2
    assert [ph["id"] for ph in p["photos"]][:1] == [first["properties"]["photos"][0]["id"]]
    assert len(p["photos"]) == 3
    joined = send(client, feature(offset(HOSFORD, east_m=5)), [s.jpeg(size=(80, 80))],
                  path=f"/api/v1/reports/{first['id']}/submissions")
    assert joined.status_code == 200, joined.text
    assert len(joined.json()["properties"]["photos"]) == 4


def test_idempotent_replay_with_photos(client, session, settings):
    photos = [s.jpeg(s.exif_block(gps=s.PORTLAND)), s.png()]
    first = send(client, feature(description="same"), photos, **{"Idempotency-Key": "photos-1"})
    assert first.status_code == 201
    before, files = counts(session), photo_files(settings)
    again = send(client, feature(description="same"), photos, **{"Idempotency-Key": "photos-1"})
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["properties"]["photos"] == \
        first.json()["properties"]["photos"]
    other = send(client, feature(description="same"), photos[:1], **{"Idempotency-Key": "photos-1"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_conflict"
    assert counts(session) == before and photo_files(settings) == files


# ----- locate -------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [s.jpeg, s.png, s.webp, s.heic])
def test_locate(client, settings, make):
    data = make(s.exif_block(gps=s.SANTIAGO))
    if data is None:
        pytest.skip("pillow-heif cannot write HEIC here")
    files = photo_files(settings)
    r = client.post("/api/v1/photos/locate", files={"photo": ("IMG_0001.bin", data, "application/octet-stream")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["located"] is True and body["accuracy_m"] == 12.3
    assert body["lat"] == pytest.approx(-33.4458333) and body["lon"] == pytest.approx(-70.6700944)
    assert body["taken_at"] == "2024-05-01T10:20:30-07:00"
    assert photo_files(settings) == files


def test_locate_without_a_location_and_refusals(client):
    r = client.post("/api/v1/photos/locate", files={"photo": ("a.jpg", s.jpeg(s.exif_block()), "image/jpeg")})
    assert r.status_code == 200 and r.json()["located"] is False
    assert "no location" in r.json()["message"] and r.json()["taken_at"] == "2024-05-01T10:20:30-07:00"
    text_file = client.post("/api/v1/photos/locate", files={"photo": ("photo.jpg", s.TEXT_FILE, "image/jpeg")})
    assert text_file.status_code == 415 and text_file.json()["error"]["code"] == "unsupported_photo"
    bomb = client.post("/api/v1/photos/locate", files={"photo": ("b.png", s.png_bomb(), "image/png")})
    assert bomb.status_code == 413
    none = client.post("/api/v1/photos/locate", files={"other": ("a.jpg", s.jpeg(), "image/jpeg")})
    assert none.status_code == 422 and "photo: Field required" in none.json()["error"]["message"]


# ----- originals are for staff --------------------------------------------------------------
def test_originals_for_staff_only(client, session):
    world = make_world(session)
    original = s.jpeg(s.exif_block(gps=s.PORTLAND))
    p = send(client, feature(), [original]).json()["properties"]
    url = f"/api/v1/photos/{p['photos'][0]['id']}/original"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=world.headers("resident")).status_code == 403
    for who in ("crew_own", "crew_other", "manager", "admin"):
        r = client.get(url, headers=world.headers(who))
        assert r.status_code == 200, (who, r.text)
        assert r.content == original and r.headers["content-type"] == "image/jpeg"
        assert r.headers["cache-control"] == "private, no-store"
        assert r.headers["content-disposition"].startswith("inline")
    assert client.get("/api/v1/photos/999999999/original", headers=world.headers("admin")).status_code == 404
    # no public URL leads to an original
    assert client.get(f"/photos/{p['photos'][0]['id']}.webp").status_code == 404
    from geo311.photo_store import sha256
    assert client.get(f"/photos/{sha256(original)}.webp").status_code == 404
    assert client.get("/photos/..%2F..%2Fsecret-key").status_code == 404


# ----- where photos show up -----------------------------------------------------------------
def test_open311_media_url_is_the_first_public_photo(client):
    with_photo = send(client, feature(), [s.jpeg(s.exif_block(gps=s.PORTLAND)), s.png()]).json()
    without = client.post("/api/v1/reports", json=feature(offset(HOSFORD, east_m=900), "graffiti")).json()
    one = check_json(client.get(f"{BASE}/requests/{with_photo['id']}.json"), "requests")[0]
    assert one["media_url"] == "http://testserver" + with_photo["properties"]["photos"][0]["url"]
    both = get_both(client, "requests", "requests", {"service_request_id": f"{with_photo['id']},{without['id']}"})
    media = {r["service_request_id"]: r["media_url"] for r in both}
    assert media == {str(with_photo["id"]): one["media_url"], str(without["id"]): None}
    assert client.get(one["media_url"].replace("http://testserver", "")).status_code == 200


def test_report_page_shows_thumbnails(client):
    p = send(client, feature(), [s.jpeg(), s.png()]).json()["properties"]
    page = client.get(f"/reports/{p['id']}")
    html = page.text
    assert "<h2>Photos</h2>" in html
    csp = page.headers["content-security-policy"]
    assert "img-src 'self' data: " in csp and "blob:" in csp  # blob: for the resident page's previews
    for ph in p["photos"]:
        assert f'<a href="{ph["url"]}"><img src="{ph["thumbnail_url"]}"' in html
    assert f'alt="Photo 2 of report {p["id"]}"' in html
    plain = client.post("/api/v1/reports", json=feature(offset(HOSFORD, east_m=900), "graffiti")).json()
    assert "<h2>Photos</h2>" not in client.get(f"/reports/{plain['id']}").text


def test_work_list_stops_carry_photos(client, session):
    world = make_world(session)
    p = send(client, feature(), [s.jpeg()]).json()["properties"]
    wl = client.get(f"/api/v1/crews/{world.southeast['id']}/worklist", headers=world.headers("manager"))
    assert wl.status_code == 200, wl.text
    stop = next(f for f in wl.json()["features"] if f["id"] == p["id"])
    [ph] = stop["properties"]["photos"]
    assert ph["url"] == p["photos"][0]["url"] and ph["original_url"] == f"/api/v1/photos/{ph['id']}/original"
    assert client.get(ph["original_url"], headers=world.headers("crew_other")).status_code == 200


# ----- concurrency, on the live server -------------------------------------------------------
@pytest.mark.live
def test_concurrent_uploads_of_one_photo_keep_its_files(live):
    """The same photo sent at once with submissions that are stored and others that are refused:
    the refused ones never take away a file a stored one uses."""
    shared = s.jpeg(s.exif_block(gps=s.PORTLAND), size=(800, 600))

    def one(i: int) -> int:
        point = VANCOUVER_WA if i % 2 else offset(HOSFORD, east_m=400 * i)
        body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(point)},
                "properties": {"category": "graffiti", "description": f"client {i}"}}
        r = httpx.post(f"{live.url}/api/v1/reports", data={"feature": json.dumps(body)},
                       files=[("photos", ("a.jpg", shared, "image/jpeg")), ("photos", (f"{i}.png", s.png(), "image/png"))],
                       headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=60)
        return r.status_code

    with ThreadPoolExecutor(max_workers=8) as pool_:
        statuses = list(pool_.map(one, range(16)))
    assert sorted(statuses) == [201] * 8 + [422] * 8
    rows = live.sql("SELECT p.id, p.public_sha256, p.thumb_sha256 FROM photos p "
                    "JOIN submission_photos sp ON sp.photo_id = p.id GROUP BY p.id")
    assert len(rows) == 2  # the shared JPEG and the PNG, each once
    engine = create_engine(live.database_url, poolclass=pool.NullPool)
    with Session(engine) as session:
        manager_id, key = create_key(session, "manager", label="photo race test")
    engine.dispose()
    try:
        for photo_id, public, thumb in rows:
            for key_ in (public, thumb):
                assert httpx.get(f"{live.url}/photos/{key_}.webp", timeout=30).status_code == 200
            got = httpx.get(f"{live.url}/api/v1/photos/{photo_id}/original", timeout=30,
                            headers={"Authorization": f"Bearer {key}"})
            assert got.status_code == 200
    finally:
        live.sql("DELETE FROM api_keys WHERE key_id = %s", (manager_id,))

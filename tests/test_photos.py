"""Photos in the domain: EXIF reading on real-format files, the public copy's privacy, the refusals,
the content-addressed store, and photos stored with submissions (merges, refusals, replays)."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from sqlalchemy import text

from geo311 import photo_exif, photos
from geo311.errors import Conflict, InvalidInput, PayloadTooLarge
from geo311.intake import NewSubmission
from geo311.photo_store import LocalPhotoStore, sha256
from geo311.reports import get_report_feature
from tests import photo_samples as s
from tests.test_intake import HOSFORD, VANCOUVER_WA, offset

LIMITS = photos.Limits()


def exif_of(data: bytes) -> photo_exif.Exif:
    im = Image.open(io.BytesIO(data))
    im.load()
    return photo_exif.read_exif(im.getexif())


# ----- EXIF ---------------------------------------------------------------------------------
@pytest.mark.parametrize("gps, lon_sign, lat_sign", [(s.PORTLAND, -1, 1), (s.SANTIAGO, -1, -1), (s.SYDNEY, 1, -1)])
@pytest.mark.parametrize("big_endian", [False, True])
def test_gps_in_camera_rationals_and_hemispheres(gps, lon_sign, lat_sign, big_endian):
    got = exif_of(s.jpeg(s.exif_block(gps=gps, big_endian=big_endian)))
    assert got.lat == pytest.approx(lat_sign * s.degrees(gps.lat), abs=1e-6)
    assert got.lon == pytest.approx(lon_sign * s.degrees(gps.lon), abs=1e-6)
    assert got.accuracy_m == (round(gps.accuracy[0] / gps.accuracy[1], 1) if gps.accuracy else None)
    assert got.taken_at == "2024-05-01T10:20:30-07:00"
    assert got.as_reply()["located"] is True


def test_known_places():
    portland = exif_of(s.jpeg(s.exif_block(gps=s.PORTLAND)))
    assert (portland.lon, portland.lat) == pytest.approx(HOSFORD, abs=1e-6)
    santiago = exif_of(s.jpeg(s.exif_block(gps=s.SANTIAGO)))
    assert santiago.lat == pytest.approx(-(33 + 26 / 60 + 45 / 3600), abs=1e-6)
    assert santiago.lon == pytest.approx(-(70 + 40 / 60 + 12.34 / 3600), abs=1e-6)


@pytest.mark.parametrize("make", [s.png, s.webp, s.heic])
def test_gps_from_png_webp_and_heic(make):
    data = make(s.exif_block(gps=s.SANTIAGO))
    if data is None:
        pytest.skip("pillow-heif cannot write HEIC here")
    got = exif_of(data)
    assert got.lat == pytest.approx(-33.4458333, abs=1e-6) and got.lon == pytest.approx(-70.6700944, abs=1e-6)


def test_rational_forms_as_values():
    """What EXIF readers hand over: IFDRationals, (numerator, denominator) pairs, plain numbers."""
    assert photo_exif.degrees(((33, 1), (51, 1), (5432, 100))) == pytest.approx(33 + 51 / 60 + 54.32 / 3600)
    assert photo_exif.degrees((IFDRational(33, 1), IFDRational(51, 1), IFDRational(5432, 100))) == \
        pytest.approx(33 + 51 / 60 + 54.32 / 3600)
    assert photo_exif.degrees(((45, 1), (3072, 100), (0, 1))) == pytest.approx(45 + 30.72 / 60)  # decimal minutes
    assert photo_exif.degrees((45123456, 1000000)) == pytest.approx(45.123456)  # one rational: decimal degrees
    assert photo_exif.degrees(((45, 1), (30, 0), (0, 1))) is None  # a zero denominator
    assert photo_exif.degrees(((45, 1), (75, 1), (0, 1))) is None  # 75 minutes
    assert photo_exif.ref(b"S\x00") == "S" and photo_exif.ref("w") == "W"


def test_no_location():
    without = exif_of(s.jpeg(s.exif_block()))
    assert without.lon is None and without.taken_at == "2024-05-01T10:20:30-07:00"
    reply = without.as_reply()
    assert reply["located"] is False and "no location" in reply["message"]
    assert exif_of(s.jpeg()).as_reply() == {"located": False, "message": reply["message"], "taken_at": None}
    no_fix = s.Gps(((0, 1), (0, 1), (0, 1)), "N", ((0, 1), (0, 1), (0, 1)), "E")
    assert exif_of(s.jpeg(s.exif_block(gps=no_fix))).lon is None
    void = replace(s.PORTLAND, status="V")
    assert exif_of(s.jpeg(s.exif_block(gps=void))).lon is None


def test_time_taken_offset_gps_clock_or_local():
    assert exif_of(s.jpeg(s.exif_block(offset=None))).taken_at == "2024-05-01T10:20:30"  # zone unknown
    gps = replace(s.PORTLAND, date="2024:05:01", time=((17, 1), (20, 1), (3000, 100)))
    utc = exif_of(s.jpeg(s.exif_block(gps=gps, offset=None)))
    assert utc.taken_at == "2024-05-01T17:20:30+00:00" and utc.taken_at_zoned is not None
    assert exif_of(s.jpeg(s.exif_block(offset="+05:30"))).taken_at == "2024-05-01T10:20:30+05:30"
    assert exif_of(s.jpeg(s.exif_block(taken="    :  :     :  :  "))).taken_at is None


# ----- the public copy ----------------------------------------------------------------------
def _samples():
    exif = s.exif_block(gps=s.SANTIAGO)
    out = {"jpeg": s.jpeg(exif, icc=s.icc_profile()), "png": s.png(exif, alpha=True), "webp": s.webp(exif)}
    if (heic := s.heic(exif)) is not None:
        out["heic"] = heic
    return out


@pytest.mark.parametrize("kind", ["jpeg", "png", "webp", "heic"])
def test_public_copy_and_thumbnail_carry_no_metadata(kind):
    samples = _samples()
    if kind not in samples:
        pytest.skip("pillow-heif cannot write HEIC here")
    original = samples[kind]
    assert all(marker in original for marker in s.IDENTIFYING)  # the original has them all
    [photo] = photos.prepare([original], LIMITS)
    assert photo.media_type == {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp",
                                "heic": "image/heic"}[kind]
    assert photo.original == original and photo.sha256 == sha256(original)
    for copy in (photo.public, photo.thumb):
        im = Image.open(io.BytesIO(copy))
        assert im.format == "WEBP"
        assert not im.getexif() and not im.getexif().get_ifd(0x8825)
        assert not {"exif", "xmp", "icc_profile", "XML:com.adobe.xmp", "Author"} & set(im.info)
        for marker in s.IDENTIFYING:
            assert marker not in copy
        for marker in (b"EXIF", b"Exif", b"XMP ", b"ICCP"):  # WebP's metadata chunks
            assert marker not in copy


def test_orientation_is_applied_before_the_metadata_goes():
    data = s.jpeg(s.exif_block(orientation=6), size=(64, 48))  # 6: rotate 90 degrees clockwise to view
    [photo] = photos.prepare([data], LIMITS)
    im = Image.open(io.BytesIO(photo.public)).convert("RGB")
    assert im.size == (48, 64)
    # the red corner (top left as stored) is top right once upright
    r, g, b = im.getpixel((45, 2))
    assert r > 150 and g < 90 and b < 90


def test_sizes_of_copies():
    [photo] = photos.prepare([s.jpeg(size=(3000, 1000))], LIMITS)
    assert photo.public_size == (2048, 683) and photo.thumb_size == (320, 107)
    assert Image.open(io.BytesIO(photo.thumb)).size == photo.thumb_size


def test_mpo_is_a_jpeg():
    """Some phones write MPO: a JPEG with more pictures after the first."""
    first, second = Image.new("RGB", (64, 48), "red"), Image.new("RGB", (64, 48), "blue")
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second], exif=s.exif_block(gps=s.SANTIAGO))
    [photo] = photos.prepare([buf.getvalue()], LIMITS)
    assert photo.media_type == "image/jpeg" and photo.exif.lat == pytest.approx(-33.4458333)
    assert Image.open(io.BytesIO(photo.public)).convert("RGB").getpixel((5, 5))[0] > 200  # the first picture


def test_the_report_page_takes_only_our_own_photo_urls():
    from geo311.pages import public_photos

    ours = {"url": "/photos/a.webp", "thumbnail_url": "/photos/b.webp", "thumbnail_width": 320, "thumbnail_height": 240}
    assert public_photos([ours, {**ours, "url": "https://elsewhere.example/x.jpg"},
                          {**ours, "thumbnail_url": "javascript:alert(1)"}, {}]) == [
        {"url": "/photos/a.webp", "thumbnail_url": "/photos/b.webp", "width": 320, "height": 240}]
    assert public_photos(None) == []


def test_the_same_photo_twice_counts_once():
    data = s.jpeg(s.exif_block())
    assert len(photos.prepare([data, data], LIMITS)) == 1


# ----- refusals -----------------------------------------------------------------------------
@pytest.mark.parametrize("data, status, code", [
    (s.TEXT_FILE, 415, "unsupported_photo"),
    (b"%PDF-1.7\n" + b"x" * 200, 415, "unsupported_photo"),
    (b"GIF89a" + b"\x00" * 100, 415, "unsupported_photo"),
    (s.png_bomb(), 413, "photo_too_many_pixels"),              # Pillow's own bomb check
    (s.png_bomb(9000, 9000), 413, "photo_too_many_pixels"),    # ours: 81 megapixels > 50
    (s.truncated_jpeg(), 422, "bad_photo"),
    (s.png_bomb(64, 48), 422, "bad_photo"),                    # its pixel data does not match
])
def test_refusals(data, status, code):
    with pytest.raises(Exception) as caught:
        photos.prepare([data], LIMITS)
    assert (caught.value.status, caught.value.code) == (status, code), caught.value
    with pytest.raises(Exception) as again:
        photos.inspect(data, LIMITS)
    assert again.value.code == code


def test_size_and_count_limits():
    small = photos.Limits(max_bytes=4000, max_request_bytes=6000)
    with pytest.raises(PayloadTooLarge, match="each photo may be at most"):
        photos.prepare([s.jpeg(size=(400, 300), quality=95)], small)
    three = [s.jpeg(), s.png(), s.webp()]
    sizes = [len(d) for d in three]
    with pytest.raises(PayloadTooLarge, match="together"):
        photos.prepare(three, photos.Limits(max_bytes=max(sizes), max_request_bytes=sum(sizes) - 1))
    with pytest.raises(InvalidInput, match="at most 3 photos") as many:
        photos.prepare([s.jpeg()] * 4, LIMITS)
    assert many.value.code == "too_many_photos"


# ----- the store ----------------------------------------------------------------------------
def test_local_store_is_content_addressed(tmp_path):
    store = LocalPhotoStore(tmp_path)
    key, created = store.put("public", b"photo bytes")
    assert key == sha256(b"photo bytes") and created
    assert store.put("public", b"photo bytes") == (key, False)
    assert store.get("public", key) == b"photo bytes" and store.exists("public", key)
    assert store.get("original", key) is None  # the areas are apart
    assert (tmp_path / "public" / key[:2] / key).is_file()
    assert list(store.keys("public")) == [key]
    store.delete("public", key)
    assert not store.exists("public", key)
    with pytest.raises(ValueError):
        store.get("public", "../../etc/passwd")
    with pytest.raises(ValueError):
        store.put("elsewhere", b"x")


# ----- with submissions ---------------------------------------------------------------------
def files(store: LocalPhotoStore) -> set[str]:
    return {p.name for p in store.root.rglob("*") if p.is_file()}


def rows(session) -> tuple[int, int, int]:
    return session.execute(text("SELECT (SELECT count(*) FROM photos), (SELECT count(*) FROM submission_photos), "
                                "(SELECT count(*) FROM submissions)")).one()


def new(point=HOSFORD, **kw) -> NewSubmission:
    return NewSubmission(lon=point[0], lat=point[1], category="campsite", raw={"test": True}, **kw)


def test_photos_join_the_report_and_a_merge_brings_more(session, tmp_path):
    store = LocalPhotoStore(tmp_path)
    first, second = s.jpeg(s.exif_block(gps=s.PORTLAND)), s.png()
    created = photos.submit_with_photos(session, new(), [first, second], store, LIMITS)
    assert created.created and created.submission_id
    merged = photos.submit_with_photos(session, new(offset(HOSFORD, east_m=15)), [s.webp(), first], store, LIMITS)
    assert merged.report_id == created.report_id and not merged.created
    found = get_report_feature(session, created.report_id)["properties"]["photos"]
    assert len(found) == 3  # `first` twice is one photo
    stored = session.execute(text("SELECT sha256, public_sha256, thumb_sha256, media_type FROM photos "
                                  "ORDER BY id")).all()
    assert [r.media_type for r in stored] == ["image/jpeg", "image/png", "image/webp"]
    assert [f["url"] for f in found] == [f"/photos/{r.public_sha256}.webp" for r in stored]
    assert [f["thumbnail_url"] for f in found] == [f"/photos/{r.thumb_sha256}.webp" for r in stored]
    assert "original_url" not in found[0]
    assert store.get("original", stored[0].sha256) == first
    assert files(store) == {k for r in stored for k in (r.sha256, r.public_sha256, r.thumb_sha256)}
    taken = session.execute(text("SELECT taken_at FROM photos WHERE sha256 = :s"), {"s": sha256(first)}).scalar()
    assert taken.isoformat() == "2024-05-01T17:20:30+00:00"


def test_a_refused_submission_stores_no_photo(session, tmp_path):
    store = LocalPhotoStore(tmp_path)
    before = rows(session)
    with pytest.raises(InvalidInput, match="outside the service area"):
        photos.submit_with_photos(session, new(VANCOUVER_WA), [s.jpeg(s.exif_block())], store, LIMITS)
    with pytest.raises(InvalidInput, match="unknown"):
        photos.submit_with_photos(session, replace(new(), category="bigfoot"), [s.png()], store, LIMITS)
    assert rows(session) == before and files(store) == set()


def test_a_refused_submission_keeps_files_it_did_not_create(session, tmp_path):
    store = LocalPhotoStore(tmp_path)
    kept = s.jpeg(s.exif_block())
    photos.submit_with_photos(session, new(), [kept], store, LIMITS)
    there = files(store)
    with pytest.raises(InvalidInput):
        photos.submit_with_photos(session, new(VANCOUVER_WA), [kept, s.png()], store, LIMITS)
    assert files(store) == there


def test_idempotent_replay_counts_the_photos(session, tmp_path):
    store = LocalPhotoStore(tmp_path)
    sub = new(idempotency_key="photo-key-1")
    first = photos.submit_with_photos(session, sub, [s.jpeg()], store, LIMITS)
    before = rows(session)
    again = photos.submit_with_photos(session, sub, [s.jpeg()], store, LIMITS)
    assert again.replayed and again.report_id == first.report_id and rows(session) == before
    with pytest.raises(Conflict):
        photos.submit_with_photos(session, sub, [s.png()], store, LIMITS)
    with pytest.raises(Conflict):
        photos.submit_with_photos(session, sub, [], store, LIMITS)
    assert rows(session) == before
    # without photos the hash is what it was before photos existed
    assert new().payload_hash() == replace(new(), photos=()).payload_hash()
    assert new().payload_hash() != replace(new(), photos=("ab" * 32,)).payload_hash()


def test_sweep_removes_only_files_without_rows(session, tmp_path):
    store = LocalPhotoStore(tmp_path)
    photos.submit_with_photos(session, new(), [s.jpeg()], store, LIMITS)
    kept = files(store)
    store.put("public", b"an orphan")
    store.put("original", b"another orphan")
    assert photos.sweep(session, store, older_than_s=3600) == 0  # too young to tell
    assert photos.sweep(session, store, older_than_s=0) == 2
    assert files(store) == kept

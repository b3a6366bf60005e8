"""POST requests: keys, parameters, attributes, merges and the token flow, in JSON and XML."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
import pytest
from sqlalchemy import text

from geo311.auth import create_key, revoke_key
from geo311.status import change_status
from tests.open311.support import BASE, check_json, check_xml, error_both, get_both
from tests.test_intake import HOSFORD, VANCOUVER_WA, offset


def form(key: str | None, point=HOSFORD, code="campsite", **fields) -> dict:
    data = {"service_code": code, "lat": str(point[1]), "long": str(point[0]), **fields}
    if key is not None:
        data["api_key"] = key
    return data


def post(client, data, fmt="json"):
    return client.post(f"{BASE}/requests.{fmt}", data=data)


def stored(session, report_id: int) -> list[dict]:
    return [dict(r) for r in session.execute(text(
        "SELECT channel, reporter_name, reporter_email, reporter_phone, address, description, attributes, raw, "
        "idempotency_key FROM submissions WHERE report_id = :id ORDER BY id"), {"id": report_id}).mappings()]


def test_post_creates_a_request_and_stores_the_open311_fields(client, session, resident_key):
    data = form(resident_key, description="Two tents on the sidewalk", address_string="SE Water Ave & Salmon St",
                email="pat@example.org", phone="503-555-0111", first_name="Pat", last_name="Doe",
                device_id="device-7", account_id="acct-42", media_url="https://example.org/p/1.jpg",
                jurisdiction_id="portland.gov", **{"attribute[tents]": "2", "attribute[blocking]": "yes",
                                                   "attribute[hazards][]": ["needles", "fire"]})
    r = post(client, data)
    (reply,) = check_json(r, "post")
    rid = reply["service_request_id"]
    assert rid.isdigit() and reply["account_id"] == "acct-42"
    assert reply["service_notice"].startswith("Received. Impact Reduction Program (Portland Solutions) aims "
                                              "to act on it within 7 days")
    assert r.headers["location"] == f"{BASE}/requests/{rid}.json" and r.headers["x-open311-token"]
    (sub,) = stored(session, int(rid))
    assert sub["channel"] == "open311" and sub["reporter_name"] == "Pat Doe"
    assert (sub["reporter_email"], sub["reporter_phone"]) == ("pat@example.org", "503-555-0111")
    assert sub["address"] == "SE Water Ave & Salmon St" and sub["description"] == "Two tents on the sidewalk"
    assert sub["attributes"] == {"tents": 2, "blocking": "yes", "hazards": ["needles", "fire"]}
    raw = sub["raw"]
    assert raw["device_id"] == "device-7" and raw["account_id"] == "acct-42"
    assert raw["media_url"] == "https://example.org/p/1.jpg"  # stored as given, never fetched
    assert raw["attribute[hazards][]"] == ["needles", "fire"]
    assert "api_key" not in raw and resident_key not in orjson.dumps(raw).decode()
    assert raw["api_key_id"] == resident_key.split("_")[1]

    (request,) = get_both(client, f"requests/{rid}", "requests")
    assert request["status"] == "open" and request["status_notes"] == "open"
    assert (request["service_code"], request["service_name"]) == ("campsite", "Campsite")
    assert request["agency_responsible"] == "Impact Reduction Program (Portland Solutions)"
    assert request["description"] == "Two tents on the sidewalk"
    assert request["address"] == "SE Water Ave & Salmon St"
    assert (request["lat"], request["long"]) == pytest.approx((HOSFORD[1], HOSFORD[0]))
    assert request["media_url"] is None and request["zipcode"] is None
    requested = datetime.fromisoformat(request["requested_datetime"])
    assert datetime.fromisoformat(request["expected_datetime"]) - requested == timedelta(days=7)
    assert request["service_notice"] == "Service target: 7 days"


def test_post_in_xml(client, resident_key):
    r = post(client, form(resident_key, code="pothole", account_id="a-1"), fmt="xml")
    (reply,) = check_xml(r, "post")
    assert set(reply) == {"service_request_id", "service_notice", "account_id"}
    assert reply["service_request_id"].isdigit() and reply["account_id"] == "a-1"
    assert r.headers["location"] == f"{BASE}/requests/{reply['service_request_id']}.xml"
    (json_view,) = get_both(client, f"requests/{reply['service_request_id']}", "requests")
    assert json_view["service_code"] == "pothole"


def test_any_role_key_may_submit_and_missing_or_bad_keys_are_403(client, session):
    manager = create_key(session, "manager")[1]
    check_json(post(client, form(manager, code="pothole")), "post")
    assert "api_key is required" in error_both(client, "POST", "requests", 403, data=form(None))[0]
    bad = error_both(client, "POST", "requests", 403, data=form("g311_nope_nope"))
    assert bad == ["api_key is not valid or has been revoked"]
    key_id, revoked = create_key(session, "resident")
    revoke_key(session, key_id)
    error_both(client, "POST", "requests", 403, data=form(revoked))
    # a geo311 Bearer header is not Open311's api_key
    r = client.post(f"{BASE}/requests.json", data=form(None), headers={"Authorization": f"Bearer {manager}"})
    assert r.status_code == 403
    assert session.execute(text("SELECT count(*) FROM submissions WHERE channel = 'open311'")).scalar() == 1


@pytest.mark.parametrize("fields, status, message", [
    ({"service_code": ""}, 400, "service_code is required"),
    ({"lat": "", "long": ""}, 400, "lat and long are required"),
    ({"lat": "", "long": "", "address_string": "12 Nowhere Lane"}, 400, "no address like '12 Nowhere Lane'"),
    ({"long": ""}, 400, "long is required too"),
    ({"service_code": "bigfoot"}, 404, "service_code 'bigfoot' is not offered"),
    ({"jurisdiction_id": "seattle.gov"}, 404, "jurisdiction_id 'seattle.gov' is not served here"),
    ({"lat": str(VANCOUVER_WA[1]), "long": str(VANCOUVER_WA[0])}, 400, "outside the service area"),
    ({"lat": "145.5"}, 400, "out of range"),
    ({"description": "x" * 4001}, 400, "description (at most 4,000 characters)"),
])
def test_bad_posts_are_open311_errors_and_store_nothing(client, session, resident_key, fields, status, message):
    (description,) = error_both(client, "POST", "requests", status, data={**form(resident_key), **fields})
    assert message in description
    assert session.execute(text("SELECT count(*) FROM submissions")).scalar() == 0


def test_address_alone_is_geocoded_when_one_address_is_clearly_meant(client, session, resident_key):
    data = {"api_key": resident_key, "service_code": "pothole", "address_string": "1101 se division st"}
    r = client.post(f"{BASE}/requests.json", data=data)
    assert r.status_code == 200, r.text
    rid = r.json()[0]["service_request_id"]
    lon, lat, matched = session.execute(text(
        "SELECT ST_X(location), ST_Y(location), matched_address FROM reports WHERE id = :id"), {"id": int(rid)}).one()
    assert matched == "1101 Southeast Division Street" and (round(lon, 4), round(lat, 4)) == (-122.6544, 45.505)


def test_an_ambiguous_address_alone_is_a_400_listing_the_candidates(client, session, resident_key):
    session.execute(text(
        "INSERT INTO address_streets (predir, name, suffix, postdir, addresses) VALUES ('NE', 'DIVISION', 'ST', '', 1)"))
    session.execute(text(
        "INSERT INTO addresses (street_id, number, label, location) SELECT id, 1101, '1101 Northeast Division Street', "
        "ST_SetSRID(ST_MakePoint(-122.6, 45.53), 4326) FROM address_streets WHERE predir = 'NE'"))
    data = {"api_key": resident_key, "service_code": "pothole", "address_string": "1101 Division St"}
    (message,) = error_both(client, "POST", "requests", 400, data=data)
    assert "could be several places" in message and "1101 Northeast Division Street" in message
    assert session.execute(text("SELECT count(*) FROM submissions")).scalar() == 0


def test_a_body_that_is_not_a_form_is_400(client, resident_key):
    r = client.post(f"{BASE}/requests.json", json=form(resident_key))
    assert r.status_code == 400 and "form-encoded" in r.json()[0]["description"]


def _require_tents(session):
    definitions = session.execute(text("SELECT attributes FROM categories WHERE code = 'campsite'")).scalar()
    definitions[0]["required"] = True
    session.execute(text("UPDATE categories SET attributes = CAST(:a AS jsonb) WHERE code = 'campsite'"),
                    {"a": orjson.dumps(definitions).decode()})


def test_attributes_required_and_typed_as_the_definition_says(client, session, resident_key):
    _require_tents(session)
    (tents,) = get_both(client, "services/campsite", "service")["attributes"][:1]
    assert tents["required"] is True
    missing = error_both(client, "POST", "requests", 400, data=form(resident_key))
    assert missing == ["attribute[tents]: required (How many tents or structures?)"]
    wrong = error_both(client, "POST", "requests", 400, data=form(
        resident_key, **{"attribute[tents]": "several", "attribute[blocking]": "maybe",
                         "attribute[hazards][]": ["needles", "dragons"], "attribute[colour]": "blue"}))
    assert sorted(wrong) == sorted([
        "attribute[colour]: not a question of this category (it asks: tents, blocking, hazards)",
        "attribute[tents]: must be a number, got 'several'",
        "attribute[blocking]: must be one of yes, no, got 'maybe'",
        "attribute[hazards]: 'dragons' not among needles, fire, waste, garbage"])
    assert session.execute(text("SELECT count(*) FROM submissions")).scalar() == 0
    ok = check_json(post(client, form(resident_key, **{"attribute[tents]": "4", "attribute[hazards]": "fire"})), "post")
    (sub,) = stored(session, int(ok[0]["service_request_id"]))
    assert sub["attributes"] == {"tents": 4, "hazards": ["fire"]}


def test_a_submission_that_joins_an_open_request_says_so(client, session, resident_key):
    (first,) = check_json(post(client, form(resident_key)), "post")
    (second,) = check_json(post(client, form(resident_key, offset(HOSFORD, east_m=20), description="again")), "post")
    rid = first["service_request_id"]
    assert second["service_request_id"] == rid
    assert second["service_notice"].startswith(f"This joined an existing request, {rid}, for the same problem")
    assert "reported 2 times" in second["service_notice"]
    (third,) = check_xml(post(client, form(resident_key, offset(HOSFORD, north_m=10)), fmt="xml"), "post")
    assert third["service_request_id"] == rid and "joined an existing request" in third["service_notice"]
    assert len(stored(session, int(rid))) == 3
    (request,) = get_both(client, f"requests/{rid}", "requests")
    assert request["service_notice"] == "Service target: 7 days; reported 3 times"


def test_token_flow(client, session, resident_key):
    r = post(client, form(resident_key))
    rid, token = r.json()[0]["service_request_id"], r.headers["x-open311-token"]
    assert get_both(client, f"tokens/{token}", "token") == [{"service_request_id": rid, "token": token}]
    # a merged submission's token names the request it joined
    r2 = post(client, form(resident_key, offset(HOSFORD, east_m=5)))
    token2 = r2.headers["x-open311-token"]
    assert token2 != token
    assert get_both(client, f"tokens/{token2}", "token")[0]["service_request_id"] == rid
    # closed as a duplicate of another request, its submissions (and tokens) follow the original
    far = post(client, form(resident_key, offset(HOSFORD, east_m=300)))
    far_token = far.headers["x-open311-token"]
    change_status(session, int(far.json()[0]["service_request_id"]), "duplicate", actor="manager:test",
                  duplicate_of=int(rid))
    assert get_both(client, f"tokens/{far_token}", "token")[0]["service_request_id"] == rid
    for unknown in ("nope", "A" * 24, token.upper() + "x"):
        (message,) = error_both(client, "GET", f"tokens/{unknown}", 404)
        assert "is not known" in message


def test_api_key_in_the_query_string_and_file_uploads(client, resident_key):
    r = client.post(f"{BASE}/requests.json", params={"api_key": resident_key}, data=form(None, code="pothole"))
    check_json(r, "post")
    upload = client.post(f"{BASE}/requests.json", data=form(resident_key),
                         files={"media": ("tent.jpg", b"\xff\xd8\xff", "image/jpeg")})
    assert upload.status_code == 400
    assert "file uploads are not taken; send a media_url" in upload.json()[0]["description"]

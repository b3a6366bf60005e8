"""The report API through the app (in process; the session joins the test's transaction)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.test_intake import GRESHAM, HOSFORD, VANCOUVER_WA, offset

PERSONAL = ("Sam Resident", "sam@example.org", "503-555-0100")


def feature(point=HOSFORD, category="campsite", **props):
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(point)},
            "properties": {"category": category, **props}}


def counts(session):
    return session.execute(text("SELECT (SELECT count(*) FROM reports), (SELECT count(*) FROM submissions)")).one()


def post(client, body, **headers):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post("/api/v1/reports", content=data, headers={"content-type": "application/json", **headers})


def test_create_then_merge(client):
    reporter = dict(zip(("name", "email", "phone"), PERSONAL, strict=True))
    r = post(client, feature(description="two tents", reporter=reporter, attributes={"tents": 2}))
    assert r.status_code == 201 and r.headers["content-type"] == "application/geo+json"
    body = r.json()
    rid = body["id"]
    assert r.headers["location"] == f"/api/v1/reports/{rid}"
    p = body["properties"]
    for key in ("id", "category", "status", "priority", "jurisdiction", "agency", "districts",
                "submission_count", "near_boundary", "created_at", "updated_at"):
        assert key in p
    assert p["merged"] is False and p["status"] == "open" and p["submission_count"] == 1
    assert p["created_at"].endswith("+00:00")
    assert body["geometry"] == {"type": "Point", "coordinates": list(HOSFORD)}

    r2 = post(client, feature(offset(HOSFORD, east_m=20), description="still there"))
    assert r2.status_code == 200
    p2 = r2.json()["properties"]
    assert p2["id"] == rid and p2["merged"] is True and 19 < p2["distance_m"] < 21 and p2["submission_count"] == 2
    for secret in PERSONAL:
        assert secret not in r.text and secret not in r2.text


@pytest.mark.parametrize("body, fragment", [
    ('{"type": "Feature",', "not valid JSON"),
    ("[1, 2]", "must be a GeoJSON Feature"),
    (feature() | {"type": "FeatureCollection"}, "type: must be 'Feature'"),
    ({"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
      "properties": {"category": "campsite"}}, "must be a Point"),
    ({"type": "Feature", "geometry": {"type": "Point", "coordinates": ["a", "b"]},
      "properties": {"category": "campsite"}}, "two numbers"),
    (feature((-200, 45.5)), "out of range"),
    ('{"type":"Feature","geometry":{"type":"Point","coordinates":[NaN,45.5]},"properties":{"category":"campsite"}}',
     "finite"),
    ('{"type":"Feature","geometry":{"type":"Point","coordinates":[-122.6,1e999]},"properties":{"category":"campsite"}}',
     "finite"),
    (feature(category="bigfoot"), "unknown; choose one of"),
    (feature(VANCOUVER_WA), "outside the service area"),
    (feature(GRESHAM, "graffiti"), "served there: abandoned_vehicle, campsite, illegal_dumping, pothole"),
    (feature(description="x" * 4001), "properties.description: String should have at most 4000 characters"),
    (feature((HOSFORD[1], HOSFORD[0])), "did you send [lat, lon]"),
    ({"type": "Feature", "geometry": {"type": "Point", "coordinates": list(HOSFORD)}, "properties": {}},
     "properties.category: Field required"),
])
def test_refusals_are_422_with_a_message_and_store_nothing(client, session, body, fragment):
    before = counts(session)
    r = post(client, body)
    assert r.status_code == 422, r.text
    assert fragment in r.json()["error"]["message"]
    assert counts(session) == before


def test_body_over_the_limit_is_413(client, session):
    before = counts(session)
    r = post(client, feature(description="x" * (70 * 1024)))
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert counts(session) == before


def test_idempotency_key_replays_and_conflicts(client, session):
    first = post(client, feature(description="a"), **{"Idempotency-Key": "abc-123"})
    before = counts(session)
    again = post(client, feature(description="a"), **{"Idempotency-Key": "abc-123"})
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = post(client, feature(description="b"), **{"Idempotency-Key": "abc-123"})
    assert other.status_code == 409 and "different submission" in other.json()["error"]["message"]
    assert counts(session) == before


def test_get_one_and_404(client):
    rid = post(client, feature()).json()["id"]
    r = client.get(f"/api/v1/reports/{rid}")
    assert r.status_code == 200 and r.json()["properties"]["id"] == rid
    missing = client.get("/api/v1/reports/999999999")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_list_filters_and_keyset_pages(client):
    ids = [post(client, feature(offset(HOSFORD, east_m=100 * i), "graffiti")).json()["id"] for i in range(5)]
    gresham = post(client, feature(GRESHAM, "pothole")).json()["id"]
    seen, url = [], "/api/v1/reports?category=graffiti&limit=2"
    while url:
        page = client.get(url)
        assert page.status_code == 200
        body = page.json()
        seen += [f["id"] for f in body["features"]]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = nxt[0].replace("http://testserver", "") if nxt else None
    assert seen == sorted(ids, reverse=True)  # newest first, each once
    bbox = ",".join(map(str, (GRESHAM[0] - 0.01, GRESHAM[1] - 0.01, GRESHAM[0] + 0.01, GRESHAM[1] + 0.01)))
    assert [f["id"] for f in client.get(f"/api/v1/reports?bbox={bbox}").json()["features"]] == [gresham]
    hosford = client.get("/api/v1/reports?district=neighborhood:hosford-abernethy neighborhood district assn.")
    assert {f["id"] for f in hosford.json()["features"]} <= set(ids) and hosford.json()["features"]
    assert client.get("/api/v1/reports?status=resolved").json()["features"] == []
    assert len(client.get("/api/v1/reports?status=open&category=pothole").json()["features"]) == 1


@pytest.mark.parametrize("query, fragment", [
    ("bbox=1,2,3", "four numbers"), ("bbox=10,0,5,1", "min < max"), ("status=lost", "unknown status lost"),
    ("district=neighborhood", "layer:name"), ("district=ward:1", "no district layer 'ward'"),
    ("district=neighborhood:Atlantis", "no district named"), ("cursor=%%%", "cursor"),
    ("limit=5000", "limit"), ("since=yesterday", "since"),
])
def test_list_refuses_bad_filters(client, query, fragment):
    r = client.get(f"/api/v1/reports?{query}")
    assert r.status_code == 422 and fragment in r.json()["error"]["message"], r.text


def test_nearby_nearest_first_with_distance(client):
    a = post(client, feature(offset(HOSFORD, east_m=30), "illegal_dumping")).json()["id"]
    b = post(client, feature(offset(HOSFORD, east_m=-10), "illegal_dumping")).json()["id"]
    post(client, feature(HOSFORD, "graffiti"))
    r = client.get(f"/api/v1/reports/nearby?lon={HOSFORD[0]}&lat={HOSFORD[1]}&category=illegal_dumping&radius_m=100")
    feats = r.json()["features"]
    assert [f["id"] for f in feats] == [b, a]
    assert 9 < feats[0]["properties"]["distance_m"] < 11 and 29 < feats[1]["properties"]["distance_m"] < 31
    default = client.get(f"/api/v1/reports/nearby?lon={HOSFORD[0]}&lat={HOSFORD[1]}&category=illegal_dumping")
    assert default.json()["radius_m"] == 30  # the category's own radius
    capped = client.get(f"/api/v1/reports/nearby?lon={HOSFORD[0]}&lat={HOSFORD[1]}&category=campsite&radius_m=5000")
    assert capped.status_code == 422


def test_join_a_listed_report(client):
    rid = post(client, feature()).json()["id"]
    r = client.post(f"/api/v1/reports/{rid}/submissions", json=feature(offset(HOSFORD, east_m=200)))
    assert r.status_code == 200 and r.json()["properties"]["merged"] is True
    assert r.json()["properties"]["submission_count"] == 2


def test_events_and_points(client):
    rid = post(client, feature()).json()["id"]
    post(client, feature())
    events = client.get(f"/api/v1/reports/{rid}/events").json()["events"]
    assert [e["kind"] for e in events] == ["created", "merged"] and "actor" not in events[0]
    pts = client.get("/api/v1/reports/points").json()
    assert pts["features"][0]["properties"] == {"id": rid, "category": "campsite", "status": "open",
                                                "submission_count": 2}


def test_catalog(client):
    cats = client.get("/api/v1/categories").json()["categories"]
    assert {c["code"] for c in cats} >= {"campsite", "pothole"}
    layers = {lay["key"]: lay["districts"] for lay in client.get("/api/v1/layers").json()["layers"]}
    assert layers["neighborhood"] == 98
    districts = client.get("/api/v1/districts?layer=council_district").json()
    assert [f["properties"]["name"] for f in districts["features"]] == [f"District {i}" for i in range(1, 5)]
    assert client.get("/api/v1/districts?layer=ward").status_code == 422
    area = client.get("/api/v1/service-area").json()
    assert area["bbox"][0] < -122.6 < area["bbox"][2] and len(area["outline"]["features"]) == 2

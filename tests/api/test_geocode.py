"""Geocoding over HTTP, and address-only reports through the API."""

from __future__ import annotations

from sqlalchemy import text


def test_geocode_and_reverse(client):
    r = client.get("/api/v1/geocode", params={"q": "1101 se division", "limit": 3})
    body = r.json()
    assert r.status_code == 200 and body["candidates"][0]["address"] == "1101 Southeast Division Street"
    assert {"lon", "lat", "score", "match", "number_gap", "buildings"} <= set(body["candidates"][0])
    miss = client.get("/api/v1/geocode", params={"q": "5 Nowhere Lane"}).json()
    assert miss["candidates"] == [] and "no address" in miss["message"]
    rev = client.get("/api/v1/reverse", params={"lon": -122.6544224, "lat": 45.5050030}).json()
    assert rev["address"] == "1101 Southeast Division Street" and rev["distance_m"] < 2
    assert client.get("/api/v1/geocode", params={"q": ""}).status_code == 422
    digits = client.get("/api/v1/geocode", params={"q": "20000000000000000000"})
    assert digits.status_code == 200 and digits.json()["candidates"] == [], digits.text
    assert client.get("/api/v1/reverse", params={"lon": 200, "lat": 0}).status_code == 422


def test_reverse_without_addresses_is_a_404(client, session):
    session.execute(text("TRUNCATE addresses, address_streets"))
    assert client.get("/api/v1/reverse", params={"lon": -122.6, "lat": 45.5}).status_code == 404


def test_address_only_report_over_the_api(client, session):
    body = {"type": "Feature", "geometry": None, "properties": {"category": "graffiti", "address": "1101 SE Division St"}}
    r = client.post("/api/v1/reports", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["matched_address"] == "1101 Southeast Division Street"
    session.execute(text(
        "INSERT INTO address_streets (predir, name, suffix, postdir, addresses) VALUES ('NE', 'DIVISION', 'ST', '', 1)"))
    session.execute(text(
        "INSERT INTO addresses (street_id, number, label, location) SELECT id, 1101, '1101 Northeast Division Street', "
        "ST_SetSRID(ST_MakePoint(-122.6, 45.53), 4326) FROM address_streets WHERE predir = 'NE'"))
    body["properties"]["address"] = "1101 Division St"
    ambiguous = client.post("/api/v1/reports", json=body)
    assert ambiguous.status_code == 422 and ambiguous.json()["error"]["code"] == "ambiguous_address"
    assert len(ambiguous.json()["error"]["details"]["candidates"]) >= 2
    nowhere = client.post("/api/v1/reports", json={"type": "Feature", "geometry": None, "properties": {"category": "graffiti"}})
    assert nowhere.status_code == 422 and "give the place" in nowhere.json()["error"]["message"]

"""GET /api/v1/reports/export and `geo311 export`: streamed GeoJSON text sequences and CSV with the
report list's filters; personal data for staff only; a round trip through an empty database."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from geo311 import migrate
from geo311.cli import Runtime, app
from geo311.demo import load_demo
from geo311.imports import ImportOptions, import_file
from geo311.intake import NewSubmission, submit
from geo311.status import change_status
from tests import support
from tests.staff import make_world
from tests.test_intake import CITY_HALL, GRESHAM, HOSFORD, ST_JOHNS, offset

PERSONAL = ("Pat Private", "pat@example.org", "503-555-0111")
T0 = datetime(2025, 5, 1, 12, tzinfo=UTC)


def make_reports(session) -> list[int]:
    """Reports of every kind: statuses, county routing, a description with quotes and a newline."""
    made = [
        submit(session, NewSubmission(*HOSFORD, "campsite", {"a": 1}, description='two "tents"\nand a tarp',
                                      reporter_name=PERSONAL[0], reporter_email=PERSONAL[1],
                                      reporter_phone=PERSONAL[2], at=T0)),
        submit(session, NewSubmission(*CITY_HALL, "graffiti", {"a": 2}, address="1221 SW 4th Ave",
                                      at=T0 + timedelta(days=1))),
        submit(session, NewSubmission(*ST_JOHNS, "abandoned_vehicle", {"a": 3}, at=T0 + timedelta(days=2))),
        submit(session, NewSubmission(*GRESHAM, "illegal_dumping", {"a": 4}, at=T0 + timedelta(days=3))),
        submit(session, NewSubmission(*offset(HOSFORD, east_m=900), "pothole", {"a": 5}, at=T0 + timedelta(days=4))),
    ]
    ids = [m.report_id for m in made]
    change_status(session, ids[1], "resolved", actor="t", at=T0 + timedelta(days=5))
    change_status(session, ids[2], "not_actionable", actor="t", at=T0 + timedelta(days=6))
    return ids


def records(body: bytes) -> list[dict]:
    assert body.startswith(b"\x1e") and body.endswith(b"\n")
    return [json.loads(r) for r in body.split(b"\x1e")[1:]]


def test_export_geojsonseq_streams_every_report_public_fields_only(client, session):
    ids = make_reports(session)
    r = client.get("/api/v1/reports/export")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json-seq"
    assert 'filename="reports.geojsons"' in r.headers["content-disposition"]
    features = records(r.content)
    assert [f["id"] for f in features] == sorted(ids)
    first = features[0]
    assert first["type"] == "Feature" and first["geometry"] == {"type": "Point", "coordinates": list(HOSFORD)}
    p = first["properties"]
    assert p["description"] == 'two "tents"\nand a tarp' and p["category"] == "campsite"
    assert set(p["districts"]) == {"neighborhood", "coalition", "council_district"}
    assert {"closed_at", "source", "source_id", "created_at"} <= set(p)
    for secret in PERSONAL:
        assert secret not in r.text
    assert "reporters" not in p


def test_staff_get_personal_data(client, session):
    world = make_world(session)
    for who, sees in (("manager", True), ("crew_own", True), ("admin", True), ("resident", False),
                      ("anonymous", False)):
        r = client.get("/api/v1/reports/export?format=csv", headers=world.headers(who))
        assert r.status_code == 200, (who, r.text)
        assert (PERSONAL[1] in r.text) is sees, who
        g = client.get("/api/v1/reports/export", headers=world.headers(who))
        mine = next(f for f in records(g.content) if f["id"] == world.north_report)
        assert ("reporters" in mine["properties"]) is sees
        if sees:
            assert mine["properties"]["reporter_email"] == PERSONAL[1]
            assert mine["properties"]["reporters"][0]["phone"] == PERSONAL[2]
    assert client.get("/api/v1/reports/export", headers=world.headers("revoked")).status_code == 401


def test_csv_export_with_the_list_filters(client, session):
    ids = make_reports(session)
    r = client.get("/api/v1/reports/export?format=csv&status=open")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [int(x["id"]) for x in rows] == [ids[0], ids[3], ids[4]]
    assert rows[0]["description"] == 'two "tents"\nand a tarp' and rows[0]["lon"] == str(HOSFORD[0])
    assert "neighborhood:" in rows[0]["districts"] and rows[1]["jurisdiction"] == "Multnomah County"
    one = client.get("/api/v1/reports/export?format=csv&category=graffiti&since=2025-05-01T00:00:00Z"
                     "&until=2025-06-01T00:00:00Z")
    assert [int(x["id"]) for x in csv.DictReader(io.StringIO(one.text))] == [ids[1]]
    box = client.get("/api/v1/reports/export?bbox=-122.70,45.50,-122.63,45.53")
    assert {f["id"] for f in records(box.content)} == {ids[0], ids[1], ids[4]}
    district = client.get("/api/v1/reports/export?district=coalition:Southeast Uplift")
    assert ids[0] in {f["id"] for f in records(district.content)}
    none = client.get("/api/v1/reports/export?category=graffiti&status=open")
    assert none.status_code == 200 and none.content == b""


@pytest.mark.parametrize("query, fragment", [
    ("bbox=1,2,3", "bbox must be"), ("status=lost", "unknown status"), ("format=xml", "format"),
    ("district=nowhere:x", "no district layer"), ("since=yesterday", "since")])
def test_bad_filters_are_422_before_any_byte(client, query, fragment):
    r = client.get(f"/api/v1/reports/export?{query}")
    assert r.status_code == 422 and fragment in r.text


def test_export_is_not_taken_for_a_report_id(client, session):
    make_reports(session)
    assert client.get("/api/v1/reports/export").status_code == 200
    assert client.get("/api/v1/reports/12345678").status_code == 404


def _compare(source_rows, imported_rows):
    fields = ("code", "status", "created_at", "closed_at", "description", "address", "jurisdiction", "agency",
              "priority", "submission_count", "near_boundary", "districts")
    assert len(imported_rows) == len(source_rows)
    for rid, src in source_rows.items():
        got = imported_rows[str(rid)]
        for f in fields:
            assert getattr(got, f) == getattr(src, f), (rid, f)
        assert abs(got.lon - src.lon) < 1e-6 and abs(got.lat - src.lat) < 1e-6


_READ = """
SELECT r.id, r.source_id, c.code, r.status, r.created_at, r.closed_at, r.description, r.address, j.name AS jurisdiction,
       r.agency, r.priority, r.submission_count, r.near_boundary, ST_X(r.location) AS lon, ST_Y(r.location) AS lat,
       (SELECT array_agg(d.name ORDER BY d.name) FROM report_districts rd JOIN districts d ON d.id = rd.district_id
        WHERE rd.jurisdiction_id = r.jurisdiction_id AND rd.report_id = r.id) AS districts
FROM reports r JOIN categories c ON c.id = r.category_id JOIN jurisdictions j ON j.id = r.jurisdiction_id
"""


def test_round_trip_through_an_empty_database(client, session, settings, session_factory, admin_url, tmp_path):
    ids = make_reports(session)
    source = {r.id: r for r in session.execute(text(_READ + " WHERE r.id = ANY(:ids)"), {"ids": ids})}
    seq = tmp_path / "reports.geojsons"
    seq.write_bytes(client.get("/api/v1/reports/export").content)
    table = tmp_path / "reports.csv"
    result = CliRunner().invoke(app, ["export", str(table), "--format", "csv", "--public"],
                                obj=Runtime(settings, session_factory=session_factory))
    assert result.exit_code == 0 and "exported 5 reports" in result.output

    url = support.create_database(admin_url, "roundtrip")
    try:
        migrate.upgrade(url)
        engine = create_engine(url, poolclass=pool.NullPool)
        with Session(engine) as other:
            load_demo(other, say=lambda _line: None, addresses=False)
            other.commit()
            s1 = import_file(other, seq, ImportOptions(format="geojson", source="geo311-seq"))
            s2 = import_file(other, table, ImportOptions(format="csv", source="geo311-csv"))
            assert (s1.imported, s1.refused_total, s2.imported, s2.refused_total) == (5, 0, 5, 0)
            for src in ("geo311-seq", "geo311-csv"):
                got = {r.source_id: r for r in other.execute(text(_READ + " WHERE r.source = :s"), {"s": src})}
                _compare(source, got)
        engine.dispose()
    finally:
        support.drop_database(admin_url, url)


def test_cli_export_says_how_many(session, settings, session_factory, tmp_path):
    make_reports(session)
    out = tmp_path / "potholes.geojsons"
    result = CliRunner().invoke(app, ["export", str(out), "--category", "pothole", "--public"],
                                obj=Runtime(settings, session_factory=session_factory))
    assert result.exit_code == 0, result.output
    assert f"exported 1 report to {out} (geojsonseq)" in result.output
    assert [f["properties"]["category"] for f in records(out.read_bytes())] == ["pothole"]


def test_export_features_are_the_report_api_features(client, session):
    make_reports(session)
    exported = records(client.get("/api/v1/reports/export").content)
    filtered = {f["id"]: f for f in records(client.get("/api/v1/reports/export?status=open,resolved,"
                                                       "not_actionable").content)}
    for feature in exported:
        one = client.get(f"/api/v1/reports/{feature['id']}").json()
        assert feature["geometry"] == one["geometry"]
        for key, value in one["properties"].items():
            if key != "photos":  # photo links are not part of an export
                assert feature["properties"][key] == value, key
        assert filtered[feature["id"]] == feature  # the per-report path builds the same line

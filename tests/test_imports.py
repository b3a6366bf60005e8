"""Bulk import: a messy CSV counted exactly, refused rows written with their reasons, dedup with
historic dates, atomic batches, dry runs, idempotent re-runs, GeoJSON and Open311 JSON, rollups."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from geo311 import imports
from geo311.cli import Runtime, app
from geo311.errors import Conflict, InvalidInput
from geo311.heatmaps import rollup_drift
from geo311.imports import ImportOptions, import_file
from geo311.intake import NewSubmission, submit
from geo311.json_stream import JsonReader
from tests.test_intake import GRESHAM, HOSFORD, ST_JOHNS, offset

ZERO_DRIFT = dict.fromkeys(("heat_cells", "heat_cells_daily", "stats_daily", "district_stats_daily"), 0)
COLUMNS = {"id": "Unique Key", "created_at": "Created Date", "closed_at": "Closed Date",
           "category": "Complaint Type", "description": "Descriptor", "status": "Status",
           "lon": "Longitude", "lat": "Latitude", "address": "Incident Address"}
CATEGORIES = {"Encampment": "campsite", "Graffiti": "graffiti", "Pothole": "pothole",
              "Campsite Cleanup": "campsite_cleanup"}
GRAFFITI_SPOT = offset(HOSFORD, east_m=600)


def _pt(point) -> str:
    return f"{point[0]:.7f},{point[1]:.7f}"


def messy_csv() -> bytes:
    """A CSV the way old systems export them: a BOM, CRLF, a quoted newline, blank lines, and
    every kind of bad row. Line numbers are in the comments."""
    a5 = offset(HOSFORD, east_m=5)
    lines = [
        "Unique Key,Created Date,Closed Date,Complaint Type,Descriptor,Status,Longitude,Latitude,Incident Address",
        f"1001,2024-03-01T10:00:00Z,,Encampment,Two tents,Open,{_pt(HOSFORD)},SE Water Ave",            # 2: new A
        f"1002,2024-03-02T10:00:00Z,2024-03-05T12:00:00Z,Encampment,\"Tent, by the path\",Closed,"
        f"{_pt(ST_JOHNS)},",                                                                             # 3: new B
        "",                                                                                              # 4
        f"1003,2024-03-03 09:00:00,,Graffiti,\"tag on the\nwall\",Open,{_pt(offset(HOSFORD, east_m=300))},",  # 5-6: C
        "1004,2024-03-04T10:00:00Z,,Pothole,,Open,abc,45.51,",                                          # 7 bad coords
        f"1005,2024-03-04T10:00:00Z,,Pothole,,Open,{HOSFORD[1]},{HOSFORD[0]},",                          # 8 swapped
        f"1006,2024-03-04T10:00:00Z,,Unicorn sighting,,Open,{_pt(HOSFORD)},",                            # 9 unmapped
        f"1007,not a date,,Pothole,,Open,{_pt(HOSFORD)},",                                               # 10 bad date
        f"1008,2024-03-04T10:00:00Z,,,,Open,{_pt(HOSFORD)},",                                            # 11 no category
        f"1001,2024-03-01T10:00:00Z,,Encampment,Two tents,Open,{_pt(HOSFORD)},SE Water Ave",            # 12 duplicate
        f"1009,2024-03-05T10:00:00Z,,Encampment,still there,Open,{_pt(a5)},",                            # 13 joins A
        "1010,2024-03-05T10:00:00Z,,Pothole,,Open,-121.0,44.0,",                                         # 14 outside
        f"1011,2024-03-05T10:00:00Z,,Campsite Cleanup,,Open,{_pt(GRESHAM)},",                            # 15 not served
        f"1012,2024-03-10T10:00:00Z,,Encampment,back again,Open,{_pt(offset(ST_JOHNS, east_m=3))},",     # 16 new D
        f"1013,2024-05-01T10:00:00Z,,Encampment,months later,Open,{_pt(offset(HOSFORD, east_m=10))},",   # 17 new E
        f"1014,2024-03-12T10:00:00Z,,Graffiti,more paint,Open,{_pt(offset(GRAFFITI_SPOT, north_m=2))},",  # 18 joins X
        f"1015,2024-03-12T10:00:00Z,2024-03-01T00:00:00Z,Pothole,,Closed,{_pt(HOSFORD)},",               # 19 bad date
        f"1016,2024-03-12T10:00:00Z,,Pothole,,Frobnicated,{_pt(HOSFORD)},",                              # 20 status
        "",
        "",
    ]
    return "\ufeff".encode() + "\r\n".join(lines).encode()


EXPECTED_REFUSED = {"bad or missing coordinates": 1, "coordinates swapped (lat/lon)": 1, "unmapped category": 1,
                    "bad date": 2, "category missing": 1, "duplicate within the file": 1,
                    "outside every jurisdiction": 1, "category not served there": 1, "unknown status": 1}


@pytest.fixture
def messy(tmp_path):
    path = tmp_path / "service_requests.csv"
    path.write_bytes(messy_csv())
    return path


@pytest.fixture
def existing_graffiti(session):
    """A report that was there before the import, open since 2024-03-10."""
    return submit(session, NewSubmission(*GRAFFITI_SPOT, "graffiti", {"t": 1},
                                         at=datetime(2024, 3, 10, tzinfo=UTC))).report_id


def opts(**kw) -> ImportOptions:
    base = {"format": "csv", "source": "legacy", "columns": COLUMNS, "category_map": CATEGORIES, "dedup": True}
    return ImportOptions(**(base | kw))


def counts(session) -> tuple:
    return session.execute(text(
        "SELECT (SELECT count(*) FROM reports), (SELECT count(*) FROM submissions), "
        "(SELECT count(*) FROM report_events), (SELECT count(*) FROM report_districts), "
        "(SELECT count(*) FROM import_keys), (SELECT count(*) FROM import_runs)")).one()


def imported(session, source="legacy"):
    return {r.source_id: r for r in session.execute(text(
        "SELECT r.*, c.code, ST_X(r.location) AS lon, ST_Y(r.location) AS lat FROM reports r "
        "JOIN categories c ON c.id = r.category_id WHERE r.source = :s"), {"s": source})}


def test_messy_csv_is_counted_exactly(session, messy, existing_graffiti, tmp_path):
    refused_path = tmp_path / "refused.csv"
    s = import_file(session, messy, opts(refused_path=refused_path))
    assert (s.read, s.imported, s.merged, s.merged_existing, s.skipped) == (17, 5, 2, 1, 0)
    assert dict(s.refused) == EXPECTED_REFUSED
    assert s.read == s.imported + s.merged + s.skipped + s.refused_total and s.blank == 2

    reports = imported(session)
    assert set(reports) == {"1001", "1002", "1003", "1012", "1013"}
    a, b = reports["1001"], reports["1002"]
    assert a.submission_count == 2 and a.priority == 4 and a.status == "open" and a.closed_at is None
    assert a.created_at == datetime(2024, 3, 1, 10, tzinfo=UTC) and a.updated_at == datetime(2024, 3, 5, 10, tzinfo=UTC)
    assert a.address == "SE Water Ave" and a.agency.startswith("Impact Reduction")
    # closed history stays closed, with its own closing date; D does not join B, closed by then
    assert b.status == "resolved" and b.closed_at == datetime(2024, 3, 5, 12, tzinfo=UTC)
    assert reports["1012"].submission_count == 1
    assert reports["1013"].submission_count == 1  # A's window (28 days) was over
    assert reports["1003"].description == "tag on the\nwall"
    assert reports["1003"].created_at == datetime(2024, 3, 3, 9, tzinfo=UTC)  # no offset: UTC
    x = session.execute(text("SELECT submission_count FROM reports WHERE id = :id"),
                        {"id": existing_graffiti}).scalar()
    assert x == 2
    subs = session.execute(text(
        "SELECT s.channel, s.reply_status, s.received_at, s.raw->>'Unique Key' AS key, round(s.distance_m) AS d "
        "FROM submissions s JOIN reports r ON r.jurisdiction_id = s.jurisdiction_id AND r.id = s.report_id "
        "WHERE s.channel = 'import' ORDER BY key")).all()
    assert [(r.key, r.reply_status) for r in subs] == [
        ("1001", 201), ("1002", 201), ("1003", 201), ("1009", 200), ("1012", 201), ("1013", 201), ("1014", 200)]
    assert {r.key: r.d for r in subs}["1009"] == 5
    events = session.execute(text(
        "SELECT kind, from_status, to_status, at, note FROM report_events WHERE report_id = :id ORDER BY at, id"),
        {"id": b.id}).all()
    assert [(e.kind, e.from_status, e.to_status) for e in events] == [("created", None, "open"),
                                                                      ("status", "open", "resolved")]
    assert events[1].at == b.closed_at and events[1].note == "status in legacy: Closed"
    assert session.execute(text("SELECT count(*) FROM report_districts rd JOIN reports r "
                                "ON r.jurisdiction_id = rd.jurisdiction_id AND r.id = rd.report_id "
                                "WHERE r.source = 'legacy'")).scalar() == 5 * 3
    assert rollup_drift(session) == ZERO_DRIFT

    with refused_path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["refused_line"], r["refused_reason"]) for r in rows] == [
        ("7", "bad or missing coordinates"), ("8", "coordinates swapped (lat/lon)"), ("9", "unmapped category"),
        ("10", "bad date"), ("11", "category missing"), ("12", "duplicate within the file"),
        ("14", "outside every jurisdiction"), ("15", "category not served there"), ("19", "bad date"),
        ("20", "unknown status")]
    assert rows[0]["Longitude"] == "abc" and rows[0]["Unique Key"] == "1004"
    assert "did you" not in rows[1]["refused_detail"] and "swapped" in rows[1]["refused_detail"]
    assert "'Unicorn sighting'" in rows[2]["refused_detail"]
    assert "line 2" in rows[5]["refused_detail"]
    assert "Multnomah County" in rows[7]["refused_detail"] and "campsite_cleanup" in rows[7]["refused_detail"]
    run = session.execute(text("SELECT * FROM import_runs ORDER BY id DESC LIMIT 1")).one()
    assert (run.status, run.read, run.imported, run.merged, run.refused) == ("done", 17, 5, 2, 10)
    assert run.refused_reasons == EXPECTED_REFUSED


def test_dedup_joins_only_a_report_of_its_window(session, tmp_path):
    """A row joins a report made at its place in the category's window before the row's time; not
    one made earlier (still open), nor one made after it."""
    window = session.execute(text("SELECT dedup_window FROM categories WHERE code = 'graffiti'")).scalar()
    at = datetime(2024, 6, 1, 12, tzinfo=UTC)
    for when in (at - window - timedelta(hours=1), at + timedelta(hours=1)):
        submit(session, NewSubmission(*GRAFFITI_SPOT, "graffiti", {"t": 1}, at=when))

    def row(key: str, when: datetime) -> str:
        return f"{key},{when:%Y-%m-%dT%H:%M:%SZ},,Graffiti,paint,Open,{_pt(offset(GRAFFITI_SPOT, north_m=2))},"

    header = messy_csv().decode("utf-8-sig").splitlines()[0]
    path = tmp_path / "graffiti.csv"
    path.write_text(f"{header}\n{row('2001', at)}\n")
    first = import_file(session, path, opts())
    assert (first.imported, first.merged) == (1, 0)
    path.write_text(f"{header}\n{row('2002', at + timedelta(hours=2))}\n")
    second = import_file(session, path, opts())
    assert (second.imported, second.merged, second.merged_existing) == (0, 1, 1)


def test_a_refused_row_does_not_make_its_ids_later_rows_duplicates(session, tmp_path):
    """The first row of an id that is not refused is the one imported: a row refused for its date
    leaves the id to the next row with it, and only the rows after that are duplicates."""
    header = messy_csv().decode("utf-8-sig").splitlines()[0]
    good = f"Graffiti,paint,Open,{_pt(GRAFFITI_SPOT)},"
    path = tmp_path / "ids.csv"
    path.write_text(f"{header}\n3001,not a date,,{good}\n3001,2024-06-01T12:00:00Z,,{good}\n"
                    f"3001,2024-06-02T12:00:00Z,,{good}\n3002,2024-06-03T12:00:00Z,,{good}\n")
    summary = import_file(session, path, opts(dedup=False, refused_path=tmp_path / "refused.csv"))
    assert (summary.imported, summary.refused_total) == (2, 2)
    assert dict(summary.refused) == {"bad date": 1, "duplicate within the file": 1}
    refused = (tmp_path / "refused.csv").read_text().splitlines()
    assert refused[1].startswith("3001,not a date") and refused[1].split(",")[-3:-1] == ["2", "bad date"]
    assert refused[2].startswith("3001,2024-06-02") and refused[2].endswith("the same id '3001' as line 3")
    assert session.execute(text("SELECT array_agg(source_id ORDER BY id) FROM reports WHERE source = 'legacy'")
                           ).scalar() == ["3001", "3002"]


def test_without_dedup_every_good_row_is_a_report(session, messy, existing_graffiti):
    s = import_file(session, messy, opts(dedup=False))
    assert (s.imported, s.merged, s.refused_total) == (7, 0, 10)
    assert session.execute(text("SELECT submission_count FROM reports WHERE id = :id"),
                           {"id": existing_graffiti}).scalar() == 1
    assert rollup_drift(session) == ZERO_DRIFT


def test_dry_run_writes_nothing(session, messy, existing_graffiti, tmp_path):
    before = counts(session)
    dry = import_file(session, messy, opts(dry_run=True))
    assert dry.dry_run and (dry.imported, dry.merged, dry.merged_existing, dict(dry.refused)) == (
        5, 2, 1, EXPECTED_REFUSED)
    assert counts(session) == before
    assert not (tmp_path / "service_requests.refused.csv").exists()  # no file unless --refused names one
    real = import_file(session, messy, opts())
    assert (real.imported, real.merged, real.refused) == (dry.imported, dry.merged, dry.refused)


def test_rerun_imports_nothing_twice(session, messy, existing_graffiti):
    first = import_file(session, messy, opts())
    after_first = counts(session)
    again = import_file(session, messy, opts())
    assert (again.read, again.imported, again.merged, again.skipped) == (17, 0, 0, first.imported + first.merged)
    assert dict(again.refused) == EXPECTED_REFUSED
    assert counts(session)[:5] == after_first[:5]
    other = import_file(session, messy, opts(source="another system"))  # another source is other records
    assert other.imported + other.merged == 7
    # what keeps a source's ids unique among reports (migration 0016): each report's ledger row,
    # keyed by its source id, under the ledger's primary key
    unledgered = session.execute(text(
        "SELECT count(*) FROM reports r WHERE r.source IS NOT NULL AND NOT EXISTS (SELECT 1 FROM import_keys k "
        "WHERE k.source = r.source AND k.key = r.source_id AND k.report_id = r.id)")).scalar()
    assert unledgered == 0
    assert session.execute(text("SELECT count(*) FROM reports WHERE source IS NOT NULL")).scalar() == (
        first.imported + other.imported)


def test_batches_are_atomic(session, messy, existing_graffiti, monkeypatch):
    def fail_second(batch: int) -> None:
        if batch == 1:
            raise RuntimeError("disk full, say")

    monkeypatch.setattr(imports, "batch_done", fail_second)
    with pytest.raises(RuntimeError, match="disk full"):
        import_file(session, messy, opts(batch_size=3))
    # batch 0: the three oldest good rows (1001, 1002, 1003), whole; nothing of batch 1 (1009 ...)
    keys = session.execute(text("SELECT key FROM import_keys WHERE source = 'legacy' ORDER BY key")).scalars().all()
    assert keys == ["1001", "1002", "1003"]
    assert set(imported(session)) == {"1001", "1002", "1003"}
    assert session.execute(text("SELECT count(*) FROM submissions WHERE channel = 'import'")).scalar() == 3
    assert session.execute(text("SELECT count(*) FROM report_events WHERE actor = 'import:legacy'")).scalar() == 4
    assert session.execute(text("SELECT submission_count FROM reports WHERE source_id = '1001'")).scalar() == 1
    run = session.execute(text("SELECT status, read, imported, refused, error FROM import_runs "
                               "ORDER BY id DESC LIMIT 1")).one()
    assert (run.status, run.read, run.imported, run.refused) == ("failed", 17, 3, 10) and "disk full" in run.error
    assert rollup_drift(session) == ZERO_DRIFT

    monkeypatch.setattr(imports, "batch_done", lambda batch: None)
    rest = import_file(session, messy, opts(batch_size=3))
    assert (rest.skipped, rest.imported, rest.merged) == (3, 2, 2)  # 1009 joins A across batches
    assert imported(session)["1001"].submission_count == 2
    assert rollup_drift(session) == ZERO_DRIFT


def test_usage_errors_store_nothing(session, messy, tmp_path):
    before = counts(session)
    with pytest.raises(InvalidInput, match="lacks lon \\(column 'X'\\).*its columns: Unique Key"):
        import_file(session, messy, opts(columns=COLUMNS | {"lon": "X"}))
    with pytest.raises(InvalidInput, match="not active geo311 categories"):
        import_file(session, messy, opts(category_map={"Pothole": "potholes"}))
    with pytest.raises(InvalidInput, match="fallback-category"):
        import_file(session, messy, opts(fallback_category="nope"))
    with pytest.raises(InvalidInput, match="no such file"):
        import_file(session, tmp_path / "missing.csv", opts())
    assert counts(session) == before


def test_fallback_category_and_date_format(session, tmp_path):
    path = tmp_path / "nyc.csv.gz"
    body = ("Unique Key,Created Date,Complaint Type,Longitude,Latitude,Status\n"
            f"1,03/01/2024 02:30:00 PM,Noise,{_pt(HOSFORD)},Open\n"
            f"2,03/02/2024 09:00:00 AM,Graffiti,{_pt(offset(HOSFORD, north_m=400))},In Progress\n"
            f"3,2024-03-02,Graffiti,{_pt(offset(HOSFORD, north_m=800))},Open\n")
    path.write_bytes(gzip.compress(body.encode()))
    s = import_file(session, path, ImportOptions(
        format="csv", source="nyc", columns={k: v for k, v in COLUMNS.items() if k in (
            "id", "created_at", "category", "lon", "lat", "status")},
        category_map={"Graffiti": "graffiti"}, fallback_category="illegal_dumping",
        date_format="%m/%d/%Y %I:%M:%S %p", timezone="America/Los_Angeles"))
    assert (s.imported, dict(s.refused)) == (2, {"bad date": 1})
    got = imported(session, "nyc")
    assert got["1"].code == "illegal_dumping" and got["1"].created_at == datetime(2024, 3, 1, 22, 30, tzinfo=UTC)
    assert got["2"].status == "in_progress"


def test_several_date_formats_are_tried_in_turn(settings, session_factory, tmp_path):
    """Old systems change how they write dates: --date-format repeated, each tried in turn (iso:
    ISO 8601); a date none of them reads is refused naming them all."""
    path = tmp_path / "mixed.csv"
    rows = ["03/01/2024 02:30:00 PM", "03/02/2024", "2024-03-03T10:00:00Z", "yesterday"]
    path.write_text("Unique Key,Created Date,Complaint Type,Longitude,Latitude\n" + "".join(
        f"{i},{d},Graffiti,{_pt(offset(HOSFORD, north_m=50 * i))}\n" for i, d in enumerate(rows)))
    cats = tmp_path / "c.yaml"
    cats.write_text("Graffiti: graffiti\n")
    maps = [a for f in ("id", "created_at", "category", "lon", "lat") for a in ("--map", f"{f}={COLUMNS[f]}")]
    run = CliRunner().invoke(app, ["import", str(path), *maps, "--categories", str(cats), "--source", "mixed",
                                   "--date-format", "%m/%d/%Y %I:%M:%S %p", "--date-format", "%m/%d/%Y",
                                   "--date-format", "iso", "--timezone", "America/Los_Angeles",
                                   "--refused", str(tmp_path / "r.csv")],
                             obj=Runtime(settings, session_factory=session_factory))
    assert run.exit_code == 0, run.output
    assert "imported 3 new reports" in run.output and "refused 1: bad date" in run.output
    with session_factory() as s:
        got = imported(s, "mixed")
    assert [got[k].created_at for k in ("0", "1", "2")] == [
        datetime(2024, 3, 1, 22, 30, tzinfo=UTC), datetime(2024, 3, 2, 8, 0, tzinfo=UTC),
        datetime(2024, 3, 3, 10, 0, tzinfo=UTC)]
    (refused,) = csv.DictReader((tmp_path / "r.csv").open())
    assert refused["refused_detail"] == ("created_at 'yesterday' is not a date in any of the formats "
                                         "'%m/%d/%Y %I:%M:%S %p', '%m/%d/%Y', ISO 8601")


def test_nul_characters_are_dropped_not_fatal(session, tmp_path):
    """PostgreSQL's text cannot hold NUL, which some old exports have: they go, the rows stay."""
    path = tmp_path / "nul.csv"
    path.write_bytes(("Unique Key,Created Date,Complaint Type,Descriptor,Longitude,Latitude\n"
                      f"1\x00,2024-03-01T10:00:00Z,Graffiti,tag\x00ged,{_pt(HOSFORD)}\n"
                      f"2,2024-03-01T10:00:00Z,Graffiti,,{HOSFORD[0]}x\x00,{HOSFORD[1]}\n").encode())
    s = import_file(session, path, ImportOptions(
        format="csv", source="nul", category_map={"Graffiti": "graffiti"}, refused_path=tmp_path / "r.csv",
        columns={k: v for k, v in COLUMNS.items() if k in ("id", "created_at", "category", "description", "lon", "lat")}))
    assert (s.imported, dict(s.refused)) == (1, {"bad or missing coordinates": 1})
    assert imported(session, "nul")["1"].description == "tagged"
    refused = list(csv.DictReader((tmp_path / "r.csv").open(newline="")))
    assert refused[0]["Longitude"] == f"{HOSFORD[0]}x" and "are not numbers" in refused[0]["refused_detail"]

    geo = tmp_path / "nul.geojson"
    geo.write_text(json.dumps({"type": "FeatureCollection", "features": [feature(HOSFORD, {
        "id": "n\x001", "category": "graffiti", "created_at": "2024-03-01T10:00:00Z", "description": "a\x00b",
        "extra": {"note": "\x00"}})]}))
    s2 = import_file(session, geo, ImportOptions(format="geojson", source="nul-geo"))
    assert (s2.imported, s2.refused_total) == (1, 0)
    row = session.execute(text("SELECT r.source_id, r.description, s.raw->'properties'->'extra'->>'note' AS note "
                               "FROM reports r JOIN submissions s ON s.report_id = r.id AND s.jurisdiction_id = r.jurisdiction_id "
                               "WHERE r.source = 'nul-geo'")).one()
    assert tuple(row) == ("n1", "ab", "")


def feature(point, props, geometry_type="Point"):
    geometry = {"type": geometry_type, "coordinates": list(point)} if point is not None else None
    return {"type": "Feature", "geometry": geometry, "properties": props}


EXCEL_COLUMNS = {k: v for k, v in COLUMNS.items() if k in ("id", "created_at", "category", "description", "lon", "lat")}


def excel_csv(rows: int, delimiter: str) -> str:
    """What Excel saves: its own delimiter, CRLF, accented text, a quoted delimiter; row `rows + 1`
    has bad coordinates."""
    d = delimiter
    lines = [d.join(["Unique Key", "Created Date", "Complaint Type", "Descriptor", "Longitude", "Latitude"])]
    for i in range(1, rows + 1):
        spot = offset(HOSFORD, east_m=i * 3)
        lines.append(d.join([str(i), "2024-03-01T10:00:00Z", "Graffiti", f"tag number {i}", f"{spot[0]:.7f}",
                             f"{spot[1]:.7f}"]))
    lines.append(d.join([str(rows + 1), "2024-03-01T10:00:00Z", "Graffiti", "se\u00f1al", "-122.6x", "45.51"]))
    lines.append(d.join([str(rows + 2), "2024-03-02T10:00:00Z", "Graffiti", f'"Caf\u00e9{d} mur"',
                         *_pt(ST_JOHNS).split(",")]))
    return "\r\n".join(lines) + "\r\n"


def test_excel_csv_in_cp1252_with_semicolons(session, tmp_path):
    """A CSV saved by Excel on Windows: cp1252, semicolons. Read as UTF-8 it fails with a message that
    names --encoding, at the header or (past the first block of text) mid-file, storing nothing;
    with --encoding cp1252 it imports, the delimiter found from the header; its refused rows come
    back in cp1252 and semicolons, and import again once fixed."""
    path = tmp_path / "excel.csv"
    path.write_bytes(excel_csv(300, ";").encode("cp1252"))  # the first accent lies past 8 KB of text
    before = counts(session)
    common = {"format": "csv", "columns": EXCEL_COLUMNS, "category_map": CATEGORIES, "dedup": False}
    with pytest.raises(InvalidInput, match=r"excel.csv is not utf-8 text \(bytes f1.*--encoding: cp1252"):
        import_file(session, path, ImportOptions(source="excel", **common))
    assert counts(session)[:5] == before[:5]
    assert session.execute(text("SELECT status FROM import_runs WHERE source = 'excel'")).scalar() == "failed"

    refused = tmp_path / "refused.csv"
    s = import_file(session, path, ImportOptions(source="excel2", encoding="cp1252", refused_path=refused, **common))
    assert (s.read, s.imported, dict(s.refused)) == (302, 301, {"bad or missing coordinates": 1})
    got = imported(session, "excel2")
    assert got["302"].description == "Caf\u00e9; mur" and got["1"].description == "tag number 1"
    options = session.execute(text("SELECT options FROM import_runs WHERE source = 'excel2'")).scalar()
    assert (options["encoding"], options["delimiter"]) == ("cp1252", ";")

    body = refused.read_bytes().decode("cp1252")
    rows = list(csv.DictReader(io.StringIO(body, newline=""), delimiter=";"))
    assert [(r["Unique Key"], r["Descriptor"], r["refused_reason"]) for r in rows] == [
        ("301", "se\u00f1al", "bad or missing coordinates")]
    refused.write_bytes(body.replace("-122.6x", f"{HOSFORD[0]:.7f}").encode("cp1252"))
    again = import_file(session, refused, ImportOptions(source="excel2", encoding="cp1252", **common))
    assert (again.imported, again.skipped, again.refused_total) == (1, 0, 0)
    assert imported(session, "excel2")["301"].description == "se\u00f1al"


def test_excel_unicode_text_and_delimiter_options(session, tmp_path):
    """Excel's "Unicode Text": UTF-16 with a BOM, tab-separated; a pipe named with --delimiter."""
    path = tmp_path / "unicode.txt"
    path.write_bytes(excel_csv(3, "\t").encode("utf-16"))
    s = import_file(session, path, ImportOptions(format="csv", source="u16", columns=EXCEL_COLUMNS,
                                                 category_map=CATEGORIES, encoding="UTF16", refused_path=tmp_path / "r"))
    assert (s.imported, s.refused_total) == (4, 1)
    assert imported(session, "u16")["5"].description == "Caf\u00e9\t mur"
    assert (tmp_path / "r").read_bytes().startswith(b"\xff\xfe")  # back in UTF-16, its BOM first

    piped = tmp_path / "piped.csv"
    piped.write_text(excel_csv(2, "|").replace("Graffiti", "Graffiti,Tag"))  # a comma in every row
    s = import_file(session, piped, ImportOptions(format="csv", source="pipe", columns=EXCEL_COLUMNS,
                                                  category_map={"Graffiti,Tag": "graffiti"}, delimiter="pipe",
                                                  refused_path=tmp_path / "r2"))
    assert (s.imported, s.refused_total) == (3, 1)
    for bad, message in [({"encoding": "klingon"}, "unknown encoding 'klingon'"),
                         ({"delimiter": "ab"}, "--delimiter takes one character")]:
        with pytest.raises(InvalidInput, match=message):
            import_file(session, piped, ImportOptions(format="csv", source="pipe", columns=EXCEL_COLUMNS, **bad))


@pytest.fixture
def stage_index_usable(monkeypatch):
    """Whether the staged points' index was usable by the import's own transaction when the matching
    began, for each import: rows of the staging table updated in place (located, converted) before
    it was built can leave it marked for newer transactions only (pg_index.indcheckxmin), and then
    the matching walks the whole table for every part: 346 s at 1,000,000 rows."""
    from geo311 import import_staging

    seen = []
    real = import_staging.classify

    def checked(s, *args, **kwargs):
        seen.append(not s.execute(text(
            "SELECT indcheckxmin FROM pg_index WHERE indexrelid = 'import_stage_point'::regclass")).scalar())
        return real(s, *args, **kwargs)

    monkeypatch.setattr(import_staging, "classify", checked)
    return seen


def test_records_without_a_point_are_located_by_their_address(session, tmp_path, stage_index_usable):
    """No coordinates (or [0, 0]) but an address: placed on the address point by intake's rule for
    address-only submissions, its label kept as matched_address; refused with why when the address
    is not found, and as missing coordinates when there is no address, or only half a point."""
    from tests.test_geocoding import DIVISION_1101

    where = [float(DIVISION_1101["LON"]), float(DIVISION_1101["LAT"])]
    path = tmp_path / "addresses.csv"
    path.write_text("Unique Key,Created Date,Complaint Type,Longitude,Latitude,Incident Address\n"
                    "1,2024-03-01T10:00:00Z,Graffiti,,,1101 SE Division St\n"
                    "2,2024-03-01T11:00:00Z,Graffiti,0,0,1101 se division st\n"
                    "3,2024-03-01T12:00:00Z,Graffiti,,,99999 SE Nowhere Blvd\n"
                    "4,2024-03-01T13:00:00Z,Graffiti,,,\n"
                    "5,2024-03-01T14:00:00Z,Graffiti,0.0,0.0,\n"
                    f"6,2024-03-01T15:00:00Z,Graffiti,{where[0]},,1101 SE Division St\n")
    refused = tmp_path / "refused.csv"
    s = import_file(session, path, ImportOptions(
        format="csv", source="addr", category_map=CATEGORIES, refused_path=refused,
        columns={k: v for k, v in COLUMNS.items() if k in ("id", "created_at", "category", "lon", "lat", "address")}))
    assert (s.imported, s.located, dict(s.refused)) == (2, 2, {"address not found": 1, "bad or missing coordinates": 3})
    assert "  located by their address (no coordinates given): 2" in s.lines()
    got = imported(session, "addr")
    for key in ("1", "2"):
        assert [got[key].lon, got[key].lat] == pytest.approx(where, abs=1e-6)
        assert got[key].matched_address == "1101 Southeast Division Street"
    assert got["1"].address == "1101 SE Division St" and got["1"].jurisdiction_id is not None
    details = {r["Unique Key"]: (r["refused_reason"], r["refused_detail"]) for r in csv.DictReader(refused.open())}
    assert details["3"][0] == "address not found" and "'99999 SE Nowhere Blvd'" in details["3"][1]
    assert details["4"] == ("bad or missing coordinates", "coordinates missing")
    assert details["5"] == ("bad or missing coordinates", "coordinates [0, 0]: none given")
    assert details["6"] == ("bad or missing coordinates", "coordinates missing")
    assert rollup_drift(session) == ZERO_DRIFT

    # Open311 allows a request with an address and no point; GeoJSON a feature without a geometry
    o311 = tmp_path / "requests.json"
    o311.write_text(json.dumps([{"service_request_id": "r1", "service_code": "graffiti", "address": "1101 SE Division St",
                                 "requested_datetime": "2024-03-02T10:00:00Z", "status": "open"}]))
    geo = tmp_path / "features.geojson"
    geo.write_text(json.dumps({"type": "FeatureCollection", "features": [
        feature(None, {"id": "g1", "category": "graffiti", "created_at": "2024-03-02T10:00:00Z",
                       "address": "1101 SE Division St"}),
        feature(None, {"id": "g2", "category": "graffiti", "created_at": "2024-03-02T10:00:00Z"})]}))
    a = import_file(session, o311, ImportOptions(format="open311-json", source="addr311"))
    b = import_file(session, geo, ImportOptions(format="geojson", source="addrgeo", refused_path=tmp_path / "r.csv"))
    assert (a.imported, a.located, b.imported, b.located, dict(b.refused)) == (
        1, 1, 1, 1, {"bad or missing coordinates": 1})
    assert [imported(session, "addrgeo")["g1"].lon, imported(session, "addr311")["r1"].lat] == pytest.approx(
        [where[0], where[1]], abs=1e-6)

    session.execute(text("DELETE FROM addresses"))  # (the test's transaction is rolled back)
    c = import_file(session, path, ImportOptions(
        format="csv", source="addr-none", category_map=CATEGORIES, refused_path=tmp_path / "r2.csv",
        columns={k: v for k, v in COLUMNS.items() if k in ("id", "created_at", "category", "lon", "lat", "address")}))
    assert (c.imported, c.refused["address not found"]) == (0, 3)
    assert "no address points are loaded" in (tmp_path / "r2.csv").read_text()
    assert stage_index_usable == [True] * 4


def test_state_plane_coordinates_with_srid(session, tmp_path, stage_index_usable):
    """X/Y in Oregon State Plane North (EPSG:2913, feet), as older city systems store them: read
    with --srid, converted to longitude and latitude; absurd ones refused, an unknown srid a usage
    error."""
    def plane(point):
        return session.execute(text("SELECT ST_X(p), ST_Y(p) FROM ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), "
                                    "4326), 2913) p"), {"x": point[0], "y": point[1]}).one()

    (hx, hy), (sx, sy) = plane(HOSFORD), plane(ST_JOHNS)
    path = tmp_path / "plane.csv"
    path.write_text("Unique Key,Created Date,Complaint Type,X,Y\n"
                    f"1,2024-03-01T10:00:00Z,Graffiti,{hx:.3f},{hy:.3f}\n"
                    f"2,2024-03-01T11:00:00Z,Graffiti,{sx:.3f},{sy:.3f}\n"
                    f"3,2024-03-01T12:00:00Z,Graffiti,{hy:.3f},{hx:.3f}\n"  # X and Y swapped: far away
                    "4,2024-03-01T13:00:00Z,Graffiti,5e12,1\n")
    columns = {k: v for k, v in COLUMNS.items() if k in ("id", "created_at", "category")} | {"lon": "X", "lat": "Y"}
    refused = tmp_path / "r.csv"
    s = import_file(session, path, ImportOptions(format="csv", source="plane", columns=columns, srid=2913,
                                                 category_map=CATEGORIES, refused_path=refused))
    assert (s.imported, dict(s.refused)) == (2, {"outside every jurisdiction": 1, "bad or missing coordinates": 1})
    got = imported(session, "plane")
    assert [got["1"].lon, got["1"].lat, got["2"].lon, got["2"].lat] == pytest.approx([*HOSFORD, *ST_JOHNS], abs=1e-7)
    details = {r["Unique Key"]: r["refused_detail"] for r in csv.DictReader(refused.open())}
    assert details["4"] == "coordinates [5000000000000.0, 1.0] are out of range (x, y of EPSG:2913)"
    options = session.execute(text("SELECT options FROM import_runs WHERE source = 'plane'")).scalar()
    assert options["srid"] == 2913
    with pytest.raises(InvalidInput, match="--srid 999999 is no spatial reference PostGIS knows"):
        import_file(session, path, ImportOptions(format="csv", source="plane2", columns=columns, srid=999999))

    # UTM zone 10N: PROJ refuses a point outside its domain, which must not fail the rest
    utm = tmp_path / "utm.csv"
    (ux, uy), = session.execute(text("SELECT ST_X(p), ST_Y(p) FROM ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), "
                                     "4326), 32610) p"), {"x": HOSFORD[0], "y": HOSFORD[1]}).all()
    utm.write_text("Unique Key,Created Date,Complaint Type,X,Y\n"
                   f"1,2024-03-01T10:00:00Z,Graffiti,{ux:.3f},{uy:.3f}\n2,2024-03-01T10:00:00Z,Graffiti,9e8,9e8\n")
    u = import_file(session, utm, ImportOptions(format="csv", source="utm", columns=columns, srid=32610,
                                                category_map=CATEGORIES, refused_path=refused))
    assert (u.imported, dict(u.refused)) == (1, {"bad or missing coordinates": 1})
    assert [imported(session, "utm")["1"].lon, imported(session, "utm")["1"].lat] == pytest.approx(HOSFORD, abs=1e-7)
    assert "coordinates [900000000, 900000000] of EPSG:32610 are no place on Earth" in refused.read_text()
    assert stage_index_usable == [True, True]


def test_geojson_collection_and_sequence(session, tmp_path):
    features = [
        feature(HOSFORD, {"id": "g1", "category": "campsite", "created_at": "2024-04-01T08:00:00-07:00",
                          "status": "resolved", "closed_at": "2024-04-03T08:00:00Z", "description": "tents"}),
        feature(offset(HOSFORD, north_m=2000), {"id": "g2", "category": "graffiti", "created_at": "2024-04-02T08:00:00Z"}),
        feature(None, {"id": "g3", "category": "graffiti", "created_at": "2024-04-02T08:00:00Z"}),
        feature([[0, 0], [1, 1]], {"id": "g4", "category": "graffiti", "created_at": "2024-04-02T08:00:00Z"},
                "LineString"),
    ]
    path = tmp_path / "history.geojson.gz"
    path.write_bytes(gzip.compress(json.dumps({"type": "FeatureCollection", "name": "old system",
                                               "features": features, "crs": None}).encode()))
    s = import_file(session, path, ImportOptions(format="geojson", source="gj", refused_path=tmp_path / "r.csv"))
    assert (s.read, s.imported, dict(s.refused)) == (4, 2, {"bad or missing coordinates": 2})
    got = imported(session, "gj")
    assert got["g1"].status == "resolved" and got["g1"].created_at == datetime(2024, 4, 1, 15, tzinfo=UTC)
    assert got["g1"].closed_at == datetime(2024, 4, 3, 8, tzinfo=UTC)
    assert got["g2"].status == "open" and abs(got["g2"].lat - offset(HOSFORD, north_m=2000)[1]) < 1e-9
    refused = list(csv.DictReader((tmp_path / "r.csv").open(newline="")))
    assert [(r["refused_record"], r["refused_detail"]) for r in refused] == [
        ("3", "no geometry"), ("4", "geometry is a LineString, not a Point")]
    assert json.loads(refused[0]["record"])["properties"]["id"] == "g3"

    seq = tmp_path / "more.geojsons"
    seq.write_text("".join("\x1e" + json.dumps(f) + "\n" for f in features[:2]))
    s2 = import_file(session, seq, ImportOptions(format="geojson", source="gj"))
    assert (s2.read, s2.skipped, s2.imported) == (2, 2, 0)


def test_near_boundary_is_intakes_margin_rule(session, tmp_path):
    """Imports flag reports within the margin of their jurisdiction's edge as intake does (the
    matching finds them edge by edge): points on the edge, just inside and outside the margin
    measured on the spheroid, and far away, on both sides of Portland's and Multnomah County's edges."""
    points = session.execute(text("""
        WITH e AS (SELECT j.name, (ST_DumpPoints(ST_Boundary(j.boundary))).geom AS p
                   FROM jurisdictions j WHERE j.name IN ('City of Portland', 'Multnomah County')),
        picked AS (SELECT name, p FROM (SELECT name, p, row_number() OVER (PARTITION BY name ORDER BY ST_X(p), ST_Y(p))
                                        AS k FROM e) x WHERE k % 200 = 7)
        SELECT ST_X(q), ST_Y(q) FROM picked, (VALUES (0), (90), (180), (270)) a(az),
             LATERAL (VALUES (p), (ST_Project(p::geography, 10, radians(az))::geometry),
                             (ST_Project(p::geography, 14, radians(az))::geometry),
                             (ST_Project(p::geography, 16, radians(az))::geometry),
                             (ST_Project(p::geography, 400, radians(az))::geometry)) v(q)""")).all()
    path = tmp_path / "edges.csv"
    path.write_text("Unique Key,Created Date,Complaint Type,Longitude,Latitude\n" + "".join(
        f"{i},2024-03-01T10:00:00Z,Graffiti,{lon:.9f},{lat:.9f}\n" for i, (lon, lat) in enumerate(points)))
    summary = import_file(session, path, opts(source="edges", dedup=False, columns={
        "id": "Unique Key", "created_at": "Created Date", "category": "Complaint Type",
        "lon": "Longitude", "lat": "Latitude"}))
    assert summary.imported > 100
    flagged, wrong = session.execute(text("""
        SELECT count(*) FILTER (WHERE r.near_boundary), count(*) FILTER (WHERE r.near_boundary IS DISTINCT FROM
            EXISTS (SELECT 1 FROM jurisdiction_edges e WHERE e.jurisdiction_id = r.jurisdiction_id
                    AND ST_DWithin(e.geom::geography(LineString,4326), r.location::geography(Point,4326), 15)))
        FROM reports r WHERE r.source = 'edges'""")).one()
    assert wrong == 0
    assert 0 < flagged < summary.imported


def test_open311_json_from_get_requests(session, tmp_path):
    from geo311.status import change_status

    ids = [submit(session, NewSubmission(*offset(HOSFORD, east_m=500 * i), "graffiti", {"i": i}, description=f"n{i}",
                                         address=f"{i} SE Water Ave")).report_id for i in range(3)]
    change_status(session, ids[1], "resolved", actor="t")
    change_status(session, ids[2], "not_actionable", actor="t")
    from geo311.open311 import queries, wire

    rows, _ = queries.find_requests(session, queries.RequestFilter(ids=ids))
    path = tmp_path / "requests.json"
    path.write_bytes(json.dumps([wire.service_request(r) for r in rows]).encode())
    s = import_file(session, path, ImportOptions(format="open311-json", source="open311"))
    assert (s.read, s.imported, s.refused_total) == (3, 3, 0)
    got = imported(session, "open311")
    statuses = {int(k): v.status for k, v in got.items()}
    assert statuses == {ids[0]: "open", ids[1]: "resolved", ids[2]: "not_actionable"}
    assert got[str(ids[1])].closed_at is not None and got[str(ids[0])].address == "0 SE Water Ave"
    assert rollup_drift(session) == ZERO_DRIFT


def test_a_second_import_of_the_source_waits(session, messy, engine):
    from geo311.imports import _lock_key

    with engine.connect() as other:
        assert other.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_key("legacy")}).scalar()
        try:
            with pytest.raises(Conflict, match="another import of source 'legacy'"):
                import_file(session, messy, opts())
        finally:
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key("legacy")})


@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_json_stream_reader(chunk):
    doc = '{"name": "x", "features": [{"a": 1}, {"b": [1, 2, {"c": "]}"}]}], "bbox": [1, 2, 3, 4]}'
    reader = JsonReader(io.StringIO(doc), chunk=chunk)
    assert list(reader.records()) == [{"a": 1}, {"b": [1, 2, {"c": "]}"}]}]
    seq = '\x1e{"type": "Feature", "id": 1}\n\x1e{"type": "Feature", "id": 22}\n'
    assert [f["id"] for f in JsonReader(io.StringIO(seq), chunk=chunk).records()] == [1, 22]
    assert list(JsonReader(io.StringIO("[1, 2.5, 30]"), chunk=chunk).records()) == [1, 2.5, 30]
    with pytest.raises(InvalidInput):
        list(JsonReader(io.StringIO('{"features": [{"a": 1}'), chunk=chunk).records())


def test_cli_import(settings, session_factory, messy, tmp_path, existing_graffiti):
    cats = tmp_path / "categories.yaml"
    cats.write_text("".join(f"{k}: {v}\n" for k, v in CATEGORIES.items()))
    args = ["import", str(messy), *[a for f, c in COLUMNS.items() for a in ("--map", f"{f}={c}")],
            "--categories", str(cats), "--source", "legacy", "--dedup", "--batch-size", "2"]
    runner = CliRunner()
    result = runner.invoke(app, args, obj=Runtime(settings, session_factory=session_factory))
    assert result.exit_code == 0, result.output
    assert "read 17, imported 5 new reports, merged 2 (1 into reports that were there before)" in result.output
    assert "refused 2: bad date" in result.output and "blank lines ignored: 2" in result.output
    assert ("refused 1: unmapped category\n    the types, most frequent first: 'Unicorn sighting' (1); map them with "
            "--categories or take them with --fallback-category") in result.output
    assert (tmp_path / "service_requests.refused.csv").exists()
    again = runner.invoke(app, [*args, "--dry-run"], obj=Runtime(settings, session_factory=session_factory))
    assert "dry run, nothing stored: would import 0 new reports, merged 0, skipped 7 already imported" in again.output
    bad = runner.invoke(app, ["import", str(messy), "--source", "x"],
                        obj=Runtime(settings, session_factory=session_factory))
    assert bad.exit_code == 1 and "lacks lon (column 'lon')" in bad.output and "Traceback" not in bad.output


def test_cli_encoding_and_delimiter(settings, session_factory, tmp_path):
    """--encoding and --delimiter on the command line, or in the mapping file."""
    path = tmp_path / "export.txt"
    path.write_bytes(excel_csv(2, "\t").encode("cp1252"))
    spec = tmp_path / "legacy.yaml"
    spec.write_text("columns:\n" + "".join(f"  {f}: {c}\n" for f, c in EXCEL_COLUMNS.items())
                    + "categories:\n  Graffiti: graffiti\nencoding: cp1252\n")
    runner = CliRunner()
    run = runner.invoke(app, ["import", str(path), "--format", "csv", "--mapping-file", str(spec), "--source", "cli1",
                              "--delimiter", "tab"], obj=Runtime(settings, session_factory=session_factory))
    assert run.exit_code == 0, run.output
    assert "read 4, imported 3 new reports" in run.output
    bad = runner.invoke(app, ["import", str(path), "--format", "csv", "--mapping-file", str(spec), "--source", "cli2",
                              "--encoding", "utf-8"], obj=Runtime(settings, session_factory=session_factory))
    assert bad.exit_code == 1 and "export.txt is not utf-8 text" in bad.output and "Traceback" not in bad.output


def test_summary_names_the_most_frequent_unmapped_types(session, tmp_path):
    path = tmp_path / "types.csv"
    kinds = ["Noise"] * 3 + ["Blocked Driveway"] * 2 + [f"Type {i:02d}" for i in range(12)] + ["Graffiti"]
    path.write_text("Unique Key,Created Date,Complaint Type,Longitude,Latitude\n" + "".join(
        f"{i},2024-03-01T10:00:00Z,{kind},{_pt(offset(HOSFORD, east_m=9 * i))}\n" for i, kind in enumerate(kinds)))
    s = import_file(session, path, ImportOptions(
        format="csv", source="types", category_map=CATEGORIES, refused_path=tmp_path / "r.csv",
        columns={k: v for k, v in COLUMNS.items() if k in ("id", "created_at", "category", "lon", "lat")}))
    assert (s.imported, s.refused["unmapped category"]) == (1, 17)
    assert s.unmapped == [("'Noise'", 3), ("'Blocked Driveway'", 2), *((f"'Type {i:02d}'", 1) for i in range(8))]
    assert any(line.startswith("    the types, most frequent first: 'Noise' (3), 'Blocked Driveway' (2), 'Type 00' (1)")
               and "'Type 07' (1) ...; map them" in line for line in s.lines())


def test_cli_locates_records_by_their_address(settings, session_factory, tmp_path):
    """The command line's progress has a phase for the lookups; the summary counts them."""
    path = tmp_path / "addresses.csv"
    path.write_text("id,created_at,category,lon,lat,address\n"
                    "a1,2024-03-01T10:00:00Z,graffiti,,,1101 SE Division St\n"
                    "a2,2024-03-01T10:00:00Z,graffiti,,,1 Nowhere Lane\n")
    run = CliRunner().invoke(app, ["import", str(path), "--source", "cli-addr"],
                             obj=Runtime(settings, session_factory=session_factory))
    assert run.exit_code == 0, run.output
    assert "imported 1 new report" in run.output and "refused 1: address not found" in run.output
    assert "located by their address (no coordinates given): 1" in run.output


def test_summary_counts_one_in_the_singular():
    one = imports.ImportSummary(file="f.csv", source="s", read=1, imported=1, batches=1, seconds=1.0)
    assert "imported 1 new report, merged 0" in one.lines()[0] and "1 batch)" in one.lines()[0]
    two = imports.ImportSummary(file="f.csv", source="s", read=2, imported=2, batches=2, seconds=1.0)
    assert "imported 2 new reports, merged 0" in two.lines()[0] and "2 batches)" in two.lines()[0]


def test_cli_batch_size_default_is_the_domains():
    import typer.main

    command = typer.main.get_command(app).commands["import"]
    (batch,) = [p for p in command.params if p.name == "batch_size"]
    assert batch.default == imports.DEFAULT_BATCH == ImportOptions(format="csv", source="x").batch_size

"""Work lists: selection, bands, travel order, the per-stop figures, and the CSV and GPX exports."""

from __future__ import annotations

import csv
import io
import math
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import text

from geo311.crews import crew_covers, list_crews, update_crew
from geo311.errors import Conflict, InvalidInput, NotFound
from geo311.intake import NewSubmission, submit
from geo311.status import change_status
from geo311.worklists import as_csv, as_geojson, as_gpx, band_of, worklist
from tests.staff import NORTH_YARD, ST_JOHNS, make_world

GPX_NS = {"g": "http://www.topografix.com/GPX/1/1"}


def at(dx_m: float, dy_m: float = 0.0, base=ST_JOHNS) -> tuple[float, float]:
    return (base[0] + dx_m / (111_320 * math.cos(math.radians(base[1]))), base[1] + dy_m / 111_320)


def add(session, point, category="campsite", priority=None, **kw) -> int:
    rid = submit(session, NewSubmission(*point, category, {"t": 1}, **kw)).report_id
    if priority:
        session.execute(text("UPDATE reports SET priority = :p WHERE id = :id"), {"p": priority, "id": rid})
    return rid


def test_selection_is_the_crews_area_categories_and_open_work(session):
    world = make_world(session)
    mine = [world.north_report, add(session, at(300), "illegal_dumping")]
    add(session, at(600), "graffiti")  # not a North Portland category
    done = add(session, at(900), "campsite")
    change_status(session, done, "resolved", actor="t")
    theirs = add(session, at(1200), "campsite")
    change_status(session, theirs, "assigned", actor="t", crew_id=world.southeast["id"])
    assigned_to_me = add(session, at(1500), "abandoned_vehicle")
    change_status(session, assigned_to_me, "in_progress", actor="t", crew_id=world.north["id"])
    wl = worklist(session, "North Portland")
    ids = {s["id"] for s in wl["stops"]}
    assert ids == set(mine) | {assigned_to_me}
    assert world.se_report not in ids  # the other crew's area


def test_bands_come_first_then_travel_order_continues_from_the_last_stop(session):
    make_world(session)
    session.execute(text("TRUNCATE reports, submissions, report_events, report_districts CASCADE"))
    # normal work near the yard, urgent work far away: the urgent stop is still first
    near = [add(session, at(d, base=NORTH_YARD), "illegal_dumping") for d in (100, 200, 300)]
    urgent = add(session, at(3000, base=NORTH_YARD), "illegal_dumping", priority=5)
    high = add(session, at(2500, base=NORTH_YARD), "illegal_dumping", priority=4)
    wl = worklist(session, "North Portland")
    assert [s["id"] for s in wl["stops"]] == [urgent, high, *near[::-1]]
    assert [s["band"] for s in wl["stops"]] == ["urgent", "high", "normal", "normal", "normal"]
    seq = [s["sequence"] for s in wl["stops"]]
    assert seq == [1, 2, 3, 4, 5]
    legs = [s["leg_m"] for s in wl["stops"]]
    assert legs[0] == pytest.approx(3000, rel=0.01) and legs[1] == pytest.approx(500, rel=0.01)
    assert wl["stops"][-1]["cumulative_m"] == pytest.approx(sum(legs), abs=0.5) == wl["total_m"]


def test_from_overrides_the_yard_and_limits_and_categories_apply(session):
    make_world(session)
    a = add(session, at(0), "illegal_dumping")
    b = add(session, at(2000), "illegal_dumping")
    wl = worklist(session, "North Portland", start=at(2100), categories=["illegal_dumping"])
    assert [s["id"] for s in wl["stops"]] == [b, a]
    assert len(worklist(session, "North Portland", limit=1)["stops"]) == 1
    with pytest.raises(InvalidInput, match="does not handle graffiti"):
        worklist(session, "North Portland", categories=["graffiti"])
    with pytest.raises(InvalidInput, match="limit"):
        worklist(session, "North Portland", limit=0)
    with pytest.raises(NotFound):
        worklist(session, "Nobody")


def test_stop_fields_include_contacts_for_the_crew(session):
    world = make_world(session)
    stop = next(s for s in worklist(session, "North Portland")["stops"] if s["id"] == world.north_report)
    assert stop["contacts"][0] == {**stop["contacts"][0], "name": "Pat Private", "email": "pat@example.org",
                                   "phone": "503-555-0111"}
    assert stop["age_days"] >= 0 and stop["submission_count"] == 1
    assert stop["districts"]["coalition"] == ["North Portland Neighborhood Services"]
    feature = as_geojson(worklist(session, "North Portland"))["features"][0]
    for key in ("sequence", "leg_m", "cumulative_m", "age_days", "submission_count", "status", "category",
                "agency", "districts", "contacts"):
        assert key in feature["properties"]


def test_csv_and_gpx_parse_with_standard_parsers(session):
    make_world(session)
    add(session, at(400), "illegal_dumping", description='=HYPERLINK("http://evil")', address="N Lombard & <b>")
    wl = worklist(session, "North Portland")
    rows = list(csv.DictReader(io.StringIO(as_csv(wl))))
    assert [int(r["sequence"]) for r in rows] == list(range(1, len(wl["stops"]) + 1))
    assert all(-123 < float(r["lon"]) < -122 and 45 < float(r["lat"]) < 46 for r in rows)
    evil = next(r for r in rows if "HYPERLINK" in r["description"])
    assert evil["description"].startswith("'=")  # not a live formula in a spreadsheet
    root = ET.fromstring(as_gpx(wl))
    assert root.tag == "{http://www.topografix.com/GPX/1/1}gpx" and root.get("version") == "1.1"
    rtepts = root.findall("g:rte/g:rtept", GPX_NS)
    assert len(rtepts) == len(root.findall("g:wpt", GPX_NS)) == len(wl["stops"])
    assert rtepts[0].find("g:name", GPX_NS).text.startswith("1. ")
    assert any("<b>" in (p.find("g:desc", GPX_NS).text or "") for p in rtepts)  # escaped by the writer, read back


def test_crews_areas_survive_a_layer_reload_and_coverage(session):
    from geo311.boundaries import load_layer
    from geo311.demo import DEMO_DIR

    world = make_world(session)
    assert crew_covers(session, world.north["id"], world.north_report)
    assert not crew_covers(session, world.southeast["id"], world.north_report)
    load_layer(session, DEMO_DIR / "portland_neighborhoods_2020.geojson", layer="coalition", name_field="COALIT",
               dissolve=True, labels={"NPNS": "North Portland Neighborhood Services", "SEUL": "Southeast Uplift"})
    assert crew_covers(session, world.north["id"], world.north_report)


def test_crew_validation(session):
    make_world(session)
    with pytest.raises(InvalidInput, match="no district"):
        update_crew(session, "North Portland", areas=["coalition:Atlantis"])
    with pytest.raises(InvalidInput, match="unknown categories"):
        update_crew(session, "North Portland", categories=["bigfoot"])
    with pytest.raises(Conflict):
        update_crew(session, "North Portland", name="southeast")
    renamed = update_crew(session, "North Portland", name="North", yard=(-122.7, 45.6), active=False)
    assert renamed["name"] == "North" and renamed["yard"] == [-122.7, 45.6] and not renamed["active"]
    assert [c["name"] for c in list_crews(session)] == ["North", "Southeast"]


def test_band_of():
    assert [band_of(p) for p in (5, 4, 3, 2, 1)] == ["urgent", "high", "normal", "normal", "normal"]


def test_each_stop_has_its_nearest_address(session):
    make_world(session)
    rid = add(session, (-122.6544224, 45.5050030), "campsite")  # at 1101 SE Division St (in the address sample)
    session.execute(text("UPDATE crews SET categories = '{campsite}' WHERE name = 'Southeast'"))
    stop = next(s for s in worklist(session, "Southeast")["stops"] if s["id"] == rid)
    assert stop["nearest_address"] == "1101 Southeast Division Street" and stop["nearest_address_m"] < 5
    row = next(r for r in csv.DictReader(io.StringIO(as_csv(worklist(session, "Southeast")))) if r["report_id"] == str(rid))
    assert row["nearest_address"] == "1101 Southeast Division Street"

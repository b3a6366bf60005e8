"""Intake on the real Portland boundaries: matching, routing, dedup and merge rules, refusals.

Each test runs in a rolled-back transaction on the run's database (demo loaded)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from geo311.boundaries import load_layer
from geo311.dedup import log2_sql, merged_priority
from geo311.errors import Conflict, InvalidInput, NotFound
from geo311.intake import NewSubmission, submit
from geo311.reports import get_report_feature
from geo311.status import change_status
from tests.conftest import FIXTURES

HOSFORD = (-122.6587, 45.5122)      # SE Water Ave & Salmon St
CITY_HALL = (-122.6793, 45.5149)    # 1221 SW 4th Ave
ST_JOHNS = (-122.7545, 45.5900)
HAZELWOOD = (-122.5376, 45.5215)    # SE 122nd & Stark, East Portland
GRESHAM = (-122.4302, 45.4983)      # Multnomah County, outside Portland
VANCOUVER_WA = (-122.6615, 45.6387)  # across the Columbia: no jurisdiction


def new(point, category="campsite", **kw) -> NewSubmission:
    lon, lat = point
    return NewSubmission(lon=lon, lat=lat, category=category, raw={"test": True, **kw.pop("raw", {})}, **kw)


def offset(point, east_m=0.0, north_m=0.0):
    import math

    lon, lat = point
    return (lon + east_m / (111_320 * math.cos(math.radians(lat))), lat + north_m / 111_320)


def stored(session) -> tuple[int, int, int, int]:
    return session.execute(text(
        "SELECT (SELECT count(*) FROM reports), (SELECT count(*) FROM submissions), "
        "(SELECT count(*) FROM report_events), (SELECT count(*) FROM report_districts)")).one()


def props(session, report_id):
    return get_report_feature(session, report_id)["properties"]


@pytest.mark.parametrize("point, neighborhood, council, coalition", [
    (HOSFORD, "HOSFORD-ABERNETHY NEIGHBORHOOD DISTRICT ASSN.", "District 3", "Southeast Uplift"),
    (CITY_HALL, "PORTLAND DOWNTOWN", "District 4", "Neighbors West-Northwest"),
    (ST_JOHNS, "ST. JOHNS", "District 2", "North Portland Neighborhood Services"),
    (HAZELWOOD, "HAZELWOOD", "District 1", "East Portland Community Office"),
])
def test_city_points_match_their_districts_and_route_to_the_city(session, point, neighborhood, council, coalition):
    result = submit(session, new(point, "pothole"))
    p = props(session, result.report_id)
    assert result.created and p["jurisdiction"] == "City of Portland" and p["agency"] == "PBOT Maintenance Operations"
    assert p["districts"] == {"neighborhood": [neighborhood], "council_district": [council], "coalition": [coalition]}
    assert p["near_boundary"] is False and p["status"] == "open" and p["submission_count"] == 1


def test_county_only_point_routes_county_wide_categories_to_the_county(session):
    result = submit(session, new(GRESHAM, "abandoned_vehicle"))
    p = props(session, result.report_id)
    assert p["jurisdiction"] == "Multnomah County" and p["agency"] == "Multnomah County Sheriff's Office"
    assert p["districts"] == {}  # outside every Portland district layer


def test_city_beats_county_for_a_category_both_serve(session):
    p = props(session, submit(session, new(HOSFORD, "abandoned_vehicle")).report_id)
    assert p["jurisdiction"] == "City of Portland" and p["agency"] == "PBOT Parking Enforcement (Abandoned Autos)"


def test_city_only_category_in_the_county_is_refused_with_what_is_served(session):
    before = stored(session)
    with pytest.raises(InvalidInput) as err:
        submit(session, new(GRESHAM, "graffiti"))
    assert err.value.code == "outside_service_area"
    assert "Multnomah County" in err.value.message and "'graffiti' is not served" in err.value.message
    served = {c["code"] for c in err.value.details["categories_served"]}
    assert served == {"abandoned_vehicle", "campsite", "illegal_dumping", "pothole"}
    assert stored(session) == before


def test_point_outside_every_jurisdiction_is_refused(session):
    before = stored(session)
    with pytest.raises(InvalidInput, match="outside the service area .* from ") as err:
        submit(session, new(VANCOUVER_WA, "campsite"))
    assert err.value.details["jurisdictions"] == [] and stored(session) == before


def test_swapped_coordinates_get_a_hint(session):
    lon, lat = HOSFORD
    with pytest.raises(InvalidInput, match=r"did you send \[lat, lon\]"):
        submit(session, new((lat, lon)))


@pytest.mark.parametrize("point, message", [
    ((float("nan"), 45.5), "finite"), ((-122.6, float("inf")), "finite"),
    ((-190.0, 45.5), "out of range"), ((-122.6, 95.0), "out of range"),
])
def test_bad_coordinates_are_refused_storing_nothing(session, point, message):
    before = stored(session)
    with pytest.raises(InvalidInput, match=message):
        submit(session, new(point))
    assert stored(session) == before


def test_unknown_and_inactive_categories_are_refused(session):
    with pytest.raises(InvalidInput, match="'bigfoot' is unknown; choose one of: abandoned_vehicle"):
        submit(session, new(HOSFORD, "bigfoot"))
    session.execute(text("UPDATE categories SET active = false WHERE code = 'graffiti'"))
    with pytest.raises(InvalidInput, match="'graffiti' is no longer offered"):
        submit(session, new(HOSFORD, "graffiti"))


def test_point_on_the_city_boundary_is_inside_and_flagged(session):
    lon, lat = session.execute(text(
        "SELECT ST_X(p.geom), ST_Y(p.geom) FROM jurisdictions j, ST_DumpPoints(j.boundary) p "
        "WHERE j.name = 'City of Portland' ORDER BY p.path LIMIT 1 OFFSET 500")).one()
    p = props(session, submit(session, new((lon, lat), "illegal_dumping")).report_id)
    assert p["jurisdiction"] == "City of Portland" and p["near_boundary"] is True


def test_near_boundary_uses_the_margin_in_metres(session):
    edge_lon, edge_lat, in_lon, in_lat = session.execute(text(
        "WITH e AS (SELECT ST_ClosestPoint(ST_Boundary(boundary), ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) AS p "
        "           FROM jurisdictions WHERE name = 'City of Portland') "
        "SELECT ST_X(e.p), ST_Y(e.p), :lon, :lat FROM e"), {"lon": HOSFORD[0], "lat": HOSFORD[1]}).one()
    inside_20m = submit(session, new((edge_lon, edge_lat), "graffiti"), boundary_margin_m=15)
    assert props(session, inside_20m.report_id)["near_boundary"] is True
    far = submit(session, new(HOSFORD, "graffiti"), boundary_margin_m=15)
    assert props(session, far.report_id)["near_boundary"] is False
    assert (in_lon, in_lat) == HOSFORD


def test_point_on_a_neighborhood_edge_is_in_both(session):
    lon, lat = session.execute(text(
        "SELECT ST_X(p), ST_Y(p) FROM ("
        "  SELECT (ST_DumpPoints(d.boundary)).geom AS p FROM districts d JOIN district_layers l ON l.id = d.layer_id "
        "  WHERE l.key = 'neighborhood' AND d.name = 'BUCKMAN COMMUNITY ASSOCIATION') v "
        "WHERE (SELECT count(*) FROM districts d JOIN district_layers l ON l.id = d.layer_id "
        "       WHERE l.key = 'neighborhood' AND ST_Covers(d.boundary, v.p)) = 2 LIMIT 1")).one()
    p = props(session, submit(session, new((lon, lat), "graffiti")).report_id)
    assert len(p["districts"]["neighborhood"]) == 2
    assert "BUCKMAN COMMUNITY ASSOCIATION" in p["districts"]["neighborhood"]


def test_overlapping_districts_are_all_recorded(session):
    load_layer(session, FIXTURES / "boundaries" / "portland_neighborhoods_oni_2012.geojson",
               layer="nbhd_2012", name_field="NAME", split_names="/")
    p = props(session, submit(session, new((-122.6416, 45.5437), "graffiti")).report_id)
    assert p["districts"]["nbhd_2012"] == ["ALAMEDA", "IRVINGTON"]


# ----- dedup --------------------------------------------------------------------------------
def test_merge_within_radius_and_new_beyond_it(session):
    first = submit(session, new(HOSFORD, "campsite"))  # campsite: 50 m, 28 days
    near = submit(session, new(offset(HOSFORD, east_m=40), "campsite"))
    far = submit(session, new(offset(HOSFORD, east_m=60), "campsite"))
    assert first.created and not near.created and far.created
    assert near.report_id == first.report_id and 39 < near.distance_m < 41
    p = props(session, first.report_id)
    assert p["submission_count"] == 2 and p["priority"] == merged_priority(3, 3, 2) == 4
    kinds = session.execute(text("SELECT kind FROM report_events WHERE report_id = :id ORDER BY id"),
                            {"id": first.report_id}).scalars().all()
    assert kinds == ["created", "merged"]


def test_a_changed_radius_applies_to_the_next_submission(session):
    """Intake remembers the categories it has seen (one round trip fewer), but checks each use
    against the table: a new radius takes effect at once, wider or narrower."""
    first = submit(session, new(HOSFORD, "campsite"))  # campsite: 50 m
    session.execute(text("UPDATE categories SET dedup_radius_m = 10 WHERE code = 'campsite'"))
    assert submit(session, new(offset(HOSFORD, east_m=30), "campsite")).created  # 30 m: beyond the new 10 m
    session.execute(text("UPDATE categories SET dedup_radius_m = 200 WHERE code = 'campsite'"))
    joined = submit(session, new(offset(HOSFORD, north_m=150), "campsite"))
    assert not joined.created and joined.report_id == first.report_id


@pytest.mark.parametrize("category, inside_m, outside_m", [
    ("pothole", 3, 6), ("abandoned_vehicle", 6, 12), ("illegal_dumping", 25, 40),
])
def test_each_category_merges_within_its_own_radius(session, category, inside_m, outside_m):
    first = submit(session, new(HOSFORD, category))
    assert submit(session, new(offset(HOSFORD, north_m=inside_m), category)).report_id == first.report_id
    assert submit(session, new(offset(HOSFORD, north_m=-outside_m), category)).created


def test_other_categories_never_merge(session):
    a = submit(session, new(HOSFORD, "campsite"))
    b = submit(session, new(HOSFORD, "illegal_dumping"))
    assert b.created and b.report_id != a.report_id


def test_window_is_per_category(session):
    now = datetime.now(UTC)
    old = submit(session, new(HOSFORD, "campsite", at=now - timedelta(days=29)))  # window 28 days
    assert submit(session, new(HOSFORD, "campsite")).created
    pothole = submit(session, new(HOSFORD, "pothole", at=now - timedelta(days=100)))  # window 120 days
    assert submit(session, new(HOSFORD, "pothole")).report_id == pothole.report_id
    assert old.created


@pytest.mark.parametrize("closing", ["resolved", "not_actionable"])
def test_closed_reports_never_absorb(session, closing):
    first = submit(session, new(HOSFORD, "graffiti"))
    change_status(session, first.report_id, closing, actor="crew")
    again = submit(session, new(HOSFORD, "graffiti"))
    assert again.created and again.report_id != first.report_id


def test_assigned_and_in_progress_reports_still_absorb(session):
    first = submit(session, new(HOSFORD, "graffiti"))
    change_status(session, first.report_id, "assigned", actor="dispatch")
    change_status(session, first.report_id, "in_progress", actor="crew")
    assert submit(session, new(HOSFORD, "graffiti")).report_id == first.report_id


def test_the_nearest_open_report_wins(session):
    a = submit(session, new(HOSFORD, "campsite"))
    b = submit(session, new(offset(HOSFORD, east_m=70), "campsite"))
    middle = submit(session, new(offset(HOSFORD, east_m=45), "campsite"))  # 45 m from a, 25 m from b
    assert b.created and middle.report_id == b.report_id and 24 < middle.distance_m < 26
    assert props(session, a.report_id)["submission_count"] == 1


def test_priority_rule():
    assert [merged_priority(3, 3, n) for n in (2, 3, 4, 8, 100)] == [4, 4, 5, 5, 5]
    assert merged_priority(5, 1, 2) == 5  # never lowers a priority staff raised
    assert merged_priority(1, 1, 2) == 2


def test_log2_sql_is_exact(session):
    """The SQL of the merge rule (and of the import's priorities) takes floor(log2(n)) from the
    highest bit, not from a float logarithm: exact at and around every power of two."""
    counts = sorted({*range(1, 5000), *(2**k + d for k in range(13, 31) for d in (-1, 0, 1) if 2**k + d < 2**31)})
    got = session.execute(text(f"SELECT array_agg({log2_sql('n')} ORDER BY n) FROM unnest(CAST(:ns AS int[])) n"),
                          {"ns": counts}).scalar_one()
    assert got == [n.bit_length() - 1 for n in counts]  # the place of the highest bit, counted from 0


def test_every_submission_is_kept_as_received(session):
    raw = {"type": "Feature", "properties": {"category": "campsite", "note_for_city": "by the bridge"}}
    first = submit(session, new(HOSFORD, "campsite", description="tents", address="SE Water & Salmon",
                                reporter_name="Sam", reporter_email="sam@example.org", reporter_phone="503-555-0100",
                                attributes={"tents": "3", "hazards": ["fire"]}, raw=raw, channel="web"))
    submit(session, new(HOSFORD, "campsite", description="still there", reporter_name="Alex"))
    rows = session.execute(text(
        "SELECT description, address, reporter_name, reporter_email, reporter_phone, attributes, raw, channel "
        "FROM submissions WHERE report_id = :id ORDER BY id"), {"id": first.report_id}).all()
    assert len(rows) == 2
    assert rows[0][:5] == ("tents", "SE Water & Salmon", "Sam", "sam@example.org", "503-555-0100")
    assert rows[0].attributes == {"tents": 3, "hazards": ["fire"]} and rows[0].channel == "web"
    assert rows[0].raw["properties"]["note_for_city"] == "by the bridge"
    assert rows[1].description == "still there" and rows[1].reporter_name == "Alex"
    assert "Sam" not in str(get_report_feature(session, first.report_id))


# ----- idempotency and explicit joins ---------------------------------------------------------
def test_same_idempotency_key_and_body_replays_and_stores_nothing(session):
    first = submit(session, new(HOSFORD, idempotency_key="k-1"))
    before = stored(session)
    again = submit(session, new(HOSFORD, idempotency_key="k-1"))
    assert again.replayed and again.report_id == first.report_id and again.created
    assert stored(session) == before


def test_same_idempotency_key_other_body_is_a_conflict(session):
    submit(session, new(HOSFORD, idempotency_key="k-2"))
    before = stored(session)
    with pytest.raises(Conflict, match="already used for a different submission"):
        submit(session, new(HOSFORD, idempotency_key="k-2", description="something else"))
    assert stored(session) == before


def test_join_a_chosen_report(session):
    a = submit(session, new(HOSFORD, "campsite"))
    far = offset(HOSFORD, east_m=300)
    joined = submit(session, new(far, "campsite"), join_report_id=a.report_id)
    assert not joined.created and joined.report_id == a.report_id and 290 < joined.distance_m < 310
    with pytest.raises(InvalidInput, match="is a 'campsite' report"):
        submit(session, new(HOSFORD, "graffiti"), join_report_id=a.report_id)
    with pytest.raises(NotFound):
        submit(session, new(HOSFORD, "campsite"), join_report_id=10**9)
    change_status(session, a.report_id, "resolved", actor="crew")
    with pytest.raises(Conflict, match="is resolved"):
        submit(session, new(HOSFORD, "campsite"), join_report_id=a.report_id)


def test_attributes_are_checked_against_the_category(session):
    before = stored(session)
    with pytest.raises(InvalidInput) as err:
        submit(session, new(HOSFORD, "campsite", attributes={"tents": "lots", "blocking": "maybe", "colour": "red"}))
    assert err.value.code == "bad_attributes" and len(err.value.details) == 3
    assert stored(session) == before


# ----- plans: the hot queries use the GiST indexes --------------------------------------------
def _plan(session, sql, params) -> str:
    session.execute(text("SET LOCAL enable_seqscan = off"))
    return "\n".join(session.execute(text("EXPLAIN " + sql), params).scalars())


def test_dedup_query_uses_the_geography_index(session):
    from geo311.intake import _TARGET_NEAREST

    sql = ("WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g), at AS (SELECT now() AS t), "
           "route AS (SELECT 1) " + _TARGET_NEAREST)
    plan = _plan(session, sql, {"lon": HOSFORD[0], "lat": HOSFORD[1], "category_id": 1, "radius": 50,
                                "window": timedelta(days=28)})
    assert "ix_reports_open_geog" in plan, plan


def test_matching_uses_the_subdivided_parts_indexes(session):
    plan = _plan(session, "SELECT DISTINCT p.district_id FROM district_parts p "
                 "WHERE ST_Covers(p.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))",
                 {"lon": HOSFORD[0], "lat": HOSFORD[1]})
    assert "ix_district_parts_geom" in plan, plan
    plan = _plan(session, "SELECT p.jurisdiction_id FROM jurisdiction_parts p "
                 "WHERE ST_Covers(p.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))",
                 {"lon": HOSFORD[0], "lat": HOSFORD[1]})
    assert "ix_jurisdiction_parts_geom" in plan, plan
    plan = _plan(session, "SELECT 1 FROM jurisdiction_edges e WHERE ST_DWithin("
                 "e.geom::geography(LineString,4326), ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography(Point,4326), 15)",
                 {"lon": HOSFORD[0], "lat": HOSFORD[1]})
    assert "ix_jurisdiction_edges_geog" in plan, plan


def test_dedup_keeps_the_geography_index_under_a_generic_plan(session):
    """psycopg prepares a statement after 5 runs and PostgreSQL may then use a generic plan: that plan
    too must find duplicates by place, through the open-reports GiST (intake writes
    `category_id + 0` so that no category index competes; bench/intake.py showed one did at 1M)."""
    session.execute(text(
        "INSERT INTO reports (category_id, location, priority, jurisdiction_id, agency) "
        "SELECT c.id, ST_SetSRID(ST_MakePoint(-122.7 + random() * 0.2, 45.45 + random() * 0.1), 4326), 3, j.id, 'x' "
        "FROM categories c, jurisdictions j, generate_series(1, 5000) WHERE c.code = 'campsite' AND j.rank = 30"))
    session.execute(text("ANALYZE reports"))
    from geo311.intake import _TARGET_NEAREST

    body = ("WITH pt AS (SELECT ST_SetSRID(ST_MakePoint($1, $2), 4326) AS g), at AS (SELECT now() AS t), "
            "route AS (SELECT 1) " + _TARGET_NEAREST.replace(":category_id", "$3").replace(":radius", "$4")
            .replace("CAST(:window AS interval)", "$5::interval"))
    session.execute(text("PREPARE dedup_probe(float8, float8, int, float8, interval) AS " + body.replace(":", "\\:")))
    session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    cat = session.execute(text("SELECT id FROM categories WHERE code = 'campsite'")).scalar()
    plan = "\n".join(session.execute(text(
        f"EXPLAIN EXECUTE dedup_probe({HOSFORD[0]}, {HOSFORD[1]}, {cat}, 50, '28 days')")).scalars())
    session.execute(text("DEALLOCATE dedup_probe"))
    assert "ix_reports_open_geog" in plan and "ix_reports_category_id_status" not in plan, plan

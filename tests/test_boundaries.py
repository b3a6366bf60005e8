"""Loading jurisdictions and district layers into PostGIS, on the real Portland and Seattle files.

The run's database already holds the Portland demo (loaded by conftest through the same code);
each test works in a transaction that is rolled back.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from geo311.boundaries import list_boundaries, load_jurisdiction, load_layer
from geo311.boundary_files import BoundaryFileError
from geo311.demo import DEMO_DIR
from geo311.errors import InvalidInput
from tests.conftest import FIXTURES

SEATTLE = FIXTURES / "boundaries"


def layer_counts(session) -> dict[str, int]:
    return dict(session.execute(text(
        "SELECT l.key, count(d.id) FROM district_layers l LEFT JOIN districts d ON d.layer_id = l.id "
        "GROUP BY l.key")).all())


def districts_at(session, lon: float, lat: float) -> dict[str, set[str]]:
    rows = session.execute(text(
        "SELECT DISTINCT l.key, d.name FROM district_parts p JOIN districts d ON d.id = p.district_id "
        "JOIN district_layers l ON l.id = d.layer_id "
        "WHERE ST_Covers(p.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"), {"lon": lon, "lat": lat})
    out: dict[str, set[str]] = {}
    for key, name in rows:
        out.setdefault(key, set()).add(name)
    return out


def test_demo_layers_have_the_expected_counts(session):
    counts = layer_counts(session)
    assert counts["neighborhood"] == 98
    assert counts["coalition"] >= 7
    assert counts["council_district"] == 4
    names = {j["name"]: j for j in list_boundaries(session)["jurisdictions"]}
    assert names["City of Portland"]["kind"] == "city" and names["City of Portland"]["rank"] == 30
    assert names["Multnomah County"]["kind"] == "county" and names["Multnomah County"]["rank"] == 20
    # official boundary about 376 km²; Multnomah County about 1,130 km² of which TIGER counts land ...
    assert 360 < float(names["City of Portland"]["area_km2"]) < 390


def test_coalitions_are_dissolved_neighborhoods_with_display_names(session):
    rows = dict(session.execute(text(
        "SELECT d.code, d.name FROM districts d JOIN district_layers l ON l.id = d.layer_id "
        "WHERE l.key = 'coalition'")).all())
    assert rows["SEUL"] == "Southeast Uplift"
    assert len(rows) == 8  # 7 coalitions + the unclaimed county areas
    # a coalition covers exactly the union of its neighborhoods
    diff = session.execute(text(
        "SELECT abs(ST_Area(c.boundary::geography) - ST_Area(ST_Union(n.boundary)::geography)) "
        "  / ST_Area(c.boundary::geography) "
        "FROM districts c JOIN district_layers cl ON cl.id = c.layer_id AND cl.key = 'coalition' "
        "JOIN districts n ON n.layer_id = (SELECT id FROM district_layers WHERE key = 'neighborhood') "
        "WHERE c.code = 'SEUL' AND ST_Within(ST_PointOnSurface(n.boundary), c.boundary) "
        "GROUP BY c.id")).scalar_one()
    assert diff < 0.001


def test_raw_council_districts_are_repaired_and_match_the_citys_repaired_areas(session):
    summary = load_layer(session, DEMO_DIR / "portland_council_districts_2024_raw.geojson",
                         layer="council_raw", name_field="DISTRICT")
    assert [r[0] for r in summary.repaired] == [0, 3]
    assert all("Hole lies outside shell" in r[2] for r in summary.repaired)
    load_layer(session, SEATTLE / "portland_council_districts_2024.geojson", layer="council_city",
               name_field="DISTRICT")
    rows = session.execute(text(
        "SELECT a.name, ST_IsValid(a.boundary), ST_Area(a.boundary::geography) AS ours, "
        "  ST_Area(b.boundary::geography) AS city, "
        "  ST_Area(ST_SymDifference(a.boundary, b.boundary)::geography) AS apart "
        "FROM districts a JOIN district_layers la ON la.id = a.layer_id AND la.key = 'council_raw' "
        "JOIN districts b ON b.name = a.name "
        "JOIN district_layers lb ON lb.id = b.layer_id AND lb.key = 'council_city' ORDER BY a.name")).all()
    assert [r.name for r in rows] == ["1", "2", "3", "4"]
    for r in rows:
        assert r[1] is True
        assert abs(r.ours - r.city) / r.city < 0.001, r.name
        assert r.apart / r.city < 0.001, r.name


def test_known_points_fall_in_their_districts(session):
    city_hall = districts_at(session, -122.6793, 45.5149)  # 1221 SW 4th Ave
    assert city_hall["neighborhood"] == {"PORTLAND DOWNTOWN"}
    assert city_hall["council_district"] == {"District 4"}
    assert city_hall["coalition"] == {"Neighbors West-Northwest"}
    east = districts_at(session, -122.5376, 45.5215)  # SE 122nd & Stark, East Portland
    assert east["council_district"] == {"District 1"}


def test_seattle_city_limits_without_properties_load_as_one_jurisdiction(session):
    summary = load_jurisdiction(session, SEATTLE / "seattle_city-limits.geojson", name="Seattle", kind="city")
    assert summary.read == 29 and summary.loaded == 29 and summary.parts > 29
    area, n = session.execute(text(
        "SELECT ST_Area(boundary::geography) / 1e6, ST_NumGeometries(boundary) FROM jurisdictions "
        "WHERE name = 'Seattle'")).one()
    assert 200 < area < 240  # Seattle's land area is about 217 km²
    covered = session.execute(text(
        "SELECT count(*) FROM jurisdiction_parts p JOIN jurisdictions j ON j.id = p.jurisdiction_id "
        "WHERE j.name = 'Seattle' AND ST_Covers(p.geom, ST_SetSRID(ST_MakePoint(-122.3321, 47.6062), 4326))"
    )).scalar_one()
    assert covered >= 1  # downtown Seattle


def test_seattle_council_districts_with_crs84(session):
    summary = load_layer(session, SEATTLE / "seattle_city-council-districts.geojson",
                         layer="seattle_council", name_field="district")
    assert summary.loaded == 7 and layer_counts(session)["seattle_council"] == 7


def test_2012_layer_loads_all_129_features(session):
    load_layer(session, SEATTLE / "portland_neighborhoods_oni_2012.geojson", layer="nbhd_2012", name_field="NAME")
    assert layer_counts(session)["nbhd_2012"] == 129


def test_shared_areas_of_the_2012_layer_make_overlapping_districts(session):
    """'ALAMEDA/IRVINGTON' is an area both associations share: a point there is in both."""
    summary = load_layer(session, SEATTLE / "portland_neighborhoods_oni_2012.geojson", layer="nbhd_2012",
                         name_field="NAME", split_names="/")
    assert summary.read == 129
    names = set(session.execute(text(
        "SELECT d.name FROM districts d JOIN district_layers l ON l.id = d.layer_id WHERE l.key = 'nbhd_2012'"
    )).scalars())
    assert "ALAMEDA/IRVINGTON" not in names and {"ALAMEDA", "IRVINGTON"} <= names
    # a point inside the area the 2012 layer calls ALAMEDA/IRVINGTON
    at = districts_at(session, -122.6416, 45.5437)["nbhd_2012"]
    assert at == {"ALAMEDA", "IRVINGTON"}
    # and points well inside one of them are in that one only
    assert districts_at(session, -122.6485, 45.5390)["nbhd_2012"] == {"IRVINGTON"}
    assert districts_at(session, -122.6415, 45.5483)["nbhd_2012"] == {"ALAMEDA"}


def neighborhood_ids(session) -> list[int]:
    return session.execute(text(
        "SELECT array_agg(d.id ORDER BY d.id) FROM districts d JOIN district_layers l ON l.id = d.layer_id "
        "WHERE l.key = 'neighborhood'")).scalar_one()


def test_reload_replaces_a_layer_atomically(session, tmp_path):
    before = neighborhood_ids(session)
    bad = json.loads((DEMO_DIR / "portland_neighborhoods_2020.geojson").read_text())
    bad["features"][50]["geometry"] = {"type": "LineString", "coordinates": [[-122.6, 45.5], [-122.5, 45.5]]}
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(bad))
    with pytest.raises(BoundaryFileError, match="feature 50 is a LineString"):
        load_layer(session, path, layer="neighborhood", name_field="NAME")
    assert neighborhood_ids(session) == before and len(before) == 98

    # a good file replaces the layer: 129 districts of the 2012 layer, none of the old ids
    load_layer(session, SEATTLE / "portland_neighborhoods_oni_2012.geojson", layer="neighborhood", name_field="NAME")
    replaced = neighborhood_ids(session)
    assert len(replaced) == 129 and not set(replaced) & set(before)


REFUSED = {
    "crs": ({"type": "name", "properties": {"name": "EPSG:2913"}}, None, "coordinate system"),
    "empty": (None, [], "holds no features"),
    "point": (None, [{"type": "Point", "coordinates": [-122.6, 45.5]}], "is a Point"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_files_load_nothing(session, tmp_path, case):
    crs, extra, message = REFUSED[case]
    square = {"type": "Polygon", "coordinates": [[[-122.6, 45.5], [-122.59, 45.5], [-122.59, 45.51], [-122.6, 45.5]]]}
    geometries = [square] + extra if extra is not None else [square]
    if case == "empty":
        geometries = []
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"N": str(i)}, "geometry": g} for i, g in enumerate(geometries)]}
    if crs:
        doc["crs"] = crs
    path = tmp_path / f"{case}.geojson"
    path.write_text(json.dumps(doc))
    before = layer_counts(session), session.execute(text("SELECT count(*) FROM jurisdictions")).scalar_one()
    with pytest.raises(BoundaryFileError, match=message):
        load_layer(session, path, layer="refused", name_field="N")
    with pytest.raises(BoundaryFileError, match=message):
        load_jurisdiction(session, path, name="Refused", kind="city")
    after = layer_counts(session), session.execute(text("SELECT count(*) FROM jurisdictions")).scalar_one()
    assert after == before


def test_missing_name_field_loads_nothing(session):
    with pytest.raises(BoundaryFileError, match="no value in the name field 'NAME'"):
        load_layer(session, SEATTLE / "seattle_city-limits.geojson", layer="seattle", name_field="NAME")
    assert "seattle" not in layer_counts(session)


def test_degenerate_feature_is_refused_alone(session, tmp_path):
    square = [[-122.6, 45.5], [-122.59, 45.5], [-122.59, 45.51], [-122.6, 45.51], [-122.6, 45.5]]
    flat = [[-122.6, 45.5], [-122.59, 45.5], [-122.58, 45.5], [-122.6, 45.5]]  # zero area
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"N": "ok"}, "geometry": {"type": "Polygon", "coordinates": [square]}},
        {"type": "Feature", "properties": {"N": "flat"}, "geometry": {"type": "Polygon", "coordinates": [flat]}}]}
    path = tmp_path / "flat.geojson"
    path.write_text(json.dumps(doc))
    summary = load_layer(session, path, layer="flatland", name_field="N")
    assert summary.loaded == 1 and [r[1] for r in summary.refused] == ["flat"]
    assert layer_counts(session)["flatland"] == 1


def test_layer_reload_rematches_stored_reports(session):
    session.execute(text(
        "INSERT INTO reports (category_id, location, priority, jurisdiction_id, agency) "
        "SELECT c.id, ST_SetSRID(ST_MakePoint(-122.6793, 45.5149), 4326), 3, j.id, 'test' "
        "FROM categories c, jurisdictions j WHERE c.code = 'graffiti' AND j.name = 'City of Portland'"))
    summary = load_layer(session, DEMO_DIR / "portland_neighborhoods_2020.geojson", layer="neighborhood",
                         name_field="NAME")
    assert summary.rematched_reports == 1
    name = session.execute(text(
        "SELECT d.name FROM report_districts rd JOIN districts d ON d.id = rd.district_id "
        "JOIN district_layers l ON l.id = d.layer_id WHERE l.key = 'neighborhood'")).scalar_one()
    assert name == "PORTLAND DOWNTOWN"


def test_bad_layer_key_and_kind_are_refused(session):
    with pytest.raises(InvalidInput, match="layer key"):
        load_layer(session, DEMO_DIR / "portland_neighborhoods_2020.geojson", layer="Bad Key", name_field="NAME")
    with pytest.raises(InvalidInput, match="unknown jurisdiction kind"):
        load_jurisdiction(session, DEMO_DIR / "portland_city_boundary_cop.geojson", name="X", kind="galaxy")

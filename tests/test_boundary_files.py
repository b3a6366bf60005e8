"""The boundary file reader: what it accepts and how it refuses, before any database work."""

from __future__ import annotations

import gzip
import json

import pytest

from geo311.boundary_files import BoundaryFileError, read_boundary_file
from tests.conftest import FIXTURES

SQUARE = {"type": "Polygon", "coordinates": [[[-122.6, 45.5], [-122.59, 45.5], [-122.59, 45.51],
                                             [-122.6, 45.51], [-122.6, 45.5]]]}


def write(tmp_path, doc, name="layer.geojson"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def collection(*features, crs=None):
    doc = {"type": "FeatureCollection", "features": list(features)}
    if crs is not None:
        doc["crs"] = crs
    return doc


def feature(geometry=SQUARE, **props):
    return {"type": "Feature", "properties": props, "geometry": geometry}


@pytest.mark.parametrize("crs_name", [
    "urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", "EPSG:4326",
    "urn:ogc:def:crs:EPSG::4326", "EPSG:4269", "urn:ogc:def:crs:EPSG::4269",
])
def test_accepts_lon_lat_crs_names(tmp_path, crs_name):
    doc = collection(feature(NAME="a"), crs={"type": "name", "properties": {"name": crs_name}})
    assert len(read_boundary_file(write(tmp_path, doc), name_field="NAME").features) == 1


@pytest.mark.parametrize("crs_name", ["EPSG:2913", "urn:ogc:def:crs:EPSG::3857", "EPSG:43260"])
def test_refuses_other_crs_naming_it(tmp_path, crs_name):
    doc = collection(feature(NAME="a"), crs={"type": "name", "properties": {"name": crs_name}})
    with pytest.raises(BoundaryFileError, match="coordinate system") as err:
        read_boundary_file(write(tmp_path, doc), name_field="NAME")
    assert crs_name in err.value.message and "ogr2ogr" in err.value.message


def test_refuses_empty_collection(tmp_path):
    with pytest.raises(BoundaryFileError, match="holds no features"):
        read_boundary_file(write(tmp_path, collection()))


def test_refuses_non_polygon_geometry_naming_the_feature(tmp_path):
    doc = collection(feature(NAME="a"), feature({"type": "Point", "coordinates": [-122.6, 45.5]}, NAME="b"))
    with pytest.raises(BoundaryFileError, match=r"feature 1 is a Point; .*Polygon or MultiPolygon"):
        read_boundary_file(write(tmp_path, doc), name_field="NAME")


def test_refuses_missing_name_field_listing_the_properties(tmp_path):
    doc = collection(feature(NAME="a"), feature(LABEL="b"))
    with pytest.raises(BoundaryFileError, match=r"feature 1 has no value in the name field 'NAME' \(its properties: LABEL\)"):
        read_boundary_file(write(tmp_path, doc), name_field="NAME")


def test_refuses_projected_coordinates_without_crs(tmp_path):
    projected = {"type": "Polygon", "coordinates": [[[7650000, 680000], [7651000, 680000],
                                                     [7651000, 681000], [7650000, 680000]]]}
    with pytest.raises(BoundaryFileError, match="looks projected"):
        read_boundary_file(write(tmp_path, collection(feature(projected, NAME="a"))), name_field="NAME")


def test_refuses_non_json_and_non_geojson(tmp_path):
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    with pytest.raises(BoundaryFileError, match="not valid JSON"):
        read_boundary_file(bad)
    with pytest.raises(BoundaryFileError, match="not a GeoJSON FeatureCollection"):
        read_boundary_file(write(tmp_path, {"type": "GeometryCollection", "geometries": []}))


def test_features_without_properties_member_are_read(tmp_path):
    data = read_boundary_file(FIXTURES / "boundaries" / "seattle_city-limits.geojson")
    assert len(data.features) == 29 and data.features[0].name is None


def test_where_filter_and_gzip(tmp_path):
    doc = collection(feature(NAME="Multnomah"), feature(NAME="Clackamas"))
    path = tmp_path / "counties.geojson.gz"
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    data = read_boundary_file(path, where=("NAME", "Multnomah"))
    assert [f.index for f in data.features] == [0] and data.skipped == 1
    with pytest.raises(BoundaryFileError, match="no feature has NAME = 'Lane'"):
        read_boundary_file(path, where=("NAME", "Lane"))


def test_numeric_names_read_as_text(tmp_path):
    data = read_boundary_file(write(tmp_path, collection(feature(DISTRICT=1.0, ID=7))),
                              name_field="DISTRICT", code_field="ID")
    assert (data.features[0].name, data.features[0].code) == ("1", "7")

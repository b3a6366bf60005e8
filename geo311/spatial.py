"""The PostGIS idioms, in one place, so every query repeats exactly what the indexes were built on."""

from __future__ import annotations

from geoalchemy2 import Geography, Geometry
from sqlalchemy import Float, cast, func, literal
from sqlalchemy.sql.elements import ColumnElement

SRID = 4326
GEOG_POINT = Geography("POINT", srid=SRID)
GEOG_LINE = Geography("LINESTRING", srid=SRID)
#: the SQL text of the report-location expression index; migrations write it by hand
GEOG_POINT_SQL = "(location::geography(Point,4326))"
GEOG_LINE_SQL = "(geom::geography(LineString,4326))"


def geog(expr) -> ColumnElement:
    """A point geometry as geography(Point,4326): metres, and the expression the indexes use."""
    return cast(expr, GEOG_POINT)


def geog_line(expr) -> ColumnElement:
    return cast(expr, GEOG_LINE)


def point(lon, lat) -> ColumnElement:
    """ST_SetSRID(ST_MakePoint(lon, lat), 4326) from floats or SQL expressions."""
    return func.ST_SetSRID(
        func.ST_MakePoint(cast(lon, Float), cast(lat, Float)), literal(SRID), type_=Geometry("POINT", SRID)
    )


def polygonal(expr) -> ColumnElement:
    """Repair and keep the polygonal part: the MultiPolygon(4326) that boundaries are stored as."""
    return func.ST_Multi(
        func.ST_CollectionExtract(func.ST_MakeValid(func.ST_SetSRID(expr, SRID)), 3),
        type_=Geometry("MULTIPOLYGON", SRID),
    )

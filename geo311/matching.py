"""Which jurisdictions and districts cover a point (or many points, set-based).

Matching runs against the ST_Subdivide'd parts (small polygons, GiST-indexed), never against the
whole boundaries: a point on a cut between two parts is covered by both, hence the DISTINCTs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

_PT = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"


def covering_jurisdictions(session: Session, lon: float, lat: float) -> list[dict[str, Any]]:
    """Every jurisdiction whose area covers the point, most specific first."""
    rows = session.execute(text(
        "SELECT DISTINCT j.id, j.name, j.kind, j.rank FROM jurisdiction_parts p "
        "JOIN jurisdictions j ON j.id = p.jurisdiction_id "
        f"WHERE ST_Covers(p.geom, {_PT}) ORDER BY j.rank DESC, j.name"), {"lon": lon, "lat": lat})
    return [dict(r._mapping) for r in rows]


def covering_districts(session: Session, lon: float, lat: float) -> dict[str, list[str]]:
    """layer key -> names of the districts covering the point (none, one, or several where they overlap)."""
    rows = session.execute(text(
        "SELECT l.key, d.name FROM districts d JOIN district_layers l ON l.id = d.layer_id "
        "WHERE d.id IN (SELECT p.district_id FROM district_parts p "
        f"              WHERE ST_Covers(p.geom, {_PT})) ORDER BY l.key, d.name"), {"lon": lon, "lat": lat})
    out: dict[str, list[str]] = {}
    for key, name in rows:
        out.setdefault(key, []).append(name)
    return out


def categories_served_at(session: Session, lon: float, lat: float) -> list[dict[str, str]]:
    """Active categories some covering jurisdiction routes, with the agency that would get them."""
    rows = session.execute(text(
        "SELECT DISTINCT ON (c.code) c.code, c.name, r.agency, j.name AS jurisdiction "
        "FROM jurisdictions j JOIN category_routes r ON r.jurisdiction_id = j.id "
        "JOIN categories c ON c.id = r.category_id AND c.active "
        "WHERE j.id IN (SELECT p.jurisdiction_id FROM jurisdiction_parts p "
        f"              WHERE ST_Covers(p.geom, {_PT})) "
        "ORDER BY c.code, j.rank DESC"), {"lon": lon, "lat": lat})
    return [dict(r._mapping) for r in rows]


def nearest_jurisdiction(session: Session, lon: float, lat: float) -> dict[str, Any] | None:
    """The closest jurisdiction and how far away it is (metres), for 'outside the service area' messages."""
    row = session.execute(text(
        "SELECT j.name, ST_Distance(j.boundary::geography, "
        f"  {_PT}::geography) AS distance_m FROM jurisdictions j "
        f"ORDER BY j.boundary <-> {_PT} LIMIT 1"), {"lon": lon, "lat": lat}).first()
    return dict(row._mapping) if row else None


def in_service_area(session: Session, lon: float, lat: float) -> bool:
    return session.execute(text(
        f"SELECT EXISTS (SELECT 1 FROM jurisdiction_parts p WHERE ST_Covers(p.geom, {_PT}))"),
        {"lon": lon, "lat": lat}).scalar_one()


def match_points_to_layer(session: Session, points_table: str, layer: str) -> int:
    """Set-based: write (point id, district id) pairs for every point of `points_table(id, geom)` into
    the temp table `point_districts`; returns the number of pairs. Used by bulk import and bench."""
    if not points_table.isidentifier():
        raise ValueError("points_table must be a plain table name")
    session.execute(text("DROP TABLE IF EXISTS pg_temp.point_districts"))
    return session.execute(text(
        "CREATE TEMP TABLE point_districts AS "
        f"SELECT DISTINCT pt.id AS point_id, p.district_id FROM {points_table} pt "  # identifier checked above
        "JOIN district_parts p ON ST_Covers(p.geom, pt.geom) "
        "WHERE p.layer_id = (SELECT id FROM district_layers WHERE key = :layer)"), {"layer": layer}).rowcount

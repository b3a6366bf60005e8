"""Jurisdictions and district layers: load them from GeoJSON, list them.

A load is one transaction. Geometry is repaired in PostGIS (ST_MakeValid, keeping the polygonal
part), stored as MultiPolygon(4326), and cut with ST_Subdivide into small parts that make
point-in-polygon fast. Loading a layer again replaces it atomically and re-matches the reports
already stored; loading a jurisdiction again replaces its area under the same id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from geo311.boundary_files import BoundaryFile, BoundaryFileError, read_boundary_file
from geo311.errors import InvalidInput

#: default specificity by kind: the most specific jurisdiction serving a category gets the report
KIND_RANKS = {"state": 0, "region": 10, "county": 20, "city": 30, "special_district": 40}
SUBDIVIDE_VERTICES = 128


@dataclass
class LoadSummary:
    target: str
    read: int
    loaded: int = 0
    parts: int = 0
    repaired: list[tuple[int, str | None, str]] = field(default_factory=list)
    refused: list[tuple[int, str | None, str]] = field(default_factory=list)
    skipped: int = 0
    rematched_reports: int = 0

    def lines(self) -> list[str]:
        out = [f"{self.target}: read {self.read}, loaded {self.loaded} ({self.parts} indexed parts), "
               f"repaired {len(self.repaired)}, refused {len(self.refused)}"
               + (f", skipped {self.skipped} by --where" if self.skipped else "")]
        out += [f"  repaired feature {i} ({n or 'unnamed'}): {why}" for i, n, why in self.repaired]
        out += [f"  refused feature {i} ({n or 'unnamed'}): {why}" for i, n, why in self.refused]
        if self.rematched_reports:
            out.append(f"  re-matched {self.rematched_reports} stored reports to the new districts")
        return out


def _stage(session: Session, data: BoundaryFile, summary: LoadSummary) -> None:
    """Put the features into a temp table, repair them, and record what was repaired or refused."""
    session.execute(text("DROP TABLE IF EXISTS pg_temp.boundary_in"))  # left by an earlier load in this transaction
    session.execute(text(
        "CREATE TEMP TABLE boundary_in (idx int, name text, code text, g geometry, fixed geometry) "
        "ON COMMIT DROP"))
    insert = text("INSERT INTO boundary_in (idx, name, code, g) "
                  "VALUES (:idx, :name, :code, ST_SetSRID(ST_GeomFromGeoJSON(:g), 4326))")
    for f in data.features:
        try:
            with session.begin_nested():
                session.execute(insert, {"idx": f.index, "name": f.name, "code": f.code,
                                         "g": f.geometry.decode()})
        except DBAPIError as exc:
            reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
            raise BoundaryFileError(f"{Path(data.path).name}, feature {f.index}: PostGIS cannot read "
                                    f"its geometry ({reason})") from exc
    session.execute(text("UPDATE boundary_in SET fixed = ST_Multi(ST_CollectionExtract(ST_MakeValid(g), 3))"))
    rows = session.execute(text(
        "SELECT idx, name, ST_IsValid(g) AS valid, ST_IsValidReason(g) AS reason, "
        "       ST_IsEmpty(fixed) OR ST_Area(fixed) = 0 AS empty "
        "FROM boundary_in ORDER BY idx")).all()
    for row in rows:
        if row.empty:
            summary.refused.append((row.idx, row.name, "no area left after repair (degenerate polygon)"))
        elif not row.valid:
            summary.repaired.append((row.idx, row.name, row.reason))
    session.execute(text("DELETE FROM boundary_in WHERE ST_IsEmpty(fixed) OR ST_Area(fixed) = 0"))
    summary.loaded = len(rows) - len(summary.refused)
    if summary.loaded == 0:
        raise BoundaryFileError(f"{Path(data.path).name}: no feature has any area; nothing loaded")


def load_jurisdiction(
    session: Session,
    path: str | Path,
    *,
    name: str,
    kind: str,
    rank: int | None = None,
    where: tuple[str, str] | None = None,
) -> LoadSummary:
    """Union every (matching) feature of the file into the area of jurisdiction `name`."""
    name = name.strip()
    if not name:
        raise InvalidInput("a jurisdiction needs a name (--jurisdiction)")
    if rank is None:
        if kind not in KIND_RANKS:
            raise InvalidInput(f"unknown jurisdiction kind {kind!r}: use one of {', '.join(KIND_RANKS)} "
                               "or give its specificity with --rank")
        rank = KIND_RANKS[kind]
    data = read_boundary_file(path, where=where)
    summary = LoadSummary(f"jurisdiction {name!r}", read=len(data.features), skipped=data.skipped)
    try:
        _stage(session, data, summary)
        jid = session.execute(text(
            "INSERT INTO jurisdictions (name, kind, rank, boundary, source) "
            "SELECT :name, :kind, :rank, ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Union(fixed)), 3)), :source "
            "FROM boundary_in "
            "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, rank = excluded.rank, "
            "  boundary = excluded.boundary, source = excluded.source, loaded_at = now() "
            "RETURNING id"), {"name": name, "kind": kind, "rank": rank, "source": Path(path).name}).scalar_one()
        session.execute(text("DELETE FROM jurisdiction_parts WHERE jurisdiction_id = :id"), {"id": jid})
        session.execute(text("DELETE FROM jurisdiction_edges WHERE jurisdiction_id = :id"), {"id": jid})
        summary.parts = session.execute(text(
            "INSERT INTO jurisdiction_parts (jurisdiction_id, geom) "
            "SELECT j.id, s.geom FROM jurisdictions j, "
            "  LATERAL ST_Subdivide(j.boundary, :n) AS s(geom) WHERE j.id = :id"),
            {"id": jid, "n": SUBDIVIDE_VERTICES}).rowcount
        session.execute(text(
            "INSERT INTO jurisdiction_edges (jurisdiction_id, geom) "
            "SELECT j.id, s.geom FROM jurisdictions j, "
            "  LATERAL ST_Dump(ST_Boundary(j.boundary)) d, "
            "  LATERAL ST_Subdivide(d.geom, 64) AS s(geom) WHERE j.id = :id"), {"id": jid})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return summary


def load_layer(
    session: Session,
    path: str | Path,
    *,
    layer: str,
    name_field: str,
    code_field: str | None = None,
    title: str | None = None,
    dissolve: bool = False,
    labels: dict[str, str] | None = None,
    where: tuple[str, str] | None = None,
    split_names: str | None = None,
) -> LoadSummary:
    """Replace district layer `layer` with the file's features, atomically.

    dissolve: features sharing a name become one district (coalitions from neighborhoods).
    labels: display names for raw name values ({"SEUL": "Southeast Uplift"}); the raw value
    becomes the district's code.
    split_names: a separator such as "/": a feature named "ALAMEDA/IRVINGTON" is an area the two
    share, so it joins both districts, which then overlap (implies dissolve).
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", layer):
        raise InvalidInput(f"layer key {layer!r} must be lower-case letters, digits and _ (e.g. council_district)")
    data = read_boundary_file(path, name_field=name_field, code_field=code_field, where=where)
    if labels:
        data = replace(data, features=[
            replace(f, name=labels.get(f.name, f.name), code=f.code or f.name) for f in data.features])
    read = len(data.features)
    if split_names:
        dissolve = True
        data = replace(data, features=[
            replace(f, name=part.strip()) for f in data.features
            for part in (f.name or "").split(split_names) if part.strip()])
    summary = LoadSummary(f"layer {layer!r}", read=read, skipped=data.skipped)
    try:
        _stage(session, data, summary)
        layer_id = session.execute(text(
            "INSERT INTO district_layers (key, title, source) VALUES (:key, :title, :source) "
            "ON CONFLICT (key) DO UPDATE SET title = excluded.title, source = excluded.source, loaded_at = now() "
            "RETURNING id"),
            {"key": layer, "title": title or layer.replace("_", " ").capitalize(),
             "source": Path(path).name}).scalar_one()
        session.execute(text("DELETE FROM districts WHERE layer_id = :id"), {"id": layer_id})
        if dissolve:
            summary.loaded = session.execute(text(
                "INSERT INTO districts (layer_id, name, code, boundary) "
                "SELECT :id, name, min(code), ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Union(fixed)), 3)) "
                "FROM boundary_in GROUP BY name"), {"id": layer_id}).rowcount
        else:
            session.execute(text(
                "INSERT INTO districts (layer_id, name, code, boundary) "
                "SELECT :id, name, code, fixed FROM boundary_in ORDER BY idx"), {"id": layer_id})
        summary.parts = session.execute(text(
            "INSERT INTO district_parts (district_id, layer_id, geom) "
            "SELECT d.id, d.layer_id, s.geom FROM districts d, "
            "  LATERAL ST_Subdivide(d.boundary, :n) AS s(geom) WHERE d.layer_id = :id"),
            {"id": layer_id, "n": SUBDIVIDE_VERTICES}).rowcount
        summary.rematched_reports = session.execute(text(
            "INSERT INTO report_districts (jurisdiction_id, report_id, district_id) "
            "SELECT DISTINCT r.jurisdiction_id, r.id, p.district_id FROM district_parts p "
            "JOIN reports r ON ST_Covers(p.geom, r.location) WHERE p.layer_id = :id"),
            {"id": layer_id}).rowcount
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return summary


def list_boundaries(session: Session) -> dict[str, list[dict]]:
    """Jurisdictions and layers with their feature counts, for `geo311 boundaries list` and the API."""
    jurisdictions = session.execute(text(
        "SELECT j.name, j.kind, j.rank, round((ST_Area(j.boundary::geography) / 1e6)::numeric, 1) AS area_km2, "
        "  (SELECT count(*) FROM jurisdiction_parts p WHERE p.jurisdiction_id = j.id) AS parts, j.loaded_at "
        "FROM jurisdictions j ORDER BY j.rank DESC, j.name")).mappings().all()
    layers = session.execute(text(
        "SELECT l.key, l.title, count(d.id) AS districts, l.source, l.loaded_at "
        "FROM district_layers l LEFT JOIN districts d ON d.layer_id = l.id "
        "GROUP BY l.id ORDER BY l.key")).mappings().all()
    return {"jurisdictions": [dict(r) for r in jurisdictions], "layers": [dict(r) for r in layers]}


def service_area(session: Session) -> dict:
    """The bounding box of every jurisdiction and their outlines (simplified to ~10 m) for maps."""
    row = session.execute(text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e), fc FROM ("
        "  SELECT ST_Extent(boundary) AS e, json_build_object('type', 'FeatureCollection', 'features', "
        "    coalesce(json_agg(json_build_object('type', 'Feature', 'id', id, 'geometry', "
        "      ST_AsGeoJSON(ST_SimplifyPreserveTopology(boundary, 0.0001), 5)::json, "
        "      'properties', json_build_object('name', name, 'kind', kind)) ORDER BY rank), '[]'::json)) AS fc "
        "  FROM jurisdictions) x")).one()
    bbox = None if row[0] is None else [round(v, 6) for v in row[:4]]
    return {"bbox": bbox, "outline": row[4]}


def layer_keys(session: Session) -> list[str]:
    return list(session.execute(text("SELECT key FROM district_layers ORDER BY key")).scalars())


def districts_geojson(session: Session, layer: str) -> str:
    """One layer's districts as a FeatureCollection (simplified to ~10 m), each with a `center`
    inside it where a pin can be placed, as JSON text."""
    if layer not in layer_keys(session):
        raise InvalidInput(f"no district layer {layer!r}; layers: {', '.join(layer_keys(session))}",
                           code="bad_layer")
    return session.execute(text(
        "SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg("
        "  json_build_object('type', 'Feature', 'id', d.id, "
        "    'geometry', ST_AsGeoJSON(ST_SimplifyPreserveTopology(d.boundary, 0.0001), 5)::json, "
        "    'properties', json_build_object('layer', l.key, 'name', d.name, 'code', d.code, "
        "      'center', json_build_array(round(ST_X(c.p)::numeric, 6), round(ST_Y(c.p)::numeric, 6)))) "
        "  ORDER BY d.name), '[]'::json))::text "
        "FROM districts d JOIN district_layers l ON l.id = d.layer_id "
        "CROSS JOIN LATERAL (SELECT ST_PointOnSurface(d.boundary) AS p) c WHERE l.key = :layer"),
        {"layer": layer}).scalar_one()

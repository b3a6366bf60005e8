"""Field crews: their areas (district layer:name pairs), categories and yards."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311.errors import Conflict, InvalidInput, NotFound

#: true when report r lies in a district crew :crew_id covers (by layer key and district name)
IN_CREW_AREA_SQL = (
    "EXISTS (SELECT 1 FROM report_districts rd JOIN districts d ON d.id = rd.district_id "
    "JOIN district_layers l ON l.id = d.layer_id "
    "JOIN crew_areas a ON a.layer_key = l.key AND a.district_name = d.name "
    "WHERE rd.jurisdiction_id = r.jurisdiction_id AND rd.report_id = r.id AND a.crew_id = :crew_id)")

#: true when report r lies in one of the districts :district_ids (see area_district_ids): a probe of
#: report_districts' primary key per report, so a scan of open reports in priority order stops early
IN_DISTRICTS_SQL = (
    "EXISTS (SELECT 1 FROM report_districts rd WHERE rd.jurisdiction_id = r.jurisdiction_id "
    "AND rd.report_id = r.id AND rd.district_id = ANY(:district_ids))")


def area_district_ids(session: Session, crew_id: int) -> list[int]:
    """The ids of the districts a crew's area names (by layer key and district name)."""
    return list(session.execute(text(
        "SELECT d.id FROM crew_areas a JOIN district_layers l ON l.key = a.layer_key "
        "JOIN districts d ON d.layer_id = l.id AND d.name = a.district_name WHERE a.crew_id = :crew_id"),
        {"crew_id": crew_id}).scalars())


def parse_area(value: str) -> tuple[str, str]:
    layer, sep, name = value.partition(":")
    if not sep or not layer.strip() or not name.strip():
        raise InvalidInput(f"an area is layer:name (e.g. coalition:Southeast Uplift), got {value!r}",
                           code="bad_area")
    return layer.strip(), name.strip()


def _canonical_areas(session: Session, areas: list[str]) -> list[tuple[str, str]]:
    """Check every layer:name exists; return them with the district names as the layer spells them."""
    if not areas:
        raise InvalidInput("a crew needs at least one area (layer:name)", code="bad_area")
    out = []
    for value in areas:
        layer, name = parse_area(value)
        found = session.execute(text(
            "SELECT l.key, d.name FROM districts d JOIN district_layers l ON l.id = d.layer_id "
            "WHERE l.key = :layer AND lower(d.name) = lower(:name) LIMIT 1"), {"layer": layer, "name": name}).first()
        if found is None:
            raise InvalidInput(f"no district {name!r} in layer {layer!r}", code="bad_area")
        out.append((found.key, found.name))
    return sorted(set(out))


def _check_categories(session: Session, codes: list[str]) -> list[str]:
    if not codes:
        raise InvalidInput("a crew needs at least one category", code="bad_category")
    known = set(session.execute(text("SELECT code FROM categories")).scalars())
    unknown = sorted(set(codes) - known)
    if unknown:
        raise InvalidInput(f"unknown categories {', '.join(unknown)}; known: {', '.join(sorted(known))}",
                           code="bad_category")
    return sorted(set(codes))


def _check_yard(yard: tuple[float, float]) -> tuple[float, float]:
    lon, lat = yard
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"the yard must be lon,lat in range, got {lon},{lat}", code="bad_yard")
    return lon, lat


def parse_point(value: str) -> tuple[float, float]:
    try:
        lon, lat = (float(v) for v in value.split(","))
    except ValueError as exc:
        raise InvalidInput(f"a point is lon,lat (e.g. -122.66,45.52), got {value!r}", code="bad_point") from exc
    return _check_yard((lon, lat))


def crew_id_of(session: Session, crew: int | str) -> int:
    if isinstance(crew, int) or (isinstance(crew, str) and crew.isascii() and crew.isdigit()):
        row = session.execute(text("SELECT id FROM crews WHERE id = :id"), {"id": int(crew)}).scalar()
    else:
        row = session.execute(text("SELECT id FROM crews WHERE lower(name) = lower(:n)"), {"n": crew}).scalar()
    if row is None:
        raise NotFound(f"no crew {crew!r}")
    return row


def _write_areas(session: Session, crew_id: int, areas: list[tuple[str, str]]) -> None:
    session.execute(text("DELETE FROM crew_areas WHERE crew_id = :id"), {"id": crew_id})
    for layer, name in areas:
        session.execute(text("INSERT INTO crew_areas (crew_id, layer_key, district_name) VALUES (:id, :l, :n)"),
                        {"id": crew_id, "l": layer, "n": name})


def create_crew(session: Session, name: str, *, areas: list[str], categories: list[str],
                yard: tuple[float, float]) -> dict[str, Any]:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("a crew needs a name of 1 to 200 characters", code="bad_name")
    try:
        if session.execute(text("SELECT 1 FROM crews WHERE lower(name) = lower(:n)"), {"n": name}).first():
            raise Conflict(f"a crew named {name!r} exists; update it instead", code="crew_exists")
        canonical = _canonical_areas(session, areas)
        codes = _check_categories(session, categories)
        lon, lat = _check_yard(yard)
        crew_id = session.execute(text(
            "INSERT INTO crews (name, categories, yard) VALUES (:n, :c, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) "
            "RETURNING id"), {"n": name, "c": codes, "lon": lon, "lat": lat}).scalar_one()
        _write_areas(session, crew_id, canonical)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_crew(session, crew_id)


def update_crew(session: Session, crew: int | str, *, name: str | None = None, areas: list[str] | None = None,
                categories: list[str] | None = None, yard: tuple[float, float] | None = None,
                active: bool | None = None) -> dict[str, Any]:
    try:
        crew_id = crew_id_of(session, crew)
        if name is not None:
            name = name.strip()
            clash = session.execute(text("SELECT 1 FROM crews WHERE lower(name) = lower(:n) AND id <> :id"),
                                    {"n": name, "id": crew_id}).first()
            if not name or clash:
                raise Conflict(f"cannot rename to {name!r}: empty or taken", code="crew_exists")
            session.execute(text("UPDATE crews SET name = :n WHERE id = :id"), {"n": name, "id": crew_id})
        if areas is not None:
            _write_areas(session, crew_id, _canonical_areas(session, areas))
        if categories is not None:
            session.execute(text("UPDATE crews SET categories = :c WHERE id = :id"),
                            {"c": _check_categories(session, categories), "id": crew_id})
        if yard is not None:
            lon, lat = _check_yard(yard)
            session.execute(text("UPDATE crews SET yard = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) WHERE id = :id"),
                            {"lon": lon, "lat": lat, "id": crew_id})
        if active is not None:
            session.execute(text("UPDATE crews SET active = :a WHERE id = :id"), {"a": active, "id": crew_id})
        session.execute(text("UPDATE crews SET updated_at = now() WHERE id = :id"), {"id": crew_id})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_crew(session, crew_id)


_CREW_SQL = (
    "SELECT c.id, c.name, c.categories, c.active, ARRAY[ST_X(c.yard), ST_Y(c.yard)] AS yard, "
    "  coalesce((SELECT array_agg(a.layer_key || ':' || a.district_name ORDER BY a.layer_key, a.district_name) "
    "            FROM crew_areas a WHERE a.crew_id = c.id), '{}') AS areas "
    "FROM crews c")


def get_crew(session: Session, crew: int | str) -> dict[str, Any]:
    row = session.execute(text(f"{_CREW_SQL} WHERE c.id = :id"), {"id": crew_id_of(session, crew)}).mappings().one()
    return dict(row)


def list_crews(session: Session) -> list[dict[str, Any]]:
    return [dict(r) for r in session.execute(text(f"{_CREW_SQL} ORDER BY c.name")).mappings()]


def crew_covers(session: Session, crew_id: int, report_id: int) -> bool:
    """Is the report in the crew's area and one of its categories?"""
    return bool(session.execute(text(
        "SELECT 1 FROM reports r JOIN categories cat ON cat.id = r.category_id "
        "JOIN crews c ON c.id = :crew_id "
        f"WHERE r.id = :rid AND cat.code = ANY(c.categories) AND {IN_CREW_AREA_SQL}"),
        {"crew_id": crew_id, "rid": report_id}).first())

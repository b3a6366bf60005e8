"""Reading reports: one, a filtered page, the lean map layer, the ones near a point, the history.

GeoJSON is built in SQL (json_build_object, ST_AsGeoJSON) and returned as text, so a page of a
thousand reports costs one query and no per-row Python conversion. Public fields only: a
resident's name, email and phone never appear here.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311.errors import InvalidInput, NotFound, msg
from geo311.intake import active_category, check_point
from geo311.models import OPEN_STATUSES, STATUSES
from geo311.photos import photos_sql

MAX_PAGE = 1000
MAX_POINTS = 50_000
MAX_NEARBY_RADIUS_M = 1000.0

_DISTRICTS = (
    "coalesce((SELECT json_object_agg(x.key, x.names) FROM ("
    "  SELECT l.key, json_agg(d.name ORDER BY d.name) AS names FROM report_districts rd"
    "  JOIN districts d ON d.id = rd.district_id JOIN district_layers l ON l.id = d.layer_id"
    "  WHERE rd.jurisdiction_id = r.jurisdiction_id AND rd.report_id = r.id GROUP BY l.key) x), '{}'::json)")

_FEATURE = (
    "json_build_object('type', 'Feature', 'id', r.id, 'geometry', ST_AsGeoJSON(r.location, 6)::json, "
    "'properties', json_build_object('id', r.id, 'category', c.code, 'category_name', c.name, "
    "'status', r.status, 'priority', r.priority, 'jurisdiction', j.name, 'agency', r.agency, "
    f"'districts', {_DISTRICTS}, 'submission_count', r.submission_count, "
    "'near_boundary', r.near_boundary, 'description', r.description, 'address', r.address, "
    "'matched_address', r.matched_address, "
    f"'photos', {photos_sql('r')}, "
    "'created_at', r.created_at, 'updated_at', r.updated_at{extra}))")

_FROM = ("FROM reports r JOIN categories c ON c.id = r.category_id "
         "JOIN jurisdictions j ON j.id = r.jurisdiction_id")


def feature_sql(extra: str = "") -> str:
    """The SQL expression of one report as a GeoJSON Feature (r, c, j in scope); `extra` adds
    properties, as ", 'name', expression"."""
    return _FEATURE.replace("{extra}", extra)


# ----- parsing query parameters -----------------------------------------------------------
def utc(moment: datetime) -> datetime:
    """A time in UTC (naive ones are taken as UTC): PostgreSQL accepts offsets up to 15:59 only, while
    ISO 8601 allows more, so times travel to the database in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)



def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if not value:
        return None
    try:
        parts = [float(p) for p in value.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4:
        raise InvalidInput(msg("bbox must be minlon,minlat,maxlon,maxlat (four numbers), got {value!r}", value=value),
                           code="bad_bbox")
    minlon, minlat, maxlon, maxlat = parts
    if not (-180 <= minlon < maxlon <= 180 and -90 <= minlat < maxlat <= 90):
        raise InvalidInput(msg("bbox {value!r} is not minlon,minlat,maxlon,maxlat in range with min < max", value=value),
                           code="bad_bbox")
    return minlon, minlat, maxlon, maxlat


def parse_list(value: str | None, allowed: tuple[str, ...] | None, what: str) -> list[str] | None:
    if not value:
        return None
    items = list(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))  # each once, in order
    if allowed is not None:
        bad = [v for v in items if v not in allowed]
        if bad:
            raise InvalidInput(f"unknown {what} {', '.join(bad)}; use {', '.join(allowed)}", code=f"bad_{what}")
    return items


def parse_statuses(value: str | None) -> list[str] | None:
    """Statuses as a comma list; `open` alone means every open status (open, assigned, in_progress)."""
    if value == "open":
        return list(OPEN_STATUSES)
    return parse_list(value, STATUSES, "status")


def district_ids(session: Session, value: str | None) -> list[int] | None:
    """`layer:name` (name case-insensitive) -> the ids of the matching districts, or a clear 422."""
    if not value:
        return None
    layer, sep, name = value.partition(":")
    if not sep or not layer or not name:
        raise InvalidInput(f"district must be layer:name (e.g. neighborhood:BUCKMAN), got {value!r}",
                           code="bad_district")
    ids = session.execute(text(
        "SELECT d.id FROM districts d JOIN district_layers l ON l.id = d.layer_id "
        "WHERE l.key = :layer AND lower(d.name) = lower(:name)"), {"layer": layer, "name": name}).scalars().all()
    if not ids:
        layers = session.execute(text("SELECT key FROM district_layers ORDER BY key")).scalars().all()
        if layer not in layers:
            raise InvalidInput(f"no district layer {layer!r}; layers: {', '.join(layers)}", code="bad_district")
        raise InvalidInput(f"no district named {name!r} in layer {layer!r}", code="bad_district")
    return list(ids)


def encode_cursor(created_at: datetime, report_id: int) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{report_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, rid = raw.partition("|")
        return datetime.fromisoformat(at), int(rid)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput(msg("cursor is not one this server gave out; start again without it"),
                           code="bad_cursor") from exc


# ----- reading ----------------------------------------------------------------------------
def get_report_feature(session: Session, report_id: int) -> dict[str, Any]:
    row = session.execute(text(f"SELECT {feature_sql()} {_FROM} WHERE r.id = :id"), {"id": report_id}).first()
    if row is None:
        raise NotFound(msg("report {report_id} does not exist", report_id=report_id))
    return row[0]


@dataclass
class ReportFilter:
    bbox: tuple[float, float, float, float] | None = None
    categories: list[str] | None = None
    statuses: list[str] | None = None
    district_ids: list[int] | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> tuple[str, dict[str, Any]]:
        clauses, params = ["true"], {}
        if self.bbox:
            clauses.append("r.location && ST_MakeEnvelope(:minlon, :minlat, :maxlon, :maxlat, 4326)")
            params.update(zip(("minlon", "minlat", "maxlon", "maxlat"), self.bbox, strict=True))
        if self.categories:
            clauses.append("c.code = ANY(:categories)")
            params["categories"] = self.categories
        if self.statuses:
            clauses.append("r.status = ANY(:statuses)")
            params["statuses"] = self.statuses
        if self.district_ids:
            clauses.append("(r.jurisdiction_id, r.id) IN (SELECT jurisdiction_id, report_id FROM report_districts "
                           "WHERE district_id = ANY(:districts))")
            params["districts"] = self.district_ids
        if self.since:
            clauses.append("r.created_at >= :since")
            params["since"] = utc(self.since)
        if self.until:
            clauses.append("r.created_at < :until")
            params["until"] = utc(self.until)
        return " AND ".join(clauses), params


def list_reports(session: Session, flt: ReportFilter, *, limit: int = 100,
                 cursor: str | None = None) -> tuple[str, str | None]:
    """Newest first, keyset-paginated. Returns the features as one JSON array text and the cursor of
    the next page (None on the last)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(msg("limit must be between 1 and {max}", max=MAX_PAGE), code="bad_limit")
    where, params = flt.where()
    if cursor:
        at, rid = decode_cursor(cursor)
        where += " AND (r.created_at, r.id) < (:cursor_at, :cursor_id)"
        params.update(cursor_at=at, cursor_id=rid)
    rows = session.execute(text(
        f"SELECT {feature_sql()}::text, r.created_at, r.id {_FROM} WHERE {where} "
        "ORDER BY r.created_at DESC, r.id DESC LIMIT :limit"), {**params, "limit": limit + 1}).all()
    following = encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    return "[" + ",".join(r[0] for r in rows[:limit]) + "]", following


def report_points(session: Session, flt: ReportFilter, *, limit: int = MAX_POINTS) -> str:
    """The lean layer for maps: a FeatureCollection of points with id, category, status, count."""
    where, params = flt.where()
    return session.execute(text(
        "SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg("
        "  json_build_object('type', 'Feature', 'id', r.id, 'geometry', ST_AsGeoJSON(r.location, 6)::json, "
        "  'properties', json_build_object('id', r.id, 'category', c.code, 'status', r.status, "
        "  'submission_count', r.submission_count))), '[]'::json), 'truncated', count(*) >= :limit)::text "
        f"FROM (SELECT r.* FROM reports r JOIN categories c ON c.id = r.category_id WHERE {where} "
        "      ORDER BY r.created_at DESC LIMIT :limit) r JOIN categories c ON c.id = r.category_id"),
        {**params, "limit": limit}).scalar_one()


def nearby_reports(session: Session, lon: float, lat: float, category: str,
                   radius_m: float | None = None, limit: int = 20) -> str:
    """Open reports of `category` within radius_m (default: the category's dedup radius, at most
    1,000 m) of the point, nearest first, each with distance_m. The 'already reported?' check."""
    check_point(session, lon, lat)
    cat = active_category(session, category)
    radius = cat.dedup_radius_m if radius_m is None else radius_m
    if not 0 <= radius <= MAX_NEARBY_RADIUS_M:
        raise InvalidInput(msg("radius_m must be between 0 and {max}", max=f"{MAX_NEARBY_RADIUS_M:g}"), code="bad_radius")
    geog = "::geography(Point,4326)"
    feature = feature_sql(extra=", 'distance_m', round(x.d::numeric, 1)")
    return session.execute(text(
        "SELECT json_build_object('type', 'FeatureCollection', 'radius_m', CAST(:radius AS float8), "
        "  'features', coalesce(json_agg(f ORDER BY d), '[]'::json))::text FROM ("
        f"  SELECT {feature} AS f, x.d FROM ("
        f"    SELECT r.id, ST_Distance(r.location{geog}, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326){geog}) AS d "
        "     FROM reports r WHERE r.category_id + 0 = :cat AND r.status IN ('open', 'assigned', 'in_progress') "
        f"      AND ST_DWithin(r.location{geog}, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326){geog}, :radius) "
        f"    ORDER BY r.location{geog} <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326){geog} LIMIT :limit) x "
        f"  JOIN reports r ON r.id = x.id JOIN categories c ON c.id = r.category_id "
        "  JOIN jurisdictions j ON j.id = r.jurisdiction_id) near"),
        {"lon": lon, "lat": lat, "cat": cat.id, "radius": radius, "limit": limit}).scalar_one()


def report_events(session: Session, report_id: int, *, staff: bool = False) -> list[dict[str, Any]]:
    """A report's history. The public sees what happened and when (internal notes left out); staff
    also see internal notes, who acted, the crew, and the contact data of each submission."""
    # the report's jurisdiction first: its events are then read from one shard (docs/scaling.md)
    jurisdiction = session.execute(text("SELECT jurisdiction_id FROM reports WHERE id = :id"), {"id": report_id}).scalar()
    if jurisdiction is None:
        raise NotFound(msg("report {report_id} does not exist", report_id=report_id))
    if not staff:
        rows = session.execute(text(
            "SELECT at, kind, from_status, to_status, note FROM report_events "
            "WHERE jurisdiction_id = :j AND report_id = :id AND NOT internal ORDER BY at, id"),
            {"id": report_id, "j": jurisdiction}).mappings().all()
        return [dict(r) for r in rows]
    rows = session.execute(text(
        "SELECT e.at, e.kind, e.from_status, e.to_status, e.note, e.internal, e.actor, cr.name AS crew, "
        "  CASE WHEN s.id IS NULL THEN NULL ELSE json_build_object('id', s.id, 'channel', s.channel, "
        "    'name', s.reporter_name, 'email', s.reporter_email, 'phone', s.reporter_phone, "
        "    'description', s.description, 'address', s.address, 'attributes', s.attributes, "
        "    'submitted_by', s.submitted_by) END AS submission "
        "FROM report_events e "
        "LEFT JOIN submissions s ON s.jurisdiction_id = e.jurisdiction_id AND s.id = e.submission_id "
        "LEFT JOIN crews cr ON cr.id = e.crew_id WHERE e.jurisdiction_id = :j AND e.report_id = :id "
        "ORDER BY e.at, e.id"), {"id": report_id, "j": jurisdiction}).mappings().all()
    return [dict(r) for r in rows]

"""A crew's work list: its open work, most urgent band first, each band in a short driving order.

Selection: reports that are open (unassigned) or assigned to / in progress by this crew, in the
crew's districts and categories, most urgent and oldest first, up to `limit`.
Bands (by priority): urgent = 5, high = 4, normal = 1-3. Each band is ordered for travel from
where the previous band ended (the first from `start`, by default the crew's yard), see
route_order.py. Straight-line metres: geo311 has no road network.
"""

from __future__ import annotations

import csv
import io
import math
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311.crews import IN_DISTRICTS_SQL, area_district_ids, crew_id_of, get_crew
from geo311.errors import InvalidInput
from geo311.photos import photos_sql
from geo311.route_order import order_stops

BANDS = (("urgent", 5, 5), ("high", 4, 4), ("normal", 1, 3))
MAX_STOPS = 500

_SELECT = f"""
SELECT r.id, ST_X(r.location) AS lon, ST_Y(r.location) AS lat, r.priority, r.status, r.created_at,
       r.updated_at, r.submission_count, r.description, r.address, r.agency, r.near_boundary,
       c.code AS category, c.name AS category_name, j.name AS jurisdiction,
       extract(epoch FROM now() - r.created_at) / 86400 AS age_days
FROM reports r JOIN categories c ON c.id = r.category_id JOIN jurisdictions j ON j.id = r.jurisdiction_id
WHERE r.status IN ('open', 'assigned', 'in_progress')
  AND (r.crew_id IS NULL OR r.crew_id = :crew_id)
  AND c.code = ANY(:categories)
  AND {IN_DISTRICTS_SQL}
ORDER BY r.priority DESC, r.created_at, r.id
LIMIT :limit"""

_DETAILS = """
SELECT r.id, {photos} AS photos,
  coalesce((SELECT json_object_agg(x.key, x.names) FROM (
     SELECT l.key, json_agg(d.name ORDER BY d.name) AS names FROM report_districts rd
     JOIN districts d ON d.id = rd.district_id JOIN district_layers l ON l.id = d.layer_id
     WHERE rd.jurisdiction_id = r.jurisdiction_id AND rd.report_id = r.id GROUP BY l.key) x), '{}'::json) AS districts,
  coalesce((SELECT json_agg(json_build_object('name', s.reporter_name, 'email', s.reporter_email,
     'phone', s.reporter_phone, 'received_at', s.received_at) ORDER BY s.id)
     FROM submissions s WHERE s.jurisdiction_id = r.jurisdiction_id AND s.report_id = r.id
       AND (s.reporter_name IS NOT NULL OR s.reporter_email IS NOT NULL OR s.reporter_phone IS NOT NULL)),
     '[]'::json) AS contacts,
  near.label AS nearest_address, round(ST_Distance(near.location::geography, r.location::geography)::numeric, 1)
     AS nearest_address_m
FROM reports r LEFT JOIN LATERAL (
  SELECT a.label, a.location FROM addresses a ORDER BY a.location <-> r.location LIMIT 1) near ON true
WHERE r.id = ANY(:ids)""".replace("{photos}", photos_sql("r", staff=True))


def band_of(priority: int) -> str:
    return next(name for name, low, high in BANDS if low <= priority <= high)


def _leg(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Metres between two lon/lat points on the same local projection route_order uses."""
    k = math.pi / 180 * 6_371_008.8
    dx = (b[0] - a[0]) * k * math.cos(math.radians((a[1] + b[1]) / 2))
    return math.hypot(dx, (b[1] - a[1]) * k)


def worklist(session: Session, crew: int | str, *, start: tuple[float, float] | None = None,
             limit: int = 200, categories: list[str] | None = None) -> dict[str, Any]:
    """The ordered stops, each with sequence, band, leg_m, cumulative_m, age_days, the nearest
    address point and the report's public fields plus the reporters' contact data (work lists are
    for staff)."""
    if not 1 <= limit <= MAX_STOPS:
        raise InvalidInput(f"limit must be between 1 and {MAX_STOPS}", code="bad_limit")
    info = get_crew(session, crew_id_of(session, crew))
    cats = info["categories"]
    if categories:
        outside = sorted(set(categories) - set(cats))
        if outside:
            raise InvalidInput(f"{info['name']} does not handle {', '.join(outside)}; its categories: "
                               f"{', '.join(cats)}", code="bad_category")
        cats = categories
    start = start or (info["yard"][0], info["yard"][1])
    # the area's districts first: with their ids known the planner walks the open reports in priority
    # order and probes report_districts for each, instead of reading every report of the area
    rows = session.execute(text(_SELECT), {"crew_id": info["id"], "categories": cats, "limit": limit,
                                           "district_ids": area_district_ids(session, info["id"])}).mappings().all()
    details = {r.id: r for r in session.execute(text(_DETAILS), {"ids": [r["id"] for r in rows]})}

    stops: list[dict[str, Any]] = []
    here, cumulative = start, 0.0
    for band, low, high in BANDS:
        members = [r for r in rows if low <= r["priority"] <= high]
        for k in order_stops(here, [(r["lon"], r["lat"]) for r in members]):
            r = members[k]
            point = (r["lon"], r["lat"])
            leg = _leg(here, point)
            cumulative += leg
            stops.append({**r, "band": band, "sequence": len(stops) + 1, "leg_m": round(leg, 1),
                          "cumulative_m": round(cumulative, 1), "age_days": round(float(r["age_days"]), 2),
                          "districts": details[r["id"]].districts, "contacts": details[r["id"]].contacts,
                          "photos": details[r["id"]].photos,
                          "nearest_address": details[r["id"]].nearest_address,
                          "nearest_address_m": float(details[r["id"]].nearest_address_m)
                          if details[r["id"]].nearest_address_m is not None else None})
            here = point
    return {"crew": info, "start": list(start), "total_m": round(cumulative, 1), "stops": stops,
            "generated_at": datetime.now(UTC)}


# ----- formats ----------------------------------------------------------------------------
_PUBLIC = ("id", "category", "category_name", "status", "priority", "jurisdiction", "agency", "districts",
           "submission_count", "near_boundary", "description", "address", "created_at", "updated_at")


def as_geojson(wl: dict[str, Any]) -> dict[str, Any]:
    features = [{
        "type": "Feature", "id": s["id"],
        "geometry": {"type": "Point", "coordinates": [round(s["lon"], 6), round(s["lat"], 6)]},
        "properties": {"sequence": s["sequence"], "band": s["band"], "leg_m": s["leg_m"],
                       "cumulative_m": s["cumulative_m"], "age_days": s["age_days"],
                       **{k: s[k] for k in _PUBLIC}, "contacts": s["contacts"], "photos": s["photos"],
                       "nearest_address": s["nearest_address"], "nearest_address_m": s["nearest_address_m"]},
    } for s in wl["stops"]]
    return {"type": "FeatureCollection", "features": features,
            "crew": {"id": wl["crew"]["id"], "name": wl["crew"]["name"]}, "start": wl["start"],
            "total_m": wl["total_m"], "bands": [b[0] for b in BANDS], "generated_at": wl["generated_at"]}


def _cell(value: Any) -> str:
    """CSV cell; text that a spreadsheet would run as a formula is quoted with a leading '."""
    textual = "" if value is None else str(value)
    return "'" + textual if textual[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(textual) else textual


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


CSV_COLUMNS = ("sequence", "band", "report_id", "category", "priority", "status", "lon", "lat", "leg_m",
               "cumulative_m", "age_days", "submission_count", "address", "nearest_address", "description", "contacts")


def as_csv(wl: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for s in wl["stops"]:
        contacts = "; ".join(" ".join(filter(None, (c.get("name"), c.get("email"), c.get("phone"))))
                             for c in s["contacts"])
        writer.writerow([_cell(v) for v in (
            s["sequence"], s["band"], s["id"], s["category"], s["priority"], s["status"], f"{s['lon']:.6f}",
            f"{s['lat']:.6f}", s["leg_m"], s["cumulative_m"], s["age_days"], s["submission_count"],
            s["address"], s["nearest_address"], s["description"], contacts)])
    return out.getvalue()


def as_gpx(wl: dict[str, Any]) -> bytes:
    """GPX 1.1: the stops as waypoints and as one route, named '<n>. <category> #<id>'."""
    ns = "http://www.topografix.com/GPX/1/1"
    ET.register_namespace("", ns)
    gpx = ET.Element(f"{{{ns}}}gpx", version="1.1", creator="geo311")
    meta = ET.SubElement(gpx, f"{{{ns}}}metadata")
    ET.SubElement(meta, f"{{{ns}}}name").text = f"Work list: {wl['crew']['name']}"
    ET.SubElement(meta, f"{{{ns}}}time").text = wl["generated_at"].strftime("%Y-%m-%dT%H:%M:%SZ")

    def point(tag: str, parent: ET.Element, s: dict[str, Any]) -> None:
        el = ET.SubElement(parent, f"{{{ns}}}{tag}", lat=f"{s['lat']:.6f}", lon=f"{s['lon']:.6f}")
        ET.SubElement(el, f"{{{ns}}}name").text = f"{s['sequence']}. {s['category_name']} #{s['id']}"
        desc = " / ".join(filter(None, (s["band"], s["address"] or s["nearest_address"], s["description"])))
        ET.SubElement(el, f"{{{ns}}}desc").text = desc
        ET.SubElement(el, f"{{{ns}}}type").text = s["category"]

    for s in wl["stops"]:
        point("wpt", gpx, s)
    route = ET.SubElement(gpx, f"{{{ns}}}rte")
    ET.SubElement(route, f"{{{ns}}}name").text = f"{wl['crew']['name']} ({len(wl['stops'])} stops)"
    for s in wl["stops"]:
        point("rtept", route, s)
    return ET.tostring(gpx, encoding="utf-8", xml_declaration=True)

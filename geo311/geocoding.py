"""Geocoding on PostGIS from the address points: typed address -> candidates, point -> address.

Forward: the typed address is normalized like the stored ones (address_norm.parse); candidate
streets come from the trigram GiST index on street names (nearest names first) (so typos and missing suffixes or
directionals still find them); on each street the nearest house number on either side is taken;
addresses several buildings share become one candidate at their centroid. Each candidate gets a
score from 0 to 1 (name similarity, directional, suffix, house-number gap) and says how it matched:
- exact: the street and the house number as typed;
- nearest_number: the right street, the nearest number there (number_gap says how far);
- fuzzy: a street that only resembles what was typed, or a directional or suffix that differs.
Nothing further than MAX_GAP house numbers away, or less similar than MIN_SIMILARITY, is offered:
a miss is an empty list, never a guess far away.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311.address_norm import Address, parse
from geo311.errors import InvalidInput, msg

MIN_SIMILARITY = 0.45
MAX_GAP = 400
#: a candidate is used without asking when it scores CLEAR_SCORE and leads the next by CLEAR_MARGIN,
#: or scores at least LONE_SCORE with no other candidate within LONE_MARGIN (a typo, nothing like it)
CLEAR_SCORE, CLEAR_MARGIN = 0.85, 0.08
LONE_SCORE, LONE_MARGIN = 0.7, 0.2


@dataclass
class Candidate:
    lon: float
    lat: float
    address: str  # as the address file wrote it
    street: str  # normalized
    number: int
    score: float
    match: str  # exact | nearest_number | fuzzy
    number_gap: int
    buildings: int
    city: str | None
    postcode: str | None


_FORWARD = text("""
WITH cand AS (
    SELECT * FROM (  -- the nearest names by trigram distance (KNN on the GiST index)
        SELECT s.id, s.predir, s.name, s.suffix, s.postdir, 1 - (s.name <-> :name) AS sim
        FROM address_streets s ORDER BY s.name <-> :name LIMIT 24
    ) k WHERE sim >= :min_sim
),
near AS (
    SELECT c.*, x.number FROM cand c CROSS JOIN LATERAL (
        (SELECT number FROM addresses WHERE street_id = c.id AND number >= :number ORDER BY number LIMIT 1)
        UNION
        (SELECT number FROM addresses WHERE street_id = c.id AND number <= :number ORDER BY number DESC LIMIT 1)
    ) x
)
SELECT n.id, n.predir, n.name, n.suffix, n.postdir, n.sim, n.number, a.number_suffix, count(*) AS buildings,
       min(a.label) AS label, min(a.city) AS city, min(a.postcode) AS postcode,
       ST_X(ST_Centroid(ST_Collect(a.location))) AS lon, ST_Y(ST_Centroid(ST_Collect(a.location))) AS lat
FROM near n JOIN addresses a ON a.street_id = n.id AND a.number = n.number
GROUP BY n.id, n.predir, n.name, n.suffix, n.postdir, n.sim, n.number, a.number_suffix
""")


def _part(typed: str, stored: str) -> float:
    """1 when equal (or nothing was stored to compare), 0.7 when the person left it out, else 0."""
    if typed == stored or (typed and not stored):
        return 1.0
    return 0.7 if not typed else 0.0


def _score(q: Address, row) -> tuple[float, str, int]:
    gap = abs(row.number - q.number)
    number_score = 1.0 if gap == 0 else max(0.0, 1 - gap / MAX_GAP) * 0.85
    if gap == 0 and q.number_suffix and q.number_suffix != row.number_suffix:
        number_score = 0.9
    direction = min(_part(q.predir, row.predir), _part(q.postdir, row.postdir))
    suffix = _part(q.suffix, row.suffix)
    score = 0.55 * row.sim + 0.15 * direction + 0.1 * suffix + 0.2 * number_score
    if row.sim >= 0.999 and direction == 1.0 and suffix == 1.0:
        kind = "exact" if gap == 0 else "nearest_number"
    elif row.sim >= 0.999 and gap > 0 and direction >= 0.7 and suffix >= 0.7:
        kind = "nearest_number"
    else:
        kind = "fuzzy"
    return round(score, 3), kind, gap


def geocode(session: Session, query: str, limit: int = 5) -> dict[str, Any]:
    """Candidates for a typed address, best first."""
    if not query or not query.strip():
        raise InvalidInput(msg("q is empty: type an address such as 1221 SW 4th Ave"), code="bad_query")
    if len(query) > 200:
        raise InvalidInput(msg("q is too long (200 characters at most)"), code="bad_query")
    if not 1 <= limit <= 20:
        raise InvalidInput(msg("limit must be between 1 and 20"), code="bad_limit")
    q = parse(query)
    parsed = {"number": q.number, "number_suffix": q.number_suffix, "street": q.street, "unit": q.unit}
    if q.number is None or not q.name:
        reason = "a house number and a street are needed (e.g. 4129 SE McLoughlin Blvd)"
        return {"query": query, "parsed": parsed, "candidates": [], "message": reason}
    rows = session.execute(_FORWARD, {"name": q.name, "number": q.number, "min_sim": MIN_SIMILARITY}).all()
    found: list[Candidate] = []
    for row in rows:
        if row.sim < MIN_SIMILARITY or abs(row.number - q.number) > MAX_GAP:
            continue
        score, kind, gap = _score(q, row)
        street = " ".join(p for p in (row.predir, row.name, row.suffix, row.postdir) if p)
        found.append(Candidate(round(row.lon, 7), round(row.lat, 7), row.label, street, row.number, score, kind, gap,
                               row.buildings, row.city, row.postcode))
    found.sort(key=lambda c: (-c.score, c.number_gap, c.street))
    best_per_street: dict[str, Candidate] = {}
    for c in found:  # one candidate per street: its best number
        best_per_street.setdefault(c.street, c)
    candidates = list(best_per_street.values())[:limit]
    result: dict[str, Any] = {"query": query, "parsed": parsed, "candidates": [asdict(c) for c in candidates]}
    if not candidates:
        result["message"] = f"no address like {query!r} is known here"
    return result


def clear_best(result: dict[str, Any]) -> dict[str, Any] | None:
    """The candidate to use without asking, when one stands out: good score, well ahead of the next."""
    cands = result["candidates"]
    if not cands:
        return None
    lead = cands[0]["score"] - (cands[1]["score"] if len(cands) > 1 else 0.0)
    if (cands[0]["score"] >= CLEAR_SCORE and lead >= CLEAR_MARGIN) or (cands[0]["score"] >= LONE_SCORE and lead >= LONE_MARGIN):
        return cands[0]
    return None


def reverse(session: Session, lon: float, lat: float) -> dict[str, Any] | None:
    """The nearest address point (KNN on the GiST index) and its distance in metres."""
    row = session.execute(text(
        "SELECT a.label, a.number, a.city, a.postcode, ST_X(a.location) AS lon, ST_Y(a.location) AS lat, "
        "  ST_Distance(a.location::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography) AS distance_m "
        "FROM addresses a ORDER BY a.location <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) LIMIT 1"),
        {"lon": lon, "lat": lat}).first()
    if row is None:
        return None
    return {"address": row.label, "lon": round(row.lon, 7), "lat": round(row.lat, 7),
            "distance_m": round(row.distance_m, 1), "city": row.city, "postcode": row.postcode}

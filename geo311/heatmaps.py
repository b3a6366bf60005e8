"""Heatmaps from the rollups (see rollup_models.py), and the rollups' own check and rebuild.

A heatmap is a FeatureCollection of square Web Mercator cells with the counts of reports and of
submissions in each, read from heat_cells (or heat_cells_daily when a date range is given) at the
resolution that fits the zoom:
    zoom >= 15: level 3 (64 units, ~45 m in Portland); 13-14: level 2 (256, ~180 m);
    <= 12: level 1 (1024, ~720 m), merged 2x2 per zoom level below 10.
With a date range, the finest level is 2, and the cells are read from the daily rollups, which
exist at level 2 only: a level 1 cell is the sum of the 4x4 level 2 cells in it (cells nest
exactly), merged like level 2's by a larger shift. With a district, a cell counts when its centre
lies in the district.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311.errors import InvalidInput
from geo311.models import STATUSES
from geo311.rollup_models import DAILY_LEVELS, LEVELS

MERC_R = 6378137.0
MAX_CELLS = 40_000


def merc(lon: float, lat: float) -> tuple[float, float]:
    lat = max(min(lat, 85.05), -85.05)
    return MERC_R * math.radians(lon), MERC_R * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def level_for(zoom: int, dated: bool) -> tuple[int, int]:
    """(rollup level, merge shift) for a zoom: cells of about 13-27 screen pixels, which the heat
    layer's blur turns into a smooth surface."""
    if not 0 <= zoom <= 22:
        raise InvalidInput("zoom must be between 0 and 22", code="bad_zoom")
    level = 3 if zoom >= 15 else 2 if zoom >= 13 else 1
    if dated and level > max(DAILY_LEVELS):
        level = max(DAILY_LEVELS)
    shift = max(0, 10 - zoom) if level == 1 else 0
    return level, shift


def read_level(level: int, shift: int, dated: bool) -> tuple[int, int]:
    """(rollup level, merge shift) the cells of `level` merged by `shift` are read from: the same,
    except with a date range at a level the daily rollups lack, read from the next finer daily
    level, each of whose cells lies in one of `level`'s (sizes are powers of 2 apart)."""
    if not dated or level in DAILY_LEVELS:
        return level, shift
    finer = min(lv for lv in DAILY_LEVELS if lv > level)
    return finer, shift + int(math.log2(LEVELS[level] / LEVELS[finer]))


def status_sum(prefix: str, statuses: list[str] | None) -> str:
    """SQL summing the per-status count columns (r_ for reports, s_ for submissions)."""
    chosen = statuses or list(STATUSES)
    for st in chosen:
        if st not in STATUSES:
            raise InvalidInput(f"unknown status {st}", code="bad_status")
    return " + ".join(f"{prefix}_{st}" for st in chosen)


@dataclass
class HeatQuery:
    bbox: tuple[float, float, float, float]
    zoom: int = 12
    category_ids: list[int] | None = None
    statuses: list[str] | None = None
    since: date | None = None
    until: date | None = None
    district_ids: list[int] | None = None


def heatmap(session: Session, q: HeatQuery) -> str:
    """The heatmap FeatureCollection as JSON text."""
    dated = q.since is not None or q.until is not None
    shown, shown_shift = level_for(q.zoom, dated)
    level, shift = read_level(shown, shown_shift, dated)
    size = LEVELS[level]
    x0, y0 = merc(q.bbox[0], q.bbox[1])
    x1, y1 = merc(q.bbox[2], q.bbox[3])
    # the cells shown that the box touches, whole: a merged cell at its edge counts all of its reports
    cell = size * (1 << shift)
    gx0, gx1, gy0, gy1 = (math.floor(x0 / cell), math.floor(x1 / cell), math.floor(y0 / cell), math.floor(y1 / cell))
    cx0, cx1, cy0, cy1 = gx0 << shift, ((gx1 + 1) << shift) - 1, gy0 << shift, ((gy1 + 1) << shift) - 1
    if (gx1 - gx0 + 1) * (gy1 - gy0 + 1) > MAX_CELLS * 16:
        raise InvalidInput("that box is too big for this zoom; zoom out or send a smaller bbox", code="bad_bbox")
    clauses = ["level = :level", "cx BETWEEN :cx0 AND :cx1", "cy BETWEEN :cy0 AND :cy1"]
    params: dict[str, Any] = {"level": level, "shown": shown, "cx0": cx0, "cx1": cx1, "cy0": cy0, "cy1": cy1,
                              "shift": shift, "cell": cell, "limit": MAX_CELLS}
    if q.category_ids:
        clauses.append("category_id = ANY(:cats)")
        params["cats"] = q.category_ids
    if dated:
        clauses.append("day >= :since AND day < :until")
        params.update(since=q.since or date(1970, 1, 1), until=q.until or date(9999, 1, 1))
    district_filter = ""
    if q.district_ids:
        district_filter = (
            "AND EXISTS (SELECT 1 FROM area WHERE ST_Covers(area.g, ST_SetSRID(ST_MakePoint("
            "(c.gx + 0.5) * :cell, (c.gy + 0.5) * :cell), 3857)))")
        params["districts"] = q.district_ids
    table = "heat_cells_daily" if dated else "heat_cells"
    reports, submissions = status_sum("r", q.statuses), status_sum("s", q.statuses)
    return session.execute(text(f"""
        WITH area AS (SELECT ST_Transform(boundary, 3857) AS g FROM districts WHERE id = ANY(:districts)),
        c AS (
            SELECT cx >> :shift AS gx, cy >> :shift AS gy, sum({reports})::int AS reports,
                   sum({submissions})::int AS submissions
            FROM {table} WHERE {' AND '.join(clauses)}
            GROUP BY 1, 2 HAVING sum({reports}) > 0
        ),
        kept AS (SELECT * FROM c WHERE true {district_filter} ORDER BY reports DESC LIMIT :limit),
        -- the cell's edges in degrees by the inverse Web Mercator formula (cheaper than ST_Transform)
        edges AS (
            SELECT reports, submissions,
                   round(degrees(gx * :cell / 6378137.0)::numeric, 6) AS w,
                   round(degrees((gx + 1) * :cell / 6378137.0)::numeric, 6) AS e,
                   round(degrees(2 * atan(exp(gy * :cell / 6378137.0)) - pi() / 2)::numeric, 6) AS s,
                   round(degrees(2 * atan(exp((gy + 1) * :cell / 6378137.0)) - pi() / 2)::numeric, 6) AS n
            FROM kept
        )
        SELECT json_build_object(
            'type', 'FeatureCollection', 'level', CAST(:shown AS int), 'cell_size_m', :cell, 'zoom', CAST(:zoom AS int),
            'max_reports', coalesce(max(reports), 0), 'total_reports', coalesce(sum(reports), 0),
            'features', coalesce(json_agg(json_build_object(
                'type', 'Feature',
                'geometry', json_build_object('type', 'Polygon', 'coordinates', json_build_array(json_build_array(
                    json_build_array(w, s), json_build_array(e, s), json_build_array(e, n), json_build_array(w, n),
                    json_build_array(w, s)))),
                'properties', json_build_object('reports', reports, 'submissions', submissions,
                    'center', json_build_array(round((w + e) / 2, 6), round((s + n) / 2, 6)))
            )), '[]'::json))::text
        FROM edges"""), {**params, "zoom": q.zoom, "districts": q.district_ids or []}).scalar_one()


# ----- the rollups' own upkeep ---------------------------------------------------------------
# Each rollup as a fresh aggregation of `{reports}` (the reports, or a subset of them, as `r`) and,
# for the district days, of `{districts}` (their districts).
def _fresh_heat_sql(daily: bool) -> str:
    sums = ", ".join([f"count(*) FILTER (WHERE status = '{st}')::int AS r_{st}" for st in STATUSES]
                     + [f"coalesce(sum(submission_count) FILTER (WHERE status = '{st}'), 0)::int AS s_{st}"
                        for st in STATUSES])
    levels = ", ".join(f"({lv}, {sz})" for lv, sz in LEVELS.items() if not daily or lv in DAILY_LEVELS)
    day = "{cday} AS day, " if daily else ""
    return f"""
        SELECT l.level, {day}floor({{mx}} / l.size)::int AS cx, floor({{my}} / l.size)::int AS cy,
               category_id, {sums}
        FROM {{reports}} r CROSS JOIN (VALUES {levels}) AS l(level, size)
        GROUP BY 1, 2, 3, 4{', 5' if daily else ''}"""


_TEMPLATES = {
    "heat_cells": _fresh_heat_sql(daily=False),
    "heat_cells_daily": _fresh_heat_sql(daily=True),
    "stats_daily": """
        SELECT category_id, day, sum(created)::int AS created, sum(resolved)::int AS resolved FROM (
            SELECT category_id, {cday} AS day, 1 AS created, 0 AS resolved FROM {reports} r
            UNION ALL
            SELECT category_id, {rday}, 0, 1 FROM {reports} r WHERE status = 'resolved'
        ) x GROUP BY 1, 2""",
    # each report's districts joined once: its day of creation, and of resolution if resolved
    "district_stats_daily": """
        SELECT rd.district_id, r.category_id, v.day, sum(v.created)::int AS created,
               sum(v.open_now)::int AS open_now, sum(v.resolved)::int AS resolved
        FROM {reports} r JOIN {districts} rd ON rd.jurisdiction_id = r.jurisdiction_id AND rd.report_id = r.id
        CROSS JOIN LATERAL (VALUES
            ({cday}, 1, (r.status IN ('open', 'assigned', 'in_progress'))::int, 0),
            ({rday}, 0, 0, 1)) AS v(day, created, open_now, resolved)
        WHERE v.resolved = 0 OR r.status = 'resolved'
        GROUP BY 1, 2, 3""",
}
#: each rollup's key columns (the rest are counts that add up)
ROLLUP_KEYS = {
    "heat_cells": ("level", "cx", "cy", "category_id"),
    "heat_cells_daily": ("level", "day", "cx", "cy", "category_id"),
    "stats_daily": ("category_id", "day"),
    "district_stats_daily": ("district_id", "category_id", "day"),
}
# reports that an import holds out of the rollups until it finishes (migration 0014)
_NOT_HELD = "(SELECT * FROM reports WHERE NOT geo311_rollups_held(source, id))"


def rollup_measures(session: Session, table: str) -> list[str]:
    """A rollup's count columns (all but its keys), as the table has them."""
    return [c for c in session.execute(text(f"SELECT * FROM {table} LIMIT 0")).keys() if c not in ROLLUP_KEYS[table]]


#: what the aggregations compute from a report: its Web Mercator coordinates (EPSG:3857), which
#: the heat cells divide, and its days (UTC) of creation and of closing
DERIVED = {
    "mx": "6378137.0 * radians(ST_X(location))",
    "my": "6378137.0 * ln(tan(pi() / 4 + radians(ST_Y(location)) / 2))",
    "cday": "(created_at AT TIME ZONE 'UTC')::date",
    "rday": "(closed_at AT TIME ZONE 'UTC')::date",
}


def fresh_sql(table: str, reports: str = "reports", districts: str = "report_districts",
              derived: dict[str, str] | None = None) -> str:
    """The fresh aggregation of one rollup over `reports` (a table or a parenthesized query);
    `derived` names the columns of `reports` that hold DERIVED's values where it has them
    computed already (each is then computed once per report, not once per level or district)."""
    sql = _TEMPLATES[table].replace("{reports}", reports).replace("{districts}", districts)
    for name, expression in {**DERIVED, **(derived or {})}.items():
        sql = sql.replace("{" + name + "}", expression)
    return sql


# every report (migration 0003 fills the rollups of an existing database with these)
_FRESH = {table: fresh_sql(table) for table in _TEMPLATES}


def _counted(session: Session) -> dict[str, str]:
    """The aggregations the rollups must equal: of every report no running import holds."""
    held = session.execute(text("SELECT EXISTS (SELECT 1 FROM import_holds)")).scalar()
    return {table: fresh_sql(table, _NOT_HELD) for table in _TEMPLATES} if held else _FRESH


def rollup_drift(session: Session) -> dict[str, int]:
    """Rows where a rollup differs from a fresh aggregation of the raw reports (0 everywhere when
    the triggers did their job), leaving out the reports an unfinished import holds. Zero rows in a
    rollup count as absent."""
    out = {}
    for table, fresh in _counted(session).items():
        measures = rollup_measures(session, table)
        nonzero = " OR ".join(f"{m} <> 0" for m in measures)
        out[table] = session.execute(text(f"""
            SELECT count(*) FROM (
                (SELECT * FROM {table} WHERE {nonzero} EXCEPT SELECT * FROM ({fresh}) f WHERE {nonzero})
                UNION ALL
                (SELECT * FROM ({fresh}) f WHERE {nonzero} EXCEPT SELECT * FROM {table} WHERE {nonzero})
            ) diff""")).scalar_one()
    return out


def rebuild_rollups(session: Session) -> dict[str, int]:
    """Recompute every rollup from the raw reports (after restoring a backup, say), leaving out the
    reports an unfinished import holds (it adds them when it finishes). One transaction."""
    counts = {}
    try:
        # an import applying its held reports now would add them twice: wait for it, or make it wait
        session.execute(text("SELECT run_id FROM import_holds ORDER BY run_id FOR UPDATE"))
        for table, fresh in _counted(session).items():
            session.execute(text(f"DELETE FROM {table}"))
            counts[table] = session.execute(text(f"INSERT INTO {table} {fresh}")).rowcount
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return counts

"""District dashboards and trends for managers, from the daily rollups (see rollup_models.py).

Days are UTC days. "new" counts reports created in the period; "resolved" counts reports whose
status is resolved and whose closing date falls in the period; "open" and "overdue" are as of now
(overdue: open longer than the category's target days); the median age is that of the open
reports, to the day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311.errors import InvalidInput

INTERVALS = {"day": "1 day", "week": "1 week", "month": "1 month"}
DEFAULT_SPAN = {"day": 90, "week": 365, "month": 730}


def today() -> date:
    return datetime.now(UTC).date()


#: dates outside these years are typing mistakes, not 311 history (and would overflow date arithmetic)
EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)


def period(since: date | None, until: date | None, default_days: int = 30) -> tuple[date, date]:
    for name, value in (("since", since), ("until", until)):
        if value is not None and not EARLIEST <= value <= LATEST:
            raise InvalidInput(f"{name} must be a date between {EARLIEST} and {LATEST}", code="bad_period")
    until = until or today() + timedelta(days=1)
    since = since or until - timedelta(days=default_days)
    if since >= until:
        raise InvalidInput("since must be before until", code="bad_period")
    return since, until


def district_dashboard(session: Session, layer: str, *, category_ids: list[int] | None = None,
                       since: date | None = None, until: date | None = None) -> str:
    """Per district of `layer`: open, new and resolved in the period, median age of open reports,
    overdue; with the district polygons (simplified) for a choropleth. A FeatureCollection as JSON
    text, most overdue first."""
    since, until = period(since, until)
    exists = session.execute(text("SELECT id FROM district_layers WHERE key = :k"), {"k": layer}).scalar()
    if exists is None:
        keys = session.execute(text("SELECT key FROM district_layers ORDER BY key")).scalars().all()
        raise InvalidInput(f"no district layer {layer!r}; layers: {', '.join(keys)}", code="bad_layer")
    cat = "AND s.category_id = ANY(:cats)" if category_ids else ""
    return session.execute(text(f"""
        WITH d AS (SELECT id, name, code, boundary FROM districts WHERE layer_id = :layer_id),
        opened AS (
            SELECT s.district_id, s.day, sum(s.open_now) AS n,
                   sum(s.open_now) FILTER (WHERE s.day < CAST(:today AS date) - c.target_days) AS overdue
            FROM district_stats_daily s JOIN d ON d.id = s.district_id JOIN categories c ON c.id = s.category_id
            WHERE s.open_now > 0 {cat} GROUP BY 1, 2
        ),
        ranked AS (
            SELECT district_id, day, n, overdue,
                   sum(n) OVER (PARTITION BY district_id ORDER BY day) AS running,
                   sum(n) OVER (PARTITION BY district_id) AS total
            FROM opened
        ),
        open_stats AS (
            SELECT district_id, max(total)::int AS open, coalesce(sum(overdue), 0)::int AS overdue,
                   CAST(:today AS date) - min(day) FILTER (WHERE running * 2 >= total) AS median_age_days
            FROM ranked GROUP BY 1
        ),
        flow AS (
            SELECT s.district_id, sum(s.created)::int AS new, sum(s.resolved)::int AS resolved
            FROM district_stats_daily s JOIN d ON d.id = s.district_id
            WHERE s.day >= :since AND s.day < :until {cat} GROUP BY 1
        ),
        rows AS (
            SELECT d.id, d.name, d.code, d.boundary, coalesce(o.open, 0) AS open, coalesce(f.new, 0) AS new,
                   coalesce(f.resolved, 0) AS resolved, o.median_age_days, coalesce(o.overdue, 0) AS overdue
            FROM d LEFT JOIN open_stats o ON o.district_id = d.id LEFT JOIN flow f ON f.district_id = d.id
        )
        SELECT json_build_object('type', 'FeatureCollection', 'layer', CAST(:layer AS text),
            'since', CAST(:since AS date), 'until', CAST(:until AS date), 'features', coalesce(json_agg(
            json_build_object('type', 'Feature', 'id', id,
                'geometry', ST_AsGeoJSON(ST_SimplifyPreserveTopology(boundary, 0.0002), 5)::json,
                'properties', json_build_object('name', name, 'code', code, 'open', open, 'new', new,
                    'resolved', resolved, 'median_age_days', median_age_days, 'overdue', overdue))
            ORDER BY overdue DESC, open DESC, name), '[]'::json))::text
        FROM rows"""), {"layer_id": exists, "layer": layer, "cats": category_ids or [], "since": since,
                        "until": until, "today": today()}).scalar_one()


DASHBOARD_COLUMNS = ("name", "code", "open", "new", "resolved", "median_age_days", "overdue")


def timeseries(session: Session, interval: str, *, category_ids: list[int] | None = None,
               district_ids: list[int] | None = None, since: date | None = None,
               until: date | None = None) -> dict[str, Any]:
    """New and resolved reports per day, week (Monday) or month, gaps filled with zeros."""
    if interval not in INTERVALS:
        raise InvalidInput(f"interval must be one of {', '.join(INTERVALS)}", code="bad_interval")
    since, until = period(since, until, DEFAULT_SPAN[interval])
    if district_ids:
        source = ("SELECT day, created, resolved FROM district_stats_daily "
                  "WHERE district_id = ANY(:districts) AND day >= :since AND day < :until")
    else:
        source = "SELECT day, created, resolved FROM stats_daily WHERE day >= :since AND day < :until"
    if category_ids:
        source += " AND category_id = ANY(:cats)"
    rows = session.execute(text(f"""
        WITH s AS ({source}),
        buckets AS (
            SELECT generate_series(date_trunc(:unit, CAST(:since AS date)), CAST(:until AS date) - 1,
                                   CAST(:step AS interval))::date AS period
        )
        SELECT b.period, coalesce(sum(s.created), 0)::int AS new, coalesce(sum(s.resolved), 0)::int AS resolved
        FROM buckets b LEFT JOIN s ON date_trunc(:unit, s.day)::date = b.period
        GROUP BY b.period ORDER BY b.period"""),
        {"since": since, "until": until, "unit": interval, "step": INTERVALS[interval],
         "cats": category_ids or [], "districts": district_ids or []}).mappings().all()
    return {"interval": interval, "since": since, "until": until,
            "series": [{"period": r["period"].isoformat(), "new": r["new"], "resolved": r["resolved"]} for r in rows]}

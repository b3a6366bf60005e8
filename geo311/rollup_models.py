"""Rollup tables that PostgreSQL triggers keep current in the same transaction as every change to
reports and their districts (migration 0003 holds the trigger functions). Managers' heatmaps,
dashboards and trends read these, never the raw reports.

- heat_cells: report and submission counts per grid cell and category, by current status
  (columns r_<status>, s_<status>: a status change moves counts within a row), at three
  resolutions: Web Mercator cells of 1024, 256 and 64 units (about 720, 180 and 45 m in Portland);
- heat_cells_daily: the same per creation day (UTC), at 256 units only (heatmaps sum its cells
  into the 1024 ones, which hold 4x4 of them exactly; migration 0015);
- stats_daily: per category and day (UTC): reports created, reports resolved that day;
- district_stats_daily: per district, category and day: created that day, of those still open,
  and resolved that day (by closing date);
- contacts_daily: submissions per channel and day (a trigger on submissions, migration 0005a).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    text,
)

from geo311.db import Base
from geo311.models import STATUSES

#: level -> cell size in EPSG:3857 units; daily rollups exist for the levels in DAILY_LEVELS
LEVELS = {1: 1024.0, 2: 256.0, 3: 64.0}
DAILY_LEVELS = (2,)


def _counts() -> list[Column]:
    return [Column(f"{prefix}_{status}", Integer, nullable=False, server_default="0")
            for prefix in ("r", "s") for status in STATUSES]


heat_cells = Table(
    "heat_cells", Base.metadata,
    Column("level", SmallInteger, primary_key=True), Column("cx", Integer, primary_key=True),
    Column("cy", Integer, primary_key=True), Column("category_id", Integer, primary_key=True),
    *_counts(),
)

heat_cells_daily = Table(
    "heat_cells_daily", Base.metadata,
    Column("level", SmallInteger, primary_key=True), Column("day", Date, primary_key=True),
    Column("cx", Integer, primary_key=True), Column("cy", Integer, primary_key=True),
    Column("category_id", Integer, primary_key=True),
    *_counts(),
)

stats_daily = Table(
    "stats_daily", Base.metadata,
    Column("category_id", Integer, primary_key=True), Column("day", Date, primary_key=True),
    Column("created", Integer, nullable=False), Column("resolved", Integer, nullable=False),
)

district_stats_daily = Table(
    "district_stats_daily", Base.metadata,
    Column("district_id", Integer, nullable=False), Column("category_id", Integer, nullable=False),
    Column("day", Date, nullable=False), Column("created", Integer, nullable=False),
    Column("open_now", Integer, nullable=False), Column("resolved", Integer, nullable=False),
    # (district, day) first: the upserts' arbiter and the dashboard's date ranges (migration 0012)
    PrimaryKeyConstraint("district_id", "day", "category_id"),
    # carries what the dashboard sums of open reports: its biggest scan is index-only (migration 0008)
    Index("ix_district_stats_daily_open", "district_id", "day", postgresql_include=["category_id", "open_now"],
          postgresql_where=text("open_now > 0")),
)

#: submissions per channel and day (UTC): the contact volume of the 311 program
contacts_daily = Table(
    "contacts_daily", Base.metadata,
    Column("day", Date, primary_key=True), Column("channel", String(20), primary_key=True),
    Column("submissions", Integer, nullable=False),
)

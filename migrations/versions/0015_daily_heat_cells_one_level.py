"""The daily heat cells are kept at 256 units only; the 1024-unit ones are summed from them.

heat_cells_daily held every report at two levels, 1024 and 256 units (about 720 and 180 m in
Portland). A 1024-unit cell is exactly the 4x4 cells of 256 units in it (the grids nest: the
same floor of the same Web Mercator coordinate, divided by a power of 2 more), so a date-range
heatmap at zoom 12 or less now reads the 256-unit cells and merges them, as it already merged
1024-unit cells 2x2 per zoom level below 10 (geo311/heatmaps.py, read_level). It shows the same
cells with the same counts.

Why: daily cells hardly coalesce (a place, a category and a day: about one report each), so the
two levels were 1.85 rollup rows per report, written by every submission's trigger and by every
import (1.82 of the 3.1 million rollup rows the 1,000,000-row bench import upserted; the 1024-unit
level alone, 0.85 million). A date-range heatmap reads more rows at zoom 12 or less, at most the
number of reports in its range, as at zoom 13-14.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the heat triggers' levels (migration 0003): (level, cell size, whether kept per day)
BEFORE = "(VALUES (1, 1024.0, true), (2, 256.0, true), (3, 64.0, false))"
AFTER = "(VALUES (1, 1024.0, false), (2, 256.0, true), (3, 64.0, false))"
FUNCTIONS = ("geo311_reports_insert", "geo311_reports_update", "geo311_reports_delete")
COUNTS = [f"{p}_{st}" for p in ("r", "s")
          for st in ("open", "assigned", "in_progress", "resolved", "duplicate", "not_actionable")]


def _swap(old: str, new: str) -> None:
    for name in FUNCTIONS:
        body = op.get_bind().execute(sa.text("SELECT prosrc FROM pg_proc WHERE proname = :n"), {"n": name}).scalar_one()
        if old not in body:
            raise RuntimeError(f"{name} does not list its heat cell levels the way revision 0015 expects")
        op.execute(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$fn${body.replace(old, new)}$fn$")


def upgrade() -> None:
    # the triggers first: changes made after this commits add no level 1 rows (one still running
    # with the old body could; heatmaps no longer read them, and `geo311 rollups check` counts them)
    _swap(BEFORE, AFTER)
    op.execute("DELETE FROM heat_cells_daily WHERE level = 1")


def downgrade() -> None:
    _swap(AFTER, BEFORE)
    sums = ", ".join(f"sum({c})" for c in COUNTS)
    op.execute(f"""
        INSERT INTO heat_cells_daily (level, day, cx, cy, category_id, {', '.join(COUNTS)})
        SELECT 1, day, cx >> 2, cy >> 2, category_id, {sums} FROM heat_cells_daily WHERE level = 2
        GROUP BY day, cx >> 2, cy >> 2, category_id""")

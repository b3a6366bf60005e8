"""Rollups for managers: heat cells (total and daily), daily stats, district daily stats, and the
triggers that keep them current in the same transaction as every change.

Statement-level triggers with transition tables: one set-based upsert per rollup per statement,
whether the statement touched one report (intake) or a million (imports). Upserts go in key order
so concurrent transactions lock rollup rows in the same order and cannot deadlock.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "('open', 'assigned', 'in_progress')"

# the changed reports as signed rows `d`: +1 for new images, -1 for old ones
SIGNED = {
    "INSERT": "SELECT *, 1 AS sign FROM new_rows",
    "DELETE": "SELECT *, -1 AS sign FROM old_rows",
    "UPDATE": "SELECT *, 1 AS sign FROM new_rows UNION ALL SELECT *, -1 FROM old_rows",
}

STATUSES = ("open", "assigned", "in_progress", "resolved", "duplicate", "not_actionable")
COUNTS = [f"r_{st}" for st in STATUSES] + [f"s_{st}" for st in STATUSES]  # reports / submissions by status
SUMS = ", ".join([f"sum(m.sign) FILTER (WHERE m.status = '{st}')::int AS r_{st}" for st in STATUSES]
                 + [f"sum(m.subs) FILTER (WHERE m.status = '{st}')::int AS s_{st}" for st in STATUSES])
ANY_CHANGE = " OR ".join(f"coalesce({c}, 0) <> 0" for c in COUNTS)
ADD = ", ".join(f"{c} = h.{c} + excluded.{c}" for c in COUNTS)
COLS = ", ".join(COUNTS)
VALUES = ", ".join(f"coalesce({c}, 0)" for c in COUNTS)
TOTAL_SUMS = ", ".join(f"coalesce(sum({c}), 0)" for c in COUNTS)

HEAT = f"""
    WITH d AS ({{signed}}),
    m AS (
        SELECT 6378137.0 * radians(ST_X(location)) AS x,
               6378137.0 * ln(tan(pi() / 4 + radians(ST_Y(location)) / 2)) AS y,
               category_id, status, (created_at AT TIME ZONE 'UTC')::date AS day,
               sign, sign * submission_count AS subs
        FROM d
    ),
    cells AS (
        SELECT l.level, floor(m.x / l.size)::int AS cx, floor(m.y / l.size)::int AS cy, m.category_id,
               m.day, l.daily, {SUMS}
        FROM m CROSS JOIN (VALUES (1, 1024.0, true), (2, 256.0, true), (3, 64.0, false)) AS l(level, size, daily)
        GROUP BY 1, 2, 3, 4, 5, 6
    ),
    total AS (
        INSERT INTO heat_cells AS h (level, cx, cy, category_id, {COLS})
        SELECT level, cx, cy, category_id, {TOTAL_SUMS} FROM cells
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
        ON CONFLICT (level, cx, cy, category_id) DO UPDATE SET {ADD}
    ),
    daily AS (
        INSERT INTO heat_cells_daily AS h (level, day, cx, cy, category_id, {COLS})
        SELECT level, day, cx, cy, category_id, {VALUES} FROM cells
        WHERE daily AND ({ANY_CHANGE}) ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (level, day, cx, cy, category_id) DO UPDATE SET {ADD}
    )
    INSERT INTO stats_daily AS s (category_id, day, created, resolved)
    SELECT category_id, day, sum(created), sum(resolved) FROM (
        SELECT category_id, (created_at AT TIME ZONE 'UTC')::date AS day, sign AS created, 0 AS resolved FROM d
        UNION ALL
        SELECT category_id, (closed_at AT TIME ZONE 'UTC')::date, 0, sign FROM d WHERE status = 'resolved'
    ) x GROUP BY 1, 2 HAVING sum(created) <> 0 OR sum(resolved) <> 0 ORDER BY 1, 2
    ON CONFLICT (category_id, day) DO UPDATE
    SET created = s.created + excluded.created, resolved = s.resolved + excluded.resolved;
"""

# district contributions of signed report rows `d` joined to their districts `rd`
DISTRICTS = """
    WITH d AS ({signed}),
    c AS (
        SELECT rd.district_id, d.category_id, (d.created_at AT TIME ZONE 'UTC')::date AS day,
               d.sign AS created, CASE WHEN d.status IN {open} THEN d.sign ELSE 0 END AS open_now, 0 AS resolved
        FROM {join}
        UNION ALL
        SELECT rd.district_id, d.category_id, (d.closed_at AT TIME ZONE 'UTC')::date, 0, 0, d.sign
        FROM {join} WHERE d.status = 'resolved'
    )
    INSERT INTO district_stats_daily AS s (district_id, category_id, day, created, open_now, resolved)
    SELECT district_id, category_id, day, sum(created), sum(open_now), sum(resolved) FROM c
    GROUP BY 1, 2, 3 HAVING sum(created) <> 0 OR sum(open_now) <> 0 OR sum(resolved) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (district_id, category_id, day) DO UPDATE
    SET created = s.created + excluded.created, open_now = s.open_now + excluded.open_now,
        resolved = s.resolved + excluded.resolved;
"""

def _function(name: str, body: str) -> str:
    return f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$\nBEGIN\n{body}\n    RETURN NULL;\nEND\n$fn$;"


def upgrade() -> None:
    counts = [sa.Column(c, sa.Integer(), server_default="0", nullable=False) for c in COUNTS]
    op.create_table(
        "heat_cells",
        sa.Column("level", sa.SmallInteger(), nullable=False), sa.Column("cx", sa.Integer(), nullable=False),
        sa.Column("cy", sa.Integer(), nullable=False), sa.Column("category_id", sa.Integer(), nullable=False),
        *counts, sa.PrimaryKeyConstraint("level", "cx", "cy", "category_id", name=op.f("pk_heat_cells")),
    )
    op.create_table(
        "heat_cells_daily",
        sa.Column("level", sa.SmallInteger(), nullable=False), sa.Column("day", sa.Date(), nullable=False),
        sa.Column("cx", sa.Integer(), nullable=False), sa.Column("cy", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False), *[sa.Column(c, sa.Integer(), server_default="0", nullable=False) for c in COUNTS],
        sa.PrimaryKeyConstraint("level", "day", "cx", "cy", "category_id", name=op.f("pk_heat_cells_daily")),
    )
    op.create_table(
        "stats_daily",
        sa.Column("category_id", sa.Integer(), nullable=False), sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False), sa.Column("resolved", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("category_id", "day", name=op.f("pk_stats_daily")),
    )
    op.create_table(
        "district_stats_daily",
        sa.Column("district_id", sa.Integer(), nullable=False), sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False), sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("open_now", sa.Integer(), nullable=False), sa.Column("resolved", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("district_id", "category_id", "day", name=op.f("pk_district_stats_daily")),
    )
    op.create_index("ix_district_stats_daily_district_id_day", "district_stats_daily", ["district_id", "day"])
    op.create_index("ix_district_stats_daily_open", "district_stats_daily", ["district_id", "day"],
                    postgresql_where=sa.text("open_now > 0"))
    for verb, signed in SIGNED.items():
        body = HEAT.format(signed=signed)
        if verb == "UPDATE":
            body += DISTRICTS.format(signed=signed, open=OPEN, join="d JOIN report_districts rd ON rd.report_id = d.id")
        op.execute(_function(f"geo311_reports_{verb.lower()}", body))
    for verb in ("INSERT", "DELETE"):
        rows = "new_rows" if verb == "INSERT" else "old_rows"
        sign = 1 if verb == "INSERT" else -1
        signed = f"SELECT r.*, {sign} AS sign FROM reports r WHERE r.id IN (SELECT report_id FROM {rows})"
        join = f"d JOIN {rows} rd ON rd.report_id = d.id"
        op.execute(_function(f"geo311_report_districts_{verb.lower()}",
                             DISTRICTS.format(signed=signed, open=OPEN, join=join)))
    op.execute("""
        CREATE TRIGGER geo311_rollup_ins AFTER INSERT ON reports REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION geo311_reports_insert();
        CREATE TRIGGER geo311_rollup_upd AFTER UPDATE ON reports
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION geo311_reports_update();
        CREATE TRIGGER geo311_rollup_del AFTER DELETE ON reports REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION geo311_reports_delete();
        CREATE TRIGGER geo311_rollup_ins AFTER INSERT ON report_districts REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION geo311_report_districts_insert();
        CREATE TRIGGER geo311_rollup_del AFTER DELETE ON report_districts REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION geo311_report_districts_delete();

        -- a report about to be deleted first drops its districts, while the report still exists,
        -- so the district rollups can subtract what it contributed
        CREATE FUNCTION geo311_reports_predelete() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            DELETE FROM report_districts WHERE report_id = OLD.id;
            RETURN OLD;
        END $fn$;
        CREATE TRIGGER geo311_rollup_predel BEFORE DELETE ON reports
            FOR EACH ROW EXECUTE FUNCTION geo311_reports_predelete();

        CREATE FUNCTION geo311_reports_truncate() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            TRUNCATE heat_cells, heat_cells_daily, stats_daily, district_stats_daily;
            RETURN NULL;
        END $fn$;
        CREATE TRIGGER geo311_rollup_trunc AFTER TRUNCATE ON reports
            FOR EACH STATEMENT EXECUTE FUNCTION geo311_reports_truncate();
    """)
    # reports that exist before this revision get their rollups now (the same aggregation the
    # drift check compares against)
    from geo311.heatmaps import _FRESH

    bind = op.get_bind()
    if not bind.execute(sa.text("SELECT EXISTS (SELECT 1 FROM reports)")).scalar():
        return
    # today's aggregation, written for today's schema: report_districts gets jurisdiction_id in 0007c
    for table, fresh in _FRESH.items():
        op.execute(f"INSERT INTO {table} {fresh.replace('rd.jurisdiction_id = r.jurisdiction_id AND ', '')}")


def downgrade() -> None:
    op.execute("""
        DROP TRIGGER geo311_rollup_trunc ON reports;
        DROP TRIGGER geo311_rollup_predel ON reports;
        DROP TRIGGER geo311_rollup_ins ON reports;
        DROP TRIGGER geo311_rollup_upd ON reports;
        DROP TRIGGER geo311_rollup_del ON reports;
        DROP TRIGGER geo311_rollup_ins ON report_districts;
        DROP TRIGGER geo311_rollup_del ON report_districts;
        DROP FUNCTION geo311_reports_truncate(), geo311_reports_predelete(), geo311_reports_insert(),
            geo311_reports_update(), geo311_reports_delete(), geo311_report_districts_insert(),
            geo311_report_districts_delete();
    """)
    for table in ("district_stats_daily", "stats_daily", "heat_cells_daily", "heat_cells"):
        op.drop_table(table)

"""Fewer index entries per report: indexes on columns that are mostly NULL leave the NULLs out, and
district_stats_daily's primary key takes the order of its second index, which goes.

Per imported report, about five and a half B-tree entries were for nothing:
- submissions' idempotency key, normalized phone and normalized email are NULL for every imported
  row and for most submissions from the map; lookups compare them with `=`, which a partial index
  `WHERE ... IS NOT NULL` serves (a NULL never matches, and never conflicts with another NULL);
- reports.crew_id is NULL until a crew takes the report;
- district_stats_daily had its primary key (district_id, category_id, day) and an index
  (district_id, day) for the dashboard's date ranges; a primary key (district_id, day, category_id)
  serves both, as the upserts' arbiter and for those ranges.
Measured with pg_waldump over a 200,000-row import (docs/import-export.md): 25.4 B-tree entries per
imported report instead of 30.9.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTIAL = [  # (index, table, column)
    ("ix_submissions_reporter_phone_norm", "submissions", "reporter_phone_norm"),
    ("ix_submissions_reporter_email_norm", "submissions", "reporter_email_norm"),
    ("ix_reports_crew_id", "reports", "crew_id"),
]


def upgrade() -> None:
    for name, table, column in PARTIAL:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [column], postgresql_where=sa.text(f"{column} IS NOT NULL"))
    op.drop_constraint("uq_submissions_idempotency_key", "submissions", type_="unique")
    op.create_index("uq_submissions_idempotency_key", "submissions", ["idempotency_key"], unique=True,
                    postgresql_where=sa.text("idempotency_key IS NOT NULL"))
    op.drop_constraint("pk_district_stats_daily", "district_stats_daily", type_="primary")
    op.create_primary_key("pk_district_stats_daily", "district_stats_daily", ["district_id", "day", "category_id"])
    op.drop_index("ix_district_stats_daily_district_id_day", table_name="district_stats_daily")


def downgrade() -> None:
    op.create_index("ix_district_stats_daily_district_id_day", "district_stats_daily", ["district_id", "day"])
    op.drop_constraint("pk_district_stats_daily", "district_stats_daily", type_="primary")
    op.create_primary_key("pk_district_stats_daily", "district_stats_daily", ["district_id", "category_id", "day"])
    op.drop_index("uq_submissions_idempotency_key", table_name="submissions")
    op.create_unique_constraint("uq_submissions_idempotency_key", "submissions", ["idempotency_key"])
    for name, table, column in PARTIAL:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [column])

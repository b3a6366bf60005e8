"""Every report-side table carries jurisdiction_id, the distribution column of the Citus plan
(docs/scaling.md): submissions, report_events, report_districts and submission_photos get it,
filled from their report, NOT NULL, and indexed with the key they are joined on, so the joins
between them can be co-located joins on (jurisdiction_id, report_id).

Revision ID: 0007c
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007c"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FROM_REPORT = ("submissions", "report_events", "report_districts")
# the backfill runs once, before any distribution: the rule's check (tests/distribution_rule.py) skips it
EXEMPT = "distribution rule: exempt, fills the column"


def upgrade() -> None:
    for table in (*_FROM_REPORT, "submission_photos"):
        op.add_column(table, sa.Column("jurisdiction_id", sa.Integer(), nullable=True))
    for table in _FROM_REPORT:
        op.execute(f"UPDATE {table} t SET jurisdiction_id = r.jurisdiction_id FROM reports r WHERE r.id = t.report_id "
                   f"/* {EXEMPT} */")
    op.execute("UPDATE submission_photos sp SET jurisdiction_id = s.jurisdiction_id "
               f"FROM submissions s WHERE s.id = sp.submission_id /* {EXEMPT} */")
    for table in (*_FROM_REPORT, "submission_photos"):
        op.alter_column(table, "jurisdiction_id", nullable=False)
        op.create_foreign_key(op.f(f"fk_{table}_jurisdiction_id_jurisdictions"), table, "jurisdictions",
                              ["jurisdiction_id"], ["id"])


def downgrade() -> None:
    for table in (*_FROM_REPORT, "submission_photos"):
        op.drop_constraint(op.f(f"fk_{table}_jurisdiction_id_jurisdictions"), table, type_="foreignkey")
        op.drop_column(table, "jurisdiction_id")

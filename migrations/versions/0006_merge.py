"""Join the three branches made in parallel (agents, imports, photos) into one head; index the
duplicates' originals (deleting or reopening a report no longer scans the table for references).

Revision ID: 0006
Revises: 0005a, 0005i, 0005p
"""

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | Sequence[str] | None = ("0005a", "0005i", "0005p")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


import sqlalchemy as sa  # noqa: E402
from alembic import op  # noqa: E402


def upgrade() -> None:
    op.create_index("ix_reports_duplicate_of", "reports", ["duplicate_of"],
                    postgresql_where=sa.text("duplicate_of IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_reports_duplicate_of", table_name="reports")

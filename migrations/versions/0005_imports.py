"""Bulk import: where an imported report came from (reports.source, reports.source_id, unique per
source), the import runs with their counts, and the ledger of imported rows per source that makes
re-running a file import nothing twice.

Revision ID: 0005i
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005i"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("reports", sa.Column("source", sa.String(length=100), nullable=True))
    op.add_column("reports", sa.Column("source_id", sa.Text(), nullable=True))
    op.create_unique_constraint(op.f("uq_reports_source_source_id"), "reports", ["source", "source_id"])
    op.create_table(
        "import_runs",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="running", nullable=False),
        sa.Column("options", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read", sa.Integer(), server_default="0", nullable=False),
        sa.Column("imported", sa.Integer(), server_default="0", nullable=False),
        sa.Column("merged", sa.Integer(), server_default="0", nullable=False),
        sa.Column("skipped", sa.Integer(), server_default="0", nullable=False),
        sa.Column("refused", sa.Integer(), server_default="0", nullable=False),
        sa.Column("refused_reasons", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('running', 'done', 'failed')", name=op.f("ck_import_runs_status_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )
    op.create_index("ix_import_runs_source", "import_runs", ["source"])
    op.create_table(
        "import_keys",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", "key", name=op.f("pk_import_keys")),
    )


def downgrade() -> None:
    op.drop_table("import_keys")
    op.drop_index("ix_import_runs_source", table_name="import_runs")
    op.drop_table("import_runs")
    op.drop_constraint(op.f("uq_reports_source_source_id"), "reports", type_="unique")
    op.drop_column("reports", "source_id")
    op.drop_column("reports", "source")

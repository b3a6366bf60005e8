"""import_deferred_indexes: the secondary indexes a first load builds once at its end.

An import that at least doubles the reports (a city's history going into a new geo311) drops the
indexes of the tables its batches write that enforce nothing (not unique, no constraint) and
builds them again, sorted, when its batches are written: cheaper than filling them row by row
(geo311/import_indexes.py, docs/import-export.md). Each dropped index's definition is kept here, in
the transaction that drops it, so that an import killed before it could build them leaves what to
build: the next import, `geo311 rollups apply` and `geo311 db upgrade` build them.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # no foreign key to import_runs: deleting a run must not lose the definitions of its indexes
    op.create_table(
        "import_deferred_indexes",
        sa.Column("name", sa.Text(), nullable=False), sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False), sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_import_deferred_indexes")),
    )


def downgrade() -> None:
    # an index still set aside is built first: downgrading must not lose it
    bind = op.get_bind()
    for (definition,) in bind.execute(sa.text("SELECT definition FROM import_deferred_indexes ORDER BY name")):
        op.execute(definition)
    op.drop_table("import_deferred_indexes")

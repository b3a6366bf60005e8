"""No unique index of the reports by (source, source_id): the import ledger's key holds it already.

Every report an import creates with a source id has its ledger row, `import_keys (source, key)`
with key = that id, written in the same transaction, and the ledger's primary key refuses a second
one; intake's reports have no source. So uq_reports_source_source_id refused nothing the ledger did
not, and nothing reads the reports by it (the ledger maps a source's ids to reports). It cost every
imported report a probe and an insert at a random place of a btree as big as the ledger's (the
ids are not in the order of the dates the batches are written in): about a quarter of the reports
INSERT of an import's batch (docs/import-export.md, stop 21).

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("uq_reports_source_source_id", "reports", type_="unique")


def downgrade() -> None:
    op.create_unique_constraint("uq_reports_source_source_id", "reports", ["source", "source_id"])

"""No GiST of every report's location as geography: no query reads it.

The queries that measure metres from reports (intake's nearest open report, "nearby", an import's
dedup) all look at open reports, which ix_reports_open_geog holds, or at a temp table of their own
(an import's dedup, import_batches.py); the map's boxes use the geometry index ix_reports_location.
ix_reports_location_geog was written on every insert for nothing: a GiST entry per report, about
8.5 µs of the 100 µs a report's INSERT costs in an import (docs/import-export.md), and one fewer for
every submission from the map that starts a report.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_reports_location_geog", table_name="reports")


def downgrade() -> None:
    op.create_index("ix_reports_location_geog", "reports", [sa.text("(location::geography(Point,4326))")],
                    postgresql_using="gist")

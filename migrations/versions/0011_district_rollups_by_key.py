"""The district rollup triggers look up the reports of the changed report_districts rows by key.

They read `reports WHERE id IN (SELECT report_id FROM new_rows)`; for a batch of an import
(150,000 district rows of 50,000 reports) PostgreSQL chose to read the whole reports table into a
hash join, 0.6 s per batch at 1,000,000 reports, growing with the table. A LATERAL lookup per
report (by primary key, with the jurisdiction) costs the same for one report and a fraction for
many.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# function -> (transition table, sign)
FUNCTIONS = {"geo311_report_districts_insert": ("new_rows", 1), "geo311_report_districts_delete": ("old_rows", -1)}
BEFORE = "SELECT r.*, {sign} AS sign FROM reports r WHERE r.id IN (SELECT report_id FROM {rows})"
AFTER = ("SELECT r.*, {sign} AS sign FROM (SELECT DISTINCT report_id, jurisdiction_id FROM {rows}) n "
         "CROSS JOIN LATERAL (SELECT * FROM reports x WHERE x.id = n.report_id "
         "AND x.jurisdiction_id = n.jurisdiction_id OFFSET 0) r")


def _rewrite(old: str, new: str) -> None:
    bind = op.get_bind()
    for name, (rows, sign) in FUNCTIONS.items():
        body = bind.execute(sa.text("SELECT prosrc FROM pg_proc WHERE proname = :n"), {"n": name}).scalar_one()
        before, after = old.format(rows=rows, sign=sign), new.format(rows=rows, sign=sign)
        if before not in body:
            raise RuntimeError(f"{name} does not read its reports the way revision 0011 expects")
        op.execute(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$fn${body.replace(before, after)}$fn$")


def upgrade() -> None:
    _rewrite(BEFORE, AFTER)


def downgrade() -> None:
    _rewrite(AFTER, BEFORE)

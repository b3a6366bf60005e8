"""The rollup triggers return at once when their statement changed no row. They are statement
triggers, so they fire for every INSERT, UPDATE or DELETE on reports and report_districts, also for
none: intake's one statement inserts a report or updates one, never both, and its other half used
to run the whole rollup query over an empty transition table (a third of the rollup upkeep of a
submission).

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# function -> the transition table it reads (an UPDATE's old and new tables have the same rows)
FUNCTIONS = {
    "geo311_reports_insert": "new_rows",
    "geo311_reports_update": "new_rows",
    "geo311_reports_delete": "old_rows",
    "geo311_report_districts_insert": "new_rows",
    "geo311_report_districts_delete": "old_rows",
}
GUARD = "    IF NOT EXISTS (SELECT 1 FROM {rows}) THEN RETURN NULL; END IF;  -- 0009: nothing changed\n"


def _rewrite(add: bool) -> None:
    bind = op.get_bind()
    for name, rows in FUNCTIONS.items():
        body = bind.execute(sa.text("SELECT prosrc FROM pg_proc WHERE proname = :n"), {"n": name}).scalar_one()
        guard = GUARD.format(rows=rows)
        if add and guard not in body:
            body = body.replace("BEGIN\n", "BEGIN\n" + guard, 1)
        elif not add:
            body = body.replace(guard, "")
        op.execute(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn${body}$fn$")


def upgrade() -> None:
    _rewrite(add=True)


def downgrade() -> None:
    _rewrite(add=False)

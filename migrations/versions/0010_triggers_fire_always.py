"""geo311's own triggers fire whatever the session's replication role.

An import batch writes with `session_replication_role = replica`, which skips the row-by-row
foreign-key checks (the batch checks and locks what it refers to in one statement per table
instead, see geo311/import_batches.py). That role also skips every trigger that is merely ENABLEd;
the rollup and contact-count triggers must not be skipped, so they become ENABLE ALWAYS. Nothing
else changes: streaming replicas never run triggers, and geo311 has no logical replication.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGERS = {
    "reports": ("geo311_rollup_ins", "geo311_rollup_upd", "geo311_rollup_del", "geo311_rollup_predel",
                "geo311_rollup_trunc"),
    "report_districts": ("geo311_rollup_ins", "geo311_rollup_del"),
    "submissions": ("geo311_contacts_ins", "geo311_contacts_del", "geo311_contacts_trunc"),
}


def _enable(how: str) -> None:
    for table, triggers in TRIGGERS.items():
        op.execute(f"ALTER TABLE {table} " + ", ".join(f"ENABLE {how}TRIGGER {t}" for t in triggers))


def upgrade() -> None:
    _enable("ALWAYS ")


def downgrade() -> None:
    _enable("")

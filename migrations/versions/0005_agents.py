"""Agents: the agent role, callers' normalized phone and email for lookups, who entered a
submission, internal notes, and the contact volume rollup (submissions per channel and day).

Revision ID: 0005a
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005a"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES_BEFORE = "role IN ('resident', 'crew', 'manager', 'admin')"
ROLES_AFTER = "role IN ('resident', 'agent', 'crew', 'manager', 'admin')"
# the same rules as geo311.contacts.normalize_phone / normalize_email, for the rows already stored
PHONE_NORM = ("CASE WHEN length(regexp_replace(reporter_phone, '[^0-9]', '', 'g')) = 11 "
              "AND left(regexp_replace(reporter_phone, '[^0-9]', '', 'g'), 1) = '1' "
              "THEN substr(regexp_replace(reporter_phone, '[^0-9]', '', 'g'), 2) "
              "ELSE nullif(regexp_replace(reporter_phone, '[^0-9]', '', 'g'), '') END")


def upgrade() -> None:
    op.drop_constraint(op.f("ck_api_keys_role_known"), "api_keys", type_="check")
    op.create_check_constraint(op.f("ck_api_keys_role_known"), "api_keys", ROLES_AFTER)
    op.add_column("submissions", sa.Column("reporter_phone_norm", sa.String(length=20), nullable=True))
    op.add_column("submissions", sa.Column("reporter_email_norm", sa.String(length=320), nullable=True))
    op.add_column("submissions", sa.Column("submitted_by", sa.String(length=200), nullable=True))
    op.execute(f"UPDATE submissions SET reporter_phone_norm = left({PHONE_NORM}, 20), "
               "reporter_email_norm = lower(trim(reporter_email)) "
               "WHERE reporter_phone IS NOT NULL OR reporter_email IS NOT NULL")
    op.create_index("ix_submissions_reporter_phone_norm", "submissions", ["reporter_phone_norm"])
    op.create_index("ix_submissions_reporter_email_norm", "submissions", ["reporter_email_norm"])
    op.add_column("report_events", sa.Column("internal", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.create_table(
        "contacts_daily",
        sa.Column("day", sa.Date(), nullable=False), sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("submissions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "channel", name=op.f("pk_contacts_daily")),
    )
    op.execute("""
        CREATE FUNCTION geo311_contacts_apply() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                INSERT INTO contacts_daily AS c (day, channel, submissions)
                SELECT (received_at AT TIME ZONE 'UTC')::date, channel, count(*)::int FROM new_rows
                GROUP BY 1, 2 ORDER BY 1, 2
                ON CONFLICT (day, channel) DO UPDATE SET submissions = c.submissions + excluded.submissions;
            ELSE
                UPDATE contacts_daily c SET submissions = c.submissions - o.n
                FROM (SELECT (received_at AT TIME ZONE 'UTC')::date AS day, channel, count(*)::int AS n
                      FROM old_rows GROUP BY 1, 2) o
                WHERE c.day = o.day AND c.channel = o.channel;
            END IF;
            RETURN NULL;
        END $fn$;
        CREATE TRIGGER geo311_contacts_ins AFTER INSERT ON submissions REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION geo311_contacts_apply();
        CREATE TRIGGER geo311_contacts_del AFTER DELETE ON submissions REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION geo311_contacts_apply();
        CREATE FUNCTION geo311_contacts_truncate() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            TRUNCATE contacts_daily;
            RETURN NULL;
        END $fn$;
        CREATE TRIGGER geo311_contacts_trunc AFTER TRUNCATE ON submissions
            FOR EACH STATEMENT EXECUTE FUNCTION geo311_contacts_truncate();
        INSERT INTO contacts_daily (day, channel, submissions)
        SELECT (received_at AT TIME ZONE 'UTC')::date, channel, count(*) FROM submissions GROUP BY 1, 2;
    """)


def downgrade() -> None:
    op.execute("""
        DROP TRIGGER geo311_contacts_trunc ON submissions;
        DROP TRIGGER geo311_contacts_del ON submissions;
        DROP TRIGGER geo311_contacts_ins ON submissions;
        DROP FUNCTION geo311_contacts_truncate(), geo311_contacts_apply();
    """)
    op.drop_table("contacts_daily")
    op.drop_column("report_events", "internal")
    op.drop_index("ix_submissions_reporter_email_norm", table_name="submissions")
    op.drop_index("ix_submissions_reporter_phone_norm", table_name="submissions")
    op.drop_column("submissions", "submitted_by")
    op.drop_column("submissions", "reporter_email_norm")
    op.drop_column("submissions", "reporter_phone_norm")
    op.drop_constraint(op.f("ck_api_keys_role_known"), "api_keys", type_="check")
    op.create_check_constraint(op.f("ck_api_keys_role_known"), "api_keys", ROLES_BEFORE)

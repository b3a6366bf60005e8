"""Migrations: an empty database goes to head, matches the models exactly, and back to base."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool, text

from geo311 import migrate, models  # noqa: F401
from geo311.db import Base
from tests import support

HAND_WRITTEN_INDEXES = {
    ("reports", "ix_reports_open_geog"),
    ("jurisdiction_edges", "ix_jurisdiction_edges_geog"),
}


def _context_options():
    return {"include_name": migrate.include_name, "include_object": migrate.include_object}


def test_upgrade_to_head_has_no_drift_and_downgrades_to_base(admin_url):
    url = support.create_database(admin_url, "migrations")
    try:
        migrate.upgrade(url)
        assert migrate.current(url) == migrate.head()
        engine = create_engine(url, poolclass=pool.NullPool)
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, **_context_options()})
            assert compare_metadata(ctx, Base.metadata) == []
            assert conn.execute(text("select extname from pg_extension where extname = 'postgis'")).scalar()
            indexes = {(t, i["name"]) for t in ("reports", "jurisdiction_edges")
                       for i in inspect(conn).get_indexes(t)}
            assert HAND_WRITTEN_INDEXES <= indexes
            predicate = conn.execute(text(
                "select pg_get_expr(indpred, indrelid) from pg_index "
                "where indexrelid = 'ix_reports_open_geog'::regclass")).scalar()
            assert "open" in predicate and "resolved" not in predicate
            # migration 0012: indexes on mostly-NULL columns leave the NULLs out
            for index, column in (("uq_submissions_idempotency_key", "idempotency_key"),
                                  ("ix_submissions_reporter_phone_norm", "reporter_phone_norm"),
                                  ("ix_submissions_reporter_email_norm", "reporter_email_norm"),
                                  ("ix_reports_crew_id", "crew_id")):
                predicate = conn.execute(text("select pg_get_expr(indpred, indrelid) from pg_index "
                                              "where indexrelid = cast(:i as regclass)"), {"i": index}).scalar()
                assert predicate == f"({column} IS NOT NULL)", index
            pk = conn.execute(text("select pg_get_indexdef('pk_district_stats_daily'::regclass)")).scalar()
            assert pk.endswith("(district_id, day, category_id)")
        migrate.downgrade(url, "base")
        with engine.connect() as conn:
            left = set(inspect(conn).get_table_names()) & set(Base.metadata.tables)
            assert left == set()
            assert migrate.current(url) is None
        migrate.upgrade(url)  # and back up again: downgrade left nothing in the way
        assert migrate.current(url) == migrate.head()
        engine.dispose()
    finally:
        support.drop_database(admin_url, url)


def test_drift_check_can_fail(admin_url):
    """The comparison above is not vacuous: a column the models lack is reported."""
    url = support.create_database(admin_url, "drift")
    try:
        migrate.upgrade(url)
        engine = create_engine(url, poolclass=pool.NullPool)
        with engine.begin() as conn:
            conn.execute(text("alter table reports add column stray integer"))
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, **_context_options()})
            diff = compare_metadata(ctx, Base.metadata)
        assert any(d[0] == "remove_column" and d[2] == "reports" for d in diff)
        engine.dispose()
    finally:
        support.drop_database(admin_url, url)

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


def test_0015_daily_heat_cells_at_one_level_and_back(admin_url):
    """Migration 0015 drops the 1024-unit daily heat cells (heatmaps sum the 256-unit ones) and
    stops the triggers writing them; its downgrade rebuilds them from the 256-unit cells exactly
    as the triggers of 0014 had made them."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy.orm import Session

    from geo311.heatmaps import rollup_drift
    from geo311.intake import NewSubmission, submit
    from tests.conftest import load_test_data

    url = support.create_database(admin_url, "m0015")
    engine = create_engine(url, poolclass=pool.NullPool)
    level_1 = text("SELECT * FROM heat_cells_daily WHERE level = 1 ORDER BY day, cx, cy, category_id")
    try:
        migrate.upgrade(url, "0014")
        now = datetime.now(UTC)
        with Session(engine) as s:
            load_test_data(s)
            for i in range(30):  # along 300 m at two places, 80 m apart: most share a 1024-unit cell a day
                lon, lat = (-122.6587, 45.5122) if i % 2 else (-122.7545, 45.5900)
                submit(s, NewSubmission(lon + (i % 5) * 0.001, lat, "campsite" if i % 3 == 0 else "graffiti",
                                        {"i": i}, at=now - timedelta(days=i // 10)))
            before = s.execute(level_1).all()
        assert len(before) > 3 and any(row.r_open > 1 for row in before)
        migrate.upgrade(url, "0015")
        with Session(engine) as s:
            assert s.execute(level_1).all() == []
        migrate.downgrade(url, "0014")
        with Session(engine) as s:
            assert s.execute(level_1).all() == before  # what 0014's triggers had written
        migrate.upgrade(url, "0015")
        with Session(engine) as s:
            submit(s, NewSubmission(-122.6587, 45.5122, "graffiti", {"after": True}))
            assert s.execute(level_1).all() == []  # the triggers write 256-unit daily cells only
            assert s.execute(text("SELECT count(*) FROM heat_cells_daily WHERE level = 2")).scalar() > 0
            assert set(rollup_drift(s).values()) == {0}
    finally:
        engine.dispose()
        support.drop_database(admin_url, url)


def test_0017_downgrade_builds_the_indexes_an_import_left_set_aside(admin_url):
    """An import killed mid-way leaves indexes set aside (geo311/import_indexes.py); downgrading
    past 0017, which drops their definitions, builds them first."""
    from sqlalchemy.orm import Session

    from geo311 import import_indexes

    url = support.create_database(admin_url, "m0017")
    engine = create_engine(url, poolclass=pool.NullPool)
    names = text("SELECT indexname FROM pg_indexes WHERE tablename = 'report_events' ORDER BY 1")
    try:
        migrate.upgrade(url, "0017")
        with Session(engine) as s:
            before = s.execute(names).scalars().all()
            assert import_indexes.defer(s, 1, "killed", dedup=False) > 0
            s.commit()
            assert s.execute(names).scalars().all() == ["pk_report_events"]
        migrate.downgrade(url, "0016")
        with Session(engine) as s:
            assert s.execute(names).scalars().all() == before
            assert s.execute(text("SELECT to_regclass('import_deferred_indexes')")).scalar() is None
    finally:
        engine.dispose()
        support.drop_database(admin_url, url)

"""An import batch writes without PostgreSQL's row-by-row foreign-key checks (trusted writes,
geo311/import_batches.py): what those checks did, the batch must do itself. These tests keep that
true as the schema grows, and show the batch failing whole when what it refers to is gone."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from geo311 import import_batches
from geo311.heatmaps import rollup_drift
from geo311.imports import import_file
from tests.test_imports import ZERO_DRIFT, counts, existing_graffiti, messy, opts  # noqa: F401 (fixtures)

TABLES = ("reports", "report_districts", "submissions", "report_events")


def foreign_keys(session) -> set[tuple[str, str, str]]:
    return {tuple(r) for r in session.execute(text(
        "SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) "
        "WHERE c.contype = 'f' AND c.conrelid::regclass::text = ANY (:t)"), {"t": list(TABLES)})}


def orphans(session) -> dict[tuple[str, str, str], int]:
    """Rows whose reference leads nowhere, per foreign key of the tables a batch writes."""
    found = {}
    for table, column, target in foreign_keys(session):
        found[(table, column, target)] = session.execute(text(
            f"SELECT count(*) FROM {table} x WHERE x.{column} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {target} t WHERE t.id = x.{column}) -- distribution rule: exempt (by key only, as a foreign key checks)")).scalar()
    return found


def test_every_foreign_key_of_a_batch_table_is_covered(session):
    assert foreign_keys(session) == set(import_batches.REFERENCES)


def test_geo311_triggers_fire_always(session):
    """session_replication_role = replica skips triggers that are merely enabled: a rollup or count
    trigger of geo311 that an import skipped would drift."""
    triggers = session.execute(text(
        "SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger "
        "WHERE NOT tgisinternal AND tgrelid::regclass::text = ANY (:t)"), {"t": list(TABLES)}).all()
    assert len(triggers) >= 10
    assert [t for t in triggers if t.tgenabled != "A"] == []


@pytest.mark.parametrize("trusted", [True, False])
def test_both_ways_of_writing_give_the_same_import(session, messy, existing_graffiti, monkeypatch, trusted):  # noqa: F811 (fixtures)
    assert import_batches.trusted_writes(session)  # the suite's role is a superuser
    monkeypatch.setattr(import_batches, "trusted_writes", lambda s: trusted)
    s = import_file(session, messy, opts())
    assert (s.read, s.imported, s.merged, s.merged_existing) == (17, 5, 2, 1)
    assert set(orphans(session).values()) == {0}
    assert rollup_drift(session) == ZERO_DRIFT
    assert session.execute(text("SHOW session_replication_role")).scalar() == "origin"


def test_a_batch_referring_to_a_missing_district_fails_whole(session, messy, existing_graffiti, monkeypatch):  # noqa: F811 (fixtures)
    before = counts(session)
    # the matching of one batch finds a district that is no longer there
    monkeypatch.setattr(import_batches, "BATCH_DISTRICTS", import_batches.BATCH_DISTRICTS.replace(
        "d.district_id FROM", "CASE WHEN b.line = 2 THEN -7 ELSE d.district_id END AS district_id FROM"))
    with pytest.raises(RuntimeError, match="districts -7 no longer exist"):
        import_file(session, messy, opts())
    after = counts(session)
    assert after[:5] == before[:5]  # reports, submissions, events, districts, ledger: nothing
    assert session.execute(text("SELECT status FROM import_runs ORDER BY id DESC LIMIT 1")).scalar() == "failed"
    assert session.execute(text("SHOW session_replication_role")).scalar() == "origin"


def test_a_batch_joining_a_vanished_report_fails_whole(session, messy, existing_graffiti, monkeypatch):  # noqa: F811 (fixtures)
    """The report a row joins is deleted after the batch chose it (here: before the update that
    would lock it)."""
    real = import_batches._dedup

    def dedup_then_delete(s, *args):
        real(s, *args)
        s.execute(text("DELETE FROM reports WHERE id = :id"), {"id": existing_graffiti})

    monkeypatch.setattr(import_batches, "_dedup", dedup_then_delete)
    before = counts(session)
    with pytest.raises(RuntimeError, match="1 of the reports this batch's rows join no longer exist"):
        import_file(session, messy, opts())
    assert counts(session)[4] == before[4]  # the ledger: nothing imported


def test_a_role_that_may_not_create_schemas_imports_alone_and_checked(session, messy, existing_graffiti):  # noqa: F811 (fixtures)
    """An application role with rights on geo311's tables only: no schema of its own for the
    staging tables (temp tables instead, one connection), no session_replication_role (PostgreSQL
    checks the foreign keys)."""
    role = f"geo311_importer_{uuid.uuid4().hex[:8]}"
    session.execute(text(f"CREATE ROLE {role} NOLOGIN"))
    session.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
    session.execute(text(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}"))
    session.execute(text(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}"))
    session.execute(text(f"SET ROLE {role}"))
    try:
        assert not session.execute(text("SELECT has_database_privilege(current_database(), 'CREATE')")).scalar()
        assert not import_batches.trusted_writes(session)
        s = import_file(session, messy, opts())
        assert (s.read, s.imported, s.merged, s.merged_existing) == (17, 5, 2, 1)
        assert session.execute(text(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'geo311_import_%'")).scalar() == 0
    finally:
        session.execute(text("RESET ROLE"))
    assert set(orphans(session).values()) == {0}
    assert rollup_drift(session) == ZERO_DRIFT

"""An import's rollups are applied when it finishes (geo311/import_rollups.py, migration 0014):
while it runs its reports are held out, everything else stays current, changes made meanwhile to
held reports come out exact, and a run that stopped early is applied by the next one. These need
committed batches and several connections, so they run on a database of their own."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from geo311 import import_rollups, imports
from geo311.cli import Runtime, app
from geo311.db import make_sessionmaker
from geo311.heatmaps import rebuild_rollups, rollup_drift
from geo311.imports import import_file
from geo311.intake import NewSubmission, submit
from tests.test_imports import ZERO_DRIFT, messy_csv, opts
from tests.test_intake import HOSFORD, offset


@pytest.fixture
def messy(tmp_path):
    path = tmp_path / "service_requests.csv"
    path.write_bytes(messy_csv())
    return path


STATUS_COLUMNS = ("r_open", "r_assigned", "r_in_progress", "r_resolved", "r_duplicate", "r_not_actionable")


def in_rollups(s: Session) -> tuple[int, int]:
    """(reports in the all-time heat cells, reports in the daily stats): each counts every report once."""
    return s.execute(text(
        f"SELECT (SELECT coalesce(sum({' + '.join(STATUS_COLUMNS)}), 0) FROM heat_cells WHERE level = 1), "
        "(SELECT coalesce(sum(created), 0) FROM stats_daily)")).one()


def reports(s: Session, where: str = "true") -> int:
    return s.execute(text(f"SELECT count(*) FROM reports WHERE {where}")).scalar()


def held(s: Session) -> list[bool]:
    return s.execute(text("SELECT EXISTS (SELECT 1 FROM import_holds h WHERE h.run_id = r.id) FROM import_runs r "
                          "ORDER BY r.id")).scalars().all()


def killed_import(db, messy, monkeypatch) -> None:
    """An import of the messy file that fails before it commits its second batch, and does not
    apply what it committed (as when it is killed): its first batch's three reports stay held."""
    def fail(batch: int) -> None:
        if batch == 1:
            raise RuntimeError("killed, say")

    monkeypatch.setattr(imports, "batch_done", fail)
    monkeypatch.setattr(imports, "_apply_after_failure", lambda s, run_id: None)
    with Session(db) as s, pytest.raises(RuntimeError, match="killed"):
        import_file(s, messy, opts(dedup=True, batch_size=3, writers=1))


def test_a_running_import_holds_its_reports_and_changes_to_them_stay_exact(db, messy, monkeypatch):
    seen = {}

    def meanwhile(batch: int) -> None:
        if batch != 1:
            return
        # batch 0 is committed: its reports are in the database, not yet in the rollups
        with Session(db) as s:
            seen["held"] = reports(s, "source = 'legacy'")
            seen["before"] = in_rollups(s)
            seen["drift"] = rollup_drift(s)
            # intake counts at once; a submission that joins an imported report waits for the import
            submit(s, NewSubmission(*offset(HOSFORD, east_m=2000), "pothole", {"t": 1},
                                    at=datetime(2024, 3, 20, tzinfo=UTC)))
            submit(s, NewSubmission(*offset(HOSFORD, east_m=301), "graffiti", {"t": 2},
                                    at=datetime(2024, 3, 4, tzinfo=UTC)))
            seen["after_intake"] = in_rollups(s)
            # staff reopen a held report that came closed
            s.execute(text("UPDATE reports SET status = 'open', closed_at = NULL "
                           "WHERE source = 'legacy' AND source_id = '1002'"))
            s.commit()
            seen["after_staff"] = in_rollups(s)

    monkeypatch.setattr(imports, "batch_done", meanwhile)
    with Session(db) as s:
        summary = import_file(s, messy, opts(dedup=True, batch_size=3, writers=1))
    assert (summary.imported, summary.merged) == (6, 1)  # 1009 joins 1001
    assert seen["held"] == 3  # 1001, 1002, 1003
    assert seen["before"] == (0, 0)
    assert seen["drift"] == ZERO_DRIFT  # the check leaves held reports out, as the rollups do
    # the pothole started a report; the graffiti joined held report 1003, which is not counted yet
    assert seen["after_intake"] == (1, 1)
    assert seen["after_staff"] == (1, 1)
    with Session(db) as s:
        assert held(s) == [False]
        assert reports(s) == 7  # six imported, the pothole
        assert in_rollups(s) == (7, 7)
        assert s.execute(text("SELECT coalesce(sum(resolved), 0) FROM stats_daily")).scalar() == 0  # 1002 reopened
        assert s.execute(text("SELECT submission_count FROM reports WHERE source_id = '1003'")).scalar() == 2
        assert s.execute(text("SELECT sum(s_open) FROM heat_cells WHERE level = 1")).scalar() == 9  # seven reports, two of them joined
        assert rollup_drift(s) == ZERO_DRIFT


def test_the_writers_batches_are_held_and_applied(db, messy):
    with Session(db) as s:
        summary = import_file(s, messy, opts(dedup=False, batch_size=2, writers=2))
        assert summary.imported == 7
        assert held(s) == [False]
        assert in_rollups(s) == (7, 7)
        assert rollup_drift(s) == ZERO_DRIFT


def test_a_failed_import_applies_the_batches_it_committed(db, messy, monkeypatch):
    def fail(batch: int) -> None:
        if batch == 1:
            raise RuntimeError("disk full, say")

    monkeypatch.setattr(imports, "batch_done", fail)
    with Session(db) as s, pytest.raises(RuntimeError, match="disk full"):
        import_file(s, messy, opts(dedup=True, batch_size=3, writers=1))
    with Session(db) as s:
        assert reports(s) == 3
        assert held(s) == [False]
        assert in_rollups(s) == (3, 3)
        assert rollup_drift(s) == ZERO_DRIFT


def test_a_killed_import_is_applied_by_the_next_one(db, messy, monkeypatch, tmp_path):
    killed_import(db, messy, monkeypatch)
    with Session(db) as s:
        assert held(s) == [True]
        assert (reports(s), in_rollups(s)) == (3, (0, 0))
    monkeypatch.setattr(imports, "batch_done", lambda batch: None)
    other = tmp_path / "other.csv"
    other.write_text("Unique Key,Created Date,Closed Date,Complaint Type,Descriptor,Status,Longitude,Latitude,"
                     "Incident Address\n"
                     f"9001,2024-06-01T10:00:00Z,,Graffiti,paint,Open,{HOSFORD[0] + 0.01:.6f},{HOSFORD[1]:.6f},\n")
    with Session(db) as s:
        summary = import_file(s, other, opts(source="another system", dedup=False))
        assert summary.imported == 1
        assert held(s) == [False, False]
        assert in_rollups(s) == (4, 4)
        assert rollup_drift(s) == ZERO_DRIFT


def test_a_running_import_is_not_applied_by_another(db, messy, monkeypatch):
    killed_import(db, messy, monkeypatch)
    with db.connect() as running:  # an import of 'legacy' holds the source's lock
        running.execute(text("SELECT pg_advisory_lock(:k)"), {"k": imports._lock_key("legacy")})
        with Session(db) as s:
            assert imports.apply_abandoned(s) == []
            assert held(s) == [True]
        running.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": imports._lock_key("legacy")})
    with Session(db) as s:
        run_id = s.execute(text("SELECT id FROM import_runs")).scalar()
        assert imports.apply_abandoned(s) == [run_id]
        assert in_rollups(s) == (3, 3)


def test_a_change_to_a_held_report_made_while_the_apply_reads_is_not_lost(db, messy, monkeypatch):
    """The apply locks its run FOR UPDATE before it reads; a change to a held report locks the run
    FOR KEY SHARE: so the apply waits for it, and then reads it."""
    killed_import(db, messy, monkeypatch)
    with Session(db) as s:
        run_id = s.execute(text("SELECT id FROM import_runs")).scalar()
    change = Session(db)
    change.execute(text("UPDATE reports SET status = 'resolved', closed_at = '2024-03-06T00:00:00Z' "
                        "WHERE source_id = '1001'"))
    outcome = {}

    def apply() -> None:
        with Session(db) as s:
            outcome["added"] = import_rollups.apply(s, run_id)

    applying = threading.Thread(target=apply)
    applying.start()
    time.sleep(1.0)
    assert applying.is_alive()  # waiting for the change to commit
    change.commit()
    change.close()
    applying.join(30)
    assert outcome["added"] == 3
    with Session(db) as s:
        assert in_rollups(s) == (3, 3)
        # 1002 came closed, 1001 was closed meanwhile
        assert s.execute(text("SELECT sum(r_resolved) FROM heat_cells WHERE level = 1")).scalar() == 2
        assert rollup_drift(s) == ZERO_DRIFT


def test_rebuild_leaves_held_reports_to_their_import(db, messy, monkeypatch):
    killed_import(db, messy, monkeypatch)
    with Session(db) as s:
        submit(s, NewSubmission(*offset(HOSFORD, east_m=2000), "pothole", {"t": 1}))
        rebuild_rollups(s)
        assert in_rollups(s) == (1, 1)
        assert imports.apply_abandoned(s)
        assert in_rollups(s) == (4, 4)
        assert rollup_drift(s) == ZERO_DRIFT


def test_cli_rollups_apply_and_check(db, messy, monkeypatch):
    killed_import(db, messy, monkeypatch)
    runtime = Runtime(settings=None, session_factory=make_sessionmaker(db))  # type: ignore[arg-type]
    before = CliRunner().invoke(app, ["rollups", "check"], obj=runtime)
    assert before.exit_code == 0, before.output
    assert "import run 1 (source 'legacy', failed) holds 3 reports out of the rollups: `geo311 rollups apply`" \
        in before.output
    applied = CliRunner().invoke(app, ["rollups", "apply"], obj=runtime)
    assert applied.exit_code == 0, applied.output
    assert "applied the held reports of import runs" in applied.output
    again = CliRunner().invoke(app, ["rollups", "apply"], obj=runtime)
    assert "no import run holds reports" in again.output
    checked = CliRunner().invoke(app, ["rollups", "check"], obj=runtime)
    assert checked.exit_code == 0 and "heat_cells: exact" in checked.output and "holds" not in checked.output
    with db.begin() as conn:
        changed = conn.execute(text("UPDATE heat_cells SET r_open = r_open + 1 WHERE level = 1")).rowcount
    drifted = CliRunner().invoke(app, ["rollups", "check"], obj=runtime)
    # each changed row differs twice: as it is, and as the reports say it should be
    assert drifted.exit_code == 1 and f"heat_cells: {2 * changed} rows differ" in drifted.output
    rebuilt = CliRunner().invoke(app, ["rollups", "rebuild"], obj=runtime)
    assert rebuilt.exit_code == 0 and "rebuilt:" in rebuilt.output
    with Session(db) as s:
        assert rollup_drift(s) == ZERO_DRIFT


def test_the_frontier_is_below_every_batch_in_flight():
    f = import_rollups.Frontier()
    with f.allocating():
        f.allocated(0, 101, 110)
    with f.allocating():
        f.allocated(1, 111, 120)
    assert f.ready(100) == (100, 0)  # nothing committed
    f.committed(1, 10)
    assert f.ready(100) == (100, 0)  # batch 0, below it, may still commit
    f.committed(0, 10)
    assert f.ready(100) == (120, 20)
    with f.allocating():
        f.allocated(2, 121, 130)
    f.failed(2)  # rolled back: its ids will never exist
    with f.allocating():
        f.allocated(3, 131, 140)
    assert f.ready(120) == (130, 0)
    f.committed(3, 10)
    assert f.ready(120) == (140, 10)
    assert f.behind() == 30  # batches 0, 1 and 3: nothing applied yet
    f.applied(120)
    assert f.behind() == 10
    f.applied(100)  # never backwards
    assert f.behind() == 10


def test_the_writers_committed_reports_are_applied_while_they_write(db, messy, monkeypatch):
    monkeypatch.setattr(import_rollups, "SLICE", 2)
    monkeypatch.setattr(imports, "batch_done", lambda b: time.sleep(0.5))
    calls = []
    real_apply = import_rollups.apply

    def apply(s, run_id, upto=None, **kw):
        added = real_apply(s, run_id, upto=upto, **kw)
        calls.append((upto is not None, added))
        return added

    monkeypatch.setattr(import_rollups, "apply", apply)
    with Session(db) as s:
        summary = import_file(s, messy, opts(dedup=False, batch_size=2, writers=2))
    assert summary.imported == 7
    while_writing = sum(added for during, added in calls if during)
    assert while_writing >= 2 and sum(added for _, added in calls) == 7
    with Session(db) as s:
        assert held(s) == [False]
        assert in_rollups(s) == (7, 7)
        assert rollup_drift(s) == ZERO_DRIFT


def test_a_dry_run_leaves_no_hold_and_the_rollups_as_they_were(db, messy):
    with Session(db) as s:
        submit(s, NewSubmission(*offset(HOSFORD, east_m=2000), "pothole", {"t": 1}))
        before = in_rollups(s)
        summary = import_file(s, messy, opts(dedup=True, batch_size=3, writers=2, dry_run=True))
        assert (summary.imported, summary.dry_run) == (6, True)
        assert s.execute(text("SELECT count(*) FROM import_holds")).scalar() == 0
        assert reports(s) == 1 and in_rollups(s) == before == (1, 1)
        assert rollup_drift(s) == ZERO_DRIFT

"""Imports with several writers (geo311/import_writers.py): they need their own connections and
committed data, so these tests run on a database of their own where every batch really commits
(the other import tests run inside one rolled-back transaction, where batches are written one
after another)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from geo311 import geocoding, import_locating, imports
from geo311.cli import Runtime, app
from geo311.db import make_sessionmaker
from geo311.heatmaps import rollup_drift
from geo311.imports import import_file
from tests.test_import_batches import orphans
from tests.test_imports import CATEGORIES, COLUMNS, EXPECTED_REFUSED, ZERO_DRIFT, messy_csv, opts


@pytest.fixture
def messy(tmp_path):
    path = tmp_path / "service_requests.csv"
    path.write_bytes(messy_csv())
    return path


def keys_by_batch(s: Session) -> list[str]:
    return s.execute(text("SELECT key FROM import_keys WHERE source = 'legacy' ORDER BY key")).scalars().all()


def leftovers(s: Session) -> list[str]:
    return s.execute(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'geo311_import_%'")).scalars().all()


def test_two_writers_import_the_messy_file_exactly(db, messy, monkeypatch):
    writers = set()
    monkeypatch.setattr(imports, "batch_done", lambda b: writers.add(threading.current_thread().name))
    with Session(db) as s:
        summary = import_file(s, messy, opts(dedup=False, batch_size=2, writers=2))
    assert (summary.read, summary.imported, summary.merged, summary.batches) == (17, 7, 0, 4)
    assert dict(summary.refused) == EXPECTED_REFUSED
    assert writers == {"import-writer-0", "import-writer-1"}
    with Session(db) as s:
        assert len(keys_by_batch(s)) == 7
        assert s.execute(text("SELECT count(*) FROM reports WHERE source = 'legacy'")).scalar() == 7
        assert s.execute(text("SELECT count(*) FROM report_events WHERE actor = 'import:legacy'")).scalar() == 7 + 1
        assert s.execute(text("SELECT count(*) FROM report_districts")).scalar() == 7 * 3
        run = s.execute(text("SELECT status, imported, refused FROM import_runs")).one()
        assert tuple(run) == ("done", 7, 10)
        assert set(orphans(s).values()) == {0}
        assert rollup_drift(s) == ZERO_DRIFT
        assert leftovers(s) == []
        again = import_file(s, messy, opts(dedup=False, batch_size=2, writers=2))
        assert (again.imported, again.skipped) == (0, 7)


def test_a_failing_writer_stops_the_import_and_whole_batches_stay(db, messy, monkeypatch):
    def fail_third(b: int) -> None:
        if b == 2:
            raise RuntimeError("disk full, say")

    monkeypatch.setattr(imports, "batch_done", fail_third)
    with Session(db) as s, pytest.raises(RuntimeError, match="disk full"):
        import_file(s, messy, opts(dedup=False, batch_size=2, writers=2))
    with Session(db) as s:
        run = s.execute(text("SELECT status, error FROM import_runs")).one()
        assert run.status == "failed" and "disk full" in run.error
        # the writers take batches 0 and 1, and commit both; batch 2, taken by the first to finish,
        # rolls back; batch 3 is written only if the other writer took it before the failure
        keys = keys_by_batch(s)
        assert keys in (["1001", "1002", "1003", "1009"], ["1001", "1002", "1003", "1009", "1013"])
        assert s.execute(text("SELECT count(*) FROM submissions WHERE channel = 'import'")).scalar() == len(keys)
        assert set(orphans(s).values()) == {0}
        assert rollup_drift(s) == ZERO_DRIFT
        assert leftovers(s) == []
    monkeypatch.setattr(imports, "batch_done", lambda b: None)
    with Session(db) as s:
        rest = import_file(s, messy, opts(dedup=False, batch_size=2, writers=2))
        assert (rest.skipped, rest.imported) == (len(keys), 7 - len(keys))
        assert len(keys_by_batch(s)) == 7 and rollup_drift(s) == ZERO_DRIFT


def test_the_command_line_takes_writers(db, messy, settings, tmp_path):
    cats = tmp_path / "categories.yaml"
    cats.write_text("".join(f"{k}: {v}\n" for k, v in CATEGORIES.items()))
    args = ["import", str(messy), *[a for f, c in COLUMNS.items() for a in ("--map", f"{f}={c}")],
            "--categories", str(cats), "--source", "legacy", "--batch-size", "3", "--writers", "3"]
    runner = CliRunner()
    result = runner.invoke(app, args, obj=Runtime(settings, session_factory=make_sessionmaker(db)))
    assert result.exit_code == 0, result.output
    assert "read 17, imported 7 new reports, merged 0" in result.output and "3 batches" in result.output
    bad = runner.invoke(app, [*args, "--writers", "0"], obj=Runtime(settings, session_factory=make_sessionmaker(db)))
    assert bad.exit_code != 0 and "--writers" in bad.output


def test_addresses_are_looked_up_on_two_connections(db, tmp_path, monkeypatch):
    """Records without a point: every other distinct address is looked up on a second connection,
    at once (the other core), with the same outcome."""
    monkeypatch.setattr(import_locating, "LOCATE_BESIDE", 1)
    seen = set()
    real = geocoding.geocode

    def spy(s, query, limit=5):
        seen.add((threading.current_thread().name, id(s.connection())))
        return real(s, query, limit)

    monkeypatch.setattr(geocoding, "geocode", spy)
    path = tmp_path / "addresses.csv"
    path.write_text("id,created_at,category,lon,lat,address\n"
                    "1,2024-03-01T10:00:00Z,graffiti,,,1101 SE Division St\n"
                    "2,2024-03-01T11:00:00Z,graffiti,,,1101 se division st\n"
                    "3,2024-03-01T12:00:00Z,graffiti,,,1 Nowhere Lane\n"
                    "4,2024-03-01T13:00:00Z,graffiti,,,2 Nowhere Lane\n"
                    "5,2024-03-01T14:00:00Z,graffiti,,,1101 SE Division St\n")
    with Session(db) as s:
        summary = import_file(s, path, imports.ImportOptions(format="csv", source="addr2",
                                                             refused_path=tmp_path / "r.csv"))
    assert (summary.imported, summary.located, dict(summary.refused)) == (3, 3, {"address not found": 2})
    assert len(seen) == 2 and len({thread for thread, _ in seen}) == 2  # two threads, two connections
    with Session(db) as s:
        assert s.execute(text("SELECT count(DISTINCT location) FROM reports WHERE source = 'addr2'")).scalar() == 1
        assert rollup_drift(s) == ZERO_DRIFT


def test_the_writers_but_one_wait_while_the_rollups_are_behind(db, messy, monkeypatch):
    """Beside a slow applier, the second writer waits once ROLLUPS_BEHIND rows are committed and
    not applied (so that, on a busy machine, the applier gets a core and the import's end does not
    wait for slices left behind); the first writer goes on, and the import is as exact."""
    import time

    from geo311 import import_rollups, import_writers

    monkeypatch.setattr(import_rollups, "SLICE", 2)
    monkeypatch.setattr(import_writers, "ROLLUPS_BEHIND", 2)
    wrote: dict[str, int] = {}

    def batch_done(b):
        name = threading.current_thread().name
        wrote[name] = wrote.get(name, 0) + 1
        time.sleep(0.1)

    monkeypatch.setattr(imports, "batch_done", batch_done)
    real_apply = import_rollups.apply

    def slow_apply(s, run_id, upto=None, **kw):
        added = real_apply(s, run_id, upto=upto, **kw)
        if upto is not None:  # the applier beside the writers
            time.sleep(1.0)
        return added

    monkeypatch.setattr(import_rollups, "apply", slow_apply)
    with Session(db) as s:
        summary = import_file(s, messy, opts(dedup=False, batch_size=1, writers=2))
    assert (summary.imported, summary.batches) == (7, 7)
    assert wrote["import-writer-0"] >= 5 and wrote.get("import-writer-1", 0) <= 2, wrote
    with Session(db) as s:
        assert len(keys_by_batch(s)) == 7
        assert rollup_drift(s) == ZERO_DRIFT

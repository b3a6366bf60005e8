"""A first load's secondary indexes (geo311/import_indexes.py): set aside while the batches write,
built again at the end, after a failure, or by whoever comes next when the import was killed.
On the committed database (the drops and builds commit), like tests/test_import_writers.py."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from geo311 import import_indexes, imports
from geo311.cli import Runtime, app
from geo311.db import make_sessionmaker
from geo311.heatmaps import rollup_drift
from geo311.imports import import_file, restore_abandoned_indexes
from tests.test_import_batches import orphans
from tests.test_import_writers import keys_by_batch, messy  # noqa: F401 (a fixture)
from tests.test_imports import CATEGORIES, COLUMNS, EXPECTED_REFUSED, ZERO_DRIFT, opts

TABLES = ("reports", "report_districts", "report_events", "submissions")


def definitions(s: Session) -> dict[str, str]:
    """Every index of the tables a batch writes: name -> definition."""
    return dict(s.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                               "AND tablename = ANY (:t)"), {"t": list(TABLES)}).all())


def enforcing(s: Session) -> set[str]:
    """The indexes that enforce something: the primary keys and unique ones."""
    return set(s.execute(text(
        "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_class t ON t.oid = x.indrelid WHERE t.relname = ANY (:t) AND x.indisunique"),
        {"t": list(TABLES)}).scalars())


def same(s: Session, found: dict[str, str]) -> None:
    """The indexes are the ones there were: the same names and definitions, but for where
    PostgreSQL puts the casts when it reads a definition again (the partial indexes' `status IN
    (...)` comes back as ARRAY[('open'::character varying)::text, ...] instead of (ARRAY['open'::
    character varying, ...])::text[]: the same array once folded). The planner uses them as
    before (`planned`)."""
    def bare(definition: str) -> str:
        return re.sub(r"::[a-z ]+(\(\d+\))?(\[\])?|[()\s]", "", definition)

    now = definitions(s)
    assert set(now) == set(found)
    assert {n: bare(d) for n, d in now.items()} == {n: bare(d) for n, d in found.items()}
    assert planned(s) == PLANNED_BEFORE


def planned(s: Session) -> set[str]:
    """The indexes the planner takes for intake's duplicate check, a work list and a report's
    events (with plain scans of the tables and sorts priced out)."""
    s.execute(text("SET LOCAL enable_seqscan = off"))
    s.execute(text("SET LOCAL enable_sort = off"))
    used = set()
    for query in (
            "SELECT id FROM reports r WHERE r.status IN ('open', 'assigned', 'in_progress') "
            "AND ST_DWithin(r.location::geography(Point,4326), "
            "ST_SetSRID(ST_MakePoint(-122.65, 45.52), 4326)::geography(Point,4326), 50)",
            "SELECT id FROM reports WHERE status IN ('open', 'assigned', 'in_progress') "
            "ORDER BY priority DESC, created_at, id LIMIT 20",
            "SELECT * FROM report_events WHERE report_id = 1 ORDER BY at"):
        plan = " ".join(s.execute(text(f"EXPLAIN {query}")).scalars())
        used |= set(re.findall(r"ix_\w+", plan))
    s.rollback()
    return used


def left_by_a_killed_import(db) -> int:
    """What an import that set the indexes aside and was killed leaves: their definitions."""
    with Session(db) as s:
        n = import_indexes.defer(s, 99, "killed", dedup=False)
        s.commit()
    return n


def left_empty(s: Session) -> set[str]:
    """The partial indexes of rows with a value (`WHERE column IS NOT NULL`) that the messy file's
    batches add nothing to: the columns no batch writes (crew, duplicate_of), and its contacts, for
    which it has no column. An import keeps them."""
    untouched = import_indexes.untouched(COLUMNS, list(COLUMNS.values()))
    return {name for table, name, predicate in s.execute(text(
        "SELECT t.relname, i.relname, pg_get_expr(x.indpred, x.indrelid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "WHERE t.relname = ANY (:t) AND x.indpred IS NOT NULL"), {"t": list(TABLES)})
        if (m := re.fullmatch(r"\((\w+) IS NOT NULL\)", predicate)) and (table, m.group(1)) in untouched}


def command(db, settings, *args: str):
    """`geo311 ARGS` on the test database."""
    return CliRunner().invoke(app, list(args), obj=Runtime(settings, session_factory=make_sessionmaker(db)))


def set_aside(s: Session) -> list[str]:
    return s.execute(text("SELECT name FROM import_deferred_indexes ORDER BY name")).scalars().all()


#: planned() on the indexes as the migrations made them (the `before` fixture checks it)
PLANNED_BEFORE = {"ix_reports_open_geog", "ix_reports_open_priority", "ix_report_events_report_id_at"}


@pytest.fixture
def before(db):
    with Session(db) as s:
        found = definitions(s)
        unique = enforcing(s)
        assert planned(s) == PLANNED_BEFORE
    assert len(found) > len(unique) >= 4  # something to set aside, and keys to keep
    return found, unique


def watch_batches(db, monkeypatch) -> list[set[str]]:
    """The indexes there are while each batch is written, seen from another connection."""
    seen: list[set[str]] = []
    lock = threading.Lock()

    def look(b: int) -> None:
        with Session(db) as other, lock:
            seen.append(set(definitions(other)))

    monkeypatch.setattr(imports, "batch_done", look)
    return seen


def test_a_first_load_writes_without_them_and_builds_them_again(db, messy, before, monkeypatch):  # noqa: F811
    found, unique = before
    seen = watch_batches(db, monkeypatch)
    with Session(db) as s:
        summary = import_file(s, messy, opts(dedup=False, batch_size=2, writers=2, indexes="defer"))
    assert (summary.read, summary.imported, summary.batches) == (17, 7, 4)
    assert dict(summary.refused) == EXPECTED_REFUSED
    with Session(db) as s:
        empty = left_empty(s)
    assert {"ix_reports_crew_id", "ix_reports_duplicate_of", "ix_submissions_reporter_email_norm"} <= empty
    assert summary.indexes_deferred == len(found) - len(unique) - len(empty)
    assert any("secondary indexes built once after the batches" in line for line in summary.lines())
    # only the keys while writing, and the indexes the batches add nothing to
    assert len(seen) == 4 and all(present == unique | empty for present in seen)
    with Session(db) as s:
        same(s, found)  # every one back
        assert set_aside(s) == []
        assert s.execute(text("SELECT count(*) FROM reports WHERE source = 'legacy'")).scalar() == 7
        assert s.execute(text("SELECT count(*) FROM report_districts")).scalar() == 7 * 3
        assert set(orphans(s).values()) == {0}
        assert rollup_drift(s) == ZERO_DRIFT


def test_dedup_keeps_the_index_it_reads(db, messy, before, monkeypatch):  # noqa: F811
    found, unique = before
    seen = watch_batches(db, monkeypatch)
    with Session(db) as s:
        summary = import_file(s, messy, opts(dedup=True, batch_size=2, indexes="defer"))
    # as without (tests/test_imports.py, where 1014 joins a report from before and here starts its own)
    assert (summary.imported, summary.merged, summary.merged_existing) == (6, 1, 0)
    with Session(db) as s:
        empty = left_empty(s)
    assert summary.indexes_deferred == len(found) - len(unique) - len(empty) - 1
    assert seen and all(present == unique | empty | {"ix_reports_created_at_id"} for present in seen)
    with Session(db) as s:
        same(s, found)
        assert set_aside(s) == []
        assert rollup_drift(s) == ZERO_DRIFT


def test_a_failing_import_builds_them_again(db, messy, before, monkeypatch):  # noqa: F811
    found, _ = before

    def fail_third(b: int) -> None:
        if b == 2:
            raise RuntimeError("disk full, say")

    monkeypatch.setattr(imports, "batch_done", fail_third)
    with Session(db) as s, pytest.raises(RuntimeError, match="disk full"):
        import_file(s, messy, opts(dedup=False, batch_size=2, writers=2, indexes="defer"))
    with Session(db) as s:
        assert s.execute(text("SELECT status FROM import_runs")).scalar() == "failed"
        assert len(keys_by_batch(s)) in (4, 5)  # whole batches of two (the last of one)
        same(s, found)
        assert set_aside(s) == []
        assert rollup_drift(s) == ZERO_DRIFT


def test_those_of_a_killed_import_are_built_by_whoever_comes_next(db, messy, before, settings):  # noqa: F811
    found, unique = before
    assert left_by_a_killed_import(db) == len(found) - len(unique)
    with Session(db) as s:
        assert set(definitions(s)) == unique and len(set_aside(s)) == len(found) - len(unique)
    # while an import of that source runs (it holds the source's lock), they are its own to build
    with db.connect() as running:
        running.execute(text("SELECT pg_advisory_lock(:k)"), {"k": imports._lock_key("killed")})
        with Session(db) as s:
            assert restore_abandoned_indexes(s) == []
            assert set(definitions(s)) == unique
        running.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": imports._lock_key("killed")})
    result = command(db, settings, "rollups", "apply")
    assert result.exit_code == 0, result.output
    assert "built the indexes they had set aside: ix_" in result.output
    with Session(db) as s:
        same(s, found)
        assert set_aside(s) == []
    left_by_a_killed_import(db)  # the next import builds them too (before its own work)
    with Session(db) as s:
        summary = import_file(s, messy, opts(dedup=False, batch_size=10, indexes="keep"))
        assert summary.imported == 7 and summary.indexes_deferred == 0
        same(s, found)
        assert set_aside(s) == []


def test_auto_sets_them_aside_for_a_first_load_only(db, messy):  # noqa: F811
    assert import_indexes.wanted("auto", 50_000, 0) and import_indexes.wanted("auto", 80_000, 80_000)
    assert not import_indexes.wanted("auto", 49_999, 0)  # too small to be worth building them again
    assert not import_indexes.wanted("auto", 80_000, 80_001)  # a top-up of a live system
    assert import_indexes.wanted("defer", 1, 10**6) and not import_indexes.wanted("keep", 10**6, 0)
    with pytest.raises(ValueError, match="one of auto, defer, keep"):
        import_indexes.wanted("later", 1, 0)
    with Session(db) as s:
        summary = import_file(s, messy, opts(dedup=False, batch_size=2))  # auto: 7 rows
        assert summary.indexes_deferred == 0
        dry = import_file(s, messy, opts(dedup=False, source="dry", dry_run=True, indexes="defer"))
        assert dry.imported == 7 and dry.indexes_deferred == 0  # a dry run drops nothing


def test_a_busy_table_keeps_them(db, messy, before, monkeypatch):  # noqa: F811
    """Dropping an index waits for every query of its table: past LOCK_TIMEOUT the import keeps
    them rather than hold the service's queries back behind it."""
    found, _ = before
    monkeypatch.setattr(import_indexes, "LOCK_TIMEOUT", "200ms")
    with db.connect() as export:
        export.execute(text("SELECT count(*) FROM report_events"))  # a long read, still open
        with Session(db) as s:
            summary = import_file(s, messy, opts(dedup=False, batch_size=2, indexes="defer"))
        export.rollback()
    assert summary.imported == 7 and summary.indexes_deferred == 0
    with Session(db) as s:
        same(s, found)
        assert set_aside(s) == []
        assert s.execute(text("SHOW lock_timeout")).scalar() == "0"


def test_the_command_line_takes_indexes(db, messy, settings, tmp_path):  # noqa: F811
    cats = tmp_path / "categories.yaml"
    cats.write_text("".join(f"{k}: {v}\n" for k, v in CATEGORIES.items()))
    args = ["import", str(messy), *[a for f, c in COLUMNS.items() for a in ("--map", f"{f}={c}")],
            "--categories", str(cats), "--source", "legacy"]
    runner = CliRunner()
    rt = Runtime(settings, session_factory=make_sessionmaker(db))
    bad = runner.invoke(app, [*args, "--indexes", "later"], obj=rt)
    assert bad.exit_code != 0 and "--indexes is one of auto, defer, keep, not 'later'" in bad.output
    result = runner.invoke(app, [*args, "--indexes", "defer", "--batch-size", "3"], obj=rt)
    assert result.exit_code == 0, result.output
    assert "imported 7 new reports" in result.output and "secondary indexes built once" in result.output
    with Session(db) as s:
        assert s.execute(text("SELECT options->>'indexes' FROM import_runs")).scalar() == "defer"
        assert set_aside(s) == []


def test_the_columns_an_import_leaves_empty():
    """Contact columns count as untouched only for a CSV without a column for them."""
    base = import_indexes.untouched({}, None)  # JSON: a record may have any field
    assert base == {("reports", "crew_id"), ("reports", "duplicate_of"), ("report_events", "crew_id")}
    with_email = import_indexes.untouched({**COLUMNS, "reporter_email": "Email"}, [*COLUMNS.values(), "Email"])
    assert with_email == base | {("submissions", "reporter_phone_norm")}
    assert import_indexes.untouched(COLUMNS, list(COLUMNS.values())) == base | {
        ("submissions", "reporter_email_norm"), ("submissions", "reporter_phone_norm")}


def test_db_upgrade_builds_them_first(db, before, settings):
    """A migration may alter an index a killed import set aside: `geo311 db upgrade` builds them."""
    found, unique = before
    left_by_a_killed_import(db)
    with Session(db) as s:
        assert set(definitions(s)) == unique
    result = command(db, settings, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "built the indexes a killed import had set aside: ix_" in result.output
    with Session(db) as s:
        same(s, found)
        assert set_aside(s) == []

"""An import run's rollups (heat cells, daily stats, district days), applied by the run itself.

While a run writes its batches, its reports are held out of the rollups: the triggers leave them
alone (migration 0014 says how, and why changes made meanwhile by staff or intake stay exact). The
run adds them with `apply`, set-based, in slices of about SLICE reports in id order, each slice one
transaction that also moves the run's hold (`import_holds.held_above`) past it: with parallel
writers, while they write (a connection of its own applies what they have committed, see
import_writers.py); then, when the batches are written or have failed, the rest. A run killed
before it could keeps its reports held; the next import applies them, or `geo311 rollups apply`
(imports.apply_abandoned).

Dashboards show a running import's reports slice by slice (with parallel writers; a --dedup or
one-writer import adds them at its end); everything else on them, intake included, stays current
throughout.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from geo311.heatmaps import DERIVED, ROLLUP_KEYS, fresh_sql, rollup_measures

#: reports per transaction of the apply: intake that touches the same heat cells waits for one
#: slice at most (bench/import_intake.py measures it)
SLICE = 100_000
DEADLOCK_RETRIES = 5

# the most shared rows last, so that they are locked for the shortest time: the all-time heat
# cells (every report of a category in that place, intake's too)
ORDER = ("stats_daily", "district_stats_daily", "heat_cells_daily", "heat_cells")
SLICE_TABLE = "import_rollup_slice"
CELLS_TABLE = "import_rollup_cells"
# what the aggregations derive from a report (its Web Mercator point, its days), computed once per
# report in the slice: the heat cells divide the point at every level, and the district days had
# converted both of a report's dates once per district of it (a slice of 100,000 reports at
# 1,000,000: that aggregation 0.78-0.94 -> 0.59-0.68 s)
SLICE_DERIVED = {name: name for name in DERIVED}
_SLICE_COLUMNS = ", ".join(["id", "jurisdiction_id", "category_id",
                            *(f"{expression} AS {name}" for name, expression in DERIVED.items()),
                            "status", "submission_count"])
# the slice's aggregations hash and sort a few hundred thousand rows (the district days' sorted
# 17 MB on disk with the default 16 MB)
WORK_MEM = "256MB"
# the slice's districts: a range of the primary key, not the whole table
_DISTRICTS = "(SELECT * FROM report_districts WHERE report_id > :lo AND report_id <= :hi)"


def hold(s: Session, run_id: int, source: str, above_id: int) -> None:
    """From now on, the reports of this run (its source's, with an id above above_id) are left out
    of the rollups until `apply` adds them."""
    s.execute(text("INSERT INTO import_holds (run_id, source, held_above) VALUES (:id, :src, :above)"),
              {"id": run_id, "src": source, "above": above_id})


def in_batch(s: Session, run_id: int) -> None:
    """This transaction writes a batch of the run: its inserts into reports and report_districts
    all belong to the run, and the triggers skip them whole."""
    s.execute(text("SELECT set_config('geo311.rollups_held_for', :run, true)"), {"run": str(run_id)})


def _upserts(s: Session) -> list:
    """A slice's statements: the all-time heat cells aggregated first, into a temp table, so that
    the rows intake shares are locked only while they are written, at the end."""
    out = [text(f"CREATE TEMP TABLE {CELLS_TABLE} AS {fresh_sql('heat_cells', SLICE_TABLE, derived=SLICE_DERIVED)}")]
    for table in ORDER:
        keys = ROLLUP_KEYS[table]
        measures = rollup_measures(s, table)
        # in the order intake's trigger locks them (all-time cells: the coarse levels last, migration 0014)
        order = ", ".join(keys)
        if table == "heat_cells":
            head, rows, order = "", CELLS_TABLE, order.replace("level", "level DESC", 1)
        else:
            # the aggregation planned on its own (a CTE), so that it hashes: asked for the rows in
            # the order above, PostgreSQL sorted every joined row of the district days for a grouped
            # aggregate instead (515,000 rows for 59,000 groups: 1.0 -> 0.8 s a slice)
            head = f"WITH aggregated AS MATERIALIZED ({fresh_sql(table, SLICE_TABLE, _DISTRICTS, derived=SLICE_DERIVED)}) "
            rows = "aggregated"
        out.append(text(
            f"{head}INSERT INTO {table} AS t SELECT * FROM {rows} ORDER BY {order} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
            + ", ".join(f"{m} = t.{m} + excluded.{m}" for m in measures)))
    return out


def apply(s: Session, run_id: int, upto: int | None = None, slice_size: int = SLICE,
          progress: Callable[[int], None] | None = None, whole: bool = False) -> int:
    """Add the run's held reports to the rollups, those with an id up to `upto` (all of them when
    None, and then the hold ends); commits each slice. `whole`: only whole slices (the rest waits
    for the next call: each slice upserts the all-time heat cells of its reports' places, most of
    them the same as the slice before's). Returns the reports added."""
    statements = _upserts(s)
    added = 0
    while True:
        for attempt in range(DEADLOCK_RETRIES + 1):
            try:
                n = _slice(s, run_id, upto, slice_size, statements, whole)
                break
            except DBAPIError as exc:  # a deadlock with intake (a day or a cell both lock): again
                s.rollback()
                if getattr(exc.orig, "sqlstate", None) != "40P01" or attempt == DEADLOCK_RETRIES:
                    raise
        if n is None:
            return added
        added += n
        if progress:
            progress(added)


def _slice(s: Session, run_id: int, upto: int | None, slice_size: int, statements: list,
           whole: bool = False) -> int | None:
    """The next slice of the run's held reports, committed; None when none is left (or, `whole`,
    fewer than a slice)."""
    held = s.execute(text("SELECT source, held_above FROM import_holds WHERE run_id = :id FOR UPDATE"),
                     {"id": run_id}).first()
    if held is None:
        s.commit()
        return None
    source, lo = held
    hi, found = s.execute(text("SELECT max(id), count(*) FROM (SELECT id FROM reports WHERE id > :lo AND id <= :upto "
                               "AND source = :src ORDER BY id LIMIT :n) x"),
                          {"lo": lo, "upto": upto if upto is not None else 2**63 - 1, "src": source,
                           "n": slice_size}).one()
    if whole and found < slice_size:
        s.commit()
        return None
    if hi is None:
        if upto is None:
            s.execute(text("DELETE FROM import_holds WHERE run_id = :id"), {"id": run_id})
        s.commit()
        return None
    s.execute(text(f"DROP TABLE IF EXISTS pg_temp.{SLICE_TABLE}, pg_temp.{CELLS_TABLE}"))
    s.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    n = s.execute(text(
        f"CREATE TEMP TABLE {SLICE_TABLE} AS SELECT {_SLICE_COLUMNS} FROM reports "
        "WHERE id > :lo AND id <= :hi AND source = :src"),
        {"lo": lo, "hi": hi, "src": source}).rowcount
    s.execute(text(f"ANALYZE {SLICE_TABLE} (id, jurisdiction_id)"))  # its size, and the districts' join
    for statement in statements:
        s.execute(statement, {"lo": lo, "hi": hi})
    s.execute(text(f"DROP TABLE {SLICE_TABLE}, {CELLS_TABLE}"))
    s.execute(text("UPDATE import_holds SET held_above = :hi WHERE run_id = :id"), {"hi": hi, "id": run_id})
    s.commit()
    return n


def held_above(s: Session, run_id: int) -> int | None:
    """The id above which the run's reports are held; None when none are."""
    above = s.execute(text("SELECT held_above FROM import_holds WHERE run_id = :id"), {"id": run_id}).scalar()
    s.commit()
    return above


def held_runs(s: Session) -> list[tuple[int, str]]:
    """(run id, source) of every run whose reports are held, oldest first."""
    return [(r, src) for r, src in s.execute(text("SELECT run_id, source FROM import_holds ORDER BY run_id"))]


def held_reports(s: Session) -> list[tuple[int, str, str, int]]:
    """(run id, source, run status, reports held) of every run that holds reports, oldest first."""
    return [tuple(row) for row in s.execute(text(
        "SELECT h.run_id, h.source, r.status, (SELECT count(*) FROM reports x WHERE x.id > h.held_above "
        "AND x.source = h.source) FROM import_holds h JOIN import_runs r ON r.id = h.run_id ORDER BY h.run_id"))]


class Frontier:
    """Which of a run's reports parallel writers have committed, for applying them while they write:
    every report id up to `ready()`'s first value is committed or will never exist. A writer
    allocates its batch's report ids holding `allocating()` and says which with `allocated`; ids
    allocated later are larger."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inflight: dict[int, tuple[int, int]] = {}  # batch -> its smallest and largest report id
        self._committed: list[tuple[int, int]] = []  # (largest report id, rows) of committed batches
        self._top = 0
        self._applied = 0  # the rollups count every report of the run up to this id

    def allocating(self) -> threading.Lock:
        return self._lock

    def allocated(self, batch: int, low: int | None, high: int | None) -> None:
        """Called holding `allocating()`."""
        if low is not None and high is not None:
            self._inflight[batch] = (low, high)

    def committed(self, batch: int, rows: int) -> None:
        with self._lock:
            ids = self._inflight.pop(batch, None)
            if ids is not None:
                self._committed.append((ids[1], rows))
                self._top = max(self._top, ids[1])

    def failed(self, batch: int) -> None:
        with self._lock:
            self._inflight.pop(batch, None)

    def applied(self, upto: int) -> None:
        """The rollups now count the run's reports up to `upto`."""
        with self._lock:
            self._applied = max(self._applied, upto)

    def behind(self) -> int:
        """Rows of committed batches that the rollups do not count yet."""
        with self._lock:
            return sum(rows for high, rows in self._committed if high > self._applied)

    def ready(self, above: int) -> tuple[int, int]:
        """(the safe id, rows of committed batches above `above` up to it)."""
        with self._lock:
            safe = min(low for low, _ in self._inflight.values()) - 1 if self._inflight else self._top
            return safe, sum(rows for high, rows in self._committed if above < high <= safe)

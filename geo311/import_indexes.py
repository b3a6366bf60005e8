"""A first load's secondary indexes: set aside while its batches write, built once at its end.

Filled row by row, the indexes of the tables an import's batches write cost them about as much as
the rows themselves (10,000 reports into a table of a million: 218-304 ms with their indexes,
66-68 ms without); built once from the finished tables, sorted, they cost a fraction of that
(docs/import-export.md). So an import of 50,000 rows or more that at least doubles the reports, a
city's history going into a new geo311, drops every index of those tables that enforces nothing
(not unique, not a constraint's), that the import itself does not read and that its batches add
entries to (`untouched`), and builds them again when its batches are written or have failed: on
connections of their own from when the writers are done (beside the rollups' last slices), and on
the import's own once those are applied (`Rebuild`). `--indexes defer` or `keep` decides for any
import. The batches of a 1M import shrink by a third (docs/import-export.md has the whole
import's figures with and without).

Meanwhile the service works without them: lookups that use them (the map's box, work lists,
intake's duplicate check) read the tables whole, correct but slower, and a build holds off writes
to its table for its few seconds. Hence the rule: a first load, not a top-up of a live system.

Each index's definition is kept in import_deferred_indexes, written in the transaction that drops
it and deleted in the one that builds it again: an import killed in between leaves it there, and
the next import, `geo311 rollups apply` or `geo311 db upgrade` builds it (`restore_abandoned`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from geo311 import import_batches

#: the tables an import's batches write (the ledger's only index is its key)
TABLES = ("reports", "report_districts", "report_events", "submissions")
#: what --dedup reads while it writes: the reports of a batch's dates (import_batches._DEDUP)
READ_BY_DEDUP = ("ix_reports_created_at_id",)
#: the least rows for which `auto` defers: below it, building the indexes of the whole table again
#: costs more than the batches save
AUTO_MIN_ROWS = 50_000
#: how long dropping an index may wait for the queries that read its table (an export, say); past
#: that the import keeps the indexes rather than hold every other query of the table back behind it
LOCK_TIMEOUT = "5s"
MODES = ("auto", "defer", "keep")

#: called with (indexes built, of how many)
Built = Callable[[int, int], None]

_DEFERRABLE = """
SELECT t.relname, i.relname, pg_get_indexdef(i.oid), pg_get_expr(x.indpred, x.indrelid)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
WHERE t.relnamespace = CAST(current_schema() AS regnamespace) AND t.relname = ANY (:tables)
  AND NOT x.indisunique AND NOT x.indisprimary AND x.indisvalid
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.oid)
  AND i.relname <> ALL (:kept)
ORDER BY t.relname, i.relname"""


def wanted(mode: str, rows: int, stored: int) -> bool:
    """Whether an import of `rows` routed rows into a table of `stored` reports sets the indexes
    aside: `auto` when it is a first load (at least AUTO_MIN_ROWS, and at least what is stored)."""
    if mode not in MODES:
        raise ValueError(f"indexes mode {mode!r}: one of {', '.join(MODES)}")
    return mode == "defer" or (mode == "auto" and rows >= AUTO_MIN_ROWS and rows >= stored)


def untouched(columns: dict[str, str], header: list[str] | None) -> set[tuple[str, str]]:
    """(table, column) an import's batches leave NULL in every row: those no batch writes, and the
    contact columns of a CSV that has no column for them (`columns`: geo311 field -> the file's
    column; `header`: the CSV's, None for JSON, whose records may have any field)."""
    found = set(import_batches.ALWAYS_NULL)
    if header is not None:
        found |= {("submissions", column) for field, column in import_batches.CONTACT_COLUMNS.items()
                  if columns.get(field) not in header}
    return found


_NOT_NULL = re.compile(r"^\(?(\w+) IS NOT NULL\)?$")


def defer(s: Session, run_id: int, source: str, dedup: bool,
          untouched: Collection[tuple[str, str]] = ()) -> int:
    """Drop the deferrable indexes, keeping their definitions, in s's transaction (the caller
    commits). Returns how many; 0 when a table is too busy to drop them within LOCK_TIMEOUT.
    `untouched`: (table, column) that the import leaves NULL in every row it writes; a partial
    index of that column's rows (`WHERE column IS NOT NULL`) stays, since the batches add nothing
    to it, and building it again would read its whole table for nothing (a full read of the
    submissions of a 1M import for each of its two contact indexes)."""
    kept = list(READ_BY_DEDUP) if dedup else []
    found = [(table, name, definition) for table, name, definition, predicate in
             s.execute(text(_DEFERRABLE), {"tables": list(TABLES), "kept": kept})
             if not (predicate and (m := _NOT_NULL.match(predicate)) and (table, m.group(1)) in untouched)]
    if not found:
        return 0
    try:
        with s.begin_nested():
            s.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            for table, name, definition in found:
                s.execute(text("INSERT INTO import_deferred_indexes (name, table_name, definition, run_id, source) "
                               "VALUES (:n, :t, :d, :r, :s)"),
                          {"n": name, "t": table, "d": definition, "r": run_id, "s": source})
                s.execute(text(f'DROP INDEX "{name}"'))
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        return 0
    finally:
        s.execute(text("RESET lock_timeout"))  # SET LOCAL lasts to the transaction's end, not the savepoint's
    return len(found)


def deferred(s: Session, run_id: int | None = None) -> list[tuple[str, str]]:
    """(name, definition) of the indexes set aside, by run_id or by every run."""
    return [(n, d) for n, d in s.execute(text(
        "SELECT name, definition FROM import_deferred_indexes WHERE CAST(:r AS int) IS NULL OR run_id = :r "
        "ORDER BY name"), {"r": run_id})]


def build(s: Session, name: str, definition: str) -> None:
    """One index again, and its definition forgotten, in one transaction (committed)."""
    s.execute(text("SET LOCAL statement_timeout = 0"))  # a big table's index may take minutes
    s.execute(text(definition.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)))
    s.execute(text("DELETE FROM import_deferred_indexes WHERE name = :n"), {"n": name})
    s.commit()


class Rebuild:
    """The indexes one run set aside, built by connections of their own (from `start`) and by the
    caller's (in `finish`), each taking the next one left: those of the table with the most rows
    first (and GiST before B-tree, slower to build an entry), so that the last one to finish is
    a short one."""

    #: connections of its own
    CONNECTIONS = 2

    def __init__(self, s: Session, run_id: int, engine: Engine | None, built: Built | None = None) -> None:
        self._todo = deferred(s, run_id)
        self.total = len(self._todo)
        self._ordered = False
        self._engine = engine
        self._built = built
        self._done = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._failure: BaseException | None = None

    def start(self) -> None:
        """The other connections start (once; not without an engine, nor for one index)."""
        if self._engine is not None and self.total > 1 and not self._threads:
            self._threads = [threading.Thread(target=self._own_connection, name=f"import-indexes-{i}", daemon=True)
                             for i in range(min(self.CONNECTIONS, self.total - 1))]
            for t in self._threads:
                t.start()

    def finish(self, s: Session) -> None:
        """Build what is left on s, wait for the other connections; raises the first failure."""
        try:
            self._take(s)
        finally:
            self.wait()
        if self._failure is not None:
            raise self._failure

    def wait(self) -> None:
        """Wait for the other connections to have built what is left (or to have failed)."""
        for t in self._threads:
            t.join()

    def _own_connection(self) -> None:
        try:
            with self._engine.connect() as conn, Session(bind=conn) as s:
                self._take(s)
        except BaseException as exc:  # noqa: BLE001 (raised by finish, in the importing thread)
            self._failure = self._failure or exc

    def _next(self, s: Session) -> tuple[str, str] | None:
        with self._lock:
            if not self._ordered and self._todo:
                # the rows written by now (the statistics of the tables' inserts)
                rows = dict(s.execute(text(
                    "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE schemaname = current_schema() "
                    "AND relname = ANY (:t)"), {"t": list(TABLES)}).all())
                s.commit()
                tables = dict(s.execute(text(
                    "SELECT name, table_name FROM import_deferred_indexes WHERE name = ANY (:n)"),
                    {"n": [n for n, _ in self._todo]}).all())
                s.commit()
                self._todo.sort(key=lambda item: (-rows.get(tables.get(item[0]), 0),
                                                  " USING gist " not in item[1], item[0]))
                self._ordered = True
            return self._todo.pop(0) if self._todo else None

    def _take(self, s: Session) -> None:
        while self._failure is None:
            item = self._next(s)
            if item is None:
                return
            build(s, *item)
            with self._lock:
                self._done += 1
                if self._built:
                    self._built(self._done, self.total)


def restore_abandoned(s: Session, holding: Callable[[str], AbstractContextManager[bool]]) -> list[str]:
    """Build the indexes set aside by runs that are no longer running. `holding(source)` holds
    that source's import lock while it builds them and says whether it got it (an import of the
    source runs: its own are left to it). Returns the names built."""
    if not s.execute(text("SELECT to_regclass('import_deferred_indexes') IS NOT NULL")).scalar():
        s.commit()
        return []  # a schema from before migration 0017
    sources = s.execute(text("SELECT DISTINCT source FROM import_deferred_indexes ORDER BY source")).scalars().all()
    s.commit()
    restored = []
    for source in sources:
        with holding(source) as held:
            if not held:
                continue
            for name, definition in s.execute(text(
                    "SELECT name, definition FROM import_deferred_indexes WHERE source = :s ORDER BY name"),
                    {"s": source}).all():
                build(s, name, definition)
                restored.append(name)
    return restored

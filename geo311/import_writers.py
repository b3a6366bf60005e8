"""Writing an import's batches (import_batches.write_batch), one after another on the import's own
connection, or by several connections at once.

Several writers: each takes a contiguous run of batches (the batches are in created_at order, so
the writers' batches lie months apart and their daily rollup rows differ) and commits each batch
on its own. What they still share are the all-time heat cells: a batch holds those rows from its
reports statement to its commit, so that part of the batches runs one at a time, and everything
before it (matching the districts, submissions, events, the ledger, the reports' own indexes) on
all cores. The first failure stops every writer after its current batch; the batches committed
by then stay, and running the file again imports only the rest (the ledger says which).

Writers need their own connections and committed staging tables, so a dry run (one transaction),
a --dedup import (each batch depends on the ones before it) and a session bound to one connection
(the tests) write one batch after another.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from geo311 import import_batches


@dataclass
class Batches:
    """What every batch of one import shares."""

    count: int
    dedup: bool
    source: str
    run_id: int
    margin: float
    max_before: int
    norms: bool

    def write(self, s: Session, b: int, trusted: bool) -> tuple[int, int, int, int]:
        """Batch b, in s's transaction, with the run's counts; not committed."""
        created, merged, existing, rows = import_batches.write_batch(
            s, b, dedup=self.dedup, source=self.source, run_id=self.run_id, margin=self.margin,
            max_before=self.max_before, norms=self.norms, trusted=trusted)
        s.execute(text("UPDATE import_runs SET imported = imported + :c, merged = merged + :m WHERE id = :id"),
                  {"c": created, "m": merged, "id": self.run_id})
        return created, merged, existing, rows


#: called with (batch, (created, merged, existing, rows)) after each committed batch
Done = Callable[[int, tuple[int, int, int, int]], None]
#: called with (batch) before each commit (the tests make it fail)
BeforeCommit = Callable[[int], None]


def write_one_by_one(s: Session, batches: Batches, commit: Callable[[], None], before_commit: BeforeCommit,
                     done: Done) -> None:
    trusted = import_batches.trusted_writes(s)
    for b in range(batches.count):
        result = batches.write(s, b, trusted)
        before_commit(b)
        commit()
        done(b, result)


def write_in_parallel(engine: Engine, writers: int, setup: Callable[[Session], None], batches: Batches,
                      before_commit: BeforeCommit, done: Done) -> None:
    """`writers` connections of `engine`, each set up by `setup` (the import's session settings and
    the schema of its staging tables), write the batches; returns when all are written or raises
    the first failure once every writer has stopped."""
    writers = max(1, min(writers, batches.count))
    runs = [range(i * batches.count // writers, (i + 1) * batches.count // writers) for i in range(writers)]
    stop = threading.Event()
    reports: queue.Queue = queue.Queue()

    def writer(run: range) -> None:
        try:
            with engine.connect() as conn:
                try:
                    with Session(bind=conn, expire_on_commit=False) as ws:
                        setup(ws)
                        ws.commit()
                        trusted = import_batches.trusted_writes(ws)
                        for b in run:
                            if stop.is_set():
                                break
                            result = batches.write(ws, b, trusted)
                            before_commit(b)
                            ws.commit()
                            reports.put((b, result, None))
                finally:  # closed, not pooled: it holds this import's temp tables and settings
                    conn.invalidate()
        except BaseException as exc:  # noqa: BLE001 (handed to the importing thread, which raises it)
            stop.set()
            reports.put((None, None, exc))
        finally:
            reports.put(None)

    threads = [threading.Thread(target=writer, args=(run,), name=f"import-writer-{i}", daemon=True)
               for i, run in enumerate(runs)]
    for t in threads:
        t.start()
    failure: BaseException | None = None
    running = len(threads)
    try:
        while running:
            item = reports.get()
            if item is None:
                running -= 1
            elif item[2] is not None:
                failure = failure or item[2]
            else:
                done(item[0], item[1])
    except BaseException:  # interrupted (Ctrl-C): let the writers finish their batch and stop
        stop.set()
        raise
    finally:
        for t in threads:
            t.join()
    if failure is not None:
        raise failure

"""Writing an import's batches (import_batches.write_batch), one after another on the import's own
connection, or by several connections at once.

Several writers take the batches in order from a shared counter and commit each on its own; the
rollups are not theirs to write (import_rollups.py holds the run's reports out of them), so they
share no rows. One more connection applies the run's committed reports to the rollups while they
write, a slice at a time (import_rollups.Frontier tells which are committed); the import applies
the rest when they are done. The first failure stops every writer after its current batch; the
batches committed by then stay, and running the file again imports only the rest (the ledger says
which).

Writers need their own connections and committed staging tables, so a dry run (one transaction),
a --dedup import (each batch depends on the ones before it) and a session bound to one connection
(the tests) write one batch after another.
"""

from __future__ import annotations

import functools
import itertools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from geo311 import import_batches, import_rollups

#: rows committed and not yet in the rollups at which the writers but one wait for the applier
ROLLUPS_BEHIND = import_rollups.SLICE


@dataclass
class Batches:
    """What every batch of one import shares."""

    count: int
    dedup: bool
    source: str
    run_id: int
    max_before: int
    norms: bool
    sequences: dict[str, str]  # import_batches.sequences

    def write(self, s: Session, b: int, trusted: bool,
              frontier: import_rollups.Frontier | None = None) -> tuple[int, int, int, int]:
        """Batch b, in s's transaction, with the run's counts; not committed."""
        created, merged, existing, rows = import_batches.write_batch(
            s, b, dedup=self.dedup, source=self.source, run_id=self.run_id,
            max_before=self.max_before, norms=self.norms, sequences=self.sequences, trusted=trusted,
            frontier=frontier)
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
                      before_commit: BeforeCommit, done: Done, writers_done: Callable[[], None] | None = None) -> None:
    """`writers` connections of `engine`, each set up by `setup` (the import's session settings and
    the schema of its staging tables), write the batches, and one more applies the committed ones
    to the rollups; returns when all are written or raises the first failure once every writer has
    stopped. What is left to apply is left to the caller. `writers_done` is called when the writers are
    done, while the rollups' slice of the moment is applied (a core is free then)."""
    writers = max(1, min(writers, batches.count))
    claim = itertools.count()
    claiming = threading.Lock()
    stop = threading.Event()
    claimed = threading.Event()  # every batch is taken: what is left is what the writers write now
    written = threading.Event()
    frontier = import_rollups.Frontier()
    reports: queue.Queue = queue.Queue()

    def own_session(work: Callable[[Session], None]) -> None:
        try:
            with engine.connect() as conn:
                try:
                    with Session(bind=conn, expire_on_commit=False) as ws:
                        setup(ws)
                        ws.commit()
                        work(ws)
                finally:  # closed, not pooled: it holds this import's temp tables and settings
                    conn.invalidate()
        except BaseException as exc:  # noqa: BLE001 (handed to the importing thread, which raises it)
            stop.set()
            reports.put((None, None, exc))
        finally:
            reports.put(None)

    def writer(ws: Session, first: bool) -> None:
        trusted = import_batches.trusted_writes(ws)
        while not stop.is_set():
            # the rollups keep pace: the other writers wait while they are a slice behind, so that
            # the applier has a core of its own (beside three busy connections on two cores it had
            # a third of each, and the end of the import waited for four or five slices on one core)
            while not first and frontier.behind() >= ROLLUPS_BEHIND and not stop.is_set():
                stop.wait(0.02)
            with claiming:
                b = next(claim)
            if b >= batches.count:
                claimed.set()
                break
            try:
                result = batches.write(ws, b, trusted, frontier)
                before_commit(b)
                ws.commit()
            except BaseException:
                frontier.failed(b)
                raise
            frontier.committed(b, result[3])
            reports.put((b, result, None))

    def applier(ws: Session) -> None:
        # whole slices while batches are being taken (each slice upserts the all-time heat cells of
        # its places, most of them the slice before's too); once every batch is taken, whatever is
        # committed, so that the apply left for the end, on one connection, is small
        above = 0
        tried = None  # (frontier, ending) of the last apply: nothing more to do until either moves
        while not written.wait(0.02) and not stop.is_set():
            safe, rows = frontier.ready(above)
            ending = claimed.is_set()
            if (rows >= import_rollups.SLICE or (rows and ending)) and (safe, ending) != tried:
                import_rollups.apply(ws, batches.run_id, upto=safe, whole=not ending)
                held = import_rollups.held_above(ws, batches.run_id)
                above = safe if held is None else held
                frontier.applied(above)
                tried = (safe, ending)

    threads = [threading.Thread(target=own_session, args=(functools.partial(writer, first=i == 0),),
                                name=f"import-writer-{i}", daemon=True) for i in range(writers)]
    threads.append(threading.Thread(target=own_session, args=(applier,), name="import-rollups", daemon=True))
    for t in threads:
        t.start()
    failure: BaseException | None = None
    running = len(threads)
    try:
        while running:
            item = reports.get()
            if item is None:
                running -= 1
                if running == 1:  # the writers are done: the applier stops after its slice
                    written.set()
                    if writers_done is not None:
                        writers_done()
            elif item[2] is not None:
                failure = failure or item[2]
            else:
                done(item[0], item[1])
    except BaseException:  # interrupted (Ctrl-C): let the writers finish their batch and stop
        stop.set()
        raise
    finally:
        written.set()
        for t in threads:
            t.join()
    if failure is not None:
        raise failure

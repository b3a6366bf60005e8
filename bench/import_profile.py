"""Where an import's time goes: `import_file` in process on bench/import.py's generated CSV, with
the time of each phase (staging, matching and classification, batches) and of each SQL statement
summed over every connection (so per-row CPU of the server, not wall time, when writers run in
parallel). The import goes to bench/import.py's database, emptied first; the file is generated
once into --dir and kept there for the next run.

    .venv/bin/python bench/import_profile.py [--rows 200000] [--writers 2] [--batch-size 50000] [--dedup] [--checked]
                                             [--indexes auto|defer|keep]

--checked writes with PostgreSQL's row-by-row foreign-key checks even where the role could skip them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session

from geo311 import import_batches, import_rollups, import_writers, imports

bench_import = importlib.import_module("import")  # bench/import.py: the file, its mapping, its database


_TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu(conn) -> float:
    """CPU seconds the connection's server process has used (user + system), from /proc: the
    server runs on this machine. Parallel workers' CPU is not in it."""
    try:
        with open(f"/proc/{conn.connection.dbapi_connection.info.backend_pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, AttributeError):
        return 0.0


def timed(phases: Counter, name: str, fn):
    def run(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            phases[name] += time.perf_counter() - started
    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--writers", type=int, default=imports.DEFAULT_WRITERS)
    ap.add_argument("--batch-size", type=int, default=imports.ImportOptions.batch_size)
    ap.add_argument("--dedup", action="store_true")
    ap.add_argument("--indexes", default="auto", help="auto, defer or keep (imports.ImportOptions.indexes)")
    ap.add_argument("--checked", action="store_true", help="keep the row-by-row foreign-key checks")
    ap.add_argument("--timeline", type=float, default=None,
                    help="print every statement of 0.2 s or more that ended after this many seconds, with its connection")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/geo311-import-profile"))
    args = ap.parse_args()
    db = bench_import.import_db()
    path = bench_import.kept_file(db, args.dir, args.rows)
    bench_import.empty(db)

    phases: Counter = Counter()
    imports._stage = timed(phases, "reading and staging", imports._stage)
    imports._classify = timed(phases, "matching and classification", imports._classify)
    imports._write_refused = timed(phases, "refused rows file", imports._write_refused)
    import_writers.write_in_parallel = timed(phases, "batches", import_writers.write_in_parallel)
    import_writers.write_one_by_one = timed(phases, "batches", import_writers.write_one_by_one)
    import_rollups.apply = timed(phases, "rollups", import_rollups.apply)
    if args.checked:
        import_batches.trusted_writes = lambda s: False

    engine = create_engine(db.url)
    spent: Counter = Counter()
    calls: Counter = Counter()
    cpu: Counter = Counter()
    timeline: list = []
    started_at = [time.perf_counter()]

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        conn.info.setdefault("started", []).append((time.perf_counter(), backend_cpu(conn)))

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        key = re.sub(r"\s+", " ", statement.strip())[:90]
        wall, cpu0 = conn.info["started"].pop()
        spent[key] += time.perf_counter() - wall
        cpu[key] += backend_cpu(conn) - cpu0
        calls[key] += 1
        if args.timeline:
            timeline.append((wall - started_at[0], time.perf_counter() - started_at[0], id(conn.connection), key[:60]))

    columns = dict(m.split("=", 1) for m in bench_import.MAP[1::2])
    opts = imports.ImportOptions(format="csv", source="bench", columns=columns, category_map=bench_import.TYPES,
                                 dedup=args.dedup, writers=args.writers, indexes=args.indexes, batch_size=args.batch_size, refused_path=args.dir / "refused.csv")
    started = started_at[0] = time.perf_counter()
    with Session(engine) as s:
        summary = imports.import_file(s, path, opts)
    total = time.perf_counter() - started
    engine.dispose()
    print("\n".join(summary.lines()))
    print(f"total {total:.1f} s, {args.rows / total:,.0f} rows/s")
    if args.timeline is not None:
        names: dict = {}
        for begun, ended, conn_id, key in timeline:
            if ended >= args.timeline and ended - begun >= 0.2:
                print(f"{begun:6.1f} -> {ended:6.1f}  conn {names.setdefault(conn_id, len(names))}  {key}")
    for name, seconds in phases.items():
        print(f"phase {name}: {seconds:.1f} s")
    print(f"server CPU of the statements: {sum(cpu.values()):.1f} s (their wall time summed over connections "
          f"{sum(spent.values()):.1f} s)")
    print("statements (wall seconds summed over connections, the server's CPU seconds, CPU microseconds per "
          "row of the file, calls):")
    for key, seconds in spent.most_common(30):
        print(f"{seconds:8.2f} s {cpu[key]:7.2f} s {cpu[key] / args.rows * 1e6:6.1f} us x{calls[key]:<3} {key}")


if __name__ == "__main__":
    main()

"""What a bulk import does to live intake: residents' submissions (geo311.intake.submit, one
after another with a 50 ms pause) timed alone, then while `geo311 import` of bench/import.py's
generated CSV runs in a subprocess, once per --batch-size. The import adds its reports to the
rollups a slice at a time (geo311/import_rollups.py); a slice holds the all-time heat cells it
writes (rows that intake's submissions share) until it commits, so a submission can wait for it.

    .venv/bin/python bench/import_intake.py [--rows 1000000] [--batch-size 50000 --batch-size 10000]
                                            [--indexes auto|defer|keep]

With --indexes auto (the default), the import into the emptied database is a first load: it sets
the secondary indexes of the reports' tables aside (geo311/import_indexes.py), so intake's own
lookups read whole tables meanwhile, and waits for each index build at the end.

The import goes to bench/import.py's database (emptied before each run); the file is generated
once into --dir and kept there, as bench/import_profile.py does.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, figure, percentile
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from geo311.intake import NewSubmission, submit

bench_import = importlib.import_module("import")  # bench/import.py: the file, its mapping, its database
PAUSE_S = 0.05


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch-size", type=int, action="append")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/geo311-import-profile"))
    ap.add_argument("--indexes", default="auto", help="the import's --indexes: auto, defer or keep")
    args = ap.parse_args()
    sizes = args.batch_size or [50_000, 10_000]
    db = bench_import.import_db()
    path = bench_import.kept_file(db, args.dir, args.rows)
    cats = args.dir / "categories.json"
    cats.write_text(json.dumps(bench_import.TYPES))
    engine = create_engine(db.url)
    rng = random.Random(311)

    def submission() -> float:  # a graffiti report somewhere downtown, as the map sends it
        lon, lat = -122.68 + rng.uniform(-0.03, 0.03), 45.52 + rng.uniform(-0.03, 0.03)
        with Session(engine) as s:
            started = time.perf_counter()
            submit(s, NewSubmission(lon, lat, "graffiti", {"bench": "import_intake"}))
            return (time.perf_counter() - started) * 1000

    def report(label: str, ms: list[float]) -> None:
        figure(f"intake.{label}.p50_ms", percentile(ms, 50), f"({len(ms)} submissions)")
        figure(f"intake.{label}.p95_ms", percentile(ms, 95))
        figure(f"intake.{label}.p99_ms", percentile(ms, 99))
        figure(f"intake.{label}.max_ms", max(ms))

    for size in sizes:
        bench_import.empty(db)
        for _ in range(20):  # warm up
            submission()
        alone = []
        for _ in range(200):
            alone.append(submission())
            time.sleep(PAUSE_S)
        report(f"alone.{size}", alone)
        env = {**os.environ, "GEO311_DATABASE_URL": db.url, "GEO311_LOG_LEVEL": "warning"}
        started = time.perf_counter()
        child = subprocess.Popen(
            [str(Path(sys.executable).parent / "geo311"), "import", str(path), "--format", "csv", *bench_import.MAP,
             "--categories", str(cats), "--source", "bench", "--refused", str(args.dir / "refused.csv"),
             "--batch-size", str(size), "--indexes", args.indexes],
            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        during = []
        while child.poll() is None:
            during.append(submission())
            time.sleep(PAUSE_S)
        seconds = time.perf_counter() - started
        if child.returncode != 0:
            raise RuntimeError(child.stderr.read()[-3000:])
        figure(f"import.batch_{size}.rows_per_s", args.rows / seconds,
               f"({args.rows} rows, {seconds:.1f} s, with intake running, --indexes {args.indexes})")
        report(f"during_import.batch_{size}", during)
    engine.dispose()


if __name__ == "__main__":
    main()

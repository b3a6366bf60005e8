"""How fast an import locates records that have an address and no point (issue 12: real-world files).

In bench/import.py's database (the Portland demo, with its 200,000 address points), a CSV of
--rows records without coordinates, their addresses drawn from the address points' own labels
(a tenth written the way people type them: lower case, the street type abbreviated; a twentieth
with a house number nobody has), each address --repeat times; `import_file` in process, then the
located records per second and the distinct addresses looked up per second, beside the same
file with the points given (the import without any lookup).

    .venv/bin/python bench/import_locate.py [--rows 20000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import csv
import importlib
import random
import tempfile
import time
from pathlib import Path

from _common import figure
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from geo311 import imports

bench_import = importlib.import_module("import")  # bench/import.py: its database
ABBREVIATIONS = {" Street": " st", " Avenue": " ave", " Boulevard": " blvd", " Drive": " dr", " Road": " rd",
                 "Southeast ": "se ", "Northeast ": "ne ", "Southwest ": "sw ", "Northwest ": "nw ", "North ": "n "}


def addresses(db, n: int, seed: int = 311) -> list[tuple[str, float, float]]:
    with db.connect() as conn:
        rows = conn.execute("SELECT label, ST_X(location), ST_Y(location) FROM addresses "
                            "ORDER BY md5(id::text) LIMIT %s", (n,)).fetchall()
    rng = random.Random(seed)
    out = []
    for label, lon, lat in rows:
        roll = rng.random()
        if roll < 0.05:
            label = "99999" + label[label.index(" "):]  # no such number: refused
        elif roll < 0.15:
            for long, short in ABBREVIATIONS.items():
                label = label.replace(long, short)
            label = label.lower()
        out.append((label, lon, lat))
    return out


def write(path: Path, rows: list[tuple[str, float, float]], repeat: int, points: bool) -> int:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "created_at", "category", "lon", "lat", "address"])
        n = 0
        for _ in range(repeat):
            for label, lon, lat in rows:
                n += 1
                w.writerow([n, f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T10:00:00Z", "graffiti",
                            lon if points else "", lat if points else "", label])
    return n


def run(db, path: Path, source: str) -> imports.ImportSummary:
    bench_import.empty(db)
    engine = create_engine(db.url)
    opts = imports.ImportOptions(format="csv", source=source, refused_path=path.with_suffix(".refused.csv"))
    try:
        with Session(engine) as s:
            return imports.import_file(s, path, opts)
    finally:
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=2, help="records per distinct address")
    args = ap.parse_args()
    db = bench_import.import_db()
    bench_import.described_city(db)
    with db.connect() as conn:
        if not conn.execute("SELECT EXISTS (SELECT 1 FROM addresses)").fetchone()[0]:
            raise SystemExit("no address points in the bench database: run bench/import.py once first")
    rows = addresses(db, args.rows // args.repeat)
    with tempfile.TemporaryDirectory(prefix="geo311-bench-locate-") as tmp:
        given = Path(tmp) / "with_points.csv"
        bare = Path(tmp) / "addresses_only.csv"
        n = write(given, rows, args.repeat, points=True)
        write(bare, rows, args.repeat, points=False)
        started = time.perf_counter()
        base = run(db, given, "bench-points")
        base_s = time.perf_counter() - started
        started = time.perf_counter()
        summary = run(db, bare, "bench-addresses")
        seconds = time.perf_counter() - started
    print("\n".join(summary.lines()))
    figure("import_locate.rows", n, f"({len(rows)} distinct addresses, each {args.repeat} times)")
    figure("import_locate.with_points_s", base_s, f"({base.imported} imported)")
    figure("import_locate.addresses_only_s", seconds, f"({summary.imported} imported, {summary.located} located)")
    figure("import_locate.addresses_per_s", len(rows) / max(seconds - base_s, 1e-9),
           "(distinct addresses looked up per second: the time beyond the import with points)")
    figure("import_locate.located_share", f"{summary.located / n:.3f}")


if __name__ == "__main__":
    main()

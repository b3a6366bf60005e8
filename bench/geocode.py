"""Geocoding with the full Portland address file (436,439 points): loading rate, forward and reverse
lookups, each against the raw-PostGIS floor for the same work in the same run.

    .venv/bin/python bench/geocode.py [--queries 1000]

Figures:
- load.rows_per_s: `geo311 addresses load` of the whole file (target >= 50,000);
- forward.ms p50/p95: geocoding.geocode() on addresses typed the ways people type them (target
  p95 < 20 ms); floor: the exact lookup of the same street and number by index, raw psycopg;
- reverse.ms p50/p95: geocoding.reverse() at random points (target p95 < 5 ms); floor: the same
  KNN query, raw psycopg.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import random
import time

from _common import bench_db, describe_machine, figure, loadavg, percentile

from geo311.address_loader import load_addresses
from geo311.address_norm import parse
from geo311.db import make_engine, make_sessionmaker
from geo311.demo import DEMO_DIR
from geo311.geocoding import geocode, reverse
from geo311.settings import Settings

FILE = DEMO_DIR / "portland_metro_addresses_rlis_2015.csv.gz"
ABBREVIATIONS = [(" Street", " St"), (" Avenue", " Ave"), (" Boulevard", " Blvd"), (" Drive", " Dr"),
                 (" Court", " Ct"), (" Road", " Rd"), (" Place", " Pl"), (" Lane", " Ln")]
DIRECTIONS = [("Southeast ", "SE "), ("Northeast ", "NE "), ("Southwest ", "SW "), ("Northwest ", "NW "),
              ("North ", "N "), ("South ", "S ")]


def typed(rng: random.Random, number: str, street: str) -> str:
    """An address the way a person types it: abbreviated, lower case, a suffix left out, a typo."""
    text = f"{number} {street}"
    for full, short in DIRECTIONS + ABBREVIATIONS:
        text = text.replace(full, short)
    roll = rng.random()
    if roll < 0.25:
        text = text.lower()
    elif roll < 0.45:  # no street suffix
        text = text.rsplit(" ", 1)[0] if len(text.split()) > 3 else text
    elif roll < 0.6:  # one typo in the street name
        words = text.split()
        i = max(range(len(words)), key=lambda k: len(words[k]))
        w = words[i]
        if len(w) > 4:
            j = rng.randrange(1, len(w) - 1)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
        text = " ".join(words)
    return text


def ms(values, p):
    return percentile(values, p) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=1000)
    args = ap.parse_args()
    db = bench_db("geo311_bench_geo")
    db.drop()
    db.create()
    with db.connect() as conn:
        describe_machine(conn)
    figure("machine.loadavg", loadavg())
    engine = make_engine(Settings(database_url=db.url), db.url)
    sessions = make_sessionmaker(engine)
    with sessions() as s:
        summary = load_addresses(s, FILE, refused_path="/tmp/geo311-bench-refused.csv")
    figure("load.rows", summary.read, f"({summary.loaded} loaded on {summary.streets} streets)")
    figure("load.seconds", summary.seconds)
    figure("load.rows_per_s", summary.read / summary.seconds, "(target >= 50000)")

    rng = random.Random(311)
    with gzip.open(FILE, "rt", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["NUMBER"].isdigit()]
    sample = rng.sample(rows, args.queries)
    queries = [typed(rng, r["NUMBER"], r["STREET"]) for r in sample]
    forward, floor, found = [], [], 0
    exact = ("SELECT a.label, ST_X(a.location), ST_Y(a.location) FROM addresses a JOIN address_streets s ON s.id = a.street_id "
             "WHERE s.predir = %s AND s.name = %s AND s.suffix = %s AND a.number = %s")
    with sessions() as s, db.connect() as conn:
        for q in queries[:20]:  # warm-up
            geocode(s, q)
        for q, row in zip(queries, sample, strict=True):
            t0 = time.perf_counter()
            result = geocode(s, q)
            forward.append(time.perf_counter() - t0)
            if result["candidates"] and result["candidates"][0]["number"] == int(row["NUMBER"]):
                found += 1
            a = parse(f"{row['NUMBER']} {row['STREET']}")
            t0 = time.perf_counter()
            conn.execute(exact, (a.predir, a.name, a.suffix, a.number), prepare=True).fetchall()
            floor.append(time.perf_counter() - t0)
        figure("forward.queries", len(queries), f"({found / len(queries):.1%} found the right number first)")
        figure("forward.ms.p50", ms(forward, 50))
        figure("forward.ms.p95", ms(forward, 95), "(target < 20)")
        figure("forward.floor_ms.p50", ms(floor, 50), "(exact index lookup of the same address, raw psycopg)")
        figure("forward.floor_ms.p95", ms(floor, 95))

        minx, miny, maxx, maxy = conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(boundary) e FROM jurisdictions) x"
        ).fetchone()
        points = [(rng.uniform(minx, maxx), rng.uniform(miny, maxy)) for _ in range(args.queries)]
        knn = ("SELECT a.label, ST_Distance(a.location::geography, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography) "
               "FROM addresses a ORDER BY a.location <-> ST_SetSRID(ST_MakePoint(%s, %s), 4326) LIMIT 1")
        rev, rev_floor = [], []
        for lon, lat in points[:20]:
            reverse(s, lon, lat)
        for lon, lat in points:
            t0 = time.perf_counter()
            reverse(s, lon, lat)
            rev.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            conn.execute(knn, (lon, lat, lon, lat), prepare=True).fetchone()
            rev_floor.append(time.perf_counter() - t0)
        figure("reverse.ms.p50", ms(rev, 50))
        figure("reverse.ms.p95", ms(rev, 95), "(target < 5)")
        figure("reverse.floor_ms.p50", ms(rev_floor, 50), "(the same KNN query, raw psycopg)")
        figure("reverse.floor_ms.p95", ms(rev_floor, 95))
    engine.dispose()
    db.drop()


if __name__ == "__main__":
    main()

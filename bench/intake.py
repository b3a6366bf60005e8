"""Benchmark of report intake (issue 3, "Performance (bench/intake)").

On the embedded PostGIS, in a database of its own (geo311_bench) holding the Portland demo and N
existing reports (bench/_dataset.py), it measures in one run:
  - sequential HTTP intake: geo311 under uvicorn (one worker), one keep-alive client posting
    GeoJSON Features with a fresh Idempotency-Key, half new reports and half merging ones;
  - the raw-PostGIS floor for the same work: one prepared SQL statement per report (FLOOR_SQL:
    match, dedup, insert or merge, submission, districts, event), autocommit, plain psycopg;
  - matching 100,000 points against the neighborhood layer, set-based, on the subdivided parts
    (geo311's way) and on the whole polygons.
The two intake paths get disjoint workloads of the same make-up and run in alternating blocks of
100 after a warm-up of 50 each, so a busy moment of the machine hits both alike.

    .venv/bin/python bench/intake.py [--reports 1000000] [--requests 2000] [--reuse]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import time
import uuid
from contextlib import contextmanager

import orjson
from _common import (
    BenchDb,
    Item,
    Timings,
    alternate,
    bench_db,
    covered,
    describe_machine,
    figure,
    jitter,
    loadavg,
    points_in,
    running_server,
)
from _dataset import GEOG, MARGIN_M, city_id, prepare_database, reset
from _http import SyncConnection
from sqlalchemy import create_engine, pool, text
from sqlalchemy.orm import Session

from geo311 import matching
from geo311.seed import DESCRIPTIONS, NAMES, WEIGHTS

DB_NAME = "geo311_bench"
SEED = 311
WARMUP = 50  # submissions per path before measuring, same composition, not counted
MATCH_POINTS = 100_000

# ----- the floor: match, dedup and insert in one statement (mirrors geo311.intake's rules) -------
# the point and the category's rule as parameters (not CTE columns), so the planner sees the radius
# and picks ix_reports_open_geog; the client knows the categories (8 rows, read once)
PT = "ST_SetSRID(ST_MakePoint(%(lon)s::float8, %(lat)s::float8), 4326)"
FLOOR_SQL = f"""
WITH route AS (
    SELECT j.id AS jurisdiction_id, cr.agency
    FROM jurisdictions j JOIN category_routes cr ON cr.jurisdiction_id = j.id AND cr.category_id = %(category_id)s::int
    WHERE j.id IN (SELECT p.jurisdiction_id FROM jurisdiction_parts p WHERE ST_Covers(p.geom, {PT}))
    ORDER BY j.rank DESC, j.name LIMIT 1),
target AS (
    SELECT r.id, r.jurisdiction_id, ST_Distance(r.location{GEOG}, {PT}{GEOG}) AS distance_m
    FROM reports r
    WHERE r.jurisdiction_id = (SELECT jurisdiction_id FROM route) AND r.category_id + 0 = %(category_id)s::int
      AND r.status IN ('open', 'assigned', 'in_progress')
      AND ST_DWithin(r.location{GEOG}, {PT}{GEOG}, %(radius)s::float8)
      AND r.created_at >= now() - %(window)s::interval
    ORDER BY r.location{GEOG} <-> {PT}{GEOG} LIMIT 1
    FOR UPDATE OF r),
new_report AS (
    INSERT INTO reports (category_id, location, status, priority, jurisdiction_id, agency, description,
                         near_boundary, created_at, updated_at)
    SELECT %(category_id)s::int, {PT}, 'open', %(priority)s::int, route.jurisdiction_id, route.agency,
           %(description)s::text,
           EXISTS (SELECT 1 FROM jurisdiction_edges e WHERE e.jurisdiction_id = route.jurisdiction_id
                   AND ST_DWithin(e.geom::geography(LineString,4326), {PT}{GEOG}, {MARGIN_M})),
           now(), now()
    FROM route WHERE NOT EXISTS (SELECT 1 FROM target)
    RETURNING id, jurisdiction_id),
merged AS (
    UPDATE reports r SET submission_count = r.submission_count + 1, updated_at = greatest(r.updated_at, now()),
        priority = greatest(r.priority, least(5, %(priority)s::int + floor(log(2, r.submission_count + 1))::int))
    FROM target WHERE r.id = target.id AND r.jurisdiction_id = target.jurisdiction_id
    RETURNING r.id, r.jurisdiction_id),
report AS (SELECT id, jurisdiction_id, true AS created FROM new_report
           UNION ALL SELECT id, jurisdiction_id, false FROM merged),
sub AS (
    INSERT INTO submissions (jurisdiction_id, report_id, received_at, channel, idempotency_key, payload_hash, reply_status,
                             location, distance_m, description, reporter_name, reporter_email, attributes, raw)
    SELECT report.jurisdiction_id, report.id, now(), 'api', %(key)s::text, %(hash)s::text, CASE WHEN report.created THEN 201 ELSE 200 END,
           {PT}, coalesce((SELECT distance_m FROM target), 0), %(description)s::text, %(name)s::text,
           %(email)s::text, '{{}}'::jsonb, %(raw)s::jsonb
    FROM report
    RETURNING id, report_id, jurisdiction_id),
districts AS (
    INSERT INTO report_districts (jurisdiction_id, report_id, district_id)
    SELECT DISTINCT new_report.jurisdiction_id, new_report.id, p.district_id FROM new_report JOIN district_parts p ON ST_Covers(p.geom, {PT})),
event AS (
    INSERT INTO report_events (jurisdiction_id, report_id, at, actor, kind, to_status, note, submission_id)
    SELECT sub.jurisdiction_id, sub.report_id, now(), 'resident', CASE WHEN report.created THEN 'created' ELSE 'merged' END,
           CASE WHEN report.created THEN 'open' END,
           CASE WHEN report.created THEN 'reported' ELSE 'another submission joined' END, sub.id
    FROM sub, report)
SELECT (SELECT id FROM report), (SELECT created FROM report), (SELECT distance_m FROM target)
"""

# ----- the workload -------------------------------------------------------------------------------
def workloads(conn, size: int, rng: random.Random) -> tuple[list[Item], list[Item]]:
    """Two disjoint workloads of `size` (plus a warm-up each): half new points in the city, half
    jittered copies (under a third of the radius) of distinct open reports inside their window."""
    city = city_id(conn)
    served = [r[0] for r in conn.execute(
        "SELECT c.code FROM categories c JOIN category_routes cr ON cr.category_id = c.id "
        "WHERE c.active AND cr.jurisdiction_id = %s ORDER BY c.code", (city,))]
    targets = conn.execute(
        "SELECT r.id, c.code, ST_X(r.location), ST_Y(r.location), c.dedup_radius_m FROM reports r "
        "JOIN categories c ON c.id = r.category_id JOIN category_routes cr ON cr.category_id = c.id "
        "  AND cr.jurisdiction_id = %s "
        "WHERE c.active AND c.dedup_radius_m > 0 AND r.status IN ('open', 'assigned', 'in_progress') "
        "  AND r.created_at >= now() - c.dedup_window + interval '1 hour' ORDER BY r.id", (city,)).fetchall()
    per_run = size + WARMUP
    n_merge, n_new = 2 * (per_run // 2), 2 * (per_run - per_run // 2)
    if len(targets) < n_merge:
        raise RuntimeError(f"only {len(targets)} open reports inside their window; need {n_merge}")
    picked = rng.sample(targets, n_merge)
    points = points_in(conn, rng, city, n_new)

    def words(code: str) -> dict:
        name = rng.choice(NAMES)
        return {"description": rng.choice(DESCRIPTIONS.get(code, [code])),
                "reporter": {"name": name, "email": f"{name.split()[0].lower()}@example.org"} if name else None}

    items = []
    for lon, lat in points:
        code = rng.choices(served, weights=[WEIGHTS.get(c, 1) for c in served])[0]
        items.append(Item("new", code, lon, lat, **words(code)))
    moved = [jitter(rng, lon, lat, radius / 3 * 0.99) for _id, _code, lon, lat, radius in picked]
    for _ in range(50):  # near the city's edge a jitter can leave the city: jitter those again
        outside = [i for i, ok in enumerate(covered(conn, city, moved)) if not ok]
        if not outside:
            break
        for i in outside:
            moved[i] = jitter(rng, picked[i][2], picked[i][3], picked[i][4] / 3 * 0.99)
    for (_id, code, *_), (lon, lat) in zip(picked, moved, strict=True):
        items.append(Item("merge", code, lon, lat, **words(code)))
    news, merges = items[:n_new], items[n_new:]
    runs = []
    for k in range(2):
        run = news[k::2] + merges[k::2]
        rng.shuffle(run)
        runs.append(run)
    return runs[0], runs[1]


# ----- the three measurements -----------------------------------------------------------------------
@contextmanager
def http_path(url: str, items: list[Item]):
    """op(i): POST items[i] to /api/v1/reports with a fresh Idempotency-Key, on one keep-alive client."""
    bodies = [orjson.dumps(it.feature()) for it in items]
    keys = [f"bench-{uuid.uuid4()}" for _ in items]
    with SyncConnection(url) as client:  # a lean client: the figure is the server's, not httpx's
        shown = []

        def post(i: int) -> int:
            status, reply = client.request("POST", "/api/v1/reports", body=bodies[i],
                                           headers={"Content-Type": "application/json", "Idempotency-Key": keys[i]})
            if status not in (200, 201) and len(shown) < 3:  # a few, not thousands
                shown.append(i)
                print(f"  HTTP {status}: {reply[:300].decode(errors='replace')}")
            return status

        yield post


@contextmanager
def floor_path(db: BenchDb, items: list[Item]):
    """op(i): FLOOR_SQL for items[i], prepared, autocommit, on one psycopg connection."""
    with db.connect() as conn:
        rules = {code: {"category_id": cid, "priority": prio, "radius": radius, "window": window}
                 for code, cid, prio, radius, window in conn.execute(
                     "SELECT code, id, default_priority, dedup_radius_m, dedup_window FROM categories WHERE active")}
        params = []
        for it in items:
            raw = orjson.dumps(it.feature()).decode()
            params.append({**rules[it.category], "lon": it.lon, "lat": it.lat, "description": it.description,
                           "name": (it.reporter or {}).get("name"), "email": (it.reporter or {}).get("email"),
                           "key": f"bench-{uuid.uuid4()}", "hash": hashlib.sha256(raw.encode()).hexdigest(),
                           "raw": raw})

        def one(i: int) -> int:
            _rid, created, _dist = conn.execute(FLOOR_SQL, params[i], prepare=True).fetchone()
            return 201 if created else 200 if created is not None else 422

        yield one


def match_run(db: BenchDb, repeats: int = 3) -> tuple[float, float, int, int]:
    """points/s of matching MATCH_POINTS points to the neighborhood layer: parts (geo311's
    matching.match_points_to_layer), and whole polygons; the median of `repeats` runs each."""
    engine = create_engine(db.url, poolclass=pool.NullPool)
    with Session(engine) as s:
        s.execute(text("SELECT setseed(0.311)"))
        s.execute(text(
            "CREATE TEMP TABLE pts AS SELECT i AS id, ST_SetSRID(ST_MakePoint(x0 + random() * (x1 - x0), "
            "  y0 + random() * (y1 - y0)), 4326) AS geom FROM (SELECT ST_XMin(e) x0, ST_YMin(e) y0, "
            "  ST_XMax(e) x1, ST_YMax(e) y1 FROM (SELECT ST_Extent(boundary)::geometry e FROM jurisdictions "
            "  WHERE kind = 'city') b) box, generate_series(1, :n) i"), {"n": MATCH_POINTS})
        s.execute(text("CREATE INDEX ON pts USING gist (geom)"))
        s.execute(text("ANALYZE pts"))
        whole_sql = text(
            "DROP TABLE IF EXISTS pg_temp.point_districts_whole; CREATE TEMP TABLE point_districts_whole AS "
            "SELECT pt.id AS point_id, d.id AS district_id FROM pts pt JOIN districts d "
            "ON ST_Covers(d.boundary, pt.geom) WHERE d.layer_id = (SELECT id FROM district_layers "
            "WHERE key = 'neighborhood')")
        parts_t, whole_t = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            parts_pairs = matching.match_points_to_layer(s, "pts", "neighborhood")
            parts_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            s.execute(whole_sql)
            whole_t.append(time.perf_counter() - t0)
        whole_pairs = s.execute(text("SELECT count(*) FROM point_districts_whole")).scalar_one()
        s.rollback()
    engine.dispose()
    return (MATCH_POINTS / statistics.median(parts_t), MATCH_POINTS / statistics.median(whole_t),
            parts_pairs, whole_pairs)


def report(label: str, t: Timings) -> None:
    n = len(t.latencies)
    figure(f"intake.{label}.rate_per_s", t.rate, f"({n} submissions in {t.wall:.2f} s)")
    figure(f"intake.{label}.p50_ms", t.ms(50))
    figure(f"intake.{label}.p99_ms", t.ms(99))
    figure(f"intake.{label}.new_201_share", f"{t.outcomes.get(201, 0) / n:.3f}")
    figure(f"intake.{label}.merged_200_share", f"{t.outcomes.get(200, 0) / n:.3f}")
    others = {k: v for k, v in t.outcomes.items() if k not in (200, 201)}
    if others:
        figure(f"intake.{label}.other_statuses", str(others))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reports", type=int, default=1_000_000, help="existing reports in the bench database")
    ap.add_argument("--requests", type=int, default=2000, help="submissions per measured path")
    ap.add_argument("--reuse", action="store_true", help="keep geo311_bench when it holds --reports reports")
    args = ap.parse_args()

    db = bench_db(DB_NAME)
    prepare_database(db, args.reports, args.reuse)
    reset(db)
    with db.connect() as conn:
        describe_machine(conn)
        http_items, floor_items = workloads(conn, args.requests, random.Random(SEED))
    figure("machine.loadavg_before", loadavg())
    with running_server(db.url) as server, http_path(server.url, http_items) as post, \
            floor_path(db, floor_items) as one:
        timings = alternate({"http": post, "floor": one}, WARMUP, WARMUP + args.requests)
    figure("machine.loadavg_after", loadavg())
    http, floor = timings["http"], timings["floor"]
    report("http", http)
    report("floor", floor)
    ratio = http.rate / floor.rate
    failed = sum(v for t in (http, floor) for k, v in t.outcomes.items() if k not in (200, 201))
    verdict = f"INVALID RUN: {failed} submissions refused" if failed > 0.01 * args.requests else \
        "met" if ratio >= 0.40 else "MISSED"
    figure("intake.ratio", f"{ratio:.2f}", f"(target >= 0.40: {verdict})")
    figure("intake.http.p99_under_25ms", "yes" if http.ms(99) < 25 else "NO", f"({http.ms(99):.1f} ms)")
    parts, whole, parts_pairs, whole_pairs = match_run(db)
    figure("match.parts.points_per_s", parts, f"(target >= 20000: {'met' if parts >= 20000 else 'MISSED'}; "
                                              f"{parts_pairs} point-district pairs)")
    figure("match.whole.points_per_s", whole, f"({whole_pairs} pairs)")


if __name__ == "__main__":
    main()

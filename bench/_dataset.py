"""The bench database's existing reports: N of them generated set-based in SQL (not through
intake), and a reset that puts the database back as generated after a run submitted to it.

The reports: uniform random points inside the city (drawn in its bbox, kept where the city's
subdivided parts cover them), categories in the demo seeder's mix, created over the past two years,
open (open, assigned, in_progress) as a working program's backlog is: most reports of the last two
weeks, a third of the last two months, few older ones (about 6% of all), the rest resolved or
not_actionable with a closed_at; routed to the city's agency (the county's for a category the city
does not route), one 'import' submission each, and their report_districts. `bench_meta` records
what was generated (and DATASET_VERSION, so a changed recipe regenerates).
"""

from __future__ import annotations

import time

from _common import BenchDb, figure, stopwatch

from geo311 import migrate
from geo311.seed import DESCRIPTIONS, WEIGHTS
from geo311.settings import Settings

DATASET_VERSION = 3  # bump when the recipe changes: existing bench databases are then regenerated
GEOG = "::geography(Point,4326)"  # exactly the expression of ix_reports_open_geog
MARGIN_M = Settings().boundary_margin_m

GENERATE_SQL = [
    # candidate points in the city's bbox, kept where the city's subdivided parts cover them
    """CREATE TEMP TABLE gen_pts AS
       WITH box AS (SELECT ST_XMin(e) x0, ST_YMin(e) y0, ST_XMax(e) x1, ST_YMax(e) y1
                    FROM (SELECT ST_Extent(boundary)::geometry e FROM jurisdictions WHERE id = %(city)s) b),
       cand AS (SELECT ST_SetSRID(ST_MakePoint(x0 + random() * (x1 - x0), y0 + random() * (y1 - y0)), 4326) g
                FROM box, generate_series(1, %(candidates)s))
       SELECT g FROM cand WHERE EXISTS (SELECT 1 FROM jurisdiction_parts p
                                        WHERE p.jurisdiction_id = %(city)s AND ST_Covers(p.geom, cand.g))
       LIMIT %(n)s""",
    # the random draws for each report: category, age, status, time to close
    """CREATE TEMP TABLE gen AS
       SELECT g, random() AS rc, now() - random() * interval '730 days' AS created, random() AS rs,
              random() * interval '30 days' AS to_close
       FROM gen_pts""",
    """INSERT INTO reports (category_id, location, status, priority, jurisdiction_id, agency, description,
                           near_boundary, created_at, updated_at, closed_at)
       SELECT m.category_id, gen.g, s.status, m.priority, m.jurisdiction_id, m.agency, m.description,
              EXISTS (SELECT 1 FROM jurisdiction_edges e WHERE e.jurisdiction_id = m.jurisdiction_id
                      AND ST_DWithin(e.geom::geography(LineString,4326), gen.g""" + GEOG + f""", {MARGIN_M})),
              gen.created, coalesce(c.closed, gen.created), c.closed
       FROM gen JOIN gen_mix m ON gen.rc >= m.lo AND gen.rc < m.hi
       CROSS JOIN LATERAL (SELECT CASE WHEN gen.created > now() - interval '14 days' THEN 0.7
                                       WHEN gen.created > now() - interval '60 days' THEN 0.35
                                       WHEN gen.created > now() - interval '180 days' THEN 0.08
                                       ELSE 0.02 END AS p) o
       CROSS JOIN LATERAL (SELECT CASE WHEN gen.rs < o.p * 0.5 THEN 'open' WHEN gen.rs < o.p * 0.8 THEN 'assigned'
                                       WHEN gen.rs < o.p THEN 'in_progress'
                                       WHEN gen.rs < o.p + (1 - o.p) * 0.85 THEN 'resolved'
                                       ELSE 'not_actionable' END AS status) s
       CROSS JOIN LATERAL (SELECT CASE WHEN gen.rs >= o.p THEN least(now(), gen.created + gen.to_close)
                                  END AS closed) c
       ORDER BY gen.created""",
    """INSERT INTO submissions (jurisdiction_id, report_id, received_at, channel, reply_status, location,
                               distance_m, description, attributes, raw)
       SELECT jurisdiction_id, id, created_at, 'import', 201, location, 0, description, '{}', '{}' FROM reports""",
    """INSERT INTO report_districts (jurisdiction_id, report_id, district_id)
       SELECT DISTINCT r.jurisdiction_id, r.id, p.district_id FROM reports r JOIN district_parts p ON ST_Covers(p.geom, r.location)""",
    """CREATE TABLE bench_meta AS SELECT %(n)s::bigint AS reports, %(version)s::int AS version, max(r.id) AS max_report_id,
              (SELECT max(id) FROM submissions) AS max_submission_id, now() AS generated_at FROM reports r""",
]

# put the bench database back as generated: drop what earlier runs submitted, with geo311's triggers
# (rollups) firing as usual. The self-reference reports.duplicate_of has no index, so each deleted
# report would scan the table for referrers: an index that lives only inside this transaction.
RESET_SQL = [
    "CREATE INDEX bench_reset_duplicate_of ON reports (duplicate_of)",
    "TRUNCATE report_events",  # the generator makes none
    "DELETE FROM submissions WHERE id > (SELECT max_submission_id FROM bench_meta)",
    "DELETE FROM reports WHERE id > (SELECT max_report_id FROM bench_meta)",  # cascades to their districts
    """UPDATE reports r SET submission_count = 1, priority = c.default_priority,
              updated_at = coalesce(r.closed_at, r.created_at)
       FROM categories c WHERE c.id = r.category_id AND r.submission_count > 1""",
    "DROP INDEX bench_reset_duplicate_of",
]


def city_id(conn) -> int:
    return conn.execute("SELECT id FROM jurisdictions WHERE kind = 'city' ORDER BY rank DESC, id LIMIT 1").fetchone()[0]


def prepare_database(db: BenchDb, n: int, reuse: bool) -> None:
    if reuse and db.exists():
        with db.connect() as conn:
            has_meta = conn.execute("SELECT to_regclass('bench_meta') IS NOT NULL").fetchone()[0]
            held = conn.execute("SELECT reports FROM bench_meta").fetchone()[0] if has_meta else None
            version = conn.execute(
                "SELECT version FROM bench_meta" if has_meta and conn.execute(
                    "SELECT count(*) FROM information_schema.columns WHERE table_name = 'bench_meta' "
                    "AND column_name = 'version'").fetchone()[0] else "SELECT 0").fetchone()[0]
        if held == n and version == DATASET_VERSION:
            print(f"reusing {db.name}: {n} generated reports")
            migrate.upgrade(db.url)  # a no-op unless geo311 gained a migration since
            return
        print(f"{db.name} holds {held} generated reports (recipe {version}), not {n} (recipe {DATASET_VERSION}): "
              "generating afresh")
    db.drop()
    with stopwatch("generate.schema_and_demo_s"):
        db.create()
    started = time.perf_counter()
    with db.connect(autocommit=False) as conn:
        conn.execute("SELECT setseed(0.311)")
        city = city_id(conn)
        area = conn.execute("SELECT ST_Area(boundary) / ST_Area(ST_Envelope(boundary)) FROM jurisdictions "
                            "WHERE id = %s", (city,)).fetchone()[0]
        conn.execute("CREATE TEMP TABLE gen_mix (category_id int, lo float8, hi float8, priority smallint, "
                     "jurisdiction_id int, agency text, description text)")
        mix = conn.execute(
            "SELECT c.id, c.code, c.default_priority, r.jurisdiction_id, r.agency FROM categories c "
            "JOIN LATERAL (SELECT cr.jurisdiction_id, cr.agency FROM category_routes cr "
            "  JOIN jurisdictions j ON j.id = cr.jurisdiction_id WHERE cr.category_id = c.id "
            "  AND j.kind IN ('city', 'county') ORDER BY (j.id = %s) DESC, j.rank DESC LIMIT 1) r ON true "
            "WHERE c.active ORDER BY c.code", (city,)).fetchall()
        total = sum(WEIGHTS.get(code, 1) for _id, code, *_ in mix)
        lo = 0.0
        for cid, code, prio, jid, agency in mix:
            hi = lo + WEIGHTS.get(code, 1) / total
            conn.execute("INSERT INTO gen_mix VALUES (%s, %s, %s, %s, %s, %s, %s)",
                         (cid, lo, hi if code != mix[-1][1] else 1.0, prio, jid, agency,
                          DESCRIPTIONS.get(code, [code])[0]))
            lo = hi
        params = {"city": city, "n": n, "candidates": int(n / area * 1.15) + 1000, "version": DATASET_VERSION}
        for stmt in GENERATE_SQL:
            t0 = time.perf_counter()
            cur = conn.execute(stmt, params)
            print(f"  {' '.join(stmt.split()[:4])} ... {cur.rowcount} rows, {time.perf_counter() - t0:.1f} s",
                  flush=True)
        conn.commit()
        made = conn.execute("SELECT count(*) FROM reports").fetchone()[0]
        if made != n:
            raise RuntimeError(f"generated {made} reports, not {n}")
    with db.connect() as conn:
        conn.execute("VACUUM ANALYZE")
    figure("generate.seconds", time.perf_counter() - started, f"({n} reports)")


def reset(db: BenchDb) -> None:
    """Undo what earlier runs submitted, so every run starts from the same generated data."""
    with db.connect(autocommit=False) as conn:
        for stmt in RESET_SQL:
            conn.execute(stmt)
        conn.commit()
    with db.connect() as conn:
        conn.execute("VACUUM ANALYZE reports, submissions, report_districts, report_events, "
                     "heat_cells, heat_cells_daily, stats_daily, district_stats_daily, contacts_daily")


def places_and_open_ids(conn) -> tuple[list[tuple[float, float]], list[int]]:
    """What the mixed loads pick from: 2,000 report locations (a 1 % sample of the table) and
    5,000 open reports."""
    places = conn.execute("SELECT ST_X(location), ST_Y(location) FROM reports TABLESAMPLE SYSTEM (1) LIMIT 2000").fetchall()
    open_ids = [r[0] for r in conn.execute(
        "SELECT id FROM reports WHERE status = 'open' ORDER BY random() LIMIT 5000").fetchall()]
    return places, open_ids

"""Managers' aggregations at 100,000, 1,000,000 and 5,000,000 reports, against the naive floor
(aggregating the raw points in SQL per request) in the same run, and what the rollup upkeep costs
intake.

    .venv/bin/python bench/heatmap.py [--sizes 100000,1000000,5000000] [--runs 20] [--reuse]

Per size: the city-wide heatmap (zoom 12, the service area's box) from the rollups and the naive
aggregation of the same cells from the raw reports; the district dashboard (98 neighborhoods);
the trend (weekly). At 1,000,000 also: intake with the rollup triggers on and off.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

from _common import bench_db, describe_machine, figure, loadavg, percentile
from _dataset import prepare_database, reset

from geo311 import heatmaps, stats
from geo311.boundaries import service_area
from geo311.db import make_engine, make_sessionmaker
from geo311.intake import NewSubmission, submit
from geo311.rollup_models import LEVELS
from geo311.settings import Settings

TRIGGERS = ["geo311_rollup_ins", "geo311_rollup_upd", "geo311_rollup_del"]


def timed(fn, runs: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def naive_heatmap(session, bbox, level: int) -> int:
    """The floor: the same grid aggregated from every raw report in the box, per request."""
    from sqlalchemy import text

    size = LEVELS[level]
    return len(session.execute(text(
        "SELECT floor(6378137.0 * radians(ST_X(location)) / :s)::int, "
        "       floor(6378137.0 * ln(tan(pi() / 4 + radians(ST_Y(location)) / 2)) / :s)::int, "
        "       count(*), sum(submission_count) "
        "FROM reports WHERE location && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) GROUP BY 1, 2"),
        {"s": size, "x0": bbox[0], "y0": bbox[1], "x1": bbox[2], "y1": bbox[3]}).all())


def intake_rate(session, n: int, rng_seed: int) -> float:
    import random

    rng = random.Random(rng_seed)
    t0 = time.perf_counter()
    for _ in range(n):
        submit(session, NewSubmission(-122.65 + rng.uniform(-0.05, 0.05), 45.52 + rng.uniform(-0.04, 0.04),
                                      rng.choice(["campsite", "graffiti", "illegal_dumping"]), {"bench": True}))
    return n / (time.perf_counter() - t0)


def one_size(n: int, runs: int, reuse: bool, intake: bool, describe: bool) -> None:
    name = "geo311_bench" if n == 1_000_000 else f"geo311_bench_{n // 1000}k"
    db = bench_db(name)
    prepare_database(db, n, reuse)
    reset(db)
    if describe:
        with db.connect() as conn:
            describe_machine(conn)
    figure("machine.loadavg", loadavg())
    engine = make_engine(Settings(database_url=db.url), db.url)
    sessions = make_sessionmaker(engine)
    tag = f"n{n // 1000}k"
    with sessions() as s:
        bbox = tuple(service_area(s)["bbox"])
        q = heatmaps.HeatQuery(bbox=bbox, zoom=12)
        level, _shift = heatmaps.level_for(12, False)
        rolled = timed(lambda: heatmaps.heatmap(s, q), runs)
        naive = timed(lambda: naive_heatmap(s, bbox, level), max(3, runs // 4))
        figure(f"{tag}.heatmap_city_ms.p50", percentile(rolled, 50) * 1000, "(target < 100 at 1M)")
        figure(f"{tag}.heatmap_city_ms.p95", percentile(rolled, 95) * 1000)
        figure(f"{tag}.heatmap_naive_ms.p50", percentile(naive, 50) * 1000)
        figure(f"{tag}.heatmap_speedup", statistics.median(naive) / statistics.median(rolled), "(target >= 20)")
        month = heatmaps.HeatQuery(bbox=bbox, zoom=12, since=stats.today() - timedelta(days=30))
        dated = timed(lambda: heatmaps.heatmap(s, month), runs)
        figure(f"{tag}.heatmap_city_30days_ms.p50", percentile(dated, 50) * 1000)
        dash = timed(lambda: stats.district_dashboard(s, "neighborhood"), runs)
        figure(f"{tag}.dashboard_ms.p50", percentile(dash, 50) * 1000, "(target < 100 at 1M)")
        figure(f"{tag}.dashboard_ms.p95", percentile(dash, 95) * 1000)
        trend = timed(lambda: stats.timeseries(s, "week"), runs)
        figure(f"{tag}.timeseries_week_ms.p50", percentile(trend, 50) * 1000)
    if intake:
        from sqlalchemy import text

        rates = {"on": [], "off": []}
        with sessions() as s:
            intake_rate(s, 100, 99)  # warm-up, not counted
        for block in range(10):  # alternate, flipping the order each pair, so both meet the same machine
            state = "on" if block % 4 in (0, 3) else "off"
            with sessions() as s:
                verb = "ENABLE" if state == "on" else "DISABLE"
                for trig in TRIGGERS:
                    s.execute(text(f"ALTER TABLE reports {verb} TRIGGER {trig}"))
                s.execute(text(f"ALTER TABLE report_districts {verb} TRIGGER geo311_rollup_ins"))
                s.commit()
                rates[state].append(intake_rate(s, 150, block))
        with sessions() as s:
            for trig in TRIGGERS:
                s.execute(text(f"ALTER TABLE reports ENABLE TRIGGER {trig}"))
            s.execute(text("ALTER TABLE report_districts ENABLE TRIGGER geo311_rollup_ins"))
            s.commit()
        on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
        figure(f"{tag}.intake_rollups_on_per_s", on)
        figure(f"{tag}.intake_rollups_off_per_s", off)
        figure(f"{tag}.intake_slowdown", 1 - on / off, "(target <= 0.20)")
        reset(db)  # the rollups of the blocks without triggers are wrong: the reset removes those reports
        with sessions() as s:
            heatmaps.rebuild_rollups(s)
        with db.connect() as conn:  # as autovacuum would, after rewriting every rollup row
            conn.execute("VACUUM ANALYZE heat_cells, heat_cells_daily, stats_daily, district_stats_daily")
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000,5000000")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--reuse", action="store_true")
    args = ap.parse_args()
    first = True
    for n in [int(x) for x in args.sizes.split(",")]:
        one_size(n, args.runs, args.reuse, intake=(n == 1_000_000), describe=first)
        first = False


if __name__ == "__main__":
    main()

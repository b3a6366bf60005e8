"""Work lists at 1,000,000 reports: server time of a 200-stop list (ordering included) against the
raw-PostGIS floor of selecting the same stops, and the quality of the travel order.

    .venv/bin/python bench/worklist.py [--reports 1000000] [--reuse] [--runs 40]

Figures:
- worklist.domain_ms p50/p95: geo311.worklists.worklist() in process (both queries, the bands and
  the ordering): the server time of GET /api/v1/crews/{crew}/worklist minus HTTP;
- worklist.http_ms p50/p95: the whole HTTP request against geo311 under uvicorn;
- worklist.floor_ms p50: the raw SELECT of the same 200 stops through psycopg, unordered;
- worklist.order_ms p50: ordering 200 stops alone;
- route.ratio.*: route length of geo311's order / oldest-first order (clustered and uniform stops);
- exact.*: on instances of 4-10 stops, geo311's served order and the heuristic alone / the optimum.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time

import httpx
from _common import bench_db, describe_machine, figure, loadavg, percentile, running_server
from _dataset import prepare_database, reset

from geo311 import route_order
from geo311.auth import create_key, revoke_key
from geo311.crews import area_district_ids, create_crew, list_crews
from geo311.db import make_engine, make_sessionmaker
from geo311.settings import Settings
from geo311.worklists import _SELECT, worklist

CREW = "Bench Southeast"
AREA = ["coalition:Southeast Uplift"]
CATEGORIES = ["campsite", "illegal_dumping", "graffiti"]
YARD = (-122.6500, 45.5000)


def ms(values: list[float], p: float) -> float:
    return percentile(values, p) * 1000


def clustered_stops(rng: random.Random, n: int) -> list[tuple[float, float]]:
    """Stops the way reports gather: a dozen hotspots of a few hundred metres across a district."""
    hotspots = [(YARD[0] + rng.uniform(-0.05, 0.05), YARD[1] + rng.uniform(-0.03, 0.03)) for _ in range(12)]
    out = []
    for _ in range(n):
        hx, hy = rng.choice(hotspots)
        spread = rng.choice((80, 200, 400))
        out.append((hx + rng.gauss(0, spread) / (111_320 * math.cos(math.radians(hy))), hy + rng.gauss(0, spread) / 111_320))
    return out


def route_ratio(start, stops) -> float:
    d = route_order.metric_distances(start, stops)
    served = route_order.path_length(d, [k + 1 for k in route_order.order_stops(start, stops)])
    oldest_first = route_order.path_length(d, list(range(1, len(stops) + 1)))  # ages are independent of place
    return served / oldest_first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--reuse", action="store_true", help="keep an existing bench database of that size")
    args = ap.parse_args()

    db = bench_db("geo311_bench")
    prepare_database(db, args.reports, args.reuse)
    reset(db)  # from the data as generated: earlier runs of other benchmarks added open reports
    with db.connect() as conn:
        describe_machine(conn)
    figure("machine.loadavg", loadavg())
    engine = make_engine(Settings(database_url=db.url), db.url)
    sessions = make_sessionmaker(engine)
    with sessions() as s:
        if CREW not in {c["name"] for c in list_crews(s)}:
            create_crew(s, CREW, areas=AREA, categories=CATEGORIES, yard=YARD)
        key_id, key = create_key(s, "manager", label="bench")
        crew_id = next(c["id"] for c in list_crews(s) if c["name"] == CREW)

    # server time in process, and the floor: the same selection as raw SQL through psycopg
    domain, floor, order, sizes = [], [], [], []
    with sessions() as s, db.connect() as conn:
        raw = (_SELECT.replace(":crew_id", "%(crew_id)s").replace(":categories", "%(categories)s")
               .replace(":limit", "%(limit)s").replace(":district_ids", "%(district_ids)s"))
        district_ids = area_district_ids(s, crew_id)
        params = {"crew_id": crew_id, "categories": CATEGORIES, "limit": 200, "district_ids": district_ids}
        for _ in range(5):  # warm-up
            worklist(s, CREW)
            conn.execute(raw, params, prepare=True).fetchall()
        for _ in range(args.runs):
            t0 = time.perf_counter()
            wl = worklist(s, CREW)
            domain.append(time.perf_counter() - t0)
            sizes.append(len(wl["stops"]))
            t0 = time.perf_counter()
            rows = conn.execute(raw, params, prepare=True).fetchall()
            floor.append(time.perf_counter() - t0)
            pts = [(r[1], r[2]) for r in rows]
            t0 = time.perf_counter()
            route_order.order_stops(YARD, pts)
            order.append(time.perf_counter() - t0)
    figure("worklist.stops", statistics.median(sizes))
    figure("worklist.domain_ms.p50", ms(domain, 50), "(target < 50)")
    figure("worklist.domain_ms.p95", ms(domain, 95))
    figure("worklist.floor_ms.p50", ms(floor, 50), "(raw SELECT of the same stops, no ordering)")
    figure("worklist.order_ms.p50", ms(order, 50), "(ordering 200 stops)")
    figure("worklist.domain_over_floor", statistics.median(domain) / statistics.median(floor))

    with running_server(db.url) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        url = f"/api/v1/crews/{CREW}/worklist?limit=200"
        headers = {"Authorization": f"Bearer {key}"}
        for _ in range(5):
            client.get(url, headers=headers).raise_for_status()
        http = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            client.get(url, headers=headers).raise_for_status()
            http.append(time.perf_counter() - t0)
    figure("worklist.http_ms.p50", ms(http, 50))
    figure("worklist.http_ms.p95", ms(http, 95))

    rng = random.Random(311)
    clustered = [route_ratio(YARD, clustered_stops(rng, 200)) for _ in range(20)]
    figure("route.ratio.clustered_200", statistics.mean(clustered), "(geo311 / oldest-first; target <= 0.70)")
    figure("route.ratio.uniform_200_from_db", route_ratio(YARD, [(s["lon"], s["lat"]) for s in wl["stops"]]))
    served, heuristic = [], []
    for _ in range(300):
        stops = clustered_stops(rng, rng.randint(4, 10))
        d = route_order.metric_distances(YARD, stops)
        best = route_order.path_length(d, route_order._held_karp(d))
        served.append(route_order.path_length(d, [k + 1 for k in route_order.order_stops(YARD, stops)]) / best)
        heuristic.append(route_order.path_length(d, route_order.heuristic_order(d)) / best)
    figure("exact.served_over_optimum.max", max(served), "(target <= 1.05; <= 10 stops are solved exactly)")
    figure("exact.heuristic_over_optimum.mean", statistics.mean(heuristic))
    figure("exact.heuristic_over_optimum.max", max(heuristic), "(the heuristic alone, used above 10 stops)")
    with sessions() as s:
        revoke_key(s, key_id)
    engine.dispose()


if __name__ == "__main__":
    main()

"""A realistic mixed load for 60 s against geo311 with 1,000,000 reports: 80% map and list reads,
15% submissions, 5% crew status changes, from a loopback asyncio driver (bench/_http.py: one keep-alive connection per simulated client).

    .venv/bin/python bench/load.py [--seconds 60] [--concurrency 8] [--workers 2] [--reuse]

Figures: requests/s, p50 and p99 latency (all and per kind), errors (must be 0), and whether the
submissions stored equal the ones acknowledged (target: >= 300 requests/s at p99 < 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from collections import defaultdict

from _common import bench_db, covered, describe_machine, figure, loadavg, percentile, running_server
from _dataset import places_and_open_ids, prepare_database, reset
from _http import Connection

from geo311.auth import create_key, revoke_key
from geo311.db import make_engine, make_sessionmaker
from geo311.settings import Settings

CATEGORIES = ["campsite", "illegal_dumping", "graffiti", "abandoned_vehicle", "pothole"]


def street_bbox(rng: random.Random, lon: float, lat: float) -> str:
    """A street-level map view (about 600 x 400 m) around a point."""
    return f"{lon - 0.004:.5f},{lat - 0.002:.5f},{lon + 0.004:.5f},{lat + 0.002:.5f}"


async def main_async(args) -> None:
    db = bench_db("geo311_bench")
    prepare_database(db, args.reports, args.reuse)
    reset(db)
    with db.connect() as conn:
        describe_machine(conn)
        places, open_ids = places_and_open_ids(conn)
        # submissions near the reports, kept inside the city (whose agencies serve every category
        # here): a point jittered across the city limit would be a legitimate 422, not an error
        city = conn.execute("SELECT id FROM jurisdictions WHERE kind = 'city' ORDER BY id LIMIT 1").fetchone()[0]
        jitter_rng = random.Random(8)
        candidates = [(round(lon + jitter_rng.uniform(-1e-3, 1e-3), 7), round(lat + jitter_rng.uniform(-1e-3, 1e-3), 7))
                      for lon, lat in places]
        submit_points = [p for p, inside in zip(candidates, covered(conn, city, candidates), strict=True) if inside]
        before = conn.execute("SELECT count(*) FROM submissions").fetchone()[0]
    figure("machine.loadavg", loadavg())
    engine = make_engine(Settings(database_url=db.url), db.url)
    with make_sessionmaker(engine)() as s:
        key_id, key = create_key(s, "manager", label="load bench")
    rng = random.Random(7)
    lat_ms: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    acknowledged = 0
    next_status: dict[int, str] = {}
    deadline = 0.0

    async def one(conn: Connection) -> None:
        nonlocal acknowledged
        roll = rng.random()
        lon, lat = rng.choice(places)
        if roll < 0.80:
            kind = rng.choice(["points", "list", "report", "nearby"])
            if kind == "points":
                req = conn.request("GET", "/api/v1/reports/points",
                                   params={"bbox": street_bbox(rng, lon, lat), "status": "open"})
            elif kind == "list":
                req = conn.request("GET", "/api/v1/reports", params={"bbox": street_bbox(rng, lon, lat), "limit": 50})
            elif kind == "report":
                req = conn.request("GET", f"/api/v1/reports/{rng.choice(open_ids)}")
            else:
                req = conn.request("GET", "/api/v1/reports/nearby",
                                   params={"lon": lon, "lat": lat, "category": rng.choice(CATEGORIES), "radius_m": 250})
            ok = (200,)
        elif roll < 0.95:
            kind = "submit"
            body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(rng.choice(submit_points))},
                    "properties": {"category": rng.choice(CATEGORIES), "description": "load bench"}}
            req = conn.request("POST", "/api/v1/reports", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
            ok = (200, 201)
        else:
            kind = "status"
            rid = rng.choice(open_ids)
            action = next_status.get(rid, "start")
            next_status[rid] = {"start": "resolve", "resolve": "reopen", "reopen": "start"}[action]
            req = conn.request("POST", f"/api/v1/reports/{rid}/events", json={"action": action, "note": "load bench"},
                               headers={"Authorization": f"Bearer {key}"})
            ok = (200, 409)  # 409: another request moved it first; a legal answer, not an error
        t0 = time.perf_counter()
        try:
            status, _ = await req
        except (OSError, asyncio.IncompleteReadError, ValueError):
            status = -1
        lat_ms[kind].append((time.perf_counter() - t0) * 1000)
        if status not in ok:
            errors[f"{kind}:{status}"] += 1
        elif kind == "submit":
            acknowledged += 1

    async def worker(conn: Connection) -> None:
        while time.perf_counter() < deadline:
            await one(conn)

    with running_server(db.url, workers=args.workers) as server:
        conns = [Connection(server.url) for _ in range(args.concurrency)]
        try:
            deadline = time.perf_counter() + 5  # warm-up, not counted
            await asyncio.gather(*(worker(c) for c in conns))
            lat_ms.clear()
            errors.clear()
            acknowledged = 0
            with db.connect() as conn:
                before = conn.execute("SELECT count(*) FROM submissions").fetchone()[0]
            started = time.perf_counter()
            deadline = started + args.seconds
            await asyncio.gather(*(worker(c) for c in conns))
            wall = time.perf_counter() - started
        finally:
            for c in conns:
                await c.close()
    with db.connect() as conn:
        stored = conn.execute("SELECT count(*) FROM submissions").fetchone()[0] - before
    every = [v for values in lat_ms.values() for v in values]
    figure("load.requests", len(every), f"in {wall:.0f} s, concurrency {args.concurrency}, {args.workers} workers")
    figure("load.rps", len(every) / wall, "(target >= 300)")
    figure("load.p50_ms", percentile(every, 50))
    figure("load.p99_ms", percentile(every, 99), "(target < 100)")
    for kind, values in sorted(lat_ms.items()):
        figure(f"load.{kind}.count", len(values))
        figure(f"load.{kind}.p50_ms", percentile(values, 50))
        figure(f"load.{kind}.p99_ms", percentile(values, 99))
    figure("load.errors", sum(errors.values()), str(dict(errors)) if errors else "")
    figure("load.submissions.acknowledged", acknowledged)
    figure("load.submissions.stored", stored, "(must equal acknowledged)")
    with make_sessionmaker(engine)() as s:
        revoke_key(s, key_id)
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--concurrency", type=int, default=8,
                    help="simulated clients, each sending its next request when its reply came")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reuse", action="store_true")
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()

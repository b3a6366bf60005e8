"""Read replicas under the read-heavy mix of bench/load.py (80% map and list reads, 15% submissions,
5% crew status changes): geo311 on the primary alone versus the primary plus one streaming replica,
on this one machine, taking turns (primary, replica, replica, primary, ...).

    .venv/bin/python bench/replica.py [--reports 200000] [--seconds 30] [--rounds 2] [--concurrency 8]

It runs on an embedded cluster of its own (<data_dir>/bench-replica, port 54341 and 54342, kept
for the next run; --drop removes it), so the shared cluster is left alone. Figures per setup:
requests/s, p50 and p99 (all, reads, writes), errors (must be 0), the share of reads a replica
served (X-Geo311-Read-From), and the replica's lag under the load as the primary sees it
(the replica is stopped while the primary runs alone)
(pg_stat_replication.replay_lag, and WAL bytes not yet replayed). The floor: one bbox query
of the map layer, raw SQL on the primary and on the replica, alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import threading
import time
import uuid
from collections import defaultdict

import httpx
import psycopg
from _common import (
    BenchDb,
    alternate,
    describe_machine,
    figure,
    loadavg,
    percentile,
    running_server,
)
from _dataset import places_and_open_ids, prepare_database, reset
from load import CATEGORIES, street_bbox

from geo311.auth import create_key
from geo311.db import make_engine, make_sessionmaker
from geo311.embedded import Cluster
from geo311.settings import Settings
from geo311.standby import Standby

READS = ("points", "list", "report", "nearby")


class Mix:
    """bench/load.py's mix, one request at a time; latencies and errors by kind, reads by server."""

    def __init__(self, places, open_ids, key: str, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.places, self.open_ids, self.key = places, open_ids, key
        self.next_status: dict[int, str] = {}
        self.reset()

    def reset(self) -> None:
        self.lat_ms: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.read_from: dict[str, int] = defaultdict(int)

    async def one(self, client: httpx.AsyncClient) -> None:
        rng = self.rng
        roll = rng.random()
        lon, lat = rng.choice(self.places)
        if roll < 0.80:
            kind = rng.choice(READS)
            if kind == "points":
                req = client.get("/api/v1/reports/points", params={"bbox": street_bbox(rng, lon, lat), "status": "open"})
            elif kind == "list":
                req = client.get("/api/v1/reports", params={"bbox": street_bbox(rng, lon, lat), "limit": 50})
            elif kind == "report":
                req = client.get(f"/api/v1/reports/{rng.choice(self.open_ids)}")
            else:
                req = client.get("/api/v1/reports/nearby", params={"lon": lon, "lat": lat,
                                                                   "category": rng.choice(CATEGORIES), "radius_m": 250})
            ok = (200,)
        elif roll < 0.95:
            kind = "submit"
            body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon + rng.uniform(-1e-3, 1e-3),
                                                                                     lat + rng.uniform(-1e-3, 1e-3)]},
                    "properties": {"category": rng.choice(CATEGORIES), "description": "replica bench"}}
            req = client.post("/api/v1/reports", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
            ok = (200, 201)
        else:
            kind = "status"
            rid = rng.choice(self.open_ids)
            action = self.next_status.get(rid, "start")
            self.next_status[rid] = {"start": "resolve", "resolve": "reopen", "reopen": "start"}[action]
            req = client.post(f"/api/v1/reports/{rid}/events", json={"action": action, "note": "replica bench"},
                              headers={"Authorization": f"Bearer {self.key}"})
            ok = (200, 409)
        t0 = time.perf_counter()
        code = ""
        try:
            r = await req
            status = r.status_code
            if kind in READS:
                self.read_from[r.headers.get("x-geo311-read-from", "?")] += 1
            if status not in ok:
                code = ":" + error_code(r)
        except httpx.HTTPError:
            status = -1
        self.lat_ms[kind].append((time.perf_counter() - t0) * 1000)
        if status not in ok:
            self.errors[f"{kind}:{status}{code}"] += 1


def error_code(r: httpx.Response) -> str:
    try:
        return str(r.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


class LagSampler:
    """The replica's replay lag as the primary sees it, every half second, in a thread."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.seconds: list[float] = []
        self.bytes: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.wait(0.5):
                row = conn.execute(
                    "SELECT coalesce(extract(epoch FROM replay_lag), 0)::float8, "
                    "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 FROM pg_stat_replication").fetchone()
                if row:
                    self.seconds.append(row[0])
                    self.bytes.append(row[1])

    def __enter__(self) -> LagSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


async def worker(client: httpx.AsyncClient, mix: Mix, deadline: float) -> None:
    while time.perf_counter() < deadline:
        await mix.one(client)


async def drive(url: str, mix: Mix, concurrency: int, seconds: float) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:  # one browser: one cookie jar
        for span in (5.0, seconds):  # a warm-up, then the measured span
            mix.reset()
            started = time.perf_counter()
            await asyncio.gather(*(worker(client, mix, started + span) for _ in range(concurrency)))
            wall = time.perf_counter() - started
    return wall


def report(setup: str, runs: list[tuple[Mix, float, LagSampler | None]]) -> None:
    lat: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    read_from: dict[str, int] = defaultdict(int)
    wall = 0.0
    for mix, w, _lag in runs:
        wall += w
        for k, v in mix.lat_ms.items():
            lat[k] += v
        for k, v in mix.errors.items():
            errors[k] += v
        for k, v in mix.read_from.items():
            read_from[k] += v
    every = [v for values in lat.values() for v in values]
    reads = [v for k in READS for v in lat[k]]
    writes = lat["submit"] + lat["status"]
    figure(f"{setup}.requests", len(every), f"in {wall:.0f} s")
    figure(f"{setup}.rps", len(every) / wall)
    figure(f"{setup}.p50_ms", percentile(every, 50))
    figure(f"{setup}.p99_ms", percentile(every, 99))
    figure(f"{setup}.reads.p50_ms", percentile(reads, 50))
    figure(f"{setup}.reads.p99_ms", percentile(reads, 99))
    figure(f"{setup}.writes.p50_ms", percentile(writes, 50))
    figure(f"{setup}.writes.p99_ms", percentile(writes, 99))
    figure(f"{setup}.errors", sum(errors.values()), str(dict(errors)) if errors else "")
    total_reads = sum(read_from.values()) or 1
    figure(f"{setup}.reads_on_replica_pct", 100.0 * sum(v for k, v in read_from.items() if k.startswith("replica"))
           / total_reads, str(dict(read_from)))
    lags = [s for _m, _w, lag in runs if lag for s in lag.seconds]
    lag_bytes = [b for _m, _w, lag in runs if lag for b in lag.bytes]
    if lags:
        figure(f"{setup}.replica_lag.p50_ms", percentile(lags, 50) * 1000, f"({len(lags)} samples)")
        figure(f"{setup}.replica_lag.p99_ms", percentile(lags, 99) * 1000)
        figure(f"{setup}.replica_lag.max_ms", max(lags) * 1000)
        figure(f"{setup}.replica_lag.max_bytes", max(lag_bytes))


def floor(primary: BenchDb, replica_dsn: str, places) -> None:
    """The map layer's bbox query, raw, on each server (the work a replica takes off the primary)."""
    query = ("SELECT count(*) FROM reports WHERE location && ST_MakeEnvelope(%s, %s, %s, %s, 4326) "
             "AND status IN ('open', 'assigned', 'in_progress')")
    rng = random.Random(3)
    boxes = [(lon - 0.004, lat - 0.002, lon + 0.004, lat + 0.002) for lon, lat in rng.choices(places, k=3000)]
    with primary.connect() as p, psycopg.connect(replica_dsn, autocommit=True) as r:
        results = alternate({"primary": lambda i: p.execute(query, boxes[i]).fetchone()[0],
                             "replica": lambda i: r.execute(query, boxes[i]).fetchone()[0]}, 200, 1400)
    for name, t in results.items():
        figure(f"floor.bbox_query.{name}.p50_ms", t.ms(50))
        figure(f"floor.bbox_query.{name}.p99_ms", t.ms(99))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=200_000)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--port", type=int, default=54341)
    ap.add_argument("--drop", action="store_true", help="remove the bench cluster (and its replica) at the end")
    args = ap.parse_args()

    base = Settings()
    cluster = Cluster(Settings(database_url=None, data_dir=base.data_dir / "bench-replica", embedded_port=args.port))
    cluster.start()
    db = BenchDb(cluster, "geo311_bench")
    prepare_database(db, args.reports, reuse=True)
    reset(db)
    cluster.start(replicas=1)
    standby = Standby(cluster, 1)
    replica_url, replica_dsn = standby.url("geo311_bench"), standby.url("geo311_bench", driver="postgresql")
    with db.connect() as conn:
        describe_machine(conn)
        places, open_ids = places_and_open_ids(conn)
        conn.execute("CHECKPOINT")
    figure("machine.loadavg", loadavg())
    engine = make_engine(Settings(database_url=db.url), db.url)
    with make_sessionmaker(engine)() as s:
        _key_id, key = create_key(s, "manager", label="replica bench")
    engine.dispose()
    floor(db, replica_dsn, places)

    runs: dict[str, list] = {"primary_only": [], "with_replica": []}
    try:
        for n in range(args.rounds):
            order = ["primary_only", "with_replica"] if n % 2 == 0 else ["with_replica", "primary_only"]
            for setup in order:
                env = {"GEO311_REPLICA_URLS": replica_url if setup == "with_replica" else ""}
                if setup == "with_replica":
                    standby.start()
                else:  # the primary alone: no replica replaying on the same cores
                    standby.stop()
                mix = Mix(places, open_ids, key, seed=7 + n)
                with running_server(db.url, workers=args.workers, env=env) as server, LagSampler(db.dsn) as lag:
                    wall = asyncio.run(drive(server.url, mix, args.concurrency, args.seconds))
                runs[setup].append((mix, wall, lag))
                figure(f"round{n + 1}.{setup}.rps", sum(len(v) for v in mix.lat_ms.values()) / wall)
        figure("machine.loadavg_after", loadavg())
        figure("settings", f"reports {args.reports}, {args.seconds:.0f} s x {args.rounds} rounds per setup, "
                           f"concurrency {args.concurrency}, {args.workers} workers")
        for setup, setup_runs in runs.items():
            report(setup, setup_runs)
    finally:
        reset(db)
        if args.drop:
            cluster.stop()
            shutil.rmtree(cluster.data_dir, ignore_errors=True)
            shutil.rmtree(cluster.path.parent if cluster.path.parent != cluster.data_dir else cluster.path,
                          ignore_errors=True)
        else:
            cluster.stop()


if __name__ == "__main__":
    main()

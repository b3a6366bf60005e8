"""Helpers the benchmarks share: the bench database, a uvicorn server, timing and percentiles,
deterministic workloads of submissions, and the machine's description."""

from __future__ import annotations

import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from geo311 import migrate
from geo311.embedded import Cluster
from geo311.settings import Settings

REPO = Path(__file__).resolve().parent.parent
OPEN_STATUSES = ("open", "assigned", "in_progress")
METRES_PER_DEGREE = 111_320.0


# ----- the bench database on the embedded cluster -------------------------------------------
@dataclass
class BenchDb:
    cluster: Cluster
    name: str

    @property
    def url(self) -> str:
        """SQLAlchemy URL (what geo311 and GEO311_DATABASE_URL take)."""
        return self.cluster.url(self.name)

    @property
    def dsn(self) -> str:
        """libpq URL (what psycopg takes)."""
        return self.cluster.url(self.name, driver="postgresql")

    def connect(self, autocommit: bool = True) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=autocommit, options="-c timezone=UTC")

    def exists(self) -> bool:
        with self.cluster.connect() as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.name,)).fetchone() is not None

    def drop(self) -> None:
        with self.cluster.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))

    def create(self) -> None:
        """A fresh database with PostGIS, migrated to head, with the Portland demo loaded."""
        from geo311.db import make_engine, make_sessionmaker
        from geo311.demo import load_demo

        self.cluster.create_database(self.name)
        migrate.upgrade(self.url)
        engine = make_engine(Settings(database_url=self.url), self.url)
        with make_sessionmaker(engine)() as session:
            load_demo(session, say=lambda _line: None)
            session.commit()
        engine.dispose()


def bench_db(name: str) -> BenchDb:
    """The embedded cluster (started if it is not running) and a database name on it."""
    cluster = Cluster(Settings())
    cluster.start()
    return BenchDb(cluster, name)


# ----- a geo311 server under uvicorn ----------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log.exists() and self.log.stat().st_size == 0:  # keep a log only when it says something
            self.log.unlink()


def start_server(database_url: str, workers: int = 1, env: dict[str, str] | None = None) -> Server:
    """geo311 as `geo311 serve` runs it (uvicorn, app_from_env), log level warning, on a free port."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="geo311-bench-", suffix=".log")[1])
    full_env = {**os.environ, "GEO311_DATABASE_URL": database_url, "GEO311_LOG_LEVEL": "warning",
                # one load generator is one client: the per-client submission limits would cap it
                "GEO311_RATE_LIMIT_ANONYMOUS": "1000000/minute", "GEO311_RATE_LIMIT_KEY": "1000000/minute",
                **(env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "geo311.api.app:app_from_env", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--workers", str(workers), "--log-level", "warning"],
            env=full_env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    server = Server(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"geo311 did not start; its log:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


@contextmanager
def running_server(database_url: str, **kw: Any):
    server = start_server(database_url, **kw)
    try:
        yield server
    finally:
        server.stop()


# ----- timing --------------------------------------------------------------------------------
def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100), linear between the closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass
class Timings:
    """Per-operation latencies (seconds) and the wall time of the whole loop."""

    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    outcomes: dict[Any, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall if self.wall else math.nan

    def ms(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000

    def extend(self, other: Timings) -> None:
        self.latencies += other.latencies
        self.wall += other.wall
        for k, v in other.outcomes.items():
            self.outcomes[k] = self.outcomes.get(k, 0) + v


def timed_loop(items: Iterable[Any], op: Callable[[Any], Any]) -> Timings:
    """Run `op` on each item in turn; time each call and the whole; count what `op` returns."""
    t = Timings()
    start = time.perf_counter()
    for item in items:
        t0 = time.perf_counter()
        outcome = op(item)
        t.latencies.append(time.perf_counter() - t0)
        t.outcomes[outcome] = t.outcomes.get(outcome, 0) + 1
    t.wall = time.perf_counter() - start
    return t


def alternate(ops: dict[str, Callable[[int], Any]], warmup: int, total: int, block: int = 100) -> dict[str, Timings]:
    """Run each op on indices 0..warmup-1 (not counted), then on warmup..total-1 in blocks, taking
    turns block by block (the order flips every block), so that every op meets the same machine."""
    for op in ops.values():
        timed_loop(range(warmup), op)
    results = {name: Timings() for name in ops}
    for n, start in enumerate(range(warmup, total, block)):
        for name in (list(ops) if n % 2 == 0 else list(reversed(ops))):
            results[name].extend(timed_loop(range(start, min(start + block, total)), ops[name]))
    return results


@contextmanager
def stopwatch(label: str, say: Callable[[str], None] = print):
    start = time.perf_counter()
    yield
    say(f"{label} {time.perf_counter() - start:.1f} s")


def figure(name: str, value: float | str, note: str = "") -> None:
    """One result line: `name value [note]`."""
    if isinstance(value, float):  # one decimal for big values; ratios and small times keep 3 digits
        shown = f"{value:.1f}" if abs(value) >= 100 else f"{value:.3g}"
    else:
        shown = str(value)
    print(f"{name} {shown}{' ' + note if note else ''}", flush=True)


# ----- workloads -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """One submission of a workload; `kind` is 'new' or 'merge' (what the workload meant it to be)."""

    kind: str
    category: str
    lon: float
    lat: float
    description: str = ""
    reporter: dict[str, str] | None = None

    def feature(self) -> dict[str, Any]:
        props: dict[str, Any] = {"category": self.category, "description": self.description}
        if self.reporter:
            props["reporter"] = self.reporter
        return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [self.lon, self.lat]},
                "properties": props}


def jitter(rng, lon: float, lat: float, max_m: float) -> tuple[float, float]:
    """A point uniformly inside a circle of `max_m` metres around (lon, lat)."""
    dist = max_m * math.sqrt(rng.random())
    bearing = rng.uniform(0, 2 * math.pi)
    east, north = dist * math.cos(bearing), dist * math.sin(bearing)
    return (round(lon + east / (METRES_PER_DEGREE * math.cos(math.radians(lat))), 7),
            round(lat + north / METRES_PER_DEGREE, 7))


def covered(conn: psycopg.Connection, jurisdiction_id: int, points: Sequence[tuple[float, float]]) -> list[bool]:
    """Which of the points a jurisdiction covers (its subdivided parts), in one statement."""
    rows = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM jurisdiction_parts p WHERE p.jurisdiction_id = %s "
        "  AND ST_Covers(p.geom, ST_SetSRID(ST_MakePoint(x, y), 4326))) "
        "FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS t(x, y, n) ORDER BY n",
        (jurisdiction_id, [p[0] for p in points], [p[1] for p in points])).fetchall()
    return [r[0] for r in rows]


def points_in(conn: psycopg.Connection, rng, jurisdiction_id: int, count: int) -> list[tuple[float, float]]:
    """`count` points drawn uniformly in the jurisdiction's bbox, keeping those it covers."""
    minx, miny, maxx, maxy = conn.execute(
        "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM "
        "(SELECT ST_Extent(boundary) AS b FROM jurisdictions WHERE id = %s) e", (jurisdiction_id,)).fetchone()
    found: list[tuple[float, float]] = []
    while len(found) < count:
        batch = [(round(rng.uniform(minx, maxx), 7), round(rng.uniform(miny, maxy), 7)) for _ in range(2 * count)]
        found += [p for p, inside in zip(batch, covered(conn, jurisdiction_id, batch), strict=True) if inside]
    return found[:count]


# ----- the machine ---------------------------------------------------------------------------
def machine_info(conn: psycopg.Connection) -> dict[str, str]:
    cpu = ""
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu or platform.processor(),
        "python": platform.python_version(),
        "postgresql": conn.execute("SHOW server_version").fetchone()[0],
        "postgis": conn.execute("SELECT postgis_lib_version()").fetchone()[0],
        "geos": conn.execute("SELECT postgis_geos_version()").fetchone()[0],
    }


def describe_machine(conn: psycopg.Connection) -> None:
    """The `machine.*` lines every benchmark prints first."""
    for k, v in machine_info(conn).items():
        figure(f"machine.{k}", v)


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages: a busy machine skews every figure."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"

"""Faults: the database killed with SIGKILL under a write load, and a merge race under load.

The database crash runs on a cluster of its own (made in a temporary folder, like `geo311 db
start` makes one), so the shared test server is not disturbed."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine, pool
from sqlalchemy.orm import Session

from geo311 import migrate
from geo311.demo import load_demo
from geo311.embedded import Cluster
from geo311.settings import Settings
from tests.live import start_server, stop_server
from tests.test_intake import HOSFORD, offset

pytestmark = pytest.mark.live


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def own_cluster(tmp_path):
    cluster = Cluster(Settings(database_url=None, data_dir=tmp_path / "data", embedded_port=free_port(),
                               embedded_database="geo311_faults"))
    url = cluster.start()
    migrate.upgrade(url)
    engine = create_engine(url, poolclass=pool.NullPool)
    with Session(engine) as session:
        load_demo(session, say=lambda _line: None, addresses=False)
    engine.dispose()
    yield cluster
    try:
        cluster.stop()
    finally:
        import shutil

        shutil.rmtree(cluster.path.parent if cluster.path.parent != cluster.data_dir else cluster.path,
                      ignore_errors=True)


def _postmaster_pid(cluster: Cluster) -> int:
    return int((cluster.path / "postmaster.pid").read_text().splitlines()[0])


def _restart(cluster: Cluster, seconds: float = 60) -> None:
    """Start the killed server again; its orphaned backends may hold the old shared memory for a
    moment, so keep trying."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            cluster.start()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_acknowledged_submissions_survive_a_database_kill(own_cluster):
    server = start_server(own_cluster.url(), extra_env={"GEO311_DB_CONNECT_TIMEOUT": "2"})
    acknowledged: dict[str, str] = {}
    outcomes: list[int] = []
    stop = threading.Event()

    def writer(n: int) -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            i = 0
            while not stop.is_set():
                key, text = str(uuid.uuid4()), f"writer {n} item {i}"
                body = {"type": "Feature", "geometry": {"type": "Point",
                        "coordinates": list(offset(HOSFORD, east_m=300 * n + 3 * i))},
                        "properties": {"category": "graffiti", "description": text}}
                for _attempt in range(60):  # a client retries with the same key until it gets an answer
                    if stop.is_set() and _attempt > 20:
                        break
                    try:
                        r = client.post("/api/v1/reports", json=body, headers={"Idempotency-Key": key})
                    except httpx.HTTPError:
                        time.sleep(0.2)
                        continue
                    outcomes.append(r.status_code)
                    if r.status_code in (200, 201):
                        acknowledged[key] = text
                        break
                    assert r.status_code == 503, r.text  # never a 500 while the database is away
                    time.sleep(0.2)
                i += 1

    pool_ = ThreadPoolExecutor(4)
    try:
        futures = [pool_.submit(writer, n) for n in range(4)]
        time.sleep(1.5)
        os.kill(_postmaster_pid(own_cluster), signal.SIGKILL)
        time.sleep(1.0)
        down = httpx.get(f"{server.url}/healthz", timeout=20)
        assert down.status_code == 503
        _restart(own_cluster)  # crash recovery replays the WAL
        time.sleep(2.0)
        stop.set()
        for f in futures:
            f.result()
        assert httpx.get(f"{server.url}/healthz", timeout=20).status_code == 200  # recovered by itself
    finally:
        stop.set()  # before waiting for the writers, whatever happened
        pool_.shutdown(wait=True)
        stop_server(server)
    assert 503 in outcomes and len(acknowledged) > 10
    with psycopg.connect(own_cluster.url(driver="postgresql")) as conn:
        rows = dict(conn.execute("SELECT idempotency_key, count(*) FROM submissions GROUP BY 1").fetchall())
        texts = dict(conn.execute("SELECT description, count(*) FROM submissions GROUP BY 1").fetchall())
    for key, text in acknowledged.items():
        assert rows.get(key) == 1, key  # every acknowledged submission is there, once
        assert texts.get(text) == 1, text


def test_two_hundred_concurrent_submissions_of_one_campsite_end_as_one_report(live):
    def one(i: int) -> int:
        body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(offset(HOSFORD, north_m=i % 20))},
                "properties": {"category": "campsite", "description": f"client {i}"}}
        with httpx.Client(timeout=60) as c:
            return c.post(f"{live.url}/api/v1/reports", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}).status_code

    with ThreadPoolExecutor(max_workers=40) as pool_:
        statuses = list(pool_.map(one, range(200)))
    assert sorted(statuses) == [200] * 199 + [201]
    assert live.sql("SELECT count(*), max(submission_count) FROM reports") == [(1, 200)]
    assert live.sql("SELECT count(*) FROM submissions") == [(200,)]

"""A real primary with a real streaming replica, for tests: an embedded cluster of its own in a
temporary folder on free ports (never the shared one), migrated, with the test data committed."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import create_engine, pool
from sqlalchemy.orm import Session

from geo311 import migrate
from geo311.embedded import Cluster
from geo311.replicas import parse_lsn
from geo311.settings import Settings
from geo311.standby import Standby


def free_port_pair() -> int:
    """A port p with p + 1 free too (the primary and its replica)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65000:
            try:
                with socket.socket() as s2:
                    s2.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
    raise RuntimeError("no two free ports in a row")


@contextmanager
def primary_with_replica(data_dir, load) -> Iterator[Cluster]:
    """Start a cluster with one replica, migrate and `load(session)` on the primary; stop and
    remove both at the end."""
    cluster = Cluster(Settings(database_url=None, data_dir=data_dir, embedded_port=free_port_pair(),
                               embedded_database="geo311_replicas"))
    try:
        cluster.start()
        migrate.upgrade(cluster.url())
        engine = create_engine(cluster.url(), poolclass=pool.NullPool)
        with Session(engine) as session:
            load(session)
            session.commit()
        engine.dispose()
        cluster.start(replicas=1)  # the base backup carries the data; streaming carries the rest
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(cluster.path.parent if cluster.path.parent != cluster.data_dir else cluster.path,
                          ignore_errors=True)
            shutil.rmtree(Standby(cluster, 1).path, ignore_errors=True)


def sql(url: str, query: str, *args):
    """One statement on a server (SQLAlchemy or libpq URL), autocommit; the first row."""
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True, connect_timeout=5) as conn:
        cur = conn.execute(query, args or None)
        return cur.fetchone() if cur.description else None


def wait_replayed(replica_url: str, lsn: str, seconds: float = 20) -> None:
    want = parse_lsn(lsn)
    deadline = time.monotonic() + seconds
    while parse_lsn(sql(replica_url, "SELECT pg_last_wal_replay_lsn()::text")[0]) < want:
        if time.monotonic() > deadline:
            raise AssertionError(f"the replica did not replay {lsn} in {seconds} s")
        time.sleep(0.05)

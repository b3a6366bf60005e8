"""Streaming replicas (hot standbys) of the embedded cluster, for development and tests.

`geo311 db start --replicas N` makes replica n (1..N) once with `pg_basebackup -R` from the
running primary into `<cluster folder>-replica<n>` and starts it on 127.0.0.1:<embedded_port + n>;
later `db start` starts the replicas already made, `db stop` stops them before the primary. They
stream over the primary's own `host replication ... 127.0.0.1/32 scram-sha-256` rule with the
`geo311` role, so nothing is opened to other users of the machine.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg

from geo311.embedded import SUPERUSER, EmbeddedDatabaseError, _as_postgres, _is_root, _run

if TYPE_CHECKING:
    from geo311.embedded import Cluster

STANDBY_CONF = """
# geo311 embedded replica
hot_standby = on
hot_standby_feedback = on
"""
PRIMARY_WAL_KEEP = "1GB"  # a replica that was stopped for a while can still catch up by streaming


@dataclass
class Standby:
    cluster: Cluster
    n: int

    @property
    def path(self):
        return self.cluster.path.with_name(f"{self.cluster.path.name}-replica{self.n}")

    @property
    def port(self) -> int:
        return self.cluster.port + self.n

    @property
    def log_file(self):
        return self.path / "server.log"

    def initialized(self) -> bool:
        return (self.path / "PG_VERSION").exists()

    def url(self, database: str | None = None, driver: str = "postgresql+psycopg") -> str:
        db = database or self.cluster.settings.embedded_database
        return f"{driver}://{SUPERUSER}:{self.cluster._password()}@127.0.0.1:{self.port}/{db}"

    def _pg_ctl(self, *args: str) -> list[str]:
        return _as_postgres([str(self.cluster.bin_dir() / "pg_ctl"), "-D", str(self.path), *args])

    def running(self) -> bool:
        return self.initialized() and _run(self._pg_ctl("status")).returncode == 0

    def create(self) -> None:
        """pg_basebackup -R from the running primary (which keeps enough WAL for it to catch up)."""
        with self.cluster.connect() as conn:
            conn.execute(f"ALTER SYSTEM SET wal_keep_size = '{PRIMARY_WAL_KEEP}'")
            conn.execute("SELECT pg_reload_conf()")
        target = self.path
        if target.exists() and any(target.iterdir()):
            raise EmbeddedDatabaseError(f"{target} exists but holds no replica; move it away and try again")
        target.mkdir(parents=True, exist_ok=True)
        if _is_root():
            shutil.chown(target, "postgres", "postgres")
        target.chmod(0o700)
        env = {**os.environ, "PGPASSWORD": self.cluster._password()}
        done = _run(_as_postgres([
            str(self.cluster.bin_dir() / "pg_basebackup"), "-D", str(target), "-h", "127.0.0.1",
            "-p", str(self.cluster.port), "-U", SUPERUSER, "-R", "-X", "stream", "-c", "fast",
        ]), env=env)
        if done.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            raise EmbeddedDatabaseError(f"pg_basebackup for replica {self.n} failed:\n{done.stderr.strip()[-2000:]}")
        with (target / "postgresql.conf").open("a") as fh:  # the file keeps its owner
            fh.write(STANDBY_CONF)
        if self.log_file.exists():  # the primary's log came along
            with self.log_file.open("r+") as fh:
                fh.truncate(0)

    def start(self) -> None:
        if not self.running():
            done = _run(self._pg_ctl("-l", str(self.log_file), "-o", f"-p {self.port}", "-w", "-t", "60", "start"))
            if done.returncode != 0:
                tail = _run(_as_postgres(["tail", "-n", "15", str(self.log_file)])).stdout or "(no log)"
                raise EmbeddedDatabaseError(
                    f"replica {self.n} did not start on port {self.port} (another server there?). "
                    f"Its log, {self.log_file}, ends:\n{tail}")
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.url("postgres", driver="postgresql"), connect_timeout=5):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise EmbeddedDatabaseError(f"replica {self.n} does not answer: {exc}") from exc
                time.sleep(0.2)

    def stop(self) -> bool:
        if not self.running():
            return False
        done = _run(self._pg_ctl("stop", "-m", "fast", "-w"))
        if done.returncode != 0:
            raise EmbeddedDatabaseError(f"pg_ctl stop of replica {self.n} failed:\n{done.stderr.strip()}")
        return True

    def status(self) -> dict[str, object]:
        info: dict[str, object] = {"replica": self.n, "cluster": str(self.path), "port": self.port,
                                   "running": self.running()}
        if info["running"]:
            try:
                with psycopg.connect(self.url("postgres", driver="postgresql"), autocommit=True,
                                     connect_timeout=5) as conn:
                    row = conn.execute(
                        "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
                        "round(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::numeric, 3)::float8, "
                        "(SELECT status FROM pg_stat_wal_receiver)").fetchone()
                info.update(in_recovery=row[0], replay_lsn=row[1], last_replay_age_s=row[2], receiver=row[3])
            except psycopg.OperationalError as exc:
                info["error"] = str(exc).strip().splitlines()[0]
        return info


def standbys(cluster: Cluster) -> list[Standby]:
    """The replicas made so far, by number."""
    found, n = [], 1
    while Standby(cluster, n).initialized():
        found.append(Standby(cluster, n))
        n += 1
    return found

"""The embedded PostgreSQL + PostGIS cluster that geo311 runs when GEO311_DATABASE_URL is unset.

It lives in `<data_dir>/pg` (git-ignored), listens on 127.0.0.1:<embedded_port> only (no unix
socket, so it never clashes with a system server on 5432), and accepts the `geo311` role with a
password generated at `initdb` and kept in `<data_dir>/pg-password` (mode 0600).
initdb and postgres refuse to run as root, so as root both run as the `postgres` user.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from geo311.settings import Settings

SUPERUSER = "geo311"
PG_ROOT = Path("/usr/lib/postgresql")
# geo311.conf in the cluster's folder, written at every start (postgresql.conf includes it last, so
# a cluster made by an older geo311 gets today's settings at its next start)
SERVER_CONF = """# written by geo311 at every `geo311 db start`; edit geo311/embedded.py, not this file
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
shared_buffers = 1GB
work_mem = 16MB
maintenance_work_mem = 256MB
# bulk imports write gigabytes of WAL: checkpoints every 1 GB (the default) made each one rewrite
# whole pages of the indexes and rollups it touched (full-page images) again and again
wal_buffers = 64MB
max_wal_size = 8GB
checkpoint_timeout = 30min
"""
INCLUDE = "include_if_exists = 'geo311.conf'\n"


class EmbeddedDatabaseError(RuntimeError):
    """Something the person running geo311 has to fix; the message says what."""


def _is_root() -> bool:
    return os.geteuid() == 0


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse root: run them as the `postgres` user when we are root."""
    if not _is_root():
        return cmd
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise EmbeddedDatabaseError(
            "running as root needs the 'postgres' system user to own the embedded cluster; "
            "install PostgreSQL from Debian (apt-get install postgresql) or run as an ordinary user"
        ) from exc
    return ["runuser", "-u", "postgres", "--", *cmd]


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def _apt_install(packages: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"geo311: installing {' '.join(packages)} with apt-get ...", flush=True)
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        done = _run(cmd, env=env)
        if done.returncode != 0:
            raise EmbeddedDatabaseError(
                f"`{' '.join(cmd)}` failed:\n{done.stderr.strip()[-2000:]}"
            )


def installed_bin_dirs() -> dict[str, Path]:
    """Major version -> bin folder of every PostgreSQL server installed the Debian way."""
    found: dict[str, Path] = {}
    if PG_ROOT.is_dir():
        for child in PG_ROOT.iterdir():
            if (child / "bin" / "initdb").exists() and (child / "bin" / "postgres").exists():
                found[child.name] = child / "bin"
    return found


def _major_of(bin_dir: Path) -> str:
    out = _run([str(bin_dir / "postgres"), "--version"]).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if not match:
        raise EmbeddedDatabaseError(f"cannot tell the PostgreSQL version of {bin_dir}: {out!r}")
    return match.group(1)


@dataclass
class Cluster:
    """One embedded cluster, described by the settings; methods do the `geo311 db` verbs."""

    settings: Settings

    # ----- where things are -------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir.resolve()

    @property
    def password_file(self) -> Path:
        return self.data_dir / "pg-password"

    @property
    def path(self) -> Path:
        """The cluster folder. As root, it must be reachable by `postgres`; when the project lies
        somewhere `postgres` cannot enter (for example under /root), it goes to /var/lib/geo311."""
        local = self.data_dir / "pg"
        if not _is_root() or self._postgres_can_enter(self.data_dir):
            return local
        digest = hashlib.sha1(str(self.data_dir).encode()).hexdigest()[:12]
        return Path("/var/lib/geo311") / digest / "pg"

    @property
    def log_file(self) -> Path:
        return self.path / "server.log"

    @property
    def port(self) -> int:
        return self.settings.embedded_port

    @staticmethod
    def _postgres_can_enter(folder: Path) -> bool:
        folder.mkdir(parents=True, exist_ok=True)
        return _run(_as_postgres(["test", "-x", str(folder)])).returncode == 0

    def initialized(self) -> bool:
        return (self.path / "PG_VERSION").exists()

    # ----- binaries and PostGIS ---------------------------------------------------------
    def bin_dir(self, install: bool = False) -> Path:
        if self.settings.pg_bin:
            if not (self.settings.pg_bin / "initdb").exists():
                raise EmbeddedDatabaseError(f"GEO311_PG_BIN={self.settings.pg_bin} holds no initdb")
            return self.settings.pg_bin
        dirs = installed_bin_dirs()
        if self.initialized():  # a cluster must keep the major version that created it
            major = (self.path / "PG_VERSION").read_text().strip()
            if major in dirs:
                return dirs[major]
            raise EmbeddedDatabaseError(
                f"the embedded cluster in {self.path} was made by PostgreSQL {major}, which is not "
                f"installed; install postgresql-{major} or remove that folder to start afresh"
            )
        if not dirs:
            if not install:
                raise EmbeddedDatabaseError("no PostgreSQL server is installed")
            if not _is_root():
                raise EmbeddedDatabaseError(
                    "no PostgreSQL server is installed; run: "
                    "sudo apt-get install postgresql postgresql-15-postgis-3 "
                    "(or set GEO311_DATABASE_URL to a PostGIS database you already have)"
                )
            _apt_install(["postgresql"])
            dirs = installed_bin_dirs()
            if not dirs:
                raise EmbeddedDatabaseError("apt-get installed postgresql but no initdb was found")
        return dirs[max(dirs, key=int)]

    def postgis_installed(self, bin_dir: Path) -> bool:
        share = _run([str(bin_dir / "pg_config"), "--sharedir"]).stdout.strip()
        if not share:
            share = f"/usr/share/postgresql/{_major_of(bin_dir)}"
        return (Path(share) / "extension" / "postgis.control").exists()

    def ensure_postgis(self, bin_dir: Path) -> None:
        if self.postgis_installed(bin_dir):
            return
        package = f"postgresql-{_major_of(bin_dir)}-postgis-3"
        if not _is_root():
            raise EmbeddedDatabaseError(
                f"the PostGIS extension is missing for PostgreSQL {_major_of(bin_dir)}; run: "
                f"sudo apt-get update && sudo apt-get install -y {package}"
            )
        _apt_install([package])
        if not self.postgis_installed(bin_dir):
            raise EmbeddedDatabaseError(f"{package} was installed but postgis.control is still missing")

    # ----- the verbs ----------------------------------------------------------------------
    def _password(self) -> str:
        try:
            return self.password_file.read_text().strip()
        except FileNotFoundError as exc:
            raise EmbeddedDatabaseError(
                f"the embedded database is not set up ({self.password_file} is missing); "
                "run `geo311 db start`"
            ) from exc

    def url(self, database: str | None = None, driver: str = "postgresql+psycopg") -> str:
        db = database or self.settings.embedded_database
        return f"{driver}://{SUPERUSER}:{self._password()}@127.0.0.1:{self.port}/{db}"

    def _initdb(self, bin_dir: Path) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        target = self.path
        if target.exists() and any(target.iterdir()):
            raise EmbeddedDatabaseError(
                f"{target} exists but holds no cluster; move it away and run `geo311 db start` again"
            )
        target.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        pwfile = target.parent / f".initdb-pw-{secrets.token_hex(4)}"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        try:
            if _is_root():
                shutil.chown(target, "postgres", "postgres")
                shutil.chown(pwfile, "postgres", "postgres")
            target.chmod(0o700)
            done = _run(_as_postgres([
                str(bin_dir / "initdb"), "-D", str(target), "-U", SUPERUSER,
                "--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C",
            ]))
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            raise EmbeddedDatabaseError(f"initdb failed:\n{done.stderr.strip()[-2000:]}")
        self.password_file.write_text(password + "\n")
        self.password_file.chmod(0o600)

    def _write_conf(self) -> None:
        """geo311.conf with SERVER_CONF, included at the end of postgresql.conf (once)."""
        own = self.path / "geo311.conf"
        if not own.exists() or own.read_text() != SERVER_CONF:
            own.write_text(SERVER_CONF)
            if _is_root():
                shutil.chown(own, "postgres", "postgres")
        main = self.path / "postgresql.conf"
        if INCLUDE not in main.read_text():
            with main.open("a") as fh:  # the file keeps its owner
                fh.write("\n" + INCLUDE)

    def running(self) -> bool:
        if not self.initialized():
            return False
        bin_dir = self.bin_dir()
        return _run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(self.path), "status"])).returncode == 0

    def start(self, replicas: int = 0) -> str:
        """Install what is missing, initdb once, start the server, create the database, then make
        sure `replicas` streaming replicas exist and start every replica made so far. Idempotent."""
        bin_dir = self.bin_dir(install=True)
        self.ensure_postgis(bin_dir)
        if not self.initialized():
            self._initdb(bin_dir)
        self._write_conf()
        if not self.running():
            done = _run(_as_postgres([
                str(bin_dir / "pg_ctl"), "-D", str(self.path), "-l", str(self.log_file),
                "-o", f"-p {self.port}", "-w", "-t", "60", "start",
            ]))
            if done.returncode != 0:
                raise EmbeddedDatabaseError(
                    f"the embedded PostgreSQL did not start (port {self.port}; another server there? "
                    f"set GEO311_EMBEDDED_PORT). Its log, {self.log_file}, ends:\n{self._log_tail()}"
                )
        self._wait_ready()
        self.create_database(self.settings.embedded_database)
        from geo311.standby import Standby, standbys

        for n in range(1, replicas + 1):
            if not Standby(self, n).initialized():
                Standby(self, n).create()
        for standby in standbys(self):
            standby.start()
        return self.url()

    def replica_urls(self) -> list[str]:
        """The URLs of the replicas `start(replicas=N)` made (running or not)."""
        from geo311.standby import standbys

        return [s.url() for s in standbys(self)] if self.initialized() else []

    def stop(self) -> bool:
        """Stop the server (and its replicas first); False when it was not running."""
        from geo311.standby import standbys

        for standby in standbys(self):
            standby.stop()
        if not self.running():
            return False
        done = _run(_as_postgres(
            [str(self.bin_dir() / "pg_ctl"), "-D", str(self.path), "stop", "-m", "fast", "-w"]))
        if done.returncode != 0:
            raise EmbeddedDatabaseError(f"pg_ctl stop failed:\n{done.stderr.strip()}")
        return True

    def status(self) -> dict[str, object]:
        info: dict[str, object] = {
            "cluster": str(self.path), "port": self.port,
            "initialized": self.initialized(), "running": self.running(),
        }
        if info["running"]:
            with self.connect() as conn:
                info["server"] = conn.execute("show server_version").fetchone()[0]
                info["databases"] = [r[0] for r in conn.execute(
                    "select datname from pg_database where not datistemplate order by 1")]
        from geo311.standby import standbys

        info["replicas"] = [s.status() for s in standbys(self)]
        return info

    # ----- connections --------------------------------------------------------------------
    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(database, driver="postgresql"), autocommit=True, connect_timeout=5)

    def _wait_ready(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                with self.connect():
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise EmbeddedDatabaseError(f"the embedded PostgreSQL does not answer: {exc}") from exc
                time.sleep(0.2)

    def create_database(self, name: str, template: str | None = None) -> bool:
        """Create `name` (with PostGIS) unless it exists; True when it was created."""
        with self.connect() as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
            if exists:
                return False
            stmt = sql.SQL("create database {}").format(sql.Identifier(name))
            if template:
                stmt += sql.SQL(" template {}").format(sql.Identifier(template))
            conn.execute(stmt)
        with self.connect(name) as conn:
            conn.execute("create extension if not exists postgis")
        return True

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = _run(_as_postgres(["tail", "-n", str(lines), str(self.log_file)])).stdout
        except OSError:
            text = ""
        return text or "(no log)"

"""A live geo311 server for tests over real HTTP: uvicorn in a subprocess on 127.0.0.1, on its own
database (migrated, demo loaded), so concurrency is real and nothing is rolled back for it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from tests.support import libpq_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    database_url: str
    process: subprocess.Popen

    def reset(self) -> None:
        """Remove every report (and what hangs off them) between tests."""
        with psycopg.connect(libpq_url(self.database_url), autocommit=True) as conn:
            conn.execute("TRUNCATE reports, submissions, report_events, report_districts RESTART IDENTITY CASCADE")

    def sql(self, query: str, params: tuple | dict | None = None) -> list[tuple]:
        with psycopg.connect(libpq_url(self.database_url), autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []


def start_server(database_url: str, extra_env: dict[str, str] | None = None, workers: int = 1) -> LiveServer:
    port = free_port()
    env = {**os.environ, "GEO311_DATABASE_URL": database_url, "GEO311_LOG_LEVEL": "warning",
           "GEO311_RATE_LIMIT_ANONYMOUS": "100000/minute", "GEO311_RATE_LIMIT_KEY": "100000/minute",
           **(extra_env or {})}
    # the server's log goes to a file: a pipe nobody reads fills up and stalls the server
    log = tempfile.NamedTemporaryFile(prefix="geo311-live-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "geo311.api.app:app_from_env", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the live server did not start:\n{Path(log.name).read_text()[-3000:]}")
        time.sleep(0.1)
    return LiveServer(url, database_url, process)


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()

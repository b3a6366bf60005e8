"""Read replicas with a real primary and a real streaming replica (an embedded cluster of the test's
own, see tests/replica_cluster.py), through the app's own HTTP API and ReadSessionDep."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from geo311.api import create_app
from geo311.api.consistency import LSN_COOKIE, LSN_HEADER, READ_FROM_HEADER, WriteMemory
from geo311.api.deps import ReadSessionDep
from geo311.auth import create_key
from geo311.cli import Runtime
from geo311.cli import app as cli_app
from geo311.db import make_engine, make_sessionmaker
from geo311.replicas import format_lsn, parse_lsn
from geo311.settings import Settings
from geo311.standby import Standby
from tests.conftest import load_test_data
from tests.replica_cluster import primary_with_replica, sql, wait_replayed
from tests.test_intake import HOSFORD, offset

_spot = itertools.count(1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with primary_with_replica(tmp_path_factory.mktemp("replicas"), load_test_data) as c:
        yield c


@pytest.fixture(scope="module")
def urls(cluster):
    return cluster.url(), Standby(cluster, 1).url()


def make_app(urls, tmp_path, **kw):
    settings = Settings(**{"database_url": urls[0], "replica_urls": urls[1], "data_dir": tmp_path,
                           "rate_limit_anonymous": "100000/minute", "rate_limit_key": "100000/minute",
                           "replica_probe_seconds": 0.2, **kw})
    app = create_app(settings)

    @app.get("/_test/where")
    def where(session: ReadSessionDep) -> dict:
        """What the app's own read path is connected to."""
        return {"in_recovery": session.execute(text("SELECT pg_is_in_recovery()")).scalar_one()}

    return app


@pytest.fixture(scope="module")
def app(urls, tmp_path_factory):
    app = make_app(urls, tmp_path_factory.mktemp("app"), replica_max_lag_seconds=10)
    with TestClient(app):
        yield app


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


def report_body(category="graffiti"):
    """A point of its own each time, so the submission makes a new report."""
    point = offset(HOSFORD, east_m=400 * next(_spot), north_m=-300)
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(point)},
            "properties": {"category": category, "description": "replica test"}}


@pytest.fixture
def paused(urls):
    sql(urls[1], "SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        sql(urls[1], "SELECT pg_wal_replay_resume()")


def wait_state(app, client, state: str, seconds: float = 20) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        app.state.replicas.refresh()
        health = client.get("/healthz").json()
        if health["replicas"][0]["state"] == state:
            return health
        if time.monotonic() > deadline:
            raise AssertionError(f"the replica did not become {state}: {health}")
        time.sleep(0.1)


# ----- the embedded replica itself ---------------------------------------------------------------
def test_the_embedded_replica_streams_from_the_primary(cluster, urls):
    status = cluster.status()
    [replica] = status["replicas"]
    assert replica["running"] and replica["in_recovery"] and replica["receiver"] == "streaming"
    assert replica["port"] == cluster.port + 1
    assert sql(urls[0], "SELECT pg_is_in_recovery()")[0] is False
    assert sql(urls[1], "SELECT pg_is_in_recovery()")[0] is True
    assert cluster.replica_urls() == [urls[1]]


def test_cli_db_start_and_status_cover_the_replica(cluster):
    runner = CliRunner()
    done = runner.invoke(cli_app, ["db", "start", "--replicas", "1"], obj=Runtime(cluster.settings))
    assert done.exit_code == 0, done.output
    assert f"read replica 1 streaming on 127.0.0.1:{cluster.port + 1}" in done.output
    done = runner.invoke(cli_app, ["db", "status"], obj=Runtime(cluster.settings))
    [replica] = json.loads(done.output)["replicas"]
    assert replica["running"] and replica["in_recovery"] and replica["port"] == cluster.port + 1


# ----- where reads and writes go ----------------------------------------------------------------
def test_reads_land_on_the_replica(app, client):
    r = client.get("/_test/where")
    assert r.json() == {"in_recovery": True} and r.headers[READ_FROM_HEADER] == "replica1"
    for path in ("/api/v1/reports/points", "/api/v1/reports?limit=5", "/open311/v2/services.json",
                 "/open311/v2/requests.json", "/api/v1/geocode?q=SE%20Division"):
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)
        assert r.headers[READ_FROM_HEADER] == "replica1", path


def test_writes_go_to_the_primary_and_show_on_the_replica(app, client, urls):
    r = client.post("/api/v1/reports", json=report_body())
    assert r.status_code == 201, r.text
    rid, lsn = r.json()["id"], r.headers[LSN_HEADER]
    assert parse_lsn(lsn) and LSN_COOKIE in r.cookies
    assert sql(urls[0], "SELECT count(*) FROM reports WHERE id = %s", rid)[0] == 1
    wait_replayed(urls[1], lsn)
    assert sql(urls[1], "SELECT count(*) FROM reports WHERE id = %s", rid)[0] == 1
    with TestClient(app) as stranger:  # no cookie, no key: and the replica has it
        r = stranger.get(f"/api/v1/reports/{rid}")
        assert r.status_code == 200 and r.headers[READ_FROM_HEADER] == "replica1"
    # the writer too, once the replica has replayed the write (asked live, not from the last probe)
    r = client.get(f"/api/v1/reports/{rid}")
    assert r.status_code == 200 and r.headers[READ_FROM_HEADER] == "replica1"


def test_read_your_writes_while_replay_is_paused(app, client, paused, urls):
    r = client.post("/api/v1/reports", json=report_body())
    assert r.status_code == 201, r.text
    rid, lsn = r.json()["id"], r.headers[LSN_HEADER]
    # the writer (cookie) sees it at once, from the primary
    mine = client.get(f"/api/v1/reports/{rid}")
    assert mine.status_code == 200 and mine.headers[READ_FROM_HEADER] == "primary"
    # an API client that sends the header back, too
    with TestClient(app) as api_client:
        r = api_client.get(f"/api/v1/reports/{rid}", headers={LSN_HEADER: lsn})
        assert r.status_code == 200 and r.headers[READ_FROM_HEADER] == "primary"
    # someone else reads the (paused, so stale) replica: it does not have the report yet
    with TestClient(app) as stranger:
        r = stranger.get(f"/api/v1/reports/{rid}")
        assert r.headers[READ_FROM_HEADER] == "replica1" and r.status_code == 404


def test_a_key_reads_its_own_writes_from_any_client(app, urls, paused):
    engine = make_engine(Settings(database_url=urls[0]), urls[0])
    with make_sessionmaker(engine)() as s:
        _key_id, key = create_key(s, "resident", label="replica test")
    engine.dispose()
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(app) as phone:
        r = phone.post("/api/v1/reports", json=report_body("illegal_dumping"), headers=auth)
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
    with TestClient(app) as laptop:  # no cookie, no header: the process remembers the key's write
        r = laptop.get(f"/api/v1/reports/{rid}", headers=auth)
        assert r.status_code == 200 and r.headers[READ_FROM_HEADER] == "primary"


def test_a_status_change_then_the_work_list_reads_the_primary(app, client, urls, paused):
    engine = make_engine(Settings(database_url=urls[0]), urls[0])
    with make_sessionmaker(engine)() as s:
        _key_id, key = create_key(s, "manager", label="replica test")
    engine.dispose()
    rid = client.post("/api/v1/reports", json=report_body()).json()["id"]
    with TestClient(app) as manager:
        auth = {"Authorization": f"Bearer {key}"}
        r = manager.post(f"/api/v1/reports/{rid}/events", json={"action": "start"}, headers=auth)
        assert r.status_code == 200 and r.json()["properties"]["status"] == "in_progress"
        r = manager.get(f"/api/v1/reports/{rid}", headers=auth)
        assert r.headers[READ_FROM_HEADER] == "primary" and r.json()["properties"]["status"] == "in_progress"


# ----- unhealthy replicas are skipped -------------------------------------------------------------
def test_a_lagging_replica_is_skipped_and_shown(urls, tmp_path, paused):
    app = make_app(urls, tmp_path, replica_max_lag_seconds=0.5)
    with TestClient(app) as client:
        assert client.get("/_test/where").json() == {"in_recovery": True}
        sql(urls[0], "CREATE TABLE IF NOT EXISTS replica_test_ticks (n int)")
        sql(urls[0], "INSERT INTO replica_test_ticks VALUES (1)")
        time.sleep(1.0)
        health = wait_state(app, client, "lagging")
        [replica] = health["replicas"]
        assert health["status"] == "ok" and replica["lag_seconds"] > 0.5 and replica["lag_bytes"] > 0
        r = client.get("/_test/where")
        assert r.json() == {"in_recovery": False} and r.headers[READ_FROM_HEADER] == "primary"
        assert client.get("/api/v1/reports/points").status_code == 200
        metrics = client.get("/metrics").text
        assert 'geo311_replica_up{replica="replica1",state="lagging"} 0.0' in metrics
        assert 'geo311_replica_lag_seconds{replica="replica1"}' in metrics
        assert 'geo311_reads_on_primary_total{reason="none_usable"}' in metrics
        sql(urls[1], "SELECT pg_wal_replay_resume()")
        wait_state(app, client, "ok")
        assert client.get("/_test/where").json() == {"in_recovery": True}


def test_an_idle_current_replica_is_not_lagging(urls, tmp_path):
    """On an idle primary the replay timestamp ages for ever; the WAL positions say the replica is current."""
    app = make_app(urls, tmp_path, replica_max_lag_seconds=0.5)
    with TestClient(app) as client:
        sql(urls[0], "CREATE TABLE IF NOT EXISTS replica_test_ticks (n int)")
        lsn = sql(urls[0], "INSERT INTO replica_test_ticks VALUES (2) RETURNING pg_current_wal_lsn()::text")[0]
        wait_replayed(urls[1], lsn)
        time.sleep(1.2)  # idle: the last replayed commit is now older than the bound
        health = wait_state(app, client, "ok")
        assert health["replicas"][0]["lag_seconds"] == 0.0
        assert client.get("/_test/where").json() == {"in_recovery": True}


def test_a_stopped_replica_is_skipped_without_errors(cluster, urls, tmp_path):
    app = make_app(urls, tmp_path, replica_max_lag_seconds=10, replica_probe_seconds=60)
    standby = Standby(cluster, 1)
    with TestClient(app) as client:
        assert client.get("/_test/where").json() == {"in_recovery": True}  # pooled connections on it
        standby.stop()
        try:
            # the prober has not looked yet (60 s): the read path itself notices and goes to the primary
            for path in ("/_test/where", "/api/v1/reports/points", "/api/v1/reports?limit=3",
                         "/open311/v2/requests.json", "/open311/v2/services.json"):
                r = client.get(path)
                assert r.status_code == 200, (path, r.text)
                assert r.headers[READ_FROM_HEADER] == "primary", path
            health = client.get("/healthz").json()
            assert health["status"] == "ok" and health["replicas"][0]["state"] == "down"
            app.state.replicas.refresh()
            assert client.get("/healthz").json()["replicas"][0]["state"] == "down"
            assert 'geo311_replica_up{replica="replica1",state="down"} 0.0' in client.get("/metrics").text
        finally:
            standby.start()
        wait_state(app, client, "ok")
        assert client.get("/_test/where").json() == {"in_recovery": True}


def test_healthz_and_metrics_show_a_healthy_replica(app, client):
    app.state.replicas.refresh()
    [replica] = client.get("/healthz").json()["replicas"]
    assert replica["name"] == "replica1" and replica["state"] == "ok"
    assert replica["where"].endswith("/geo311_replicas") and "@" not in replica["where"]
    assert replica["lag_seconds"] is not None and replica["lag_seconds"] <= 10
    metrics = client.get("/metrics").text
    assert 'geo311_replica_up{replica="replica1",state="ok"} 1.0' in metrics
    assert 'geo311_reads_total{target="replica1"}' in metrics


def test_cli_db_status_probes_configured_replicas(urls, tmp_path):
    settings = Settings(database_url=urls[0], replica_urls=urls[1], data_dir=tmp_path)
    done = CliRunner().invoke(cli_app, ["db", "status"], obj=Runtime(settings))
    assert done.exit_code == 0, done.output
    info = json.loads(done.output)
    assert info["database"] == "ok" and info["replicas"][0]["state"] == "ok"


# ----- the pieces -------------------------------------------------------------------------------
def test_lsn_text_round_trips():
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert format_lsn(parse_lsn("16/B374D848")) == "16/B374D848"
    assert parse_lsn("nonsense") is None and parse_lsn(None) is None and parse_lsn("x/1") is None


def test_write_memory_keeps_the_highest_and_forgets_in_time():
    memory = WriteMemory(seconds=0.2)
    memory.remember("key:a", 10)
    memory.remember("key:a", 5)
    assert memory.get("key:a") == 10 and memory.get("key:b") is None
    time.sleep(0.25)
    assert memory.get("key:a") is None

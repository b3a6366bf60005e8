"""The embedded cluster: a second one made from nothing in a temporary folder, on its own port."""

from __future__ import annotations

import os
import shutil
import socket
import stat

import psycopg
import pytest

from geo311.embedded import INCLUDE, SERVER_CONF, Cluster, EmbeddedDatabaseError, installed_bin_dirs
from geo311.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(Settings(database_url=None, data_dir=tmp_path / "data", embedded_port=free_port(),
                         embedded_database="geo311_probe"))
    yield c
    try:
        c.stop()
    finally:
        shutil.rmtree(c.path.parent if c.path.parent != c.data_dir else c.path, ignore_errors=True)


def test_start_makes_a_cluster_with_postgis_status_and_stop(cluster):
    assert installed_bin_dirs(), "the test run needs a PostgreSQL server installed"
    assert not cluster.initialized() and not cluster.running()
    url = cluster.start()
    assert cluster.initialized() and cluster.running()
    assert f":{cluster.port}/geo311_probe" in url
    # the password is generated and private to the one who made it
    mode = stat.S_IMODE(os.stat(cluster.password_file).st_mode)
    assert mode == 0o600 and len(cluster.password_file.read_text().strip()) >= 24
    with psycopg.connect(cluster.url(driver="postgresql")) as conn:
        assert conn.execute("select postgis_lib_version()").fetchone()[0].startswith("3.")
        assert conn.execute("show listen_addresses").fetchone()[0] == "127.0.0.1"
    # a wrong password is refused: the cluster is not open to anyone on the machine
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(f"postgresql://geo311:wrong@127.0.0.1:{cluster.port}/geo311_probe", connect_timeout=5)
    status = cluster.status()
    assert status["running"] and "geo311_probe" in status["databases"]
    assert cluster.start() == url  # again: nothing to do, same URL
    assert cluster.stop() is True and not cluster.running()
    assert cluster.stop() is False
    assert cluster.start() == url and cluster.running()  # restarts on the existing cluster


def test_settings_come_from_geo311_conf_at_every_start(cluster):
    cluster.start()
    with psycopg.connect(cluster.url(driver="postgresql")) as conn:
        assert conn.execute("show max_wal_size").fetchone()[0] == "8GB"
        assert conn.execute("select sourcefile from pg_settings where name = 'max_wal_size'").fetchone()[0] \
            == str(cluster.path / "geo311.conf")
    # a cluster made by an older geo311 (its settings written into postgresql.conf, no include)
    cluster.stop()
    main = cluster.path / "postgresql.conf"
    main.write_text(main.read_text().replace(INCLUDE, "") + "max_wal_size = 1GB\n")
    (cluster.path / "geo311.conf").write_text("max_wal_size = 2GB\n")
    cluster.start()
    assert main.read_text().count(INCLUDE) == 1 and (cluster.path / "geo311.conf").read_text() == SERVER_CONF
    with psycopg.connect(cluster.url(driver="postgresql")) as conn:
        assert conn.execute("show max_wal_size").fetchone()[0] == "8GB"
    cluster.stop()
    cluster.start()
    assert main.read_text().count(INCLUDE) == 1


def test_as_root_the_cluster_belongs_to_postgres(cluster):
    if os.geteuid() != 0:
        pytest.skip("only meaningful when the tests run as root")
    cluster.start()
    owner = cluster.path.stat().st_uid
    import pwd

    assert pwd.getpwuid(owner).pw_name == "postgres"


def test_a_taken_port_gives_an_actionable_error(cluster):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", cluster.port))
        blocker.listen()
        with pytest.raises(EmbeddedDatabaseError, match="GEO311_EMBEDDED_PORT"):
            cluster.start()

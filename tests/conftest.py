"""Fixtures: a throwaway PostGIS database per run, migrated to head, with the Portland demo loaded;
each test runs in a transaction that is rolled back at its end.

The server is the embedded cluster (started if needed), or GEO311_TEST_DATABASE_URL: any PostGIS
database on a server where this role may CREATE DATABASE.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, pool, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from geo311 import migrate
from geo311.demo import load_demo
from geo311.embedded import Cluster
from geo311.settings import Settings
from tests import support
from tests.distribution_rule import violations

FIXTURES = Path(__file__).parent / "fixtures"
ADDRESS_SAMPLE = FIXTURES / "addresses" / "portland_addresses_sample_se_division_hawthorne.csv"


def load_test_data(session: Session) -> None:
    """The Portland demo, with the SE Division/Hawthorne address sample instead of the whole file."""
    import tempfile

    from geo311.address_loader import load_addresses

    load_demo(session, say=lambda _line: None, addresses=False)
    load_addresses(session, ADDRESS_SAMPLE, refused_path=Path(tempfile.gettempdir()) / "geo311-test-refused.csv")


# ----- the Citus distribution rule, checked on every statement the suite runs ----------------------
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s")
_broken: list[tuple[str, tuple[str, ...]]] = []


@event.listens_for(Engine, "before_cursor_execute")
def _check_distribution_rule(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
    found = violations(_PLACEHOLDER.sub("$1", statement).replace("%%", "%"))
    if found:
        _broken.append((statement, found))


@pytest.fixture(autouse=True)
def distribution_rule() -> Iterator[None]:
    """Fails a test that ran a query linking two report-side tables without their jurisdiction_id
    (docs/scaling.md: such a query would not run as a co-located join on Citus)."""
    start = len(_broken)
    yield
    if len(_broken) > start:
        statement, found = _broken[start]
        pytest.fail(f"a query breaks the distribution rule ({'; '.join(found)}):\n{statement}", pytrace=False)


@pytest.fixture(scope="session")
def admin_url() -> str:
    """A URL on the test server from which databases can be created and dropped."""
    url = os.environ.get("GEO311_TEST_DATABASE_URL")
    if url:
        url = Settings(database_url=url).database_url
    else:
        cluster = Cluster(Settings(database_url=None))
        cluster.start()
        url = cluster.url("postgres")
    support.drop_stale_databases(url)
    return url


@pytest.fixture(scope="session")
def database_url(admin_url: str) -> Iterator[str]:
    """The run's database: migrated to head, Portland demo loaded and committed."""
    url = support.create_database(admin_url, "main")
    try:
        migrate.upgrade(url)
        engine = create_engine(url, poolclass=pool.NullPool)
        with Session(engine) as session:
            load_test_data(session)
        engine.dispose()
        yield url
    finally:
        support.drop_database(admin_url, url)


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # rate limits out of the way (tests/api/test_guards.py tests them with small ones)
    return Settings(database_url=database_url, data_dir=tmp_path_factory.mktemp("data"),
                    rate_limit_anonymous="100000/minute", rate_limit_key="100000/minute")


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url, pool_size=5)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """One connection in an outer transaction that the test never commits."""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            yield conn
        finally:
            trans.rollback()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    """Sessions on the test's connection: their commits become savepoints, rolled back at the end."""
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s


@contextmanager
def demo_database(admin_url: str, label: str) -> Iterator[str]:
    """A database of its own, migrated, with the test data loaded and committed; dropped after."""
    url = support.create_database(admin_url, label)
    try:
        migrate.upgrade(url)
        engine = create_engine(url, poolclass=pool.NullPool)
        with Session(engine) as session:
            load_test_data(session)
        engine.dispose()
        yield url
    finally:
        support.drop_database(admin_url, url)


@pytest.fixture(scope="module")
def committed_engine(admin_url: str) -> Iterator[Engine]:
    """A database of the test module's own where commits really commit (imports with several
    writers, the rollups an import holds and applies)."""
    with demo_database(admin_url, "writers") as url:
        engine = create_engine(url, poolclass=pool.NullPool)
        yield engine
        engine.dispose()


@pytest.fixture
def db(committed_engine: Engine) -> Iterator[Engine]:
    """The committed database without reports or import runs before and after each test."""
    def empty() -> None:
        with committed_engine.begin() as conn:
            conn.execute(text("TRUNCATE reports, submissions, report_districts, report_events, import_keys, "
                              "import_runs RESTART IDENTITY CASCADE"))

    empty()
    yield committed_engine
    empty()


@pytest.fixture(scope="session")
def live_database_url(admin_url: str) -> Iterator[str]:
    """A second database for live servers: committed data, demo loaded."""
    with demo_database(admin_url, "live") as url:
        yield url


@pytest.fixture(scope="session")
def live_server_session(live_database_url: str, tmp_path_factory: pytest.TempPathFactory):
    from tests.live import start_server, stop_server

    # photos sent to the live server go to a folder of the run, not to the checkout's data folder
    server = start_server(live_database_url, {"GEO311_PHOTO_DIR": str(tmp_path_factory.mktemp("live-photos"))})
    yield server
    stop_server(server)


@pytest.fixture
def live(live_server_session):
    """The live server with no reports in its database."""
    live_server_session.reset()
    return live_server_session

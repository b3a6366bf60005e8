"""Engines, sessions and the declarative Base. Nothing is created at import time."""

from __future__ import annotations

from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from geo311.replicas import Replica, ReplicaPool
from geo311.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def database_url(settings: Settings) -> str:
    """GEO311_DATABASE_URL when set; otherwise the embedded cluster's URL."""
    if settings.database_url:
        return settings.database_url
    from geo311.embedded import Cluster

    return Cluster(settings).url()


def make_engine(settings: Settings, url: str | None = None) -> Engine:
    options = "-c timezone=UTC"
    if settings.db_statement_timeout_ms:
        options += f" -c statement_timeout={settings.db_statement_timeout_ms}"
    return create_engine(
        url or database_url(settings),
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=True,
        connect_args={"connect_timeout": settings.db_connect_timeout, "application_name": "geo311",
                      "options": options},
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def replica_urls(settings: Settings) -> list[str]:
    """GEO311_REPLICA_URLS; with the embedded database and none set, the replicas it has made."""
    if settings.replica_url_list or not settings.uses_embedded_database:
        return settings.replica_url_list
    from geo311.embedded import Cluster

    return Cluster(settings).replica_urls()


def make_replica_pool(settings: Settings, primary: Engine, urls: list[str] | None = None) -> ReplicaPool:
    """Engines for the read replicas (none: an empty pool, and every read goes to the primary)."""
    urls = replica_urls(settings) if urls is None else urls
    replicas = []
    for n, url in enumerate(urls, start=1):
        engine = make_engine(settings, url)
        replicas.append(Replica(f"replica{n}", url, engine, make_sessionmaker(engine)))
    return ReplicaPool(primary, replicas, max_lag_seconds=settings.replica_max_lag_seconds,
                       probe_seconds=settings.replica_probe_seconds)


def database_health(session: Session) -> dict[str, str]:
    """What /healthz reports: can we query, and which PostGIS answers."""
    try:
        version = session.execute(text("SELECT postgis_lib_version()")).scalar_one()
    except SQLAlchemyError:
        session.rollback()
        return {"database": "unreachable"}
    return {"database": "ok", "postgis": version}

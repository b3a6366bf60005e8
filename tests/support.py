"""Helpers for tests: throwaway PostGIS databases on the embedded cluster or a given server."""

from __future__ import annotations

import os
import re
import secrets

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

PREFIX = "geo311_test_"


def libpq_url(url: str) -> str:
    """SQLAlchemy URL -> libpq URL (psycopg.connect wants no +driver)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def drop_stale_databases(admin_url: str) -> None:
    """Drop throwaway databases left by test runs that were killed (their pid is gone)."""
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        names = [r[0] for r in conn.execute("select datname from pg_database where datname like %s",
                                            (PREFIX + "%",))]
        for name in names:
            match = re.match(rf"{PREFIX}(\d+)_", name)
            if match and not _alive(int(match.group(1))):
                conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def create_database(admin_url: str, label: str) -> str:
    """A new empty database with PostGIS; returns its SQLAlchemy URL."""
    name = f"{PREFIX}{os.getpid()}_{label}_{secrets.token_hex(3)}"
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = with_database(admin_url, name)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("create extension if not exists postgis")
    return url


def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))

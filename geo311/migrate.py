"""Run the Alembic migrations in migrations/ from code (`geo311 db upgrade`, tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from geoalchemy2 import alembic_helpers
from sqlalchemy import Column

from geo311.settings import PACKAGE_DIR

MIGRATIONS_DIR = PACKAGE_DIR.parent / "migrations"


def include_name(name, type_, parent_names) -> bool:
    """Allowlist for comparisons: only our own tables (PostGIS, tiger and topology bring theirs)."""
    from geo311.db import Base

    return type_ != "table" or name in Base.metadata.tables


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    if type_ == "index" and any(not isinstance(e, Column) for e in getattr(obj, "expressions", [])):
        return False  # expression indexes are hand-written in revisions; Alembic cannot compare them
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def alembic_config(url: str) -> Config:
    cfg = Config(str(PACKAGE_DIR.parent / "alembic.ini")) if (PACKAGE_DIR.parent / "alembic.ini").exists() else Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Migrate to `revision`; "heads" takes every branch (parallel work merges into one head later)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database is at (the branches joined with '+' when several)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, pool

    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    rev = "+".join(sorted(heads)) if heads else None
    engine.dispose()
    return rev


def head() -> str:
    from alembic.script import ScriptDirectory

    return "+".join(sorted(ScriptDirectory.from_config(alembic_config("")).get_heads()))


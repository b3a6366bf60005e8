"""All configuration, read from GEO311_* environment variables (and an optional .env file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent


def _default_data_dir() -> Path:
    """`.geo311/` beside pyproject.toml in a source checkout, else in the working directory."""
    checkout = PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout / ".geo311"
    return Path.cwd() / ".geo311"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEO311_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of your own PostGIS database "
        "(postgresql+psycopg://user:pass@host:5432/db). Unset: the embedded cluster is used.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Folder for the embedded database cluster and other local state (git-ignored).",
    )
    embedded_port: int = Field(
        default=54311, ge=1024, le=65535, description="TCP port of the embedded cluster on 127.0.0.1."
    )
    embedded_database: str = Field(default="geo311", description="Database name in the embedded cluster.")
    pg_bin: Path | None = Field(
        default=None,
        description="Folder with initdb/pg_ctl for the embedded cluster; default: newest under /usr/lib/postgresql.",
    )
    host: str = Field(default="127.0.0.1", description="Address `geo311 serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `geo311 serve` listens on.")
    pool_size: int = Field(default=10, ge=1, le=200, description="Database connections per process.")
    boundary_margin_m: float = Field(
        default=15.0, ge=0, le=1000,
        description="A report this close (metres) to its jurisdiction's edge is flagged near_boundary.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest accepted JSON request body, in bytes."
    )
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, v: str | None) -> str | None:
        if not v:
            return None
        # Accept the URLs libpq users write; psycopg 3 is the only driver we ship.
        for prefix in ("postgresql://", "postgres://"):
            if v.startswith(prefix):
                return "postgresql+psycopg://" + v[len(prefix):]
        return v

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url is None


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests build their own Settings and pass them down instead."""
    return Settings()

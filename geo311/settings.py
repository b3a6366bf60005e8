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
    tile_url: str = Field(
        default="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="Base-map tile URL template ({z}/{x}/{y}, optional {s}); the only outside host map pages load from.",
    )
    tile_attribution: str = Field(
        default='&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
        description="Attribution HTML shown under the tiles; set it together with GEO311_TILE_URL.",
    )
    secret_key: str | None = Field(
        default=None, min_length=32,
        description="Signs session cookies of the staff pages. Unset: a random one kept in <data_dir>/secret-key.",
    )
    session_hours: float = Field(default=10.0, gt=0, le=24 * 30, description="How long a page login lasts.")
    allow_anonymous_submissions: bool = Field(
        default=True, description="Accept reports without an API key (a resident key is needed when false).",
    )
    secure_cookies: bool = Field(
        default=False, description="Mark session cookies Secure (set true behind HTTPS).",
    )
    photo_dir: Path | None = Field(
        default=None,
        description="Folder of the photo store (public copies and staff-only originals). Unset: <data_dir>/photos.",
    )
    photo_max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Largest accepted photo file, in bytes.",
    )
    photo_max_request_bytes: int = Field(
        default=25 * 1024 * 1024, ge=1024,
        description="Largest accepted upload request (all its photos together), in bytes.",
    )
    photo_max_pixels: int = Field(
        default=50_000_000, ge=10_000, le=89_000_000,  # below Pillow's own bomb warning
        description="Largest accepted photo in pixels (width x height); bigger ones are refused as decompression bombs.",
    )
    rate_limit_anonymous: str = Field(
        default="30/minute", description="Submissions allowed per client address without a key (N/second|minute|hour).",
    )
    rate_limit_key: str = Field(default="300/minute", description="Submissions allowed per API key.")
    trusted_proxies: str = Field(
        default="", description="Comma-separated addresses/CIDRs of reverse proxies whose X-Forwarded-For is believed.",
    )
    cors_origins: str = Field(
        default="", description="Comma-separated origins allowed to call the API from browsers (CORS); empty: none.",
    )
    metrics_token: str | None = Field(
        default=None, min_length=16,
        description="Bearer token for /metrics; unset: /metrics answers loopback clients only.",
    )
    db_connect_timeout: int = Field(default=3, ge=1, le=60, description="Seconds to wait for a database connection.")
    db_pool_timeout: float = Field(default=5.0, gt=0, le=60, description="Seconds a request waits for a pooled connection.")
    db_statement_timeout_ms: int = Field(
        default=30_000, ge=0, description="Longest SQL statement in milliseconds (0: none); a request never hangs.",
    )
    replica_urls: str = Field(
        default="",
        description="Comma-separated SQLAlchemy URLs of streaming read replicas of GEO311_DATABASE_URL; reads "
        "(maps, lists, heatmaps, dashboards, work lists, exports, Open311 GETs) go to a healthy one. Unset with "
        "the embedded database: the replicas `geo311 db start --replicas N` made.",
    )
    replica_max_lag_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="A replica further behind the primary than this is skipped.",
    )
    replica_probe_seconds: float = Field(
        default=1.0, ge=0.1, le=60, description="How often each process probes its replicas' state and lag.",
    )
    read_your_writes_seconds: float = Field(
        default=60.0, ge=0, le=3600,
        description="How long a caller's own write is remembered (cookie, header, per key): until a replica "
        "has replayed it, that caller reads from the primary.",
    )
    open311_jurisdiction_id: str = Field(
        default="portland.gov", min_length=1, max_length=200,
        description="The jurisdiction_id of the Open311 endpoint: clients may leave it out; any other is a 404.",
    )

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

    @field_validator("replica_urls")
    @classmethod
    def _normalise_replica_urls(cls, v: str) -> str:
        return ",".join(cls._normalise_url(u.strip()) for u in (v or "").split(",") if u.strip())

    @staticmethod
    def _items(value: str) -> list[str]:
        return [v.strip() for v in value.split(",") if v.strip()]

    @property
    def trusted_proxy_list(self) -> list[str]:
        return self._items(self.trusted_proxies)

    @property
    def replica_url_list(self) -> list[str]:
        return self._items(self.replica_urls)

    @property
    def cors_origin_list(self) -> list[str]:
        return self._items(self.cors_origins)

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url is None

    def session_secret(self) -> bytes:
        """GEO311_SECRET_KEY, or a random key made once and kept (mode 0600) in the data folder."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret-key"
        if not path.exists():  # several workers may race here: the first link wins, all read it
            import os
            import secrets

            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".secret-key-{os.getpid()}-{secrets.token_hex(4)}")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text().strip().encode()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests build their own Settings and pass them down instead."""
    return Settings()

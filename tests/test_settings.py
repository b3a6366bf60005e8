"""Settings come from GEO311_* variables, with the embedded database as the default."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from geo311.db import database_url
from geo311.embedded import Cluster
from geo311.settings import Settings, get_settings


def test_defaults(monkeypatch, tmp_path):
    for name in [n for n in os.environ if n.startswith("GEO311_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env here
    s = Settings()
    assert s.database_url is None and s.uses_embedded_database
    assert s.data_dir.name == ".geo311" and (s.data_dir.parent / "pyproject.toml").exists()
    assert (s.host, s.port, s.embedded_port, s.boundary_margin_m, s.max_body_bytes) == \
        ("127.0.0.1", 8000, 54311, 15.0, 65536)


def test_environment_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("GEO311_DATABASE_URL", "postgresql://me:pw@db.example:5432/city")
    monkeypatch.setenv("GEO311_PORT", "9000")
    monkeypatch.setenv("GEO311_BOUNDARY_MARGIN_M", "25")
    monkeypatch.setenv("GEO311_DATA_DIR", str(tmp_path))
    s = Settings()
    assert s.database_url == "postgresql+psycopg://me:pw@db.example:5432/city"
    assert (s.port, s.boundary_margin_m, s.data_dir) == (9000, 25.0, tmp_path)
    assert database_url(s) == s.database_url  # an external server is used as given


def test_invalid_values_are_refused(monkeypatch):
    monkeypatch.setenv("GEO311_PORT", "70000")
    with pytest.raises(ValidationError, match="port"):
        Settings()


def test_get_settings_is_cached_and_overridable(monkeypatch):
    get_settings.cache_clear()
    try:
        assert get_settings() is get_settings()
    finally:
        get_settings.cache_clear()


def test_embedded_url_needs_a_started_cluster(tmp_path):
    s = Settings(database_url=None, data_dir=tmp_path / "nothing-here")
    with pytest.raises(Exception, match="geo311 db start"):
        database_url(s)
    assert not Cluster(s).initialized()

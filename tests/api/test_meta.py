"""/healthz and the error scheme, through the app with its session bound to the test transaction."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from geo311.api import create_app
from geo311.settings import Settings


def test_healthz_checks_the_database(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["postgis"].startswith("3.")


def test_healthz_is_503_when_the_database_is_unreachable(tmp_path):
    settings = Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none", data_dir=tmp_path)
    engine = create_engine(settings.database_url, connect_args={"connect_timeout": 2})
    with TestClient(create_app(settings, engine=engine)) as c:
        r = c.get("/healthz")
    assert r.status_code == 503 and r.json()["database"] == "unreachable"


def test_openapi_docs_are_served(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/healthz" in spec["paths"]


def test_unknown_route_uses_the_error_scheme(client):
    r = client.get("/no/such/thing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"

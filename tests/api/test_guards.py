"""Rate limits, proxies, security headers, request ids, errors, database outages, metrics, logs."""

from __future__ import annotations

import json
import logging
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from geo311.api import create_app
from geo311.api.deps import get_session
from geo311.api.guards import client_address, parse_rate
from geo311.logs import JsonFormatter, redact_query
from tests.staff import HOSFORD, make_world

FEATURE = {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(HOSFORD)},
           "properties": {"category": "graffiti"}}


def app_client(settings, session_factory, **overrides):
    app = create_app(settings.model_copy(update=overrides))

    def session():
        with session_factory() as s:
            yield s
    app.dependency_overrides[get_session] = session
    return app, TestClient(app, raise_server_exceptions=False)


def test_submissions_are_rate_limited_per_client_and_per_key(settings, session_factory, session):
    world = make_world(session)
    _app, client = app_client(settings, session_factory, rate_limit_anonymous="3/minute", rate_limit_key="2/minute")
    statuses = [client.post("/api/v1/reports", json=FEATURE).status_code for _ in range(4)]
    assert statuses[:3] == [201, 200, 200] and statuses[3] == 429
    limited = client.post("/api/v1/reports", json=FEATURE)
    assert limited.json()["error"]["code"] == "rate_limited" and 1 <= int(limited.headers["retry-after"]) <= 60
    assert client.get("/api/v1/reports").status_code == 200  # reads are not limited
    keyed = [client.post("/api/v1/reports", json=FEATURE, headers=world.headers("resident")).status_code
             for _ in range(3)]
    assert keyed == [200, 200, 429]  # a key has its own bucket


def test_forwarded_for_is_believed_from_trusted_proxies_only():
    import ipaddress

    trusted = [ipaddress.ip_network("10.0.0.0/8")]
    scope = {"client": ("10.1.2.3", 5000), "headers": [(b"x-forwarded-for", b"203.0.113.7, 10.9.9.9")]}
    assert client_address(scope, trusted) == "203.0.113.7"
    assert client_address({**scope, "client": ("198.51.100.1", 1)}, trusted) == "198.51.100.1"  # spoofed header
    assert client_address(scope, []) == "10.1.2.3"
    assert parse_rate("20/minute") == (20, 60) and parse_rate("5/second") == (5, 1)
    with pytest.raises(ValueError):
        parse_rate("lots")


def test_security_headers_and_url_length(client):
    api = client.get("/api/v1/categories")
    assert api.headers["x-content-type-options"] == "nosniff" and api.headers["x-frame-options"] == "DENY"
    page = client.get("/")
    assert "frame-ancestors" in page.headers["content-security-policy"] and "x-frame-options" not in page.headers
    assert client.get("/api/v1/reports?category=" + "x" * 9000).status_code == 414


def test_request_ids(client):
    fresh = client.get("/healthz").headers["x-request-id"]
    assert len(fresh) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "trace-12345678"}).headers["x-request-id"] == "trace-12345678"
    assert client.get("/healthz", headers={"X-Request-ID": "bad id <script>"}).headers["x-request-id"] != "bad id <script>"


def test_a_500_names_its_request_id_and_nothing_else(settings, session_factory):
    app, client = app_client(settings, session_factory)

    def boom():
        raise RuntimeError("secret path /etc/geo311 and SELECT * FROM api_keys")
    app.add_api_route("/boom", boom)
    r = client.get("/boom")
    assert r.status_code == 500 and r.headers["x-request-id"] in r.json()["error"]["message"]
    assert "secret" not in r.text and "SELECT" not in r.text and "Traceback" not in r.text


def test_database_down_is_a_quick_503_with_retry_after(settings):
    dead = settings.model_copy(update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none",
                                       "db_connect_timeout": 1})
    engine = create_engine(dead.database_url, connect_args={"connect_timeout": 1}, pool_pre_ping=True)
    client = TestClient(create_app(dead, engine=engine), raise_server_exceptions=False)
    started = time.monotonic()
    r = client.get("/api/v1/categories")
    assert r.status_code == 503 and r.headers["retry-after"] == "5" and "x-geo311-retry" not in r.headers
    assert r.json()["error"]["code"] == "database_unavailable" and time.monotonic() - started < 10
    posted = client.post("/api/v1/reports", json=FEATURE)
    assert posted.status_code == 503 and "x-geo311-retry" not in posted.headers
    assert client.get("/healthz").status_code == 503
    # Open311 answers in its own format: a 503 to retry, not a 500
    for path in ("/open311/v2/requests.json", "/open311/v2/services.xml"):
        r = client.get(path)
        assert r.status_code == 503 and r.headers["retry-after"] == "5" and "x-geo311-retry" not in r.headers, path
        assert "not answering" in r.text and "Traceback" not in r.text, path
    assert client.get("/open311/v2/requests.json").json()[0]["code"] == 503


def test_metrics_count_requests_and_intake_outcomes(settings, session_factory):
    _app, client = app_client(settings, session_factory)
    client.post("/api/v1/reports", json=FEATURE)
    client.post("/api/v1/reports", json=FEATURE)
    client.post("/api/v1/reports", json=FEATURE | {"properties": {"category": "bigfoot"}})
    text = client.get("/metrics").text
    assert 'geo311_intake_total{outcome="created"} 1.0' in text
    assert 'geo311_intake_total{outcome="merged"} 1.0' in text
    assert 'geo311_intake_total{outcome="refused:unknown_category"} 1.0' in text
    assert 'geo311_request_seconds_count{method="POST",route="/api/v1/reports",status="2xx"} 2.0' in text
    assert "geo311_db_pool_connections" in text
    _app, guarded = app_client(settings, session_factory, metrics_token="t" * 20)
    assert guarded.get("/metrics").status_code == 403
    assert guarded.get("/metrics", headers={"Authorization": "Bearer " + "t" * 20}).status_code == 200


def test_access_logs_are_json_with_ids_and_no_personal_data(client, caplog):
    with caplog.at_level(logging.INFO, logger="geo311.access"):
        client.get("/api/v1/callers?phone=503-555-0100&email=sam@example.org",
                   headers={"X-Request-ID": "trace-abcdefgh", "Authorization": "Bearer g311_x_secretsecret"})
    record = next(r for r in caplog.records if r.name == "geo311.access")
    line = json.loads(JsonFormatter().format(record))
    assert line["route"] == "/api/v1/callers" and line["status"] == 401 and line["request_id"] == "trace-abcdefgh"
    assert "503-555-0100" not in str(line) and "sam@example.org" not in str(line) and "secretsecret" not in str(line)
    assert redact_query("phone=1&category=x&api_key=k") == "phone=%5Bredacted%5D&category=x&api_key=%5Bredacted%5D"


def test_a_signed_in_staff_page_has_its_key_bucket(settings, session_factory, session):
    from geo311.api.deps import SESSION_COOKIE
    from geo311.auth import csrf_token, make_session_token

    world = make_world(session)
    _app, client = app_client(settings, session_factory, rate_limit_anonymous="2/minute", rate_limit_key="100/minute")
    agent_key_id = world.keys["agent"].split("_")[1]
    token = make_session_token(settings.session_secret(), agent_key_id, 600)
    client.cookies.set(SESSION_COOKIE, token)
    headers = {"X-CSRF-Token": csrf_token(settings.session_secret(), token), "X-Geo311-Channel": "phone"}
    statuses = [client.post("/api/v1/reports", json=FEATURE, headers=headers).status_code for _ in range(4)]
    assert 429 not in statuses  # not the anonymous bucket
    client.cookies.set(SESSION_COOKIE, token[:-2] + "xx")  # forged: back to the client's address
    forged = [client.post("/api/v1/reports", json=FEATURE).status_code for _ in range(3)]
    assert forged[-1] == 429
    client.cookies.clear()

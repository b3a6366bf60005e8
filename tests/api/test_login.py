"""Staff sign-in: cookie flags, expiry, revocation, CSRF and open-redirect safety."""

from __future__ import annotations

import pytest

from geo311.api.deps import SESSION_COOKIE
from geo311.auth import csrf_token, make_session_token, revoke_key
from tests.staff import make_world

SAME = {"origin": "http://testserver"}


def login(client, key, next_path="", headers=SAME):
    return client.post("/login", data={"key": key, "next": next_path}, headers=headers, follow_redirects=False)


def test_login_form_is_served(client):
    r = client.get("/login?next=/crew")
    assert r.status_code == 200 and 'name="key"' in r.text and "content-security-policy" in r.headers


def test_staff_key_signs_in_with_a_safe_cookie(client, session):
    world = make_world(session)
    r = login(client, world.keys["manager"])
    assert r.status_code == 303 and r.headers["location"] == "/manager"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Max-Age=36000" in cookie and world.keys["manager"] not in cookie
    assert login(client, world.keys["crew_own"]).headers["location"] == "/crew"


@pytest.mark.parametrize("who", ["resident", "revoked"])
def test_non_staff_and_revoked_keys_do_not_sign_in(client, session, who):
    world = make_world(session)
    r = login(client, world.keys[who])
    assert r.status_code == 401 and "set-cookie" not in r.headers and 'role="alert"' in r.text
    assert login(client, "g311_nope_nope").status_code == 401


def test_cross_site_login_and_logout_are_refused(client, session):
    world = make_world(session)
    assert login(client, world.keys["manager"], headers={"origin": "https://evil.example"}).status_code == 403
    assert login(client, world.keys["manager"], headers={}).status_code == 403
    assert client.post("/logout", headers={"origin": "https://evil.example"}).status_code == 403


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_next_never_leaves_the_site(client, session, target):
    world = make_world(session)
    assert login(client, world.keys["manager"], next_path=target).headers["location"] == "/manager"


def test_cookie_session_needs_csrf_for_changes_and_dies_with_its_key(client, session, settings):
    world = make_world(session)
    r = login(client, world.keys["crew_own"])
    token = r.cookies[SESSION_COOKIE]
    client.cookies.set(SESSION_COOKIE, token)
    url = f"/api/v1/reports/{world.north_report}/events"
    assert client.get("/api/v1/crews/North Portland/worklist").status_code == 200  # reads need no token
    assert client.post(url, json={"action": "start"}).status_code == 403  # no CSRF token
    assert client.post(url, json={"action": "start"}, headers={"X-CSRF-Token": "forged"}).status_code == 403
    good = csrf_token(settings.session_secret(), token)
    assert client.post(url, json={"action": "start"}, headers={"X-CSRF-Token": good}).status_code == 200
    key_id = world.keys["crew_own"].split("_")[1]
    revoke_key(session, key_id)
    assert client.get("/api/v1/crews/North Portland/worklist").status_code == 401  # back to anonymous
    client.cookies.clear()


def test_expired_cookie_is_anonymous(client, session, settings):
    world = make_world(session)
    key_id = world.keys["manager"].split("_")[1]
    old = make_session_token(settings.session_secret(), key_id, 60, now=1_000_000)
    client.cookies.set(SESSION_COOKIE, old)
    assert client.get("/api/v1/crews").status_code == 401
    client.cookies.clear()


def test_logout_clears_the_cookie(client):
    r = client.post("/logout", headers=SAME, follow_redirects=False)
    assert r.status_code == 303 and f'{SESSION_COOKIE}=""' in r.headers["set-cookie"]


def test_sign_in_comes_back_to_the_page_and_its_query(client):
    r = client.get("/crew?crew=Southeast", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/crew%3Fcrew%3DSoutheast"

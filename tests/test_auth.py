"""API keys and session tokens."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import text

from geo311.auth import (
    authenticate,
    check_csrf,
    create_key,
    csrf_token,
    list_keys,
    make_session_token,
    read_session_token,
    revoke_key,
)
from geo311.errors import InvalidInput, NotFound
from tests.staff import make_world


def test_key_is_long_random_shown_once_and_stored_hashed(session):
    key_id, key = create_key(session, "manager", label="dispatch desk")
    assert re.fullmatch(r"g311_[0-9a-f]{12}_[A-Za-z0-9_-]{32}", key)
    secret = key.split("_", 2)[2]
    assert len(secret) * 6 >= 128  # at least 128 random bits (192 here)
    stored = session.execute(text("SELECT * FROM api_keys WHERE key_id = :k"), {"k": key_id}).mappings().one()
    assert secret not in str(dict(stored)) and key not in str(dict(stored))
    assert stored["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert all(key not in str(row) for row in list_keys(session))


def test_authenticate_roles_and_last_used(session):
    world = make_world(session)
    crew = authenticate(session, world.keys["crew_own"])
    assert crew.role == "crew" and crew.crew_name == "North Portland" and crew.is_staff
    assert authenticate(session, world.keys["resident"]).is_staff is False
    used = session.execute(text("SELECT last_used_at FROM api_keys WHERE key_id = :k"),
                           {"k": crew.key_id}).scalar_one()
    assert used is not None


@pytest.mark.parametrize("token", ["", "nonsense", "g311_", "g311_abc", "Bearer x", "g311_000000000000_wrong"])
def test_malformed_or_unknown_keys_fail(session, token):
    assert authenticate(session, token) is None


def test_wrong_secret_and_revoked_keys_fail(session):
    key_id, key = create_key(session, "admin")
    assert authenticate(session, key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert revoke_key(session, key_id) is True
    assert authenticate(session, key) is None
    assert revoke_key(session, key_id) is False
    with pytest.raises(NotFound):
        revoke_key(session, "nope")


def test_crew_keys_need_a_crew_and_only_crew_keys_have_one(session):
    with pytest.raises(InvalidInput, match="belongs to one crew"):
        create_key(session, "crew")
    with pytest.raises(NotFound, match="no crew named"):
        create_key(session, "crew", crew="Atlantis")
    make_world(session)
    with pytest.raises(InvalidInput, match="only crew keys"):
        create_key(session, "manager", crew="North Portland")
    with pytest.raises(InvalidInput, match="unknown role"):
        create_key(session, "mayor")


def test_session_tokens_are_signed_and_expire():
    secret = b"s" * 40
    token = make_session_token(secret, "abc123", 60, now=1000)
    assert read_session_token(secret, token, now=1030) == "abc123"
    assert read_session_token(secret, token, now=1061) is None  # expired
    assert read_session_token(b"t" * 40, token, now=1030) is None  # other secret
    forged = token.replace("abc123", "admin1")
    assert read_session_token(secret, forged, now=1030) is None
    assert read_session_token(secret, "a.b.c", now=1030) is None


def test_csrf_token_belongs_to_its_session():
    secret = b"s" * 40
    one, two = make_session_token(secret, "k", 60), make_session_token(secret, "k", 60)
    assert check_csrf(secret, one, csrf_token(secret, one))
    assert not check_csrf(secret, one, csrf_token(secret, two))
    assert not check_csrf(secret, one, None) and not check_csrf(secret, one, "")

"""API keys, roles and the signed session tokens of the staff pages.

A key reads `g311_<key id>_<secret>`: the key id finds the row, the secret (192 random bits) is
stored only as its SHA-256 and compared in constant time. Keys are shown once, revocable, and
remember when they were last used (to the minute, so a busy key does not write on every call).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from geo311.models import ROLES

STAFF = ("agent", "crew", "manager", "admin")  # they see residents' contact data
KEY_PREFIX = "g311"


@dataclass(frozen=True)
class Principal:
    """Who is calling. `role` is "anonymous" without a key."""

    role: str
    key_id: str | None = None
    crew_id: int | None = None
    crew_name: str | None = None
    key_label: str = ""

    @property
    def is_staff(self) -> bool:
        """Staff see residents' contact data."""
        return self.role in STAFF

    @property
    def label(self) -> str:
        """How the caller appears in a report's history (never a resident's identity)."""
        if self.role == "crew":
            return f"crew:{self.crew_name}"
        if not self.key_id:
            return self.role
        return f"{self.role}:{self.key_label} ({self.key_id})" if self.key_label else f"{self.role}:{self.key_id}"

    def require(self, *roles: str) -> None:
        """401 without a key, 403 with a key of another role."""
        if self.role in roles:
            return
        if self.role == "anonymous":
            raise Unauthorized(f"this needs an API key of the {' or '.join(roles)} role "
                               "(Authorization: Bearer <key>)", code="unauthorized")
        raise Forbidden(f"this needs the {' or '.join(roles)} role; your key is {self.role}", code="forbidden")


ANONYMOUS = Principal("anonymous")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(session: Session, role: str, *, crew: str | None = None, label: str = "") -> tuple[str, str]:
    """Make a key; returns (key id, the whole key). The whole key is not stored and cannot be shown again."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; use one of {', '.join(ROLES)}", code="bad_role")
    crew_id = None
    if role == "crew":
        if not crew:
            raise InvalidInput("a crew key belongs to one crew: give its name (--crew)", code="bad_role")
        crew_id = session.execute(text("SELECT id FROM crews WHERE name = :n"), {"n": crew}).scalar()
        if crew_id is None:
            raise NotFound(f"no crew named {crew!r}; create it first (geo311 crews create)")
    elif crew:
        raise InvalidInput(f"only crew keys belong to a crew, not {role} keys", code="bad_role")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(24)
    try:
        session.execute(text(
            "INSERT INTO api_keys (key_id, secret_hash, role, crew_id, label) VALUES (:k, :h, :r, :c, :l)"),
            {"k": key_id, "h": _hash(secret), "r": role, "c": crew_id, "l": label})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return key_id, f"{KEY_PREFIX}_{key_id}_{secret}"


def list_keys(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(text(
        "SELECT k.key_id, k.role, c.name AS crew, k.label, k.created_at, k.last_used_at, k.revoked_at "
        "FROM api_keys k LEFT JOIN crews c ON c.id = k.crew_id ORDER BY k.created_at, k.id")).mappings().all()
    return [dict(r) for r in rows]


def revoke_key(session: Session, key_id: str) -> bool:
    """Revoke a key; False when it was already revoked. Unknown ids are a NotFound."""
    try:
        row = session.execute(text("SELECT revoked_at FROM api_keys WHERE key_id = :k FOR UPDATE"),
                              {"k": key_id}).first()
        if row is None:
            raise NotFound(f"no key with id {key_id!r} (geo311 keys list shows them)")
        if row.revoked_at is None:
            session.execute(text("UPDATE api_keys SET revoked_at = now() WHERE key_id = :k"), {"k": key_id})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return row.revoked_at is None


def _split(token: str) -> tuple[str, str] | None:
    parts = token.strip().split("_")
    if len(parts) < 3 or parts[0] != KEY_PREFIX:
        return None
    return parts[1], "_".join(parts[2:])


def authenticate(session: Session, token: str | None) -> Principal | None:
    """The principal of a key, or None when the key is malformed, unknown, wrong or revoked."""
    if not token:
        return None
    split = _split(token)
    row = None
    if split:
        row = session.execute(text(
            "SELECT k.id, k.key_id, k.secret_hash, k.role, k.crew_id, c.name AS crew_name, k.revoked_at, k.label "
            "FROM api_keys k LEFT JOIN crews c ON c.id = k.crew_id WHERE k.key_id = :k"), {"k": split[0]}).first()
    # compare even when nothing was found, so timing does not tell a known key id from an unknown one
    expected = row.secret_hash if row else _hash("no such key")
    given = _hash(split[1]) if split else _hash("")
    if not hmac.compare_digest(expected, given) or row is None or row.revoked_at is not None:
        return None
    session.execute(text(
        "UPDATE api_keys SET last_used_at = now() WHERE id = :id "
        "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')"), {"id": row.id})
    session.commit()
    return Principal(row.role, row.key_id, row.crew_id, row.crew_name, row.label)


def principal_for_key_id(session: Session, key_id: str) -> Principal | None:
    """The principal behind a session cookie: the key must still exist and not be revoked."""
    row = session.execute(text(
        "SELECT k.key_id, k.role, k.crew_id, c.name AS crew_name, k.label FROM api_keys k "
        "LEFT JOIN crews c ON c.id = k.crew_id WHERE k.key_id = :k AND k.revoked_at IS NULL"),
        {"k": key_id}).first()
    return Principal(row.role, row.key_id, row.crew_id, row.crew_name, row.label) if row else None


# ----- signed session tokens for the staff pages -----------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def make_session_token(secret: bytes, key_id: str, max_age_s: float, now: float | None = None) -> str:
    """`<key id>.<expiry>.<nonce>.<signature>`; the nonce makes each login's CSRF token its own."""
    expires = int((now or time.time()) + max_age_s)
    payload = f"{key_id}.{expires}.{secrets.token_hex(8)}"
    return f"{payload}.{_sign(secret, payload)}"


def read_session_token(secret: bytes, token: str | None, now: float | None = None) -> str | None:
    """The key id of a valid, unexpired session token, else None."""
    if not token or token.count(".") != 3:
        return None
    payload, signature = token.rsplit(".", 1)
    if not hmac.compare_digest(_sign(secret, payload), signature):
        return None
    key_id, expires, _nonce = payload.split(".")
    if not expires.isdigit() or int(expires) < (now or time.time()):
        return None
    return key_id


def csrf_token(secret: bytes, session_token: str) -> str:
    """The CSRF token that goes with one session: pages put it in forms and fetch headers."""
    return _sign(secret, "csrf:" + session_token)


def check_csrf(secret: bytes, session_token: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf_token(secret, session_token), given)

"""Callers and contacts: phone and email normalization, a caller's history, notes on reports, and
the contact volume per channel.

Phone numbers compare by their digits, US numbers without the leading 1: "(503) 555-0100",
"503.555.0100", "+1 503 555 0100" and "5035550100" are one caller. Emails compare case-insensitively.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311.errors import InvalidInput, NotFound
from geo311.stats import DEFAULT_SPAN, INTERVALS, period

AGENT_CHANNELS = ("phone", "email", "walk_in")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_phone(value: str | None) -> str | None:
    """Digits of a phone number (7 to 15; US numbers without the leading 1), or a clear 422."""
    if value is None or not value.strip():
        return None
    if re.search(r"[A-Za-z]", value):
        raise InvalidInput(f"phone {value!r} has letters; write the number with digits, like (503) 555-0100",
                           code="bad_phone")
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if not 7 <= len(digits) <= 15:
        raise InvalidInput(f"phone {value!r} has {len(digits)} digits; a number has 10 here, like (503) 555-0100",
                           code="bad_phone")
    return digits


def normalize_email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    email = value.strip().lower()
    if not _EMAIL.match(email) or len(email) > 320:
        raise InvalidInput(f"email {value!r} is not an address like name@example.org", code="bad_email")
    return email


def caller_history(session: Session, *, phone: str | None = None, email: str | None = None) -> dict[str, Any]:
    """Every submission of a caller (by phone or email) with the report it belongs to, newest first."""
    phone_norm, email_norm = normalize_phone(phone), normalize_email(email)
    if not phone_norm and not email_norm:
        raise InvalidInput("look a caller up by phone or email", code="bad_lookup")
    rows = session.execute(text("""
        SELECT s.id, s.report_id, s.received_at, s.channel, s.reporter_name AS name, s.reporter_email AS email,
               s.reporter_phone AS phone, s.description, s.address, s.submitted_by,
               c.code AS category, c.name AS category_name, r.status, r.agency, r.created_at AS report_created_at,
               ST_X(r.location) AS lon, ST_Y(r.location) AS lat
        FROM submissions s JOIN reports r ON r.jurisdiction_id = s.jurisdiction_id AND r.id = s.report_id
        JOIN categories c ON c.id = r.category_id
        WHERE (CAST(:phone AS text) IS NOT NULL AND s.reporter_phone_norm = :phone)
           OR (CAST(:email AS text) IS NOT NULL AND s.reporter_email_norm = :email)
        ORDER BY s.received_at DESC, s.id DESC LIMIT 500"""), {"phone": phone_norm, "email": email_norm}).mappings().all()
    return {"phone": phone_norm, "email": email_norm, "submissions": [dict(r) for r in rows],
            "reports": sorted({r["report_id"] for r in rows}, reverse=True)}


def add_note(session: Session, report_id: int, note: str, *, actor: str, internal: bool) -> dict[str, Any]:
    """A note on a report's history: internal notes reach staff only, public ones the report page."""
    note = (note or "").strip()
    if not note:
        raise InvalidInput("a note needs text", code="bad_note")
    if len(note) > 2000:
        raise InvalidInput("a note is 2,000 characters at most", code="bad_note")
    try:
        row = session.execute(text(
            "INSERT INTO report_events (jurisdiction_id, report_id, actor, kind, note, internal) "
            "SELECT jurisdiction_id, id, :actor, 'note', :note, :internal FROM reports WHERE id = :id RETURNING id, at"),
            {"id": report_id, "actor": actor, "note": note, "internal": internal}).first()
        if row is None:
            raise NotFound(f"report {report_id} does not exist")
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return {"id": row.id, "at": row.at, "report_id": report_id, "internal": internal, "note": note}


def contact_volume(session: Session, interval: str, *, since: date | None = None,
                   until: date | None = None) -> dict[str, Any]:
    """Submissions per channel per day, week (Monday) or month, from the contacts_daily rollup."""
    if interval not in INTERVALS:
        raise InvalidInput(f"interval must be one of {', '.join(INTERVALS)}", code="bad_interval")
    since, until = period(since, until, DEFAULT_SPAN[interval])
    rows = session.execute(text("""
        SELECT date_trunc(:unit, day)::date AS period, channel, sum(submissions)::int AS n
        FROM contacts_daily WHERE day >= :since AND day < :until GROUP BY 1, 2 ORDER BY 1, 2"""),
        {"unit": interval, "since": since, "until": until}).all()
    channels = sorted({r.channel for r in rows})
    series: dict[str, dict[str, int]] = {}
    for r in rows:
        series.setdefault(r.period.isoformat(), dict.fromkeys(channels, 0))[r.channel] = r.n
    return {"interval": interval, "since": since, "until": until, "channels": channels,
            "series": [{"period": p, **counts, "total": sum(counts.values())} for p, counts in sorted(series.items())]}

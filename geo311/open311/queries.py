"""What Open311 reads and writes in geo311's tables: services from the categories, service
requests from the reports (filtered, paged), status updates from the report events, and
submissions through the same intake as every other channel.

Tokens: each Open311 submission gets a random token, kept as the submission's idempotency key
(`open311:<token>`, unique and indexed), so `tokens/{token}` finds the submission and so its report
(also after the report was closed as a duplicate: its submissions move to the original).
Public fields only: the reporter's name, email, phone, device and account never leave here.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311 import intake
from geo311.categories import list_categories
from geo311.errors import NotFound
from geo311.models import CLOSED_STATUSES
from geo311.photos import first_photo_sql

TOKEN_PREFIX = "open311:"
#: district layers whose district name is a postal code (none in the Portland demo)
ZIP_LAYERS = ["zip", "zipcode", "zip_code", "postal_code"]
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_CLOSED = ", ".join(f"'{s}'" for s in CLOSED_STATUSES)

_REQUEST = f"""
SELECT r.id, r.status, c.code AS service_code, c.name AS service_name, r.description, r.agency,
       r.created_at,
       CASE WHEN r.status IN ({_CLOSED}) THEN coalesce(r.closed_at, r.updated_at) ELSE r.updated_at END AS updated_at,
       r.created_at + make_interval(days => c.target_days) AS expected_at, c.target_days,
       r.address, ST_Y(r.location) AS lat, ST_X(r.location) AS lon, r.submission_count, r.duplicate_of,
       (SELECT e.note FROM report_events e
        WHERE e.jurisdiction_id = r.jurisdiction_id AND e.report_id = r.id AND e.kind = 'status' AND e.to_status = r.status
        ORDER BY e.at DESC, e.id DESC LIMIT 1) AS status_note,
       (SELECT d.name FROM report_districts rd JOIN districts d ON d.id = rd.district_id
        JOIN district_layers l ON l.id = d.layer_id
        WHERE rd.jurisdiction_id = r.jurisdiction_id AND rd.report_id = r.id AND l.key = ANY(:zip_layers) ORDER BY d.name LIMIT 1) AS zipcode,
       {first_photo_sql("r")} AS media_path
FROM reports r JOIN categories c ON c.id = r.category_id
"""


# ----- services -----------------------------------------------------------------------------
def services(session: Session) -> list[dict[str, Any]]:
    """The active categories, as the catalog lists them."""
    return list_categories(session, active_only=True)


def service(session: Session, code: str) -> dict[str, Any]:
    for category in services(session):
        if category["code"] == code:
            return category
    raise NotFound(f"service_code {code!r} is not offered; services.json lists the codes",
                   code="unknown_service_code")


def check_codes(session: Session, codes: list[str] | None) -> None:
    """Every code must be a category (active or not: old requests keep theirs), else a 404."""
    if not codes:
        return
    known = set(session.execute(text("SELECT code FROM categories WHERE code = ANY(:c)"), {"c": codes}).scalars())
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise NotFound(f"service_code {', '.join(unknown)} not found; services.json lists the codes",
                       code="unknown_service_code")


def changeset(session: Session) -> datetime | None:
    """When the service list last changed."""
    return session.execute(text("SELECT max(updated_at) FROM categories")).scalar()


# ----- service requests ---------------------------------------------------------------------
@dataclass
class RequestFilter:
    """GET requests: ids override everything else; start/end None means the last 90 days."""

    ids: list[int] | None = None
    codes: list[str] | None = None
    statuses: list[str] | None = None  # geo311's
    start: datetime | None = None
    end: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None  # minlon, minlat, maxlon, maxlat

    def where(self) -> tuple[str, dict[str, Any]]:
        if self.ids:
            return "r.id = ANY(:ids)", {"ids": self.ids}
        clauses, params = [], {}
        if self.start is None and self.end is None:
            clauses.append("r.created_at >= now() - interval '90 days'")
        else:
            clauses.append("r.created_at >= :start AND r.created_at <= :end")
            params.update(start=self.start, end=self.end)
        if self.codes:
            clauses.append("c.code = ANY(:codes)")
            params["codes"] = self.codes
        if self.statuses:
            clauses.append("r.status = ANY(:statuses)")
            params["statuses"] = self.statuses
        if self.bbox:
            clauses.append("r.location && ST_MakeEnvelope(:minlon, :minlat, :maxlon, :maxlat, 4326)")
            params.update(zip(("minlon", "minlat", "maxlon", "maxlat"), self.bbox, strict=True))
        return " AND ".join(clauses), params


def find_requests(session: Session, flt: RequestFilter, *, page: int = 1,
                  page_size: int = 1000) -> tuple[list[dict[str, Any]], bool]:
    """Newest first, one page; returns the rows and whether another page follows."""
    where, params = flt.where()
    rows = session.execute(text(
        f"{_REQUEST} WHERE {where} ORDER BY r.created_at DESC, r.id DESC LIMIT :limit OFFSET :offset"),
        {**params, "zip_layers": ZIP_LAYERS, "limit": page_size + 1,
         "offset": (page - 1) * page_size}).mappings().all()
    return [dict(r) for r in rows[:page_size]], len(rows) > page_size


def get_request(session: Session, report_id: int) -> dict[str, Any]:
    row = session.execute(text(f"{_REQUEST} WHERE r.id = :id"),
                          {"id": report_id, "zip_layers": ZIP_LAYERS}).mappings().first()
    if row is None:
        raise NotFound(f"service request {report_id} does not exist")
    return dict(row)


# ----- submitting and tokens ----------------------------------------------------------------
@dataclass(frozen=True)
class Submitted:
    report_id: int
    created: bool  # False: joined an existing report
    token: str


def submit_request(session: Session, sub: intake.NewSubmission, *, boundary_margin_m: float) -> Submitted:
    """One Open311 submission through the intake: a new report or joined to an open one nearby."""
    service(session, sub.category)  # an unknown or retired code is a 404 before anything else
    token = secrets.token_urlsafe(18)
    result = intake.submit(session, replace(sub, idempotency_key=TOKEN_PREFIX + token),
                           boundary_margin_m=boundary_margin_m)
    return Submitted(result.report_id, result.created, token)


def resolve_token(session: Session, token: str) -> int:
    """The service request a token's submission belongs to now."""
    report_id = None
    if _TOKEN.match(token):
        report_id = session.execute(text(
            "SELECT report_id FROM submissions WHERE idempotency_key = :key AND channel = 'open311'"),
            {"key": TOKEN_PREFIX + token}).scalar()
    if report_id is None:
        raise NotFound(f"token {token!r} is not known", code="unknown_token")
    return report_id


# ----- status updates (mySociety's servicerequestupdates) -----------------------------------
def status_updates(session: Session, start: datetime | None, end: datetime | None, *, page: int = 1,
                   page_size: int = 1000) -> tuple[list[dict[str, Any]], bool]:
    """Status changes between start and end (default: the last 90 days), oldest first."""
    if start is None and end is None:
        window, params = "e.at >= now() - interval '90 days'", {}
    else:
        window, params = "e.at >= :start AND e.at <= :end", {"start": start, "end": end}
    rows = session.execute(text(
        "SELECT e.id, e.report_id, e.to_status, e.at, e.note FROM report_events e "
        f"WHERE e.kind = 'status' AND {window} ORDER BY e.at, e.id LIMIT :limit OFFSET :offset"),
        {**params, "limit": page_size + 1, "offset": (page - 1) * page_size}).mappings().all()
    return [dict(r) for r in rows[:page_size]], len(rows) > page_size

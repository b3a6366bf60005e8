"""submit(): validate -> lock -> match, dedup, store, all in one transaction.

After validation, one statement takes the advisory locks (idempotency key and dedup cells, see
dedup.py), one reads a replayed key (when one is given), and one matches the point to its
jurisdictions, route and districts, finds the duplicate, and inserts or merges, with its
submission, districts and event. A refused submission stores nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311 import geocoding, matching
from geo311.categories import check_attributes
from geo311.contacts import normalize_email, normalize_phone
from geo311.dedup import MERGE_PRIORITY_SQL, cell_lock_keys, idempotency_lock_key
from geo311.errors import Conflict, InvalidInput, NotFound, join, msg
from geo311.models import CHANNELS

_GEOG = "::geography(Point,4326)"  # must match ix_reports_open_geog exactly


@dataclass(frozen=True)
class NewSubmission:
    """One submission as plain values. `raw` is the whole body as received, stored as is."""

    lon: float | None  # None with an address: geocoded (see locate())
    lat: float | None
    category: str
    raw: dict[str, Any]
    description: str = ""
    address: str | None = None
    reporter_name: str | None = None
    reporter_email: str | None = None
    reporter_phone: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    channel: str = "api"
    idempotency_key: str | None = None
    actor: str = "resident"
    at: datetime | None = None  # None: now (imports and the demo seeder pass historic times)
    submitted_by: str | None = None  # the agent who entered it for a caller
    photos: tuple[str, ...] = ()  # SHA-256 of each attached photo (photos.py stores them)

    def payload_hash(self) -> str:
        """What makes two submissions 'the same body' for an Idempotency-Key: everything sent."""
        fields = {k: v for k, v in self.__dict__.items()
                  if k not in ("idempotency_key", "at", "actor", "submitted_by")}
        if not self.photos:  # a submission without photos hashes as it did before photos existed
            del fields["photos"]
        return hashlib.sha256(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class SubmitResult:
    report_id: int
    created: bool  # True: a new report (HTTP 201); False: joined an existing one (HTTP 200)
    distance_m: float  # from the submitted point to the report (0 when it created it)
    replayed: bool = False  # the same Idempotency-Key and body as an earlier submission
    submission_id: int | None = None  # the stored submission (None when replayed)
    feature: Any = None  # what `describe` said of the report, read inside the transaction


class Attachments(Protocol):
    """What comes with a submission besides its fields (photos.PhotoAttachments), stored in its
    transaction: lock_keys() join the submission's advisory locks; store_for() runs after the
    submission row exists; discard() undoes what store_for() did outside the database, on refusal."""

    def lock_keys(self) -> list[int]: ...

    def store_for(self, session: Session, submission_id: int, jurisdiction_id: int) -> None: ...

    def discard(self) -> None: ...


# the locks come in a statement of their own: a statement's snapshot is taken when it starts, so
# only the statements after the locks see what the transactions we waited for committed
_LOCKS = text("SELECT count(*) FROM (SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k) l")
_CATEGORY_COLUMNS = "id, code, active, default_priority, dedup_radius_m, dedup_window, attributes"
# the locks, and the category as it stands, in one round trip: the keys come from the category this
# process last saw, and the row read back says whether that is still the category (see _lock())
_LOCKS_WITH_CATEGORY = text(
    "SELECT (SELECT count(*) FROM (SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k) l) "
    f"AS locked, {_CATEGORY_COLUMNS} FROM categories WHERE code = :code")
#: (database, code) -> the category row last read; every use is checked against the table (_lock)
_seen_categories: dict[tuple[Any, str], Any] = {}

_TARGET_NEAREST = f"""
    SELECT r.id, r.jurisdiction_id, ST_Distance(r.location{_GEOG}, pt.g{_GEOG}) AS distance_m
    FROM reports r, pt, at
    WHERE r.jurisdiction_id = (SELECT jurisdiction_id FROM route)  -- one jurisdiction's reports: one shard
      AND r.category_id + 0 = :category_id  -- "+ 0": no category index; the open-reports GiST finds the few near
      AND r.status IN ('open', 'assigned', 'in_progress')
      AND ST_DWithin(r.location{_GEOG}, pt.g{_GEOG}, :radius)
      AND r.created_at >= at.t - CAST(:window AS interval)
    ORDER BY r.location{_GEOG} <-> pt.g{_GEOG}
    LIMIT 1
    FOR UPDATE OF r"""

_TARGET_CHOSEN = f"""
    SELECT r.id, r.jurisdiction_id, ST_Distance(r.location{_GEOG}, pt.g{_GEOG}) AS distance_m
    FROM reports r, pt
    WHERE r.id = CAST(:join_id AS bigint) AND r.category_id = :category_id
      AND r.status IN ('open', 'assigned', 'in_progress')
    FOR UPDATE OF r"""

_SUBMIT = """
WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g),
at AS (SELECT coalesce(CAST(:at AS timestamptz), now()) AS t),
route AS (
    SELECT j.id AS jurisdiction_id, r.agency
    FROM jurisdictions j JOIN category_routes r ON r.jurisdiction_id = j.id AND r.category_id = :category_id
    WHERE j.id IN (SELECT p.jurisdiction_id FROM jurisdiction_parts p, pt WHERE ST_Covers(p.geom, pt.g))
    ORDER BY j.rank DESC, j.name LIMIT 1
),
target AS ({target}),
-- a submission already stored under this Idempotency-Key (seen after the locks): then nothing is written
prior AS (SELECT report_id, payload_hash, reply_status, distance_m FROM submissions
          WHERE idempotency_key = CAST(:key AS text)),
new_report AS (
    INSERT INTO reports (category_id, location, status, priority, jurisdiction_id, agency, description,
                         address, matched_address, near_boundary, created_at, updated_at)
    SELECT :category_id, pt.g, 'open', :priority, route.jurisdiction_id, route.agency, :description, :address,
           :matched_address,
           EXISTS (SELECT 1 FROM jurisdiction_edges e
                   WHERE e.jurisdiction_id = route.jurisdiction_id
                     AND ST_DWithin(e.geom::geography(LineString,4326), pt.g{geog}, :margin)),
           at.t, at.t
    FROM pt, at, route
    WHERE NOT EXISTS (SELECT 1 FROM target) AND CAST(:join_id AS bigint) IS NULL AND NOT EXISTS (SELECT 1 FROM prior)
    RETURNING id, jurisdiction_id
),
merged AS (
    UPDATE reports r
    SET submission_count = r.submission_count + 1,
        updated_at = greatest(r.updated_at, at.t),
        priority = {priority}
    FROM target, at
    WHERE r.id = target.id AND r.jurisdiction_id = target.jurisdiction_id AND NOT EXISTS (SELECT 1 FROM prior)
    RETURNING r.id, r.jurisdiction_id
),
report AS (SELECT id, jurisdiction_id, true AS created FROM new_report
           UNION ALL SELECT id, jurisdiction_id, false FROM merged),
sub AS (
    INSERT INTO submissions (jurisdiction_id, report_id, received_at, channel, idempotency_key, payload_hash, reply_status,
                             location, distance_m, description, address, reporter_name, reporter_email,
                             reporter_phone, reporter_phone_norm, reporter_email_norm, submitted_by, attributes, raw)
    SELECT report.jurisdiction_id, report.id, at.t, :channel, :key, :hash, CASE WHEN report.created THEN 201 ELSE 200 END,
           pt.g, coalesce((SELECT distance_m FROM target), 0), :description, :address, :name, :email,
           :phone, :phone_norm, :email_norm, :submitted_by, CAST(:attributes AS jsonb), CAST(:raw AS jsonb)
    FROM report, pt, at
    RETURNING id, report_id, jurisdiction_id
),
districts AS (
    INSERT INTO report_districts (jurisdiction_id, report_id, district_id)
    SELECT DISTINCT new_report.jurisdiction_id, new_report.id, p.district_id FROM new_report, pt
    JOIN district_parts p ON ST_Covers(p.geom, pt.g)
),
event AS (
    INSERT INTO report_events (jurisdiction_id, report_id, at, actor, kind, to_status, note, submission_id)
    SELECT sub.jurisdiction_id, sub.report_id, at.t, :actor, CASE WHEN report.created THEN 'created' ELSE 'merged' END,
           CASE WHEN report.created THEN 'open' END,
           CASE WHEN report.created THEN 'reported' ELSE 'another submission joined' END, sub.id
    FROM sub, report, at
)
SELECT (SELECT id FROM report) AS report_id, (SELECT created FROM report) AS created,
       (SELECT distance_m FROM target) AS distance_m, EXISTS (SELECT 1 FROM route) AS routed,
       (SELECT id FROM sub) AS submission_id, (SELECT jurisdiction_id FROM sub) AS jurisdiction_id,
       (SELECT report_id FROM prior) AS prior_report_id, (SELECT payload_hash FROM prior) AS prior_hash,
       (SELECT reply_status FROM prior) AS prior_status, (SELECT distance_m FROM prior) AS prior_distance
"""
_SUBMIT_NEAREST = text(_SUBMIT.format(target=_TARGET_NEAREST, geog=_GEOG, priority=MERGE_PRIORITY_SQL))
_SUBMIT_CHOSEN = text(_SUBMIT.format(target=_TARGET_CHOSEN, geog=_GEOG, priority=MERGE_PRIORITY_SQL))


def check_point(session: Session, lon: float, lat: float) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidInput(msg("coordinates must be finite numbers (not NaN or infinity)"), code="bad_coordinates")
    if -180 <= lon <= 180 and -90 <= lat <= 90:
        return
    message = msg("coordinates [{lon}, {lat}] are out of range: GeoJSON puts longitude first "
                  "(-180..180), then latitude (-90..90)", lon=lon, lat=lat)
    if -180 <= lat <= 180 and -90 <= lon <= 90 and matching.in_service_area(session, lat, lon):
        message += msg("; swapped, [{lat}, {lon}] lies inside the service area: did you send [lat, lon]?", lat=lat, lon=lon)
    raise InvalidInput(message, code="bad_coordinates")


def active_category(session: Session, code: str):
    row = session.execute(text(f"SELECT {_CATEGORY_COLUMNS} FROM categories WHERE code = :code"),
                          {"code": code}).first()
    if row is None or not row.active:
        offered = session.execute(text("SELECT code FROM categories WHERE active ORDER BY code")).scalars().all()
        state = msg("unknown") if row is None else msg("no longer offered")
        raise InvalidInput(msg("category {code!r} is {state}; choose one of: {offered}", code=code, state=state,
                               offered=", ".join(offered)),
                           code="unknown_category", details={"categories": offered})
    return row


def _refuse_outside(session: Session, lon: float, lat: float, category) -> None:
    """Say where the point is and what is served there; swapped coordinates get a hint."""
    inside = [j["name"] for j in matching.covering_jurisdictions(session, lon, lat)]
    served = matching.categories_served_at(session, lon, lat)
    if inside:
        where = msg("[{lon}, {lat}] lies in {places}, where {category!r} is not served", lon=lon, lat=lat,
                    places=" and ".join(inside), category=category.code)
    else:
        near = matching.nearest_jurisdiction(session, lon, lat)
        where = msg("[{lon}, {lat}] is outside the service area", lon=lon, lat=lat)
        if near:
            where += msg(" ({km} km from {name})", km=f"{near['distance_m'] / 1000:.1f}", name=near["name"])
    message = where + (msg("; served there: {codes}", codes=", ".join(c["code"] for c in served)) if served
                       else msg("; no category is served there"))
    if matching.in_service_area(session, lat, lon) and not inside:
        message += msg(". Swapped, [{lat}, {lon}] is inside the service area: did you send [lat, lon]?", lat=lat, lon=lon)
    raise InvalidInput(message, code="outside_service_area",
                       details={"jurisdictions": inside, "categories_served": served})


def locate(session: Session, sub: NewSubmission) -> tuple[NewSubmission, str | None]:
    """A submission with an address and no point gets the point of the address when one
    candidate is clearly best; otherwise a 422 lists the top candidates to choose from."""
    if sub.lon is not None and sub.lat is not None:
        return sub, None
    if not sub.address or not sub.address.strip():
        raise InvalidInput(msg("give the place: a Point geometry, or an address to look up"), code="no_location")
    found = geocoding.geocode(session, sub.address, limit=5)
    best = geocoding.clear_best(found)
    if best is None:
        top = found["candidates"]
        if not top:
            raise InvalidInput(msg("no address like {address!r} is known here; drop a pin on the map instead",
                                   address=sub.address),
                               code="address_not_found", details={"candidates": []})
        listing = "; ".join(c["address"] for c in top)
        raise InvalidInput(msg("{address!r} could be several places: {listing}. Choose one (send its point) "
                               "or give more of the address", address=sub.address, listing=listing),
                           code="ambiguous_address", details={"candidates": top})
    return replace(sub, lon=best["lon"], lat=best["lat"]), best["address"]


def _lock_keys(category, sub: NewSubmission, attachments: Attachments | None) -> list[int]:
    keys = cell_lock_keys(category.id, sub.lon, sub.lat, category.dedup_radius_m)
    if sub.idempotency_key:
        keys = [idempotency_lock_key(sub.idempotency_key), *keys]
    if attachments is not None:  # last and sorted: every transaction locks in the same order
        keys = [*keys, *sorted(attachments.lock_keys())]
    return keys


def _lock(session: Session, sub: NewSubmission, attachments: Attachments | None):
    """Take the submission's advisory locks and return its category (refused when unknown or no
    longer offered). The category this process saw last gives the lock keys, and the same
    statement reads the category back: when it changed meanwhile (rare: a new radius moves the
    cells), the current one is read and its locks are taken too (holding a few more is harmless)."""
    seen_key = (session.get_bind().engine.url, sub.category)  # a URL is hashable: no rendering per call
    seen = _seen_categories.get(seen_key)
    if seen is not None and seen.active:
        row = session.execute(_LOCKS_WITH_CATEGORY, {"keys": _lock_keys(seen, sub, attachments),
                                                      "code": sub.category}).first()
        if row is not None and tuple(row)[1:] == tuple(seen):
            return seen
    category = active_category(session, sub.category)
    _seen_categories[seen_key] = category
    session.execute(_LOCKS, {"keys": _lock_keys(category, sub, attachments)})
    return category


def submit(session: Session, sub: NewSubmission, *, boundary_margin_m: float = 15.0,
           join_report_id: int | None = None, attachments: Attachments | None = None,
           describe: Callable[[Session, int], Any] | None = None) -> SubmitResult:
    """Store one submission: a new report, or joined to the nearest open duplicate (or to
    `join_report_id` when the resident picked the report). One transaction; nothing on refusal.
    Without a point, the address is geocoded (see locate()). `describe(session, report_id)` runs
    inside the transaction, before the commit, for the reply (saving a second connection)."""
    if sub.channel not in CHANNELS:
        raise InvalidInput(f"unknown channel {sub.channel!r}")
    try:
        phone_norm, email_norm = normalize_phone(sub.reporter_phone), normalize_email(sub.reporter_email)
        sub, matched = locate(session, sub)
        check_point(session, sub.lon, sub.lat)
        category = _lock(session, sub, attachments)
        answers, problems = check_attributes(category.attributes, sub.attributes)
        if problems:
            raise InvalidInput(join("; ", problems), code="bad_attributes", details=problems)
        payload_hash = sub.payload_hash()
        statement = _SUBMIT_CHOSEN if join_report_id is not None else _SUBMIT_NEAREST
        row = session.execute(statement, {
            "lon": sub.lon, "lat": sub.lat, "at": sub.at, "category_id": category.id,
            "priority": category.default_priority, "radius": category.dedup_radius_m,
            "window": category.dedup_window or timedelta(0), "join_id": join_report_id,
            "margin": boundary_margin_m, "description": sub.description, "address": sub.address,
            "matched_address": matched,
            "channel": sub.channel, "key": sub.idempotency_key, "hash": payload_hash,
            "name": sub.reporter_name, "email": sub.reporter_email, "phone": sub.reporter_phone,
            "phone_norm": phone_norm, "email_norm": email_norm, "submitted_by": sub.submitted_by,
            "attributes": orjson.dumps(answers).decode(), "raw": orjson.dumps(sub.raw).decode(),
            "actor": sub.actor,
        }).one()
        if row.prior_report_id is not None:  # a repeated Idempotency-Key: the statement wrote nothing
            same = row.prior_hash == payload_hash
            described = describe(session, row.prior_report_id) if describe and same else None
            session.rollback()
            if not same:
                raise Conflict(msg("Idempotency-Key {key!r} was already used for a different submission "
                                   "(report {report_id}); send a new key for a new submission",
                                   key=sub.idempotency_key, report_id=row.prior_report_id),
                               code="idempotency_conflict")
            return SubmitResult(row.prior_report_id, row.prior_status == 201, row.prior_distance, replayed=True,
                                feature=described)
        if row.report_id is None:
            if join_report_id is not None:
                _refuse_join(session, join_report_id, category)
            _refuse_outside(session, sub.lon, sub.lat, category)
        if attachments is not None:
            attachments.store_for(session, row.submission_id, row.jurisdiction_id)
        described = describe(session, row.report_id) if describe else None
        session.commit()
    except BaseException:
        if attachments is not None:
            attachments.discard()  # before the rollback: still under the locks
        session.rollback()
        raise
    return SubmitResult(row.report_id, row.created, row.distance_m or 0.0, submission_id=row.submission_id,
                        feature=described)


def _refuse_join(session: Session, report_id: int, category) -> None:
    found = session.execute(text(
        "SELECT r.status, c.code FROM reports r JOIN categories c ON c.id = r.category_id WHERE r.id = :id"),
        {"id": report_id}).first()
    if found is None:
        raise NotFound(msg("report {report_id} does not exist", report_id=report_id))
    if found.code != category.code:
        raise InvalidInput(msg("report {report_id} is a {found!r} report, not {category!r}", report_id=report_id,
                               found=found.code, category=category.code),
                           code="category_mismatch")
    raise Conflict(msg("report {report_id} is {status} and takes no more submissions; submit a new report instead",
                       report_id=report_id, status=msg(found.status.replace("_", " "))), code="report_closed")

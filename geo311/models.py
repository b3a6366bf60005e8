"""The tables, as typed SQLAlchemy 2 models. Columns and relations only; logic lives elsewhere."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Interval,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geo311.db import Base

#: statuses of a report; the first three are "open" (they can absorb new submissions)
OPEN_STATUSES = ("open", "assigned", "in_progress")
CLOSED_STATUSES = ("resolved", "duplicate", "not_actionable")
STATUSES = OPEN_STATUSES + CLOSED_STATUSES
#: how a submission reached us
CHANNELS = ("web", "api", "open311", "phone", "email", "walk_in", "import")

def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _now():
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class Jurisdiction(Base):
    """A governing body's area (City of Portland, Multnomah County, ...)."""

    __tablename__ = "jurisdictions"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    #: specificity: the higher, the more specific (city 30 > county 20 > region 10 > state 0)
    rank: Mapped[int] = mapped_column(SmallInteger)
    boundary: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=False))
    source: Mapped[str | None] = mapped_column(Text)
    loaded_at: Mapped[datetime] = _now()

    routes: Mapped[list[CategoryRoute]] = relationship(back_populates="jurisdiction")

    __table_args__ = (Index("ix_jurisdictions_boundary", "boundary", postgresql_using="gist"),)


class JurisdictionPart(Base):
    """ST_Subdivide pieces of a jurisdiction: small polygons make point-in-polygon cheap."""

    __tablename__ = "jurisdiction_parts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id", ondelete="CASCADE"), index=True)
    geom: Mapped[WKBElement] = mapped_column(Geometry("POLYGON", 4326, spatial_index=False))

    __table_args__ = (Index("ix_jurisdiction_parts_geom", "geom", postgresql_using="gist"),)


class JurisdictionEdge(Base):
    """Subdivided edge lines of a jurisdiction, for the metre test behind `near_boundary`."""

    __tablename__ = "jurisdiction_edges"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id", ondelete="CASCADE"), index=True)
    geom: Mapped[WKBElement] = mapped_column(Geometry("LINESTRING", 4326, spatial_index=False))
    # GiST expression index on (geom::geography(LineString,4326)) is written in the migration


class DistrictLayer(Base):
    """A kind of service district: neighborhood, council_district, police precinct, ZIP ..."""

    __tablename__ = "district_layers"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(Text)
    loaded_at: Mapped[datetime] = _now()

    districts: Mapped[list[District]] = relationship(
        back_populates="layer", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (CheckConstraint("key ~ '^[a-z][a-z0-9_]*$'", name="key_slug"),)


class District(Base):
    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("district_layers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(100))
    boundary: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=False))

    layer: Mapped[DistrictLayer] = relationship(back_populates="districts")

    __table_args__ = (
        Index("ix_districts_boundary", "boundary", postgresql_using="gist"),
        Index("ix_districts_layer_id_name", "layer_id", "name"),
    )


class DistrictPart(Base):
    """ST_Subdivide pieces of a district (with its layer, to match a whole layer in one pass)."""

    __tablename__ = "district_parts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id", ondelete="CASCADE"), index=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("district_layers.id", ondelete="CASCADE"), index=True)
    geom: Mapped[WKBElement] = mapped_column(Geometry("POLYGON", 4326, spatial_index=False))

    __table_args__ = (Index("ix_district_parts_geom", "geom", postgresql_using="gist"),)


class Category(Base):
    """What residents report (campsite, pothole ...), with its dedup rule and service target."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, server_default="")
    group: Mapped[str | None] = mapped_column(String(100))
    keywords: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    dedup_radius_m: Mapped[float] = mapped_column(Float)
    dedup_window: Mapped[timedelta] = mapped_column(Interval)
    default_priority: Mapped[int] = mapped_column(SmallInteger)
    target_days: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    #: Open311-style attribute definitions: [{code, variable, datatype, required, description, order, values}]
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    routes: Mapped[list[CategoryRoute]] = relationship(
        back_populates="category", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        CheckConstraint("code ~ '^[a-z][a-z0-9_]*$'", name="code_slug"),
        CheckConstraint("dedup_radius_m >= 0 AND dedup_radius_m <= 1000", name="radius_range"),
        CheckConstraint("default_priority BETWEEN 1 AND 5", name="priority_range"),
        CheckConstraint("target_days > 0", name="target_positive"),
    )


class CategoryRoute(Base):
    """Which agency serves a category inside a jurisdiction."""

    __tablename__ = "category_routes"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"))
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id", ondelete="CASCADE"), index=True)
    agency: Mapped[str] = mapped_column(String(200))

    category: Mapped[Category] = relationship(back_populates="routes")
    jurisdiction: Mapped[Jurisdiction] = relationship(back_populates="routes")

    __table_args__ = (UniqueConstraint("category_id", "jurisdiction_id"),)


class Report(Base):
    """The canonical record of one problem on the ground; submissions join it."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"))
    location: Mapped[WKBElement] = mapped_column(Geometry("POINT", 4326, spatial_index=False))
    status: Mapped[str] = mapped_column(String(20), server_default="open")
    priority: Mapped[int] = mapped_column(SmallInteger)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id"))
    agency: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, server_default="")
    address: Mapped[str | None] = mapped_column(Text)
    #: the address point an address-only submission was geocoded to, as stored
    matched_address: Mapped[str | None] = mapped_column(Text)
    submission_count: Mapped[int] = mapped_column(Integer, server_default="1")
    near_boundary: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    #: the crew the report is assigned to (set by assign/claim, kept through in_progress)
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crews.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: a bulk import's source name and the record's id there; null for intake. Unique per source by
    #: the import ledger (ImportKey: its key is this id), not by an index of its own (migration 0016)
    source: Mapped[str | None] = mapped_column(String(100))
    source_id: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status_known"),
        CheckConstraint("priority BETWEEN 1 AND 5", name="priority_range"),
        CheckConstraint("submission_count >= 1", name="count_positive"),
        Index("ix_reports_location", "location", postgresql_using="gist"),
        # hand-written in the migration (Alembic cannot compare expression indexes):
        #   ix_reports_open_geog       GiST (location::geography(Point,4326)) WHERE status is open,
        #                              for dedup and "nearby" (no query measures metres from closed reports)
        Index("ix_reports_created_at_id", "created_at", "id"),
        Index("ix_reports_category_id_status", "category_id", "status"),
        Index("ix_reports_jurisdiction_id", "jurisdiction_id"),
        Index("ix_reports_crew_id", "crew_id", postgresql_where=text("crew_id IS NOT NULL")),
        Index("ix_reports_duplicate_of", "duplicate_of", postgresql_where=text("duplicate_of IS NOT NULL")),
        # hand-written too: ix_reports_open_priority (priority DESC, created_at, id) WHERE open, for work lists
    )


class ReportDistrict(Base):
    """Every district, of every layer, that covers a report."""

    __tablename__ = "report_districts"

    #: the distribution column of the Citus plan (docs/scaling.md): the report's jurisdiction
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id"))
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id", ondelete="CASCADE"), primary_key=True)

    __table_args__ = (Index("ix_report_districts_district_id", "district_id", "report_id"),)


class Submission(Base):
    """One resident submission exactly as received. Never deleted by dedup: it joins a report."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    #: the distribution column of the Citus plan (docs/scaling.md): the report's jurisdiction
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id"))
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    received_at: Mapped[datetime] = _now()
    channel: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    payload_hash: Mapped[str | None] = mapped_column(String(64))
    #: the HTTP status of the first reply (201 new, 200 merged), replayed for a repeated key
    reply_status: Mapped[int | None] = mapped_column(SmallInteger)
    location: Mapped[WKBElement] = mapped_column(Geometry("POINT", 4326, spatial_index=False))
    #: metres from this submission to the report it joined (0 for the one that created it)
    distance_m: Mapped[float] = mapped_column(Float, server_default="0")
    description: Mapped[str] = mapped_column(Text, server_default="")
    address: Mapped[str | None] = mapped_column(Text)
    reporter_name: Mapped[str | None] = mapped_column(Text)
    reporter_email: Mapped[str | None] = mapped_column(Text)
    reporter_phone: Mapped[str | None] = mapped_column(Text)
    #: the contact as lookups compare it: phone digits (US numbers without the leading 1), email lower case
    reporter_phone_norm: Mapped[str | None] = mapped_column(String(20))
    reporter_email_norm: Mapped[str | None] = mapped_column(String(320))
    #: the staff member (agent) who entered it for a caller, as `agent:<key id>`; null for residents
    submitted_by: Mapped[str | None] = mapped_column(String(200))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    #: the whole body as it came, for the record
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB)

    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="channel_known"),
        # partial (migration 0012): most submissions have none of these, and lookups compare with =
        Index("uq_submissions_idempotency_key", "idempotency_key", unique=True,
              postgresql_where=text("idempotency_key IS NOT NULL")),
        Index("ix_submissions_reporter_phone_norm", "reporter_phone_norm",
              postgresql_where=text("reporter_phone_norm IS NOT NULL")),
        Index("ix_submissions_reporter_email_norm", "reporter_email_norm",
              postgresql_where=text("reporter_email_norm IS NOT NULL")),
    )


class ReportEvent(Base):
    """The history of a report: created, merged, status changes; who, when, from, to, note."""

    __tablename__ = "report_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    #: the distribution column of the Citus plan (docs/scaling.md): the report's jurisdiction
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id"))
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    at: Mapped[datetime] = _now()
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, server_default="")
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id", ondelete="SET NULL"))
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crews.id", ondelete="SET NULL"))
    #: an internal note (staff only); everything else in the history is public
    internal: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))

    __table_args__ = (Index("ix_report_events_report_id_at", "report_id", "at"), Index("ix_report_events_at", "at"))


ROLES = ("resident", "agent", "crew", "manager", "admin")


class Crew(Base):
    """A field crew: where it works (district layer:name pairs), what it handles, where it starts."""

    __tablename__ = "crews"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    #: category codes the crew handles
    categories: Mapped[list[str]] = mapped_column(ARRAY(Text))
    #: its yard: where work lists start by default
    yard: Mapped[WKBElement] = mapped_column(Geometry("POINT", 4326, spatial_index=False))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    areas: Mapped[list[CrewArea]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class CrewArea(Base):
    """One district a crew covers, by layer key and district name (so it survives layer reloads)."""

    __tablename__ = "crew_areas"

    crew_id: Mapped[int] = mapped_column(ForeignKey("crews.id", ondelete="CASCADE"), primary_key=True)
    layer_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    district_name: Mapped[str] = mapped_column(String(200), primary_key=True)


class ApiKey(Base):
    """An API key: shown once, stored as a SHA-256 hash of its secret, looked up by its public id."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    #: the public part of the key (g311_<key_id>_<secret>), to find the row without the secret
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(20))
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crews.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(200), server_default="")
    created_at: Mapped[datetime] = _now()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role_known"),
        CheckConstraint("(role = 'crew') = (crew_id IS NOT NULL)", name="crew_key_has_crew"),
    )


class AddressStreet(Base):
    """A street of the address points, normalized (see address_norm.py): its trigram-indexed name
    is where typos are forgiven."""

    __tablename__ = "address_streets"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    predir: Mapped[str] = mapped_column(String(4), server_default="")
    name: Mapped[str] = mapped_column(Text)
    suffix: Mapped[str] = mapped_column(String(8), server_default="")
    postdir: Mapped[str] = mapped_column(String(4), server_default="")
    addresses: Mapped[int] = mapped_column(Integer, server_default="0")

    __table_args__ = (
        UniqueConstraint("predir", "name", "suffix", "postdir"),
        Index("ix_address_streets_name_trgm", "name", postgresql_using="gist",
              postgresql_ops={"name": "gist_trgm_ops"}),
    )


class AddressPoint(Base):
    """One address point (a building or an entrance) as the address file gives it."""

    __tablename__ = "addresses"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    street_id: Mapped[int] = mapped_column(ForeignKey("address_streets.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    number_suffix: Mapped[str] = mapped_column(String(8), server_default="")
    #: the address as the file wrote it, shown to people
    label: Mapped[str] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)
    postcode: Mapped[str | None] = mapped_column(String(16))
    location: Mapped[WKBElement] = mapped_column(Geometry("POINT", 4326, spatial_index=False))

    __table_args__ = (
        Index("ix_addresses_street_id_number", "street_id", "number"),
        Index("ix_addresses_location", "location", postgresql_using="gist"),
    )


class ImportRun(Base):
    """One `geo311 import` of a file: its source, options, state and counts (see imports.py)."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    source: Mapped[str] = mapped_column(String(100), index=True)
    file: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), server_default="running")
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    started_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read: Mapped[int] = mapped_column(Integer, server_default="0")
    imported: Mapped[int] = mapped_column(Integer, server_default="0")
    merged: Mapped[int] = mapped_column(Integer, server_default="0")
    skipped: Mapped[int] = mapped_column(Integer, server_default="0")
    refused: Mapped[int] = mapped_column(Integer, server_default="0")
    refused_reasons: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (CheckConstraint("status IN ('running', 'done', 'failed')", name="status_known"),)


class ImportHold(Base):
    """An import run whose reports are held out of the rollups until it applies them
    (import_rollups.py, migration 0014): those of its source with an id above held_above."""

    __tablename__ = "import_holds"

    run_id: Mapped[int] = mapped_column(ForeignKey("import_runs.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    held_above: Mapped[int] = mapped_column(BigInteger)


class ImportDeferredIndex(Base):
    """A secondary index a running import dropped, to build it once its batches are written
    (import_indexes.py, migration 0017); what an import killed before it could leaves to build."""

    __tablename__ = "import_deferred_indexes"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    table_name: Mapped[str] = mapped_column(Text)
    definition: Mapped[str] = mapped_column(Text)  # pg_get_indexdef
    run_id: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(100))


class ImportKey(Base):
    """The ledger of imported rows: a source's record id (or the row's hash when the file has no
    ids) and the report it went to. Re-running a file skips the keys found here. No foreign keys:
    a ledger row costs one index entry, not row triggers, at a million rows per import."""

    __tablename__ = "import_keys"

    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer)
    report_id: Mapped[int] = mapped_column(BigInteger)


class Photo(Base):
    """One photo, stored once however many submissions bring it (content-addressed, see photos.py):
    the original as sent (staff only) and its public copy and thumbnail (no metadata)."""

    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    #: SHA-256 of the original's bytes: its key in the photo store
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    #: the original's type, read from its content (image/jpeg, image/png, image/webp, image/heic)
    media_type: Mapped[str] = mapped_column(String(40))
    bytes: Mapped[int] = mapped_column(Integer)
    #: the public copy (WebP) and the thumbnail (WebP): their keys and sizes in pixels
    public_sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    thumb_sha256: Mapped[str] = mapped_column(String(64))
    thumb_width: Mapped[int] = mapped_column(Integer)
    thumb_height: Mapped[int] = mapped_column(Integer)
    #: when it was taken, from its EXIF data, when the time zone is known
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$' AND public_sha256 ~ '^[0-9a-f]{64}$' "
                        "AND thumb_sha256 ~ '^[0-9a-f]{64}$'", name="keys_hex"),
    )


class SubmissionPhoto(Base):
    """The photos a submission brought, in order. A report's photos are its submissions' photos, so
    they follow a merge and a close-as-duplicate."""

    __tablename__ = "submission_photos"

    #: the distribution column of the Citus plan (docs/scaling.md): the submission's jurisdiction
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdictions.id"))
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id"), index=True)


from geo311 import rollup_models  # noqa: E402,F401  (the rollup tables join the same metadata)

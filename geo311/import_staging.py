"""Where an import's staging tables live, and what happens to the staged rows before the batches
(steps 1 and 2 of imports.py): the staging table, the matching of the points to jurisdictions and
districts, and the classification of every row (refused, already imported, or routed and given
its batch)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from psycopg import Copy, Cursor, pq
from psycopg.adapt import Dumper
from psycopg.postgres import types as pg_types
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from geo311 import import_files as files

SKIPPED = "already imported"
UNROUTED = "unrouted"


@dataclass(frozen=True)
class Work:
    """Where an import's staging tables (import_stage, import_matches, import_routes, import_rows)
    live: unlogged tables in a schema of the source's own, which parallel workers and writers
    (other connections) can read; or, where the role may not create a schema in the database,
    temp tables, read by the importing connection alone (then it writes every batch itself)."""

    schema: str
    kind: str  # UNLOGGED or TEMP

    @property
    def shared(self) -> bool:
        return self.kind == "UNLOGGED"

    def sql(self, statement: str) -> str:
        return statement.format(kind=self.kind, work=self.schema, quiet=QUIET)


def work_place(s: Session, source: str, lock_key: int) -> Work:
    """The source's schema, named by its import lock's key: one import of a source runs at a time,
    so the name is free whenever that lock is held."""
    if not s.execute(text("SELECT has_database_privilege(current_database(), 'CREATE')")).scalar():
        return Work("pg_temp", "TEMP")
    return Work(f"geo311_import_{lock_key & (2**64 - 1):016x}", "UNLOGGED")


#: the staging tables are written once and read by this run only: autovacuum, which would otherwise
#: vacuum and analyze each of them (a million inserted rows) while the batches are written, leaves
#: them alone (the import analyzes what it needs; COPY ... FREEZE sets the visibility map)
QUIET = "WITH (autovacuum_enabled = false)"

STAGE = """CREATE {kind} TABLE {work}.import_stage (
    line bigint, key text, reason text, detail text, lon float8, lat float8, category_id int,
    created_at timestamptz, updated_at timestamptz, closed_at timestamptz, status text, source_status text,
    description text, address text, reporter_name text, reporter_email text, reporter_phone text,
    source_id text, raw jsonb, matched_address text) {quiet}"""
#: the matching's index of the staged points (_MATCH), built once the file is read: filling it row
#: by row during the COPY cost the server 11 s of CPU at 1,000,000 rows (18 s with the COPY's own
#: 7, more than the 12 s of Python reading the file on the other core), building it after 2.8 s.
#: What the matching reads is in it, for index-only scans; they need the visibility map, which
#: COPY ... FREEZE sets (copy_stage)
STAGE_POINTS = """CREATE INDEX import_stage_point ON import_stage USING gist ((ST_SetSRID(ST_MakePoint(lon, lat), 4326)))
    INCLUDE (line, category_id, lon, lat) WHERE reason IS NULL"""
#: the columns of STAGE that the binary COPY fills, and their types, in order (matched_address is
#: filled by import_locating)
STAGE_COLUMNS = ("line, key, reason, detail, lon, lat, category_id, created_at, updated_at, closed_at, status, "
                 "source_status, description, address, reporter_name, reporter_email, reporter_phone, source_id, raw")
STAGE_TYPES = ["int8", "text", "text", "text", "float8", "float8", "int4", "timestamptz", "timestamptz",
               "timestamptz", "text", "text", "text", "text", "text", "text", "text", "text", "jsonb"]


class _JsonTextDumper(Dumper):
    """A record that is JSON text already (import_files dumps it), as binary jsonb: a version byte
    and the text. psycopg's own jsonb dumper would dump the str again, as a JSON string."""

    format = pq.Format.BINARY
    oid = pg_types["jsonb"].oid

    def dump(self, obj: str) -> bytes:
        return b"\x01" + obj.encode()


@contextmanager
def copy_stage(cur: Cursor) -> Iterator[Copy]:
    """The binary COPY into import_stage (rows as import_files makes them): the server parses no
    numbers, dates or escapes (the staging of 1,000,000 rows: 13.8 -> 10.1 µs a row). FREEZE (the
    table is new in this transaction) marks its pages all-visible, for the matching's index-only scans."""
    cur.adapters.register_dumper(None, _JsonTextDumper)
    with cur.copy(f"COPY import_stage ({STAGE_COLUMNS}) FROM STDIN WITH (FORMAT BINARY, FREEZE)") as copy:
        copy.set_types(STAGE_TYPES)
        yield copy


@contextmanager
def rewriting(s: Session) -> Iterator[None]:
    """Around updates of staged rows, before the points' index (STAGE_POINTS) is built in the same
    transaction. Updated in place without an index on what they change, rows become HOT chains, and
    an index built over them then may be used by newer transactions only (pg_index.indcheckxmin):
    not by the import's own, whose matching then walked the whole staging table for every part
    (346 s at 1,000,000 rows, for 2,500 rows located). This index (of the rows without a point:
    few, or none) names the columns the updates change, so that no update is HOT."""
    s.execute(text("CREATE INDEX import_stage_unplaced ON import_stage (reason) WHERE lon IS NULL"))
    yield
    s.execute(text("DROP INDEX import_stage_unplaced"))


# ----- coordinates in another spatial reference: converted to longitude and latitude ------------
_TO_WGS84 = f"""UPDATE import_stage st
    SET (lon, lat, reason, detail) = (
        SELECT CASE WHEN c.ok THEN c.x END, CASE WHEN c.ok THEN c.y END,
               CASE WHEN NOT c.ok THEN '{files.BAD_COORDINATES}' END,
               CASE WHEN NOT c.ok THEN format('coordinates [%s, %s] of EPSG:%s are no place on Earth',
                                              st.lon, st.lat, CAST(:srid AS int)) END
        FROM (SELECT ST_X(q.p) AS x, ST_Y(q.p) AS y,
                     coalesce(ST_X(q.p) BETWEEN -180 AND 180 AND ST_Y(q.p) BETWEEN -90 AND 90, false) AS ok
              FROM (SELECT {{point}} AS p OFFSET 0) q) c)  -- OFFSET 0: converted once, not per use
    WHERE st.reason IS NULL AND st.lon IS NOT NULL"""
_POINT_IN = "ST_Transform(ST_SetSRID(ST_MakePoint(st.lon, st.lat), CAST(:srid AS int)), 4326)"
# PROJ refuses a point outside some projections' domain (UTM: "Point outside of projection domain"),
# which fails the whole statement: then again, each point on its own (a subtransaction each: slower),
# such a point NULL, refused like the others that land nowhere
_SAFE_TRANSFORM = """CREATE OR REPLACE FUNCTION pg_temp.geo311_import_to_wgs84(float8, float8, int) RETURNS geometry
    LANGUAGE plpgsql AS $$
BEGIN
    RETURN ST_Transform(ST_SetSRID(ST_MakePoint($1, $2), $3), 4326);
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END $$"""


def to_wgs84(s: Session, srid: int) -> None:
    """The staged points, read in `srid`, as longitude and latitude; those that land nowhere refused."""
    try:
        with s.begin_nested():
            s.execute(text(_TO_WGS84.format(point=_POINT_IN)), {"srid": srid})
    except DBAPIError:
        s.execute(text(_SAFE_TRANSFORM))
        s.execute(text(_TO_WGS84.format(point="pg_temp.geo311_import_to_wgs84(st.lon, st.lat, CAST(:srid AS int))")),
                  {"srid": srid})


# the matching first, on its own, driven by the parts of the jurisdictions and of the districts:
# for each part, the staged points in its box (an index-only scan of STAGE_POINTS, which holds what
# the matching reads), each tested against the part. One part after another, PostGIS prepares each
# part's polygon once (an index of its edges) and tests its thousands of points against that; a
# point after another, as an index of the parts would drive it (and as the floor of
# bench/import.py does), every test walks the whole polygon: 15.3 s at 1,000,000 rows on three
# processes, 2.7 s this way, the jurisdictions and the districts on a parallel worker each (and
# 2.2-2.8 s for the index, STAGE_POINTS, built when the file is in). _ST_Covers is ST_Covers without its index
# support, and the box is the part's envelope, not the part: so only the points' index can serve
# the join, and the planner cannot turn it round to go point by point. Rows imported by an earlier
# run are matched too (the classification skips them); duplicates of earlier lines are matched for
# nothing.
_POINT = "ST_SetSRID(ST_MakePoint(st.lon, st.lat), 4326)"
_MATCH = [
    f"""CREATE {{kind}} TABLE {{work}}.import_matches {{quiet}} AS
       SELECT st.line, st.category_id, p.jurisdiction_id, CAST(NULL AS int) AS district_id
       FROM jurisdiction_parts p JOIN import_stage st
            ON {_POINT} @ ST_Envelope(p.geom) AND _ST_Covers(p.geom, {_POINT})
       WHERE st.reason IS NULL
       UNION ALL
       SELECT st.line, st.category_id, NULL, p.district_id
       FROM district_parts p JOIN import_stage st
            ON {_POINT} @ ST_Envelope(p.geom) AND _ST_Covers(p.geom, {_POINT})
       WHERE st.reason IS NULL""",
    """CREATE {kind} TABLE {work}.import_routes {quiet} AS
       SELECT r.line, r.jurisdiction_id, r.agency, d.district_ids FROM (
           SELECT DISTINCT ON (m.line) m.line, j.id AS jurisdiction_id, cr.agency
           FROM import_matches m JOIN jurisdictions j ON j.id = m.jurisdiction_id
           LEFT JOIN category_routes cr ON cr.jurisdiction_id = j.id AND cr.category_id = m.category_id
           ORDER BY m.line, cr.agency IS NULL, j.rank DESC, j.name) r
       LEFT JOIN (SELECT line, array_agg(DISTINCT district_id ORDER BY district_id) AS district_ids
                  FROM import_matches WHERE district_id IS NOT NULL GROUP BY line) d ON d.line = r.line""",
    "ALTER TABLE import_routes ADD PRIMARY KEY (line)",
    # the points within the margin of a jurisdiction's edge (near_boundary), driven by the edges as
    # the matching is by the parts: for each edge, the staged points in its box (the edge's envelope
    # widened by the margin in degrees: a degree of latitude is 110.57 km or more, one of longitude
    # that times the cosine of the box's highest latitude) and within that many degrees of the
    # line on the plane (OFFSET 0: this cheap test first), then measured on the spheroid as intake
    # measures them. 1M points: 2.2 s with the spheroid alone, 0.6 s so; an index probe of the
    # edges per report cost 5 µs, in the batches
    f"""CREATE {{kind}} TABLE {{work}}.import_edges {{quiet}} AS
       SELECT DISTINCT c.line, e.jurisdiction_id
       FROM jurisdiction_edges e
       CROSS JOIN LATERAL (SELECT CAST(:margin AS float8) / 110000.0 AS dy) box
       CROSS JOIN LATERAL (
           SELECT box.dy / cos(radians(least(greatest(abs(ST_YMin(e.geom)), abs(ST_YMax(e.geom))) + box.dy, 89.9)))
               AS dx) w
       CROSS JOIN LATERAL (
           SELECT st.line, {_POINT} AS pt FROM import_stage st
           WHERE {_POINT} @ ST_Expand(ST_Envelope(e.geom), w.dx, box.dy) AND ST_DWithin(e.geom, {_POINT}, w.dx)
             AND st.reason IS NULL
           OFFSET 0) c
       WHERE ST_DWithin(e.geom::geography(LineString,4326), c.pt::geography(Point,4326), :margin)""",
]

# the keys that more than one row has (refused rows aside), with the first of those rows: a hash
# table of the keys (usually none come twice), where a window over the key sorted every row of the
# file (1M rows: 0.8 s for this, import_rows 4.3-4.9 -> 3.0-3.5 s)
_DUPLICATES = """CREATE {kind} TABLE {work}.import_dups {quiet} AS
    SELECT key, min(line) AS first_line FROM import_stage WHERE reason IS NULL GROUP BY key HAVING count(*) > 1"""

# narrow rows (the wide text stays in import_stage, fetched by its place, stage_tid, when a batch is
# written or a refused row is: the staged rows are not updated from here on), so
# that the sorts of a million rows stay small. The rows come out of the batch numbering's sort (by
# whether they are routed, then created_at and line), so each batch's rows lie together, as the
# batches read them, without a sort of their own
_CLASSIFY = f"""
CREATE {{kind}} TABLE {{work}}.import_rows {{quiet}} AS
SELECT x.*, CASE WHEN x.why IS NULL THEN
            (row_number() OVER (PARTITION BY x.why IS NULL ORDER BY x.created_at, x.line) - 1) / :batch_size
       END AS batch
FROM (
    SELECT s.line, s.stage_tid, s.key, s.lon, s.lat, s.category_id, s.created_at, s.updated_at, s.closed_at, s.status,
           s.source_id, s.geom, CASE WHEN rt.agency IS NOT NULL THEN rt.jurisdiction_id END AS jurisdiction_id,
           rt.agency, rt.district_ids, rt.jurisdiction_id IS NOT NULL AS inside,
           EXISTS (SELECT 1 FROM import_edges ne WHERE ne.line = s.line AND ne.jurisdiction_id = rt.jurisdiction_id)
               AS near_boundary,
           CASE WHEN s.reason IS NOT NULL THEN s.reason
                WHEN s.line <> s.first_line THEN '{files.DUPLICATE}'
                WHEN k.key IS NOT NULL THEN '{SKIPPED}'
                WHEN rt.agency IS NULL THEN '{UNROUTED}'
           END AS why,
           CASE WHEN s.reason IS NOT NULL THEN s.detail
                WHEN s.line <> s.first_line THEN 'the same ' || CASE WHEN s.source_id IS NULL THEN 'row'
                     ELSE 'id ' || quote_literal(s.source_id) END || ' as line ' || s.first_line
                WHEN k.key IS NOT NULL THEN 'imported by run ' || k.run_id
           END AS why_detail
    FROM (SELECT st.line, st.ctid AS stage_tid, st.key, st.reason, st.detail, st.lon, st.lat, st.category_id, st.created_at,
                 st.updated_at, st.closed_at, st.status, st.source_id,
                 ST_SetSRID(ST_MakePoint(st.lon, st.lat), 4326) AS geom,
                 CASE WHEN st.reason IS NULL THEN coalesce(d.first_line, st.line) END AS first_line
          FROM import_stage st LEFT JOIN import_dups d ON d.key = st.key) s
    LEFT JOIN import_keys k ON CAST(:check_keys AS boolean) AND k.source = :source AND k.key = s.key
                               AND s.reason IS NULL
    LEFT JOIN import_routes rt ON rt.line = s.line AND s.reason IS NULL AND s.line = s.first_line
                                  AND k.key IS NULL
) x"""

# rows without a route, and out-of-range points: what is wrong with them, said precisely. The rows
# updated are picked on both sides of the join (_EXPLAINED), so that it joins a few thousand rows:
# picked on one side only, PostgreSQL sorted all the rows by line to merge them (1.5 s at 1M rows)
_EXPLAINED = f"(r.why = '{UNROUTED}' OR (r.why = '{files.BAD_COORDINATES}' AND r.lon IS NOT NULL))"
_EXPLAIN = f"""
UPDATE import_rows r SET why = e.why, why_detail = e.detail
FROM (
    SELECT r.line,
           CASE WHEN r.inside THEN '{files.NOT_SERVED}' WHEN sw.swapped THEN '{files.SWAPPED}'
                WHEN r.why = '{UNROUTED}' THEN '{files.OUTSIDE}' ELSE r.why END AS why,
           CASE WHEN r.inside THEN format('[%s, %s] lies in %s, where %L is not served', r.lon, r.lat,
                                          (SELECT string_agg(DISTINCT j.name, ' and ') FROM jurisdiction_parts p
                                           JOIN jurisdictions j ON j.id = p.jurisdiction_id
                                           WHERE ST_Covers(p.geom, r.geom)), c.code)
                WHEN sw.swapped THEN format('[%s, %s] is outside, but [%s, %s] is inside the service area: '
                                            'are longitude and latitude swapped?', r.lon, r.lat, r.lat, r.lon)
                WHEN r.why = '{UNROUTED}' THEN format('[%s, %s] is outside every jurisdiction', r.lon, r.lat)
                ELSE r.why_detail END AS detail
    FROM import_rows r LEFT JOIN categories c ON c.id = r.category_id
    CROSS JOIN LATERAL (
        SELECT NOT r.inside AND abs(r.lat) <= 180 AND abs(r.lon) <= 90 AND EXISTS (
            SELECT 1 FROM jurisdiction_parts p WHERE ST_Covers(p.geom, ST_SetSRID(ST_MakePoint(r.lat, r.lon), 4326))
        ) AS swapped) sw
    WHERE {_EXPLAINED}
) e
WHERE r.line = e.line AND {_EXPLAINED}"""


def classify(s: Session, work: Work, source: str, batch_size: int, margin: float) -> dict[str | None, int]:
    """Match, classify and number the batches of the staged rows; the rows by refusal reason
    (None: routed, to be imported; SKIPPED: imported by an earlier run)."""
    check_keys = s.execute(text("SELECT EXISTS (SELECT 1 FROM import_keys WHERE source = :s)"),
                           {"s": source}).scalar()
    s.execute(text("ANALYZE import_stage"))
    for statement in _MATCH:
        s.execute(text(work.sql(statement)), {"margin": margin})
    s.execute(text(work.sql(_DUPLICATES)))
    s.execute(text(work.sql(_CLASSIFY)), {"source": source, "check_keys": check_keys, "batch_size": batch_size})
    s.execute(text(_EXPLAIN))
    s.execute(text("CREATE INDEX ON import_rows (batch) WHERE batch IS NOT NULL"))
    return dict(s.execute(text("SELECT why, count(*) FROM import_rows GROUP BY 1")).all())

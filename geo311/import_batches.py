"""One batch of an import (see imports.py), in the caller's transaction: the routed rows of
`import_rows` with batch number b become reports, submissions, districts, events and ledger rows,
each table written by one statement. The run's reports are held out of the rollups meanwhile
(import_rollups.py adds them).

With dedup, who joins whom is decided here, set-based, in rounds (see imports.py for the rule).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311 import import_rollups
from geo311.dedup import log2_sql

OPEN = "('open', 'assigned', 'in_progress')"
GEOG = "::geography(Point,4326)"  # the expression of ix_reports_open_geog and import_batch_geog


def has_norm_columns(s: Session) -> bool:
    """Whether submissions carries the normalized contact columns (callers' lookups use them)."""
    return s.execute(text(
        "SELECT count(*) = 2 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'submissions' AND column_name IN ('reporter_phone_norm', 'reporter_email_norm')")).scalar()


# the batch's rows with their staged text, read once (the statements below would otherwise probe
# import_stage, or join a table of the text, three times a row): a batch is consecutive in time, its
# rows scattered over the staging table, fetched by their places in it (import_rows.stage_tid; the
# staged rows are not updated once classified): a TID scan, in the order of those places, reads
# each page in turn (a probe of the line's index per row cost three times as much). Sorted by time, the ids are given in that order (PostgreSQL computes
# nextval after the sort), and the rows lie in the table in the order of their ids, which the
# statements below write them in without sorting. The wide text comes last, so that the statements
# that do not read it stop short of it in each row.
_BATCH = """
CREATE TEMP TABLE import_batch AS
SELECT r.line, r.category_id, r.jurisdiction_id, r.created_at, r.updated_at, r.closed_at, r.near_boundary,
       NOT CAST(:dedup AS boolean) AS creates, CAST(NULL AS bigint) AS target, CAST(NULL AS bigint) AS target_line,
       CAST(0 AS float8) AS distance_m, CAST(1 AS int) AS n, r.created_at AS last_at, CAST('u' AS char(1)) AS state,
       CASE WHEN CAST(:dedup AS boolean) THEN NULL ELSE nextval({reports_seq}) END AS report_id,
       nextval({submissions_seq}) AS submission_id,
       r.status, r.key, r.district_ids, r.geom, r.agency, r.source_id,
       s.description, s.address, s.matched_address, s.reporter_name, s.reporter_email, s.reporter_phone,
       s.source_status, s.raw
FROM import_rows r JOIN import_stage s ON s.ctid = r.stage_tid
WHERE r.batch = :batch AND s.ctid = ANY (ARRAY(SELECT stage_tid FROM import_rows WHERE batch = :batch))
ORDER BY r.created_at, r.line"""


def sequences(s: Session) -> dict[str, str]:
    """The id sequences of reports and submissions as regclass literals for the statements' text,
    looked up once per import for all its batches. nextval('...'::regclass) is resolved once per
    statement; nextval(pg_get_serial_sequence(...)) looked the sequence up in the catalogs for
    every row (140 ms against 13 ms for 10,000 rows of two ids)."""
    names = s.execute(text("SELECT pg_get_serial_sequence('reports', 'id'), "
                           "pg_get_serial_sequence('submissions', 'id')")).one()
    return {f"{table}_seq": "'" + name.replace("'", "''") + "'::regclass"
            for table, name in zip(("reports", "submissions"), names, strict=True)}


_PHONE_NORM = ("CASE WHEN length(regexp_replace(b.reporter_phone, '[^0-9]', '', 'g')) = 11 "
               "AND left(regexp_replace(b.reporter_phone, '[^0-9]', '', 'g'), 1) = '1' "
               "THEN substr(regexp_replace(b.reporter_phone, '[^0-9]', '', 'g'), 2) "
               "ELSE nullif(regexp_replace(b.reporter_phone, '[^0-9]', '', 'g'), '') END")


def _write_sql(norms: bool) -> dict[str, str]:
    norm_cols = ", reporter_phone_norm, reporter_email_norm" if norms else ""
    norm_vals = (f", left({_PHONE_NORM}, 20), left(nullif(lower(trim(b.reporter_email)), ''), 320)"
                 if norms else "")
    return {
        "reports": f"""INSERT INTO reports (id, category_id, location, status, priority, jurisdiction_id, agency, description,
                                address, matched_address, submission_count, near_boundary, created_at, updated_at,
                                closed_at, source, source_id)
            SELECT b.report_id, b.category_id, b.geom, b.status,
                   least(5, c.default_priority + {log2_sql('b.n')}), b.jurisdiction_id, b.agency,
                   b.description, b.address, b.matched_address, b.n, b.near_boundary, b.created_at, greatest(b.updated_at, b.last_at), b.closed_at, :source, b.source_id
            FROM import_batch b JOIN categories c ON c.id = b.category_id
            WHERE b.creates""",
        "targets": f"""UPDATE reports r SET submission_count = r.submission_count + x.n,
                   updated_at = greatest(r.updated_at, x.last_at),
                   priority = greatest(r.priority, least(5, c.default_priority + {log2_sql('r.submission_count + x.n')}))
            FROM (SELECT jurisdiction_id, target, count(*)::int AS n, max(created_at) AS last_at FROM import_batch
                  WHERE target IS NOT NULL GROUP BY 1, 2) x, categories c
            WHERE r.id = x.target AND r.jurisdiction_id = x.jurisdiction_id AND c.id = r.category_id""",
        "districts": f"""INSERT INTO report_districts (jurisdiction_id, report_id, district_id)
           SELECT jurisdiction_id, report_id, district_id FROM {BATCH_DISTRICTS}""",
        "submissions": f"""INSERT INTO submissions (id, jurisdiction_id, report_id, received_at, channel, reply_status, location, distance_m,
                                    description, address, reporter_name, reporter_email, reporter_phone{norm_cols},
                                    attributes, raw)
            SELECT b.submission_id, b.jurisdiction_id, b.report_id, b.created_at, 'import', CASE WHEN b.creates THEN 201 ELSE 200 END,
                   b.geom, b.distance_m, b.description, b.address, b.reporter_name, b.reporter_email,
                   b.reporter_phone{norm_vals}, '{{}}'::jsonb, b.raw
            FROM import_batch b""",
        "events": f"""INSERT INTO report_events (jurisdiction_id, report_id, at, actor, kind, from_status, to_status, note,
                                      submission_id)
            SELECT b.jurisdiction_id, b.report_id, b.created_at, :actor, 'created', NULL, 'open', :note, b.submission_id
            FROM import_batch b WHERE b.creates
            UNION ALL
            SELECT b.jurisdiction_id, b.report_id, CASE WHEN b.status IN {OPEN} THEN b.updated_at ELSE b.closed_at END, :actor, 'status',
                   'open', b.status, 'status in ' || :source || coalesce(': ' || b.source_status, ''), NULL
            FROM import_batch b WHERE b.creates AND b.status <> 'open'
            UNION ALL
            SELECT b.jurisdiction_id, b.report_id, b.created_at, :actor, 'merged', NULL, NULL, 'another submission joined',
                   b.submission_id
            FROM import_batch b WHERE NOT b.creates""",
        # in the order of the ledger's key: each row lands near the one before it in the index (the ids
        # of a batch are its time's, scattered over the source's ids; 5.1 -> 4.2 µs a row)
        "ledger": """INSERT INTO import_keys (source, key, run_id, report_id)
           SELECT :source, b.key, :run, b.report_id FROM import_batch b ORDER BY b.key""",
    }


# With the foreign keys checked row by row, a row goes in after what it refers to. Trusted, the
# submissions come last: their trigger counts the contacts of each day (contacts_daily), and the
# batches that parallel writers (import_writers.py) write at the same time are neighbours in time,
# so they share a day; a batch holds that row from its submissions statement to its commit, and
# the other writer waits for it only that long. (The reports' rollups are not written by batches:
# import_rollups.py.)
CHECKED_ORDER = ("reports", "targets", "districts", "submissions", "events", "ledger")
TRUSTED_ORDER = ("events", "ledger", "targets", "reports", "districts", "submissions")


# ----- what a batch refers to ------------------------------------------------------------------
# With `trusted`, a batch writes with session_replication_role = replica: PostgreSQL then skips its
# row-by-row foreign-key checks (one query and one row lock per reference: about a quarter of an
# import's time), and geo311's own triggers still fire (migration 0010 made them ENABLE ALWAYS).
# The batch does what those checks do, set-based: it locks every row it refers to FOR KEY SHARE
# (so none can be deleted or re-keyed before it commits) and fails whole if one is missing.
# REFERENCES lists each foreign key of the tables a batch writes, with how the batch covers it;
# tests/test_import_batches.py fails when a table gains a foreign key that is not listed here.
REFERENCES = {
    ("reports", "category_id", "categories"): "locked: the batch's categories",
    ("reports", "jurisdiction_id", "jurisdictions"): "locked: the batch's jurisdictions",
    ("reports", "duplicate_of", "reports"): "always NULL in a batch",
    ("reports", "crew_id", "crews"): "always NULL in a batch",
    ("report_districts", "jurisdiction_id", "jurisdictions"): "locked: the batch's jurisdictions",
    ("report_districts", "report_id", "reports"): "reports of this batch",
    ("report_districts", "district_id", "districts"): "locked: the batch's districts",
    ("submissions", "jurisdiction_id", "jurisdictions"): "locked: the batch's jurisdictions",
    ("submissions", "report_id", "reports"): "reports of this batch, or targets locked by their update",
    ("report_events", "jurisdiction_id", "jurisdictions"): "locked: the batch's jurisdictions",
    ("report_events", "report_id", "reports"): "reports of this batch, or targets locked by their update",
    ("report_events", "submission_id", "submissions"): "submissions of this batch",
    ("report_events", "crew_id", "crews"): "always NULL in a batch",
}

#: (table, column) that a batch leaves NULL in every row it writes
ALWAYS_NULL = frozenset((table, column) for (table, column, _), how in REFERENCES.items()
                        if how == "always NULL in a batch")
#: the contact columns of submissions that a batch fills from a record's field (normalized)
CONTACT_COLUMNS = {"reporter_email": "reporter_email_norm", "reporter_phone": "reporter_phone_norm"}

_LOCK = """WITH wanted AS (SELECT DISTINCT {column} AS id FROM {source}),
               locked AS (SELECT t.id FROM {table} t WHERE t.id IN (SELECT id FROM wanted) FOR KEY SHARE OF t)
           SELECT array_agg(w.id ORDER BY w.id) FROM wanted w WHERE w.id NOT IN (SELECT id FROM locked)"""


def _lock_referenced(s: Session, table: str, column: str, source: str) -> None:
    missing = s.execute(text(_LOCK.format(table=table, column=column, source=source))).scalar()
    if missing:
        raise RuntimeError(f"{table} {', '.join(map(str, missing[:10]))} no longer exist "
                           "(removed while the import ran); run the import again")


def trusted_writes(s: Session) -> bool:
    """Whether this connection may set session_replication_role (superuser, or on PostgreSQL 15
    and later GRANT SET ON PARAMETER session_replication_role)."""
    if s.execute(text("SELECT current_setting('is_superuser') = 'on'")).scalar():
        return True
    if s.connection().connection.driver_connection.info.server_version < 150000:
        return False
    return bool(s.execute(text("SELECT has_parameter_privilege('session_replication_role', 'SET')")).scalar())


#: a batch's temp tables, dropped before each batch and at the end of the import
BATCH_TABLES = "pg_temp.import_batch, pg_temp.import_near, pg_temp.import_exist, pg_temp.import_pairs"

# the batch's report districts, matched with the route (import_staging._MATCH)
BATCH_DISTRICTS = """(SELECT b.jurisdiction_id, b.report_id, d.district_id FROM import_batch b
    CROSS JOIN LATERAL unnest(b.district_ids) AS d(district_id) WHERE b.creates) d"""


def write_batch(s: Session, b: int, *, dedup: bool, source: str, run_id: int, max_before: int,
                norms: bool, sequences: dict[str, str], trusted: bool = False,
                frontier: import_rollups.Frontier | None = None) -> tuple[int, int, int, int]:
    """One batch, inside the caller's transaction: (reports created, rows merged, of those into
    reports from before this import, rows). With a frontier (no dedup), its report ids are
    allocated under the frontier's lock and told to it."""
    s.execute(text(f"DROP TABLE IF EXISTS {BATCH_TABLES}"))
    import_rollups.in_batch(s, run_id)  # the run's reports join the rollups when it applies them
    with frontier.allocating() if frontier is not None else nullcontext():
        rows = s.execute(text(_BATCH.format(**sequences)), {"dedup": dedup, "batch": b}).rowcount
        if frontier is not None:
            frontier.allocated(b, *s.execute(text("SELECT min(report_id), max(report_id) FROM import_batch")).one())
    if dedup:
        _dedup(s, sequences["reports_seq"])
    if trusted:
        _lock_referenced(s, "categories", "category_id", "import_batch")
        _lock_referenced(s, "jurisdictions", "jurisdiction_id", "import_batch")
        _lock_referenced(s, "districts", "district_id", BATCH_DISTRICTS)
        s.execute(text("SET LOCAL session_replication_role = replica"))
    params: dict[str, Any] = {"source": source, "run": run_id,
                              "actor": f"import:{source}"[:200], "note": f"imported from {source}"}
    statements = _write_sql(norms)
    for name in TRUSTED_ORDER if trusted else CHECKED_ORDER:
        done = s.execute(text(statements[name]), params)
        if name == "targets":
            _all_targets_updated(s, done.rowcount)
    if trusted:
        s.execute(text("SET LOCAL session_replication_role = origin"))
    created, merged = s.execute(text(
        "SELECT count(*) FILTER (WHERE creates), count(*) FILTER (WHERE NOT creates) FROM import_batch")).one()
    existing = 0
    if merged:  # rows that joined reports from before this import (a LATERAL: a lookup per such row)
        existing = s.execute(text(
            "SELECT count(*) FROM import_batch b CROSS JOIN LATERAL ("
            "    SELECT r.source FROM reports r WHERE r.id = b.target AND r.jurisdiction_id = b.jurisdiction_id "
            "    OFFSET 0) r "
            "WHERE b.target IS NOT NULL AND (b.target <= :max_before OR r.source IS DISTINCT FROM :source)"),
            {"max_before": max_before, "source": source}).scalar()
    return created, merged, existing, rows


def _all_targets_updated(s: Session, updated: int) -> None:
    """The update of the reports rows joined locks them; one that is gone fails the batch (the
    foreign keys of the submissions and events that join it would have)."""
    targets = s.execute(text("SELECT count(*) FROM (SELECT DISTINCT jurisdiction_id, target FROM import_batch "
                             "WHERE target IS NOT NULL) t")).scalar()
    if updated != targets:
        raise RuntimeError(f"{targets - updated} of the reports this batch's rows join no longer exist "
                           "(removed while the import ran); run the import again")


# ----- 4. dedup within a batch -----------------------------------------------------------------
_DEDUP = [
    "CREATE INDEX ON import_batch (line)",
    f"CREATE INDEX import_batch_geog ON import_batch USING gist ((geom{GEOG}))",
    "ANALYZE import_batch (line, category_id, jurisdiction_id, created_at, status, closed_at)",  # no expression stats: slow, unused
    # the reports that were there before this batch and created in its dates or the dedup window
    # before them: the batch's rows are consecutive in time, so these are a few weeks of reports,
    # whatever the size of the table (probing the reports' own place index read every report
    # ever made near the point, 7 a probe at 700,000 reports, and more as the table grows)
    """CREATE TEMP TABLE import_near AS
        SELECT r.id, r.jurisdiction_id, r.category_id, r.location, r.created_at, r.status, r.closed_at
        FROM reports r
        WHERE r.created_at >= (SELECT min(created_at) FROM import_batch)
                              - (SELECT max(dedup_window) FROM categories)
          AND r.created_at <= (SELECT max(created_at) FROM import_batch)""",
    # a plain geometry index: built sorted, in a fraction of a geography index's time
    "CREATE INDEX import_near_location ON import_near USING gist (location)",
    "ANALYZE import_near",
    # the nearest of those that was open at the row's time: found in a box of degrees that holds the
    # radius (a degree of latitude is 110.57 km or more; of longitude, that times the cosine of the
    # box's highest latitude), then measured on the spheroid
    f"""CREATE TEMP TABLE import_exist AS
        SELECT b.line, x.id AS target, x.d
        FROM import_batch b JOIN categories c ON c.id = b.category_id
        CROSS JOIN LATERAL (SELECT c.dedup_radius_m / 110000.0 AS dy) box
        CROSS JOIN LATERAL (  -- OFFSET 0: found by place only (import_near_location)
            SELECT n.id, ST_Distance(n.location{GEOG}, b.geom{GEOG}) AS d FROM (
                SELECT r.id, r.jurisdiction_id, r.category_id, r.location, r.created_at, r.status, r.closed_at
                FROM import_near r
                WHERE r.location && ST_Expand(b.geom, box.dy / cos(radians(least(abs(ST_Y(b.geom)) + box.dy, 89.9))),
                                              box.dy)
                  AND ST_DWithin(r.location{GEOG}, b.geom{GEOG}, c.dedup_radius_m)
                OFFSET 0) n
            WHERE n.jurisdiction_id = b.jurisdiction_id AND n.category_id = b.category_id AND n.created_at <= b.created_at AND n.created_at >= b.created_at - c.dedup_window
              AND (n.status IN {OPEN} OR n.closed_at > b.created_at)
            ORDER BY 2, n.id LIMIT 1) x""",
    # earlier rows of the batch each row could join, were they to start a report
    f"""CREATE TEMP TABLE import_pairs AS
        SELECT b.line AS b_line, a.line AS a_line, ST_Distance(a.geom{GEOG}, b.geom{GEOG}) AS d
        FROM import_batch b JOIN categories c ON c.id = b.category_id
        JOIN import_batch a ON a.jurisdiction_id = b.jurisdiction_id AND a.category_id = b.category_id
             AND ST_DWithin(a.geom{GEOG}, b.geom{GEOG}, c.dedup_radius_m)
             AND (a.created_at, a.line) < (b.created_at, b.line) AND a.created_at >= b.created_at - c.dedup_window
             AND (a.status IN {OPEN} OR a.closed_at > b.created_at)""",
    "DROP INDEX import_batch_geog",  # the updates below would each feed it a new entry
    "CREATE INDEX ON import_pairs (b_line)",
    "CREATE INDEX ON import_exist (line)",
    "ANALYZE import_pairs",
    """UPDATE import_batch b SET state = CASE
           WHEN EXISTS (SELECT 1 FROM import_exist e WHERE e.line = b.line) THEN 'f'
           WHEN EXISTS (SELECT 1 FROM import_pairs p WHERE p.b_line = b.line) THEN 'u' ELSE 'a' END""",
    # the states as they now are: analyzed before, every row was 'u', and the rounds below, planned
    # for a few 'a' rows, joined each of tens of thousands to all the pairs (8 s a batch at 1M rows)
    "ANALYZE import_batch (state)",
]
_ROUND = [
    # a row with a report-starting row before it joins one
    """UPDATE import_batch b SET state = 'f' WHERE b.state = 'u' AND EXISTS (
           SELECT 1 FROM import_pairs p JOIN import_batch a ON a.line = p.a_line
           WHERE p.b_line = b.line AND a.state = 'a')""",
    # a row whose earlier neighbours all joined reports starts its own
    """UPDATE import_batch b SET state = 'a' WHERE b.state = 'u' AND NOT EXISTS (
           SELECT 1 FROM import_pairs p JOIN import_batch a ON a.line = p.a_line
           WHERE p.b_line = b.line AND a.state <> 'f')""",
]
_TARGETS = [
    """UPDATE import_batch b SET target_line = x.a_line, distance_m = x.d
       FROM (SELECT DISTINCT ON (p.b_line) p.b_line, p.a_line, p.d FROM import_pairs p
             JOIN import_batch a ON a.line = p.a_line AND a.state = 'a'
             ORDER BY p.b_line, p.d, p.a_line) x
       WHERE b.line = x.b_line AND b.state = 'f'""",
    """UPDATE import_batch b SET target = e.target, distance_m = e.d, target_line = NULL
       FROM import_exist e WHERE e.line = b.line AND (b.target_line IS NULL OR e.d <= b.distance_m)""",
    """UPDATE import_batch SET creates = (state = 'a'),
           report_id = CASE WHEN state = 'a' THEN nextval({reports_seq}) ELSE target END""",
    """UPDATE import_batch b SET report_id = a.report_id FROM import_batch a WHERE a.line = b.target_line""",
    """UPDATE import_batch a SET n = 1 + x.n, last_at = greatest(a.last_at, x.last_at)
       FROM (SELECT target_line, count(*)::int AS n, max(created_at) AS last_at FROM import_batch
             WHERE target_line IS NOT NULL GROUP BY 1) x
       WHERE a.line = x.target_line""",
]


def _dedup(s: Session, reports_seq: str) -> None:
    for statement in _DEDUP:
        s.execute(text(statement))
    while s.execute(text("SELECT EXISTS (SELECT 1 FROM import_batch WHERE state = 'u')")).scalar():
        changed = sum(s.execute(text(statement)).rowcount for statement in _ROUND)
        if not changed:  # cannot happen: the earliest undecided row is always decided in a round
            raise RuntimeError("dedup made no progress")
    for statement in _TARGETS:
        s.execute(text(statement.format(reports_seq=reports_seq)))

"""`geo311 import FILE`: a city's history in bulk, set-based, in atomic batches.

1. The file streams through import_files (CSV, GeoJSON, Open311 JSON; gzip or not) into a
   staging table by COPY (an unlogged table in a schema of the source's own, so that parallel
   workers and writers read it); each record carries the reason it is refused, if a check that
   needs no database found one.
2. The points are matched to jurisdiction and district parts (ST_Covers on the subdivided parts,
   plain joins that run on parallel workers); then one statement classifies every row:
   duplicates within the file (the same source id, or the same whole row when the file has no
   ids), rows this source imported before (the import_keys ledger: they are skipped), and the
   route: the most specific covering jurisdiction that serves the category, and its agency. Rows
   without a route are refused as outside every jurisdiction, as a category not served there, or
   as swapped coordinates when [lat, lon] lies inside. The refused-rows file is written then.
3. The routed rows, in order of their own created_at, go in batches of `batch_size`; each batch is
   one transaction: reports (with their historic dates, statuses, closed_at, near_boundary and
   source id), submissions (channel `import`, the record as it came in `raw`), report_districts,
   events (created; the historic status; merged), the ledger. A failure rolls its batch back;
   the batches committed stay.
   Several connections write batches at once (import_writers.py), except with dedup or a dry run;
   where the role may, without row-by-row foreign-key checks (import_batches.py says how).
4. With `dedup`, a row joins an earlier report of its category (one of this file's, or one that
   was there before) within the category's radius, created within its window before the row and
   still open at the row's time; the nearest one, like intake does. Within a batch this is
   decided set-based in rounds: a row with an open report before it joins one; a row whose
   earlier neighbours all joined others starts its own report; repeat until every row is decided
   (the same outcome as taking the rows one at a time in time order).
5. The run's reports join the rollups (heat cells, daily stats, district days) in slices, set-based:
   while parallel writers write, what they have committed; when the batches are written, or have
   failed, the rest (import_rollups.py). Until then the dashboards show everything but them. A run
   killed before it could is applied by the next import (apply_abandoned).

A dry run does all of it in one transaction and rolls it back (only the id sequences move, as
with any rolled-back insert). A session-level advisory lock keeps two imports of one source apart.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from geo311 import (
    import_batches,
    import_indexes,
    import_locating,
    import_rollups,
    import_staging,
    import_writers,
)
from geo311 import import_files as files
from geo311.errors import Conflict, InvalidInput
from geo311.import_mapping import (
    WGS84,
    Mapping,
    build_mapping,
    delimiter_named,
    encoding_named,
    timezone_named,
)
from geo311.import_staging import SKIPPED, Work, work_place

REQUIRED = ("lon", "lat", "category", "created_at")
# 10,000: as fast as 50,000 (1M rows either way), and a batch holds the all-time heat cells it
# shares with live intake for a fifth of the time (bench/import_intake.py: a submission made during an
# import waited up to 2.4 s with 50,000, 0.6 s with 10,000)
DEFAULT_BATCH = 10_000
DEFAULT_WRITERS = 2
#: the unmapped source types the summary names
UNMAPPED_SHOWN = 10

#: progress(phase, rows, done, total): phase 'read' counts bytes of the file, 'import' rows written
Progress = Callable[[str, int, int, int | None], None]


@dataclass
class ImportOptions:
    format: str
    source: str
    columns: dict[str, str] | None = None
    category_map: dict[str, str] | None = None
    status_map: dict[str, str] | None = None
    fallback_category: str | None = None
    date_format: str | list[str] | None = None  # several: tried in turn ("iso": ISO 8601)
    timezone: str | None = None
    dedup: bool = False
    batch_size: int = DEFAULT_BATCH
    writers: int = DEFAULT_WRITERS
    dry_run: bool = False
    refused_path: Path | None = None
    boundary_margin_m: float = 15.0
    encoding: str | None = None  # of the file (default UTF-8)
    srid: int | None = None  # of the coordinates (default 4326: longitude and latitude)
    delimiter: str | None = None  # of a CSV (default: found from its header line)
    indexes: str = "auto"  # import_indexes.MODES: set the secondary indexes aside while writing


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """"1 new report", "2 new reports"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


@dataclass
class ImportSummary:
    file: str
    source: str
    dry_run: bool = False
    run_id: int | None = None
    read: int = 0
    imported: int = 0
    merged: int = 0
    merged_existing: int = 0
    skipped: int = 0
    blank: int = 0
    located: int = 0
    indexes_deferred: int = 0  # secondary indexes built again after the batches (import_indexes)
    unmapped: list[tuple[str, int]] = field(default_factory=list)  # the unmapped types (quoted), rows
    refused: Counter = field(default_factory=Counter)
    refused_file: Path | None = None
    batches: int = 0
    seconds: float = 0.0

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    def lines(self) -> list[str]:
        rate = self.read / self.seconds if self.seconds else 0.0
        head = "dry run, nothing stored: would import" if self.dry_run else "imported"
        out = [f"{self.file} (source {self.source!r}): read {self.read}, {head} {counted(self.imported, 'new report')}, "
               f"merged {self.merged}"
               + (f" ({self.merged_existing} into reports that were there before)" if self.merged_existing else "")
               + f", skipped {self.skipped} already imported, refused {self.refused_total} "
               f"({rate:,.0f} rows/s, {self.seconds:.1f} s, {counted(self.batches, 'batch', 'batches')})"]
        for why, n in sorted(self.refused.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"  refused {n}: {why}")
            if why == files.UNMAPPED and self.unmapped:
                shown = ", ".join(f"{kind} ({k})" for kind, k in self.unmapped)
                more = " ..." if len(self.unmapped) == UNMAPPED_SHOWN else ""
                out.append(f"    the types, most frequent first: {shown}{more}; map them with --categories "
                           "or take them with --fallback-category")
        if self.located:
            out.append(f"  located by their address (no coordinates given): {self.located}")
        if self.blank:
            out.append(f"  blank lines ignored: {self.blank}")
        if self.indexes_deferred:
            out.append(f"  a first load: {counted(self.indexes_deferred, 'secondary index', 'secondary indexes')} "
                       "built once after the batches instead of row by row")
        if self.refused_file and self.refused:
            out.append(f"  refused rows, each with its reason: {self.refused_file}")
        return out


# ----- set-up --------------------------------------------------------------------------------
@contextmanager
def _own_connection(session: Session) -> Iterator[Session]:
    """A session on one connection for the whole import (its temp tables live across the batch
    commits); a session already bound to a connection (tests) is used as it is."""
    bind = session.get_bind()
    if isinstance(bind, Connection):
        yield session
        return
    with bind.connect() as conn, Session(bind=conn, expire_on_commit=False) as own:
        yield own


def _lock_key(source: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"import:{source}".encode(), digest_size=8).digest(), "big", signed=True)


def _mapping(session: Session, path: Path, opts: ImportOptions) -> tuple[Mapping, list[str] | None]:
    active = {code: cid for code, cid in session.execute(text("SELECT code, id FROM categories WHERE active"))}
    mapping = build_mapping(
        opts.format, columns=opts.columns, category_map=opts.category_map, status_map=opts.status_map,
        active=active, fallback=opts.fallback_category, date_format=opts.date_format,
        timezone=timezone_named(opts.timezone))
    mapping.encoding = encoding_named(opts.encoding)
    if opts.srid is not None:
        try:
            srid = int(opts.srid)
        except (TypeError, ValueError):
            raise InvalidInput(f"--srid takes an EPSG code (a number), got {opts.srid!r}") from None
        known = session.execute(text("SELECT EXISTS (SELECT 1 FROM spatial_ref_sys WHERE srid = :n)"), {"n": srid})
        if not known.scalar():
            raise InvalidInput(f"--srid {srid} is no spatial reference PostGIS knows; give an EPSG code, "
                               "e.g. 2913 (Oregon North, feet) or 2285 (Washington North, feet)")
        mapping.srid = srid
    header = None
    if opts.format == "csv":
        header, mapping.delimiter = files.csv_header(path, mapping.encoding, delimiter_named(opts.delimiter))
        given = set(opts.columns or {})
        missing = [f"{f} (column {mapping.columns[f]!r})" for f in mapping.columns
                   if mapping.columns[f] not in header and (f in given or f in REQUIRED)]
        if missing:
            raise InvalidInput(f"{path.name} lacks {', '.join(missing)}; its columns: {', '.join(header)}. "
                               "Map them with --map FIELD=COLUMN")
        mapping.columns = {f: c for f, c in mapping.columns.items() if c in header}
    elif opts.format == "geojson":
        if ("lon" in mapping.columns) != ("lat" in mapping.columns):
            raise InvalidInput("map both lon and lat to properties, or neither (the Point geometry is used)")
    return mapping, header


def import_file(session: Session, path: str | Path, opts: ImportOptions,
                progress: Progress | None = None) -> ImportSummary:
    """Import a file; see the module's docstring. Usage errors (a missing column, a mapping to an
    unknown category, an unreadable file) are raised before anything is stored."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"cannot read {path}: no such file")
    if not opts.source or len(opts.source) > 100:
        raise InvalidInput("--source must name the source system in 1 to 100 characters")
    if not 1 <= opts.batch_size <= 1_000_000:
        raise InvalidInput("--batch-size must be between 1 and 1,000,000")
    if not 1 <= opts.writers <= 16:
        raise InvalidInput("--writers must be between 1 and 16")
    if opts.indexes not in import_indexes.MODES:
        raise InvalidInput(f"--indexes is one of {', '.join(import_indexes.MODES)}, not {opts.indexes!r}")
    summary = ImportSummary(file=path.name, source=opts.source, dry_run=opts.dry_run)
    refused_default = path.with_name(path.name.removesuffix(".gz").rsplit(".", 1)[0] + ".refused.csv")
    summary.refused_file = opts.refused_path or (None if opts.dry_run else refused_default)
    started = time.perf_counter()
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else None
    with _own_connection(session) as s:
        mapping, header = _mapping(s, path, opts)
        s.commit()
        if not s.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_key(opts.source)}).scalar():
            s.rollback()
            raise Conflict(f"another import of source {opts.source!r} is running; wait for it to finish")
        search_path = s.execute(text("SHOW search_path")).scalar()
        work = work_place(s, opts.source, _lock_key(opts.source))
        try:
            if not opts.dry_run:
                apply_abandoned(s)
                restore_abandoned_indexes(s)
            _settings(s, work)
            if work.shared:
                s.execute(text(f"DROP SCHEMA IF EXISTS {work.schema} CASCADE"))  # left by a run that was killed
                s.execute(text(f"CREATE SCHEMA {work.schema}"))
            _run(s, path, opts, mapping, header, summary, progress, engine if work.shared else None, work)
        except BaseException as exc:
            s.rollback()
            if summary.run_id is not None and not opts.dry_run:
                s.execute(text("UPDATE import_runs SET status = 'failed', finished_at = now(), error = :e "
                               "WHERE id = :id"), {"e": f"{type(exc).__name__}: {exc}"[:2000], "id": summary.run_id})
                s.commit()
                _apply_after_failure(s, summary.run_id)
                if summary.indexes_deferred:
                    _restore_after_failure(s, summary.run_id)
            raise
        finally:
            s.rollback()
            if work.shared:
                s.execute(text(f"DROP SCHEMA IF EXISTS {work.schema} CASCADE"))
            s.execute(text(f"DROP TABLE IF EXISTS {import_batches.BATCH_TABLES}, pg_temp.import_stage, "
                           "pg_temp.import_matches, pg_temp.import_routes, pg_temp.import_edges, "
                           "pg_temp.import_dups, pg_temp.import_rows"))
            s.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(opts.source)})
            s.execute(text("RESET jit"))
            s.execute(text("RESET work_mem"))
            s.execute(text("RESET statement_timeout"))
            s.execute(text("SELECT set_config('search_path', :p, false)"), {"p": search_path})
            s.commit()
    summary.seconds = time.perf_counter() - started
    return summary


def _settings(s: Session, work: Work) -> None:
    """An importing connection: big set-based statements, for which JIT compiling costs more than
    it saves; sorts in memory; no statement timeout (a batch of a big file may well take longer
    than a request); the staging tables found by their plain names (the schema comes last in the
    search path, so current_schema() stays what it was)."""
    s.execute(text("SET jit = off"))
    s.execute(text("SET work_mem = '64MB'"))
    s.execute(text("SET statement_timeout = 0"))
    if work.shared:
        s.execute(text("SELECT set_config('search_path', current_setting('search_path') || ', ' || :w, false)"),
                  {"w": work.schema})


def _run(s: Session, path: Path, opts: ImportOptions, mapping: Mapping, header: list[str] | None,
         summary: ImportSummary, progress: Progress | None, engine: Engine | None, work: Work) -> None:
    commit = (lambda: None) if opts.dry_run else s.commit
    options = {k: v for k, v in {"columns": mapping.columns, "dedup": opts.dedup, "batch_size": opts.batch_size,
                                 "date_format": opts.date_format, "timezone": opts.timezone,
                                 "fallback_category": opts.fallback_category,
                                 "category_map": opts.category_map, "status_map": opts.status_map,
                                 "encoding": mapping.encoding if mapping.encoding != files.DEFAULT_ENCODING else None,
                                 "srid": mapping.srid if mapping.srid != WGS84 else None,
                                 "delimiter": mapping.delimiter if header is not None else None,
                                 "indexes": opts.indexes if opts.indexes != "auto" else None}.items()
               if v not in (None, {}, False)}
    summary.run_id = s.execute(text(
        "INSERT INTO import_runs (source, file, format, options) VALUES (:s, :f, :fmt, CAST(:o AS jsonb)) RETURNING id"),
        {"s": opts.source, "f": str(path), "fmt": opts.format, "o": orjson.dumps(options).decode()}).scalar_one()
    max_before = s.execute(text("SELECT coalesce(max(id), 0) FROM reports")).scalar_one()
    import_rollups.hold(s, summary.run_id, opts.source, max_before)
    commit()
    _stage(s, path, opts, mapping, header, summary, progress, work, engine)
    _classify(s, opts, summary, work)
    if summary.refused_file is not None:
        _write_refused(s, header, summary.refused_file, mapping)
    s.execute(text(
        "UPDATE import_runs SET read = :read, skipped = :skipped, refused = :refused, "
        "refused_reasons = CAST(:reasons AS jsonb) WHERE id = :id"),
        {"read": summary.read, "skipped": summary.skipped, "refused": summary.refused_total,
         "reasons": orjson.dumps(dict(summary.refused)).decode(), "id": summary.run_id})
    commit()
    summary.batches, total = s.execute(text(
        "SELECT coalesce(max(batch) + 1, 0), count(batch) FROM import_rows")).one()
    # the reports stored, as far as `auto` needs to know (it compares them with the rows to import)
    stored = (s.execute(text("SELECT count(*) FROM (SELECT FROM reports LIMIT :n) r"), {"n": total + 1}).scalar()
              if opts.indexes == "auto" and not opts.dry_run else 0)
    rebuild = None  # the indexes set aside: built from when the writers are done, on connections of
    # their own beside the rollups' last slices, and on this one once those are applied
    if not opts.dry_run and import_indexes.wanted(opts.indexes, total, stored):
        summary.indexes_deferred = import_indexes.defer(s, summary.run_id, opts.source, opts.dedup,
                                                        untouched=import_indexes.untouched(mapping.columns, header))
        rebuild = import_indexes.Rebuild(s, summary.run_id, engine, built=(
            lambda n, of: progress("indexes", n, n, of)) if progress else None)
        commit()
    batches = import_writers.Batches(
        count=summary.batches, dedup=opts.dedup, source=opts.source, run_id=summary.run_id,
        max_before=max_before, norms=import_batches.has_norm_columns(s), sequences=import_batches.sequences(s))
    written = 0

    def done(b: int, result: tuple[int, int, int, int]) -> None:
        nonlocal written
        created, merged, existing, rows = result
        summary.imported += created
        summary.merged += merged
        summary.merged_existing += existing
        written += rows
        if progress:
            progress("import", written, written, total)

    try:
        # batch_done is looked up at each call, so that tests can replace it
        if engine is not None and opts.writers > 1 and not opts.dedup and not opts.dry_run and summary.batches > 1:
            import_writers.write_in_parallel(engine, opts.writers, lambda ws: _settings(ws, work), batches,
                                             lambda b: batch_done(b), done, writers_done=rebuild and rebuild.start)
        else:
            import_writers.write_one_by_one(s, batches, commit, lambda b: batch_done(b), done)
        if rebuild is not None:
            rebuild.start()
        if not opts.dry_run:  # (a dry run's batches are rolled back with their hold)
            import_rollups.apply(s, summary.run_id, progress=(lambda n: progress("rollups", n, n, summary.imported))
                                 if progress else None)
    except BaseException:
        if rebuild is not None:
            rebuild.wait()  # what it has not built, the failure's clean-up builds
        raise
    if rebuild is not None:
        rebuild.finish(s)
    s.execute(text("UPDATE import_runs SET status = 'done', finished_at = now() WHERE id = :id"),
              {"id": summary.run_id})
    if opts.dry_run:
        s.rollback()
        summary.run_id = None
    else:
        s.commit()


def batch_done(batch: int) -> None:
    """Called at the end of each batch, before its commit (tests make it fail)."""


# ----- 5. rollups of runs that did not finish ------------------------------------------------
def _apply_after_failure(s: Session, run_id: int) -> None:
    """The batches a failed run committed stay: their reports join the rollups now. If even that
    fails (the database went away), they stay held for apply_abandoned."""
    try:
        import_rollups.apply(s, run_id)
    except Exception:  # noqa: BLE001 (the import's own failure is the one to report)
        s.rollback()


def _restore_after_failure(s: Session, run_id: int) -> None:
    """A failed run's indexes are built again now; if even that fails, restore_abandoned_indexes
    builds them later."""
    try:
        import_indexes.Rebuild(s, run_id, None).finish(s)
    except Exception:  # noqa: BLE001 (the import's own failure is the one to report)
        s.rollback()


@contextmanager
def _holding(s: Session, source: str) -> Iterator[bool]:
    """The import lock of `source` on s's connection, if no import of it runs (then yields True)."""
    if not s.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_key(source)}).scalar():
        s.rollback()
        yield False
        return
    try:
        yield True
    finally:
        s.rollback()
        s.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(source)})
        s.commit()


def restore_abandoned_indexes(session: Session) -> list[str]:
    """Build the secondary indexes that runs killed before they could left set aside (import_indexes);
    running imports build their own. Returns the indexes built."""
    with _own_connection(session) as s:  # the advisory locks are the connection's
        return import_indexes.restore_abandoned(s, lambda source: _holding(s, source))


def apply_abandoned(session: Session) -> list[int]:
    """Apply the held rollups of every run that is no longer running (killed before it could):
    a run is running while its import holds its source's advisory lock. Returns the runs applied."""
    applied = []
    with _own_connection(session) as s:  # the advisory locks are the connection's
        for run_id, source in import_rollups.held_runs(s):
            with _holding(s, source) as held:
                if held:  # else an import of that source is running; it applies its own
                    import_rollups.apply(s, run_id)
                    applied.append(run_id)
    return applied


# ----- 1. staging ----------------------------------------------------------------------------
def _stage(s: Session, path: Path, opts: ImportOptions, mapping: Mapping, header: list[str] | None,
           summary: ImportSummary, progress: Progress | None, work: Work, engine: Engine | None = None) -> None:
    s.execute(text(work.sql(import_staging.STAGE)))
    raw = s.connection().connection.driver_connection
    parser = files.RecordParser(mapping)
    stats = Counter()
    with files.Source(path, mapping.encoding) as src:
        tick = (lambda rows, pos: progress("read", rows, pos, src.size)) if progress else None
        rows = (files.csv_rows(src, header, parser, stats, tick, mapping.delimiter) if opts.format == "csv"
                else files.json_rows(src, opts.format, parser, tick))
        try:
            with raw.cursor() as cur, import_staging.copy_stage(cur) as copy:
                for row in rows:
                    copy.write_row(row)
        except UnicodeDecodeError as exc:
            raise src.not_decodable(exc) from exc
        except (EOFError, OSError) as exc:
            raise InvalidInput(f"cannot read {path.name}: {exc}") from exc
        except csv.Error as exc:
            raise InvalidInput(f"{path.name} is not a readable CSV: {exc}") from exc
        if progress:
            progress("read", -1, src.size, src.size)
    if mapping.srid != WGS84 or parser.to_locate:
        with import_staging.rewriting(s):
            if mapping.srid != WGS84:
                import_staging.to_wgs84(s, mapping.srid)
            if parser.to_locate:
                summary.located = import_locating.locate_addresses(
                    s, engine, parser.to_locate,
                    (lambda done, total: progress("locate", done, done, total)) if progress else None)
    s.execute(text(import_staging.STAGE_POINTS))
    summary.blank = stats["blank"]


# ----- 2. matching and classification (import_staging) -----------------------------------------
def _classify(s: Session, opts: ImportOptions, summary: ImportSummary, work: Work) -> None:
    for why, n in import_staging.classify(s, work, opts.source, opts.batch_size, opts.boundary_margin_m).items():
        summary.read += n
        if why == SKIPPED:
            summary.skipped = n
        elif why is not None:
            summary.refused[why] = n
    if summary.refused.get(files.UNMAPPED):
        summary.unmapped = [(detail.removesuffix(files.UNMAPPED_DETAIL), n) for detail, n in s.execute(
            text("SELECT detail, count(*) FROM import_stage WHERE reason = :r GROUP BY detail "
                 "ORDER BY count(*) DESC, detail LIMIT :k"), {"r": files.UNMAPPED, "k": UNMAPPED_SHOWN})]


def _write_refused(s: Session, header: list[str] | None, target: Path, mapping: Mapping) -> None:
    """The refused rows with their reasons. For a CSV, its own columns in its own delimiter and
    encoding, so that the fixed file imports again with the same options."""
    raw = s.connection().connection.driver_connection
    delimiter, encoding = ",", files.DEFAULT_ENCODING
    if header is not None:
        names = [*header, "refused_line", "refused_reason", "refused_detail"]
        cols = sql.SQL(", ").join([*(sql.SQL("s.raw->>{}").format(sql.Literal(h)) for h in header),
                                   sql.SQL("r.line, r.why, r.why_detail")])
        delimiter, encoding = mapping.delimiter, mapping.encoding
    else:
        names = ["refused_record", "refused_reason", "refused_detail", "record"]
        cols = sql.SQL("r.line, r.why, r.why_detail, s.raw::text")
    query = sql.SQL("COPY (SELECT {} FROM import_rows r JOIN import_stage s ON s.ctid = r.stage_tid "
                    "WHERE r.why IS NOT NULL AND r.why <> {} ORDER BY r.line) "
                    "TO STDOUT WITH (FORMAT csv, DELIMITER {})").format(cols, sql.Literal(SKIPPED),
                                                                        sql.Literal(delimiter))
    # the server sends UTF-8, a row at a time; another encoding gets each row re-encoded (a character
    # the encoding cannot hold, which only geo311's own reason could bring, becomes '?')
    encode = (None if encoding == files.DEFAULT_ENCODING
              else codecs.getincrementalencoder(encoding)(errors="replace").encode)
    try:
        with target.open("wb") as out, raw.cursor() as cur:
            head = io.StringIO()
            csv.writer(head, delimiter=delimiter, lineterminator="\n").writerow(names)
            out.write(encode(head.getvalue()) if encode else head.getvalue().encode())
            with cur.copy(query) as copy:
                for data in copy:
                    out.write(encode(bytes(data).decode()) if encode else data)
    except OSError as exc:
        raise InvalidInput(f"cannot write the refused rows to {target}: {exc.strerror or exc}") from exc



"""Exports: any selection of reports (the report list's filters) as GeoJSON text sequences
(RFC 8142: each feature after a record separator, one per line) or CSV, streamed.

PostgreSQL builds every line (the same Feature as the report API, plus closed_at, duplicate_of and
the import source) and sends them with COPY ... TO STDOUT; we forward the bytes in chunks, so
memory stays flat at any size. The GeoJSON lines go out in COPY's csv mode with a delimiter and a
quote character that JSON text never holds raw (JSON escapes control characters), so nothing is
quoted or escaped on the way; only each report's districts object is filled in here (see below).

Staff (the roles of auth.STAFF) also get the reporters' names, emails and phones: the reporter
of the submission that created the report, and for GeoJSON every submission's contact.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import orjson
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311.errors import InvalidInput
from geo311.reports import ReportFilter

FORMATS = ("geojsonseq", "csv")
MEDIA_TYPES = {"geojsonseq": "application/geo+json-seq", "csv": "text/csv; charset=utf-8"}
SUFFIXES = {"geojsonseq": ".geojsons", "csv": ".csv"}
CHUNK = 1 << 18

_FROM = ("FROM reports r JOIN categories c ON c.id = r.category_id "
         "JOIN jurisdictions j ON j.id = r.jurisdiction_id")
# the submission that created the report: its reporter
_FIRST = ("LEFT JOIN LATERAL (SELECT s.reporter_name, s.reporter_email, s.reporter_phone FROM submissions s "
          "WHERE s.jurisdiction_id = r.jurisdiction_id AND s.report_id = r.id ORDER BY s.received_at, s.id LIMIT 1) f ON true")
_REPORTERS = (
    "(SELECT coalesce(json_agg(json_build_object('name', s.reporter_name, 'email', s.reporter_email, "
    "'phone', s.reporter_phone, 'received_at', s.received_at, 'channel', s.channel) ORDER BY s.received_at, s.id), "
    "'[]'::json) FROM submissions s WHERE s.jurisdiction_id = r.jurisdiction_id AND s.report_id = r.id "
    "AND (s.reporter_name IS NOT NULL "
    "OR s.reporter_email IS NOT NULL OR s.reporter_phone IS NOT NULL))")

# ----- GeoJSON lines, built as text --------------------------------------------------------------
# The Feature of the report API (reports.feature_sql) plus closed_at, duplicate_of, source and
# source_id, written by one concat() per report (several times faster than json_build_object). Each
# row comes as three fields: the line up to `"districts":`, the report's district ids, the rest. The
# district ids become {"layer": ["name", ...]} here, from a table of the ~100 districts and a cache
# of the few hundred combinations that occur: PostgreSQL does not build them per report, and
# Python's part runs beside the server's on the other core.
_IDS_EACH = ("(SELECT string_agg(rd.district_id::text, ',') FROM report_districts rd "
             "WHERE rd.jurisdiction_id = r.jurisdiction_id AND rd.report_id = r.id)")
# a whole export: one pass over report_districts in id order, merged with reports in id order
_IDS_ALL = ("rdi AS (SELECT jurisdiction_id, report_id, string_agg(district_id::text, ',') AS ids "
            "FROM report_districts GROUP BY 1, 2)")


def _json(expr: str) -> str:
    return f"coalesce(to_json({expr})::text, 'null')"


_HEAD = (
    "concat(chr(30), '{\"type\":\"Feature\",\"id\":', r.id, ',\"geometry\":', ST_AsGeoJSON(r.location, 6), "
    "',\"properties\":{\"id\":', r.id, fr.cat ->> r.category_id::text, ',\"status\":\"', r.status, "
    "'\",\"priority\":', r.priority, fr.jur ->> r.jurisdiction_id::text, "
    "',\"agency\":', to_json(r.agency), ',\"districts\":')")
_TAIL = (
    "concat(',\"submission_count\":', r.submission_count, "
    "',\"near_boundary\":', CASE WHEN r.near_boundary THEN 'true' ELSE 'false' END, "
    "',\"description\":', to_json(r.description), "
    f"',\"address\":', {_json('r.address')}, ',\"matched_address\":', {_json('r.matched_address')}, "
    "',\"created_at\":', to_json(r.created_at), ',\"updated_at\":', to_json(r.updated_at), "
    f"',\"closed_at\":', {_json('r.closed_at')}, ',\"duplicate_of\":', coalesce(r.duplicate_of::text, 'null'), "
    f"',\"source\":', {_json('r.source')}, ',\"source_id\":', {_json('r.source_id')}"
    "{staff}, '}}')")
_STAFF_TAIL = (
    f", ',\"reporter_name\":', {_json('f.reporter_name')}, ',\"reporter_email\":', {_json('f.reporter_email')}"
    f", ',\"reporter_phone\":', {_json('f.reporter_phone')}, ',\"reporters\":', {_REPORTERS}")
# the categories' and jurisdictions' JSON, once, looked up by id (cheaper than joining each report)
_FRAGMENTS = (
    "frags AS MATERIALIZED (SELECT "
    "(SELECT jsonb_object_agg(id, ',\"category\":' || to_json(code) || ',\"category_name\":' || to_json(name)) "
    " FROM categories) AS cat, "
    "(SELECT jsonb_object_agg(id, ',\"jurisdiction\":' || to_json(name)) FROM jurisdictions) AS jur)")


def _geojson_select(whole: bool, staff: bool, where: str) -> str:
    tail = _TAIL.replace("{staff}", _STAFF_TAIL if staff else "")
    ids = "rdi.ids" if whole else _IDS_EACH
    ctes = _FRAGMENTS + (f", {_IDS_ALL}" if whole else "")
    joins = ("FROM reports r CROSS JOIN frags fr"
             + (" JOIN categories c ON c.id = r.category_id" if "c." in where else "")
             + (" LEFT JOIN rdi ON rdi.jurisdiction_id = r.jurisdiction_id AND rdi.report_id = r.id" if whole else "") + (f" {_FIRST}" if staff else ""))
    return f"WITH {ctes} SELECT {_HEAD}, {ids}, {tail} {joins}"


class _Districts:
    """District ids ("12,40,101") -> the districts object's JSON, by layer, names sorted."""

    def __init__(self, session: Session) -> None:
        self.names = {i: (k, n) for i, k, n in session.execute(text(
            "SELECT d.id, l.key, d.name FROM districts d JOIN district_layers l ON l.id = d.layer_id"))}
        self.cache: dict[bytes, bytes] = {b"": b"{}"}

    def __call__(self, ids: bytes) -> bytes:
        found = self.cache.get(ids)
        if found is None:
            layers: dict[str, list[str]] = {}
            for i in ids.split(b","):
                key, name = self.names[int(i)]
                layers.setdefault(key, []).append(name)
            found = orjson.dumps({k: sorted(v) for k, v in sorted(layers.items())})
            if len(self.cache) < 100_000:
                self.cache[ids] = found
        return found

    def fill(self, block: bytes) -> bytes:
        """Rows of `head \\x01 ids \\x01 tail` with each ids replaced by its districts object."""
        pieces = block.split(b"\x01")
        cache = self.cache
        pieces[1::2] = [cache.get(ids) or self(ids) for ids in pieces[1::2]]
        return b"".join(pieces)


CSV_COLUMNS = [
    ("id", "r.id"), ("category", "c.code"), ("category_name", "c.name"), ("status", "r.status"),
    ("priority", "r.priority"), ("lon", "ST_X(r.location)"),
    ("lat", "ST_Y(r.location)"), ("jurisdiction", "j.name"), ("agency", "r.agency"),
    ("address", "r.address"), ("matched_address", "r.matched_address"), ("description", "r.description"),
    ("submission_count", "r.submission_count"), ("near_boundary", "r.near_boundary"),
    ("duplicate_of", "r.duplicate_of"), ("created_at", "r.created_at"), ("updated_at", "r.updated_at"),
    ("closed_at", "r.closed_at"), ("source", "r.source"), ("source_id", "r.source_id"),
    ("districts", "(SELECT string_agg(l.key || ':' || d.name, '; ' ORDER BY l.key, d.name) FROM report_districts rd "
                  "JOIN districts d ON d.id = rd.district_id JOIN district_layers l ON l.id = d.layer_id "
                  "WHERE rd.jurisdiction_id = r.jurisdiction_id AND rd.report_id = r.id)"),
]
STAFF_CSV_COLUMNS = [("reporter_name", "f.reporter_name"), ("reporter_email", "f.reporter_email"),
                     ("reporter_phone", "f.reporter_phone")]
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}; use {' or '.join(FORMATS)}", code="bad_format")
    return fmt


def _where(flt: ReportFilter) -> sql.Composed:
    """The report list's WHERE with its values inlined as literals (COPY takes no parameters);
    psycopg quotes each value."""
    clause, params = flt.where()
    names = _PARAM.findall(clause)
    template = _PARAM.sub(lambda m: "{" + m.group(1) + "}", clause.replace("{", "{{").replace("}", "}}"))
    return sql.SQL(template).format(**{n: sql.Literal(params[n]) for n in names})


def export_query(flt: ReportFilter, fmt: str, *, staff: bool) -> sql.Composed:
    """The COPY statement of an export."""
    check_format(fmt)
    joins = _FROM + (" " + _FIRST if staff else "")
    if fmt == "geojsonseq":
        where = flt.where()[0]
        select = _geojson_select(where == "true", staff, where) + " WHERE "
        tail = " ORDER BY r.id) TO STDOUT WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')"
    else:
        columns = CSV_COLUMNS + (STAFF_CSV_COLUMNS if staff else [])
        select = "SELECT " + ", ".join(f'{expr} AS "{name}"' for name, expr in columns) + f" {joins} WHERE "
        tail = " ORDER BY r.id) TO STDOUT WITH (FORMAT csv, HEADER true)"
    return sql.Composed([sql.SQL("COPY (" + select.replace("{", "{{").replace("}", "}}")).format(), _where(flt),
                         sql.SQL(tail.replace("{", "{{").replace("}", "}}")).format()])


def stream_export(session: Session, flt: ReportFilter, fmt: str, *, staff: bool) -> Iterator[bytes]:
    """The export as chunks of bytes, read from the session's connection with COPY."""
    query = export_query(flt, fmt, staff=staff)
    districts = _Districts(session) if fmt == "geojsonseq" else None
    conn = session.connection().connection.driver_connection
    with conn.cursor() as cur:
        # one COPY streams the whole export: longer than a request's statement timeout, by design
        # (this transaction only; the client reading slowly is what paces it)
        cur.execute("SET LOCAL statement_timeout = 0")
        cur.execute("SET LOCAL jit = off")
    with conn.cursor() as cur, cur.copy(query) as copy:
        rows: list = []
        size = 0
        for data in copy:
            rows.append(data)
            size += len(data)
            if size >= CHUNK:
                yield districts.fill(b"".join(rows)) if districts else b"".join(rows)
                rows, size = [], 0
        if rows:
            yield districts.fill(b"".join(rows)) if districts else b"".join(rows)


def export_to_file(session: Session, path: str | Path, flt: ReportFilter, fmt: str, *, staff: bool = True,
                   progress=None) -> int:
    """Write an export to a file; returns the number of reports written."""
    path = Path(path)
    check_format(fmt)
    count = 0
    try:
        with path.open("wb") as out:
            for chunk in stream_export(session, flt, fmt, staff=staff):
                out.write(chunk)
                count += chunk.count(b"\x1e") if fmt == "geojsonseq" else 0
                if progress:
                    progress(count)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from exc
    if fmt == "csv":
        count = _csv_records(path)
    return count


def _csv_records(path: Path) -> int:
    import csv

    with path.open(newline="", encoding="utf-8") as fh:
        return max(sum(1 for _ in csv.reader(fh)) - 1, 0)

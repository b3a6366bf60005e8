"""`geo311 addresses load FILE`: address points from a CSV (plain or gzip), replaced atomically.

The file streams through Python's csv reader (quotes, quoted newlines, blank lines, a BOM) into a
temp table by COPY; rows are checked in SQL and refused ones are counted by reason and written,
with their reason, to a CSV beside the input (or where `refused_path` says). Each distinct street
is normalized once in Python (address_norm), house numbers in SQL. Then, in the same transaction:
optionally drop the points outside every jurisdiction, replace the streets and points, rebuild
their indexes. Readers see the old set until the commit.
"""

from __future__ import annotations

import csv
import gzip
import io
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from psycopg import sql
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311.address_norm import parse_street
from geo311.errors import InvalidInput

FIELDS = ("number", "street", "unit", "city", "postcode", "lon", "lat")
REQUIRED = ("number", "street", "lon", "lat")
#: the Oregon Metro RLIS columns, the default mapping
RLIS = {"number": "NUMBER", "street": "STREET", "city": "CITY", "postcode": "POSTCODE", "lon": "LON", "lat": "LAT"}
_NUM = r"^\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*$"
# "7212", "7212A", "1570-A", "7212 A", "1610 1/2"
_HOUSE = r"^\s*(\d{1,9})\s*(?:-?\s*([A-Za-z])|\s+(\d/\d))?\s*$"


@dataclass
class AddressLoadSummary:
    read: int = 0
    loaded: int = 0
    streets: int = 0
    refused: Counter = field(default_factory=Counter)
    refused_file: Path | None = None
    seconds: float = 0.0

    def lines(self) -> list[str]:
        rate = self.read / self.seconds if self.seconds else 0
        out = [f"addresses: read {self.read}, loaded {self.loaded} on {self.streets} streets, "
               f"refused {sum(self.refused.values())} ({rate:,.0f} rows/s)"]
        out += [f"  refused {n}: {why}" for why, n in self.refused.most_common()]
        if self.refused_file and self.refused:
            out.append(f"  refused rows, with their reason: {self.refused_file}")
        return out


def _text(path: Path) -> io.TextIOBase:
    """The file as text, decompressed if gzip, without a UTF-8 BOM."""
    with path.open("rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    return io.TextIOWrapper(gzip.open(path, "rb") if gz else path.open("rb"), encoding="utf-8-sig", newline="")


def _bytes(path: Path) -> io.BufferedIOBase:
    """The file's bytes, decompressed if gzip, without a UTF-8 BOM."""
    with path.open("rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    fh = gzip.open(path, "rb") if gz else path.open("rb")
    if fh.peek(3)[:3] == b"\xef\xbb\xbf" if hasattr(fh, "peek") else False:
        fh.read(3)
    return fh


def _header(path: Path) -> list[str]:
    with _text(path) as fh:
        return next(csv.reader(fh), [])


def load_addresses(session: Session, path: str | Path, *, mapping: dict[str, str] | None = None,
                   inside_jurisdictions: bool = False, refused_path: str | Path | None = None,
                   progress: Callable[[int], None] | None = None) -> AddressLoadSummary:
    """Replace every address point with the file's. `mapping`: geo311 field -> the file's column."""
    path = Path(path)
    m = dict(mapping) if mapping else dict(RLIS)
    unknown = set(m) - set(FIELDS)
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(sorted(unknown))}; map {', '.join(FIELDS)}")
    lacking = [f for f in REQUIRED if f not in m]
    if lacking:
        raise InvalidInput(f"the mapping needs {', '.join(lacking)} (e.g. --map lon=LONGITUDE)")
    if not path.is_file():
        raise InvalidInput(f"cannot read {path}: no such file")
    header = _header(path)
    if not mapping:  # the default mapping's optional columns may be absent
        m = {k: v for k, v in m.items() if k in REQUIRED or v in header}
    missing = [f"{k} (column {m[k]!r})" for k in m if m[k] not in header]
    if missing:
        raise InvalidInput(f"{path.name} lacks {', '.join(missing)}; its columns: {', '.join(header)}. "
                           "Map them with --map FIELD=COLUMN")
    summary = AddressLoadSummary(refused_file=Path(refused_path) if refused_path else path.with_name(
        path.name.removesuffix(".gz").removesuffix(".csv") + ".refused.csv"))
    started = time.perf_counter()
    raw = session.connection().connection.driver_connection
    cols = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(h)) for h in header)
    try:
        session.execute(text("DROP TABLE IF EXISTS pg_temp.address_raw, pg_temp.address_chk, pg_temp.address_in, "
                             "pg_temp.street_map"))
        with raw.cursor() as cur:
            cur.execute(sql.SQL("CREATE TEMP TABLE address_raw (line bigserial, pre_reason text, {}) ON COMMIT DROP")
                        .format(cols))
            if not _copy_csv_natively(raw, cur, path, header, progress):
                _copy_csv_by_rows(cur, path, header, progress)
        _check_rows(session, m, summary)
        if inside_jurisdictions:
            outside = session.execute(text(
                "WITH gone AS (DELETE FROM address_in a WHERE NOT EXISTS (SELECT 1 FROM jurisdiction_parts p "
                "  WHERE ST_Covers(p.geom, ST_SetSRID(ST_MakePoint(a.lon, a.lat), 4326))) RETURNING line) "
                "UPDATE address_chk c SET reason = 'outside every jurisdiction' FROM gone WHERE gone.line = c.line"
            )).rowcount
            if outside:
                summary.refused["outside every jurisdiction"] += outside
        _write_refused(raw, header, summary.refused_file)
        if not session.execute(text("SELECT EXISTS (SELECT 1 FROM address_in)")).scalar():
            raise InvalidInput(f"{path.name}: no usable address rows; nothing replaced (see {summary.refused_file})")
        _normalize_streets(session, raw)
        _replace(session, summary)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    summary.seconds = time.perf_counter() - started
    return summary


def _copy_csv_natively(raw, cur, path: Path, header: list[str], progress) -> bool:
    """The fast path: PostgreSQL's own CSV parser reads the file as it streams in. A file it cannot
    take whole (blank lines, rows of the wrong width) is rolled back and read by rows instead."""
    copy_sql = sql.SQL("COPY address_raw ({}) FROM STDIN WITH (FORMAT csv, HEADER true)").format(
        sql.SQL(", ").join(sql.Identifier(h) for h in header))
    cur.execute("SAVEPOINT native_copy")
    sent = 0
    try:
        with cur.copy(copy_sql) as copy, _bytes(path) as fh:
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
                sent += len(chunk)
                if progress:
                    progress(sent)
    except Exception:  # noqa: BLE001 (any refusal of the parser sends us to the careful path)
        cur.execute("ROLLBACK TO SAVEPOINT native_copy")
        return False
    cur.execute("RELEASE SAVEPOINT native_copy")
    return True


def _copy_csv_by_rows(cur, path: Path, header: list[str], progress) -> None:
    """The careful path: Python's csv reader skips blank lines and marks rows of the wrong width."""
    copy_sql = sql.SQL("COPY address_raw (line, pre_reason, {}) FROM STDIN").format(
        sql.SQL(", ").join(sql.Identifier(h) for h in header))
    with cur.copy(copy_sql) as copy, _text(path) as fh:
        rows = csv.reader(fh)
        next(rows, None)  # the header
        width = len(header)
        for line, row in enumerate(rows, start=2):
            if not any(row):
                continue  # blank lines carry nothing
            reason = None if len(row) == width else f"{len(row)} columns where the header has {width}"
            copy.write_row((line, reason, *(row + [""] * width)[:width]))
            if progress and line % 20_000 == 0:
                progress(line)


def _check_rows(session: Session, m: dict[str, str], summary: AddressLoadSummary) -> None:
    """Classify every row in one pass: good rows become address_in, refused ones keep a reason."""
    q = {k: f'"{v}"' for k, v in m.items()}  # column names checked against the header above
    unit = f"nullif(trim(r.{q['unit']}), '')" if "unit" in q else "NULL"
    city = f"nullif(trim(r.{q['city']}), '')" if "city" in q else "NULL"
    postcode = f"left(nullif(trim(r.{q['postcode']}), ''), 16)" if "postcode" in q else "NULL"
    session.execute(text(f"""
        CREATE TEMP TABLE address_chk ON COMMIT DROP AS
        SELECT r.line, CASE
                   WHEN r.pre_reason IS NOT NULL THEN r.pre_reason
                   WHEN coalesce(r.{q['lon']}, '') !~ :num OR coalesce(r.{q['lat']}, '') !~ :num
                       THEN 'coordinates missing or not numbers'
                   WHEN abs(r.{q['lon']}::float8) > 180 OR abs(r.{q['lat']}::float8) > 90
                       THEN 'coordinates out of range'
                   WHEN h.m IS NULL THEN 'house number missing or not a number'
                   WHEN coalesce(trim(r.{q['street']}), '') = '' THEN 'street missing'
               END AS reason,
               h.m[1]::int AS number, upper(coalesce(h.m[2], h.m[3], '')) AS number_suffix,
               concat_ws(' ', trim(r.{q['number']}), trim(r.{q['street']}), {unit}) AS label,
               trim(r.{q['street']}) AS street, {city} AS city, {postcode} AS postcode,
               r.{q['lon']} AS lon, r.{q['lat']} AS lat
        FROM address_raw r CROSS JOIN LATERAL (  -- plain numbers skip the (slow) capturing regex
            SELECT CASE WHEN r.{q['number']} ~ '^[0-9]{{1,9}}$' THEN ARRAY[r.{q['number']}, NULL, NULL]
                        ELSE regexp_match(r.{q['number']}, :house) END AS m) h"""),
        {"num": _NUM, "house": _HOUSE})
    summary.read = session.execute(text("SELECT count(*) FROM address_chk")).scalar_one()
    for reason, n in session.execute(text("SELECT reason, count(*) FROM address_chk WHERE reason IS NOT NULL GROUP BY 1")):
        summary.refused[reason] = n
    session.execute(text(
        "CREATE TEMP TABLE address_in ON COMMIT DROP AS SELECT line, number, number_suffix, label, street, city, "
        "postcode, lon::float8 AS lon, lat::float8 AS lat FROM address_chk WHERE reason IS NULL"))


def _write_refused(raw, header: list[str], target: Path) -> None:
    cols = sql.SQL(", ").join([*(sql.Identifier("r", h) for h in header), sql.Identifier("c", "reason")])
    with target.open("wb") as out, raw.cursor() as cur:
        query = sql.SQL("COPY (SELECT {} FROM address_raw r JOIN address_chk c USING (line) "
                        "WHERE c.reason IS NOT NULL ORDER BY line) TO STDOUT WITH (FORMAT csv, HEADER true)").format(cols)
        with cur.copy(query) as copy:
            for data in copy:
                out.write(data)


def _normalize_streets(session: Session, raw) -> None:
    """Each distinct street string once through address_norm.parse_street."""
    streets = session.execute(text("SELECT DISTINCT street FROM address_in")).scalars().all()
    session.execute(text("CREATE TEMP TABLE street_map (street text PRIMARY KEY, predir text, name text, "
                         "suffix text, postdir text) ON COMMIT DROP"))
    with raw.cursor().copy("COPY street_map FROM STDIN") as copy:
        for street in streets:
            copy.write_row((street, *parse_street(street)))


def _replace(session: Session, summary: AddressLoadSummary) -> None:
    session.execute(text("DROP INDEX IF EXISTS ix_addresses_location, ix_addresses_street_id_number"))
    session.execute(text("TRUNCATE addresses, address_streets RESTART IDENTITY"))
    summary.streets = session.execute(text(
        "INSERT INTO address_streets (predir, name, suffix, postdir, addresses) "
        "SELECT s.predir, s.name, s.suffix, s.postdir, count(*) FROM address_in a JOIN street_map s USING (street) "
        "GROUP BY 1, 2, 3, 4")).rowcount
    summary.loaded = session.execute(text(
        "INSERT INTO addresses (street_id, number, number_suffix, label, city, postcode, location) "
        "SELECT st.id, a.number, a.number_suffix, a.label, a.city, a.postcode, "
        "       ST_SetSRID(ST_MakePoint(a.lon, a.lat), 4326) "
        "FROM address_in a JOIN street_map s USING (street) "
        "JOIN address_streets st ON (st.predir, st.name, st.suffix, st.postdir) = (s.predir, s.name, s.suffix, s.postdir)"
    )).rowcount
    session.execute(text("CREATE INDEX ix_addresses_street_id_number ON addresses (street_id, number)"))
    session.execute(text("CREATE INDEX ix_addresses_location ON addresses USING gist (location)"))
    session.execute(text("ANALYZE addresses"))
    session.execute(text("ANALYZE address_streets"))


def addresses_loaded(session: Session) -> int:
    return session.execute(text("SELECT count(*) FROM addresses")).scalar_one()

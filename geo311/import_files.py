"""Reading an import file and turning each record into a staging row (see imports.py for the SQL).

Formats: CSV (a header line; quoted newlines, blank lines and a UTF-8 BOM are fine; comma,
semicolon, tab or | separated, found from the header line unless given), GeoJSON (a
FeatureCollection, or GeoJSON text sequences as `geo311 export` writes them) and Open311 JSON (the
array that GET requests.json returns). Any of them may be gzip-compressed, and in any encoding
Python knows (UTF-8 unless given). JSON is read as a stream, record by record, so memory stays flat
whatever the file's size.

Each record is checked here for what needs no database: coordinates that are numbers in range, a
category that maps to a geo311 category, dates that parse, a known status. The first problem found
is the record's refusal reason; a refused record still goes to the staging table (with its reason)
so that it is counted and written, with the reason, to the refused-rows file.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import Any

import orjson

from geo311.errors import InvalidInput
from geo311.import_mapping import DEFAULT_ENCODING, DELIMITERS, FIELDS, WGS84, Mapping, norm_status
from geo311.json_stream import JsonReader
from geo311.models import CLOSED_STATUSES

# refusal reasons (the summary counts by these; the refused file adds a detail for each row)
BAD_COLUMNS = "wrong number of columns"
BAD_COORDINATES = "bad or missing coordinates"
SWAPPED = "coordinates swapped (lat/lon)"
OUTSIDE = "outside every jurisdiction"
NOT_SERVED = "category not served there"
NO_CATEGORY = "category missing"
UNMAPPED = "unmapped category"
UNMAPPED_DETAIL = " is not mapped to a geo311 category"  # after the type, quoted
BAD_DATE = "bad date"
BAD_STATUS = "unknown status"
DUPLICATE = "duplicate within the file"
ADDRESS_NOT_FOUND = "address not found"
NO_GEOMETRY = "no geometry"
FUTURE_SLACK = timedelta(days=1)


# ----- opening files -----------------------------------------------------------------------------
class Source:
    """The file as text (gunzipped when it is gzip, without a BOM), with how far into it we are."""

    def __init__(self, path: Path, encoding: str = DEFAULT_ENCODING) -> None:
        self.name, self.encoding = path.name, encoding
        try:
            self.raw = path.open("rb")
        except OSError as exc:
            raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
        self.size = path.stat().st_size
        gz = self.raw.read(2) == b"\x1f\x8b"
        self.raw.seek(0)
        binary = gzip.GzipFile(fileobj=self.raw, mode="rb") if gz else self.raw
        # utf-8-sig reads UTF-8 without its BOM (Excel writes one); utf-16 and utf-32 take theirs themselves
        codec = "utf-8-sig" if encoding == "utf-8" else encoding
        self.text = io.TextIOWrapper(binary, encoding=codec, newline="", errors="strict")

    def not_decodable(self, exc: UnicodeDecodeError) -> InvalidInput:
        """What to tell the person whose file is not in the encoding it was read in."""
        bad = exc.object[exc.start:max(exc.end, exc.start + 1)].hex(" ") if isinstance(exc.object, bytes) else "?"
        hint = ("name its encoding with --encoding: cp1252 for a CSV saved by Excel on Windows, latin-1, "
                "utf-16, ..." if self.encoding == DEFAULT_ENCODING else "is --encoding right?")
        return InvalidInput(f"{self.name} is not {self.encoding} text (bytes {bad}: {exc.reason}); {hint}")

    def position(self) -> int:
        return self.raw.tell()

    def close(self) -> None:
        self.text.close()
        self.raw.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def csv_header(path: Path, encoding: str = DEFAULT_ENCODING, delimiter: str | None = None) -> tuple[list[str], str]:
    """The CSV's column names and its delimiter: `delimiter`, or the one of DELIMITERS that splits
    the header line into the most columns (a comma when none does)."""
    with Source(path, encoding) as src:
        try:
            if delimiter is None:
                first = next((line for line in without_nul(src.text) if line.strip(" \t\r\n,;|\"'")), "")
                delimiter = max(DELIMITERS, key=lambda d: len(next(csv.reader([first], delimiter=d), [])))
                src.text.seek(0)
            for row in csv.reader(without_nul(src.text), delimiter=delimiter):
                if any(c.strip() for c in row):
                    return unique_names(row), delimiter
        except UnicodeDecodeError as exc:
            raise src.not_decodable(exc) from exc
        except (csv.Error, gzip.BadGzipFile, EOFError) as exc:
            raise InvalidInput(f"{path.name} is not a readable CSV: {exc}") from exc
    raise InvalidInput(f"{path.name} is empty: a CSV import needs a header line")


def unique_names(header: list[str]) -> list[str]:
    """Column names as keys: blank ones named by position, repeated ones numbered."""
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(header):
        name = name.strip() or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        out.append(name)
    return out


# ----- records -> staging rows ---------------------------------------------------------------------
@dataclass
class RecordParser:
    """One record (a list of the mapped fields' values, in FIELDS order, None when absent) into the
    tuple the staging COPY takes. Written for speed (a million records is 8 s of Python here, where
    the import's server work runs on the other core): a record's checks read each value once, and the
    few distinct statuses of a file are normalized once each."""

    mapping: Mapping
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self._statuses: dict[str, str | None] = {}  # a status as written -> geo311's, or None: unknown
        self._latest = self.now + FUTURE_SLACK
        #: records with no point but an address, staged without coordinates for the import to locate
        #: (import_locating.py)
        self.to_locate = 0
        # the coordinates' range: longitude and latitude; in another spatial reference, the staging
        # converts them (import_staging.to_wgs84) and refuses those that land nowhere
        wgs84 = self.mapping.srid == WGS84
        self._bounds = (-180.0, 180.0, -90.0, 90.0) if wgs84 else (-1e9, 1e9, -1e9, 1e9)
        self._axes = "(lon, lat)" if wgs84 else f"(x, y of EPSG:{self.mapping.srid})"

    def date(self, value: Any) -> datetime:
        text = value.strip() if isinstance(value, str) else str(value).strip()
        try:
            dt = _parse_date(text, self.mapping.date_format)
        except ValueError:
            for fmt in self.mapping.more_date_formats:  # (none, unless several formats were given)
                try:
                    dt = _parse_date(text, fmt)
                    break
                except ValueError:
                    continue
            else:
                raise
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=self.mapping.timezone)
        return dt

    def status_of(self, value: str) -> str | None:
        try:
            return self._statuses[value]
        except KeyError:
            found = self._statuses[value] = self.mapping.statuses.get(norm_status(value))
            return found

    def parse(self, line: int, vals: list[Any], raw: bytes, geometry_problem: str | None = None) -> tuple:
        m = self.mapping
        (id_, lon, lat, cat, created, updated, closed, status, description, address,
         name, email, phone) = vals
        source_id = None
        if id_ is not None:
            source_id = (id_ if isinstance(id_, str) else str(id_)).strip() or None
        key = source_id if source_id is not None else "#" + hashlib.blake2b(raw, digest_size=16).hexdigest()
        reason = detail = None
        x = y = None
        x0, x1, y0, y1 = self._bounds
        category_id = None
        created_at = updated_at = closed_at = None
        geo_status = None
        # coordinates (float() takes surrounding whitespace itself). None at all (nor a geometry), or
        # [0, 0], which old systems write for "none": the address, if there is one, is looked up later
        if geometry_problem:
            if geometry_problem == NO_GEOMETRY and not _blank(address):
                self.to_locate += 1
            else:
                reason, detail = BAD_COORDINATES, geometry_problem
        else:
            try:
                x = float(lon)
                y = float(lat)
            except (TypeError, ValueError):
                x = y = None
                if _blank(lon) and _blank(lat) and not _blank(address):
                    self.to_locate += 1
                else:
                    reason = BAD_COORDINATES
                    detail = ("coordinates missing" if _blank(lon) or _blank(lat)
                              else f"coordinates [{lon}, {lat}] are not numbers")
            else:
                if x == 0.0 and y == 0.0:
                    x = y = None
                    if _blank(address):
                        reason, detail = BAD_COORDINATES, "coordinates [0, 0]: none given"
                    else:
                        self.to_locate += 1
                elif not (x0 <= x <= x1 and y0 <= y <= y1):  # NaN fails both; an infinity the range
                    if math.isfinite(x) and math.isfinite(y):
                        reason, detail = BAD_COORDINATES, f"coordinates [{x}, {y}] are out of range {self._axes}"
                    else:
                        reason, detail, x, y = (BAD_COORDINATES, f"coordinates [{lon}, {lat}] are not finite",
                                                None, None)
        # category
        if reason is None:
            if _blank(cat):
                reason, detail = NO_CATEGORY, "no category"
            else:
                category_id = m.category_of(cat if isinstance(cat, str) else str(cat))
                if category_id is None:
                    reason, detail = UNMAPPED, f"{str(cat).strip()!r}{UNMAPPED_DETAIL}"
        # dates
        if reason is None:
            which = "created_at"
            try:
                if _blank(created):
                    raise ValueError("missing")
                created_at = self.date(created)
                which = "updated_at"
                updated_at = self.date(updated) if not _blank(updated) else None
                which = "closed_at"
                closed_at = self.date(closed) if not _blank(closed) else None
            except (ValueError, TypeError, OverflowError):
                value = {"created_at": created, "updated_at": updated, "closed_at": closed}[which]
                reason = BAD_DATE
                detail = (f"{which} missing" if _blank(value) else
                          f"{which} {str(value).strip()!r} is not a date"
                          + _formats_said(m.date_format, m.more_date_formats))
            else:
                if created_at > self._latest:
                    reason, detail = BAD_DATE, f"created_at {created_at.isoformat()} is in the future"
        # status
        if reason is None:
            if _blank(status):
                geo_status = "resolved" if closed_at is not None else "open"
            else:
                geo_status = self.status_of(status if isinstance(status, str) else str(status))
                if geo_status is None:
                    reason, detail = BAD_STATUS, f"status {str(status).strip()!r} is not one geo311 knows"
        if reason is None:
            if geo_status in CLOSED_STATUSES:
                closed_at = closed_at or updated_at or created_at
                if closed_at < created_at:
                    reason, detail = BAD_DATE, (f"closed_at {closed_at.isoformat()} is before created_at "
                                                f"{created_at.isoformat()}")
            else:
                closed_at = None
        if reason is None:  # the latest of the three dates
            latest = created_at
            if updated_at is not None and updated_at > latest:
                latest = updated_at
            if closed_at is not None and closed_at > latest:
                latest = closed_at
            updated_at = latest
        return (line, key, reason, detail, x, y, category_id, created_at, updated_at, closed_at, geo_status,
                _text(status), _text(description) or "", _text(address), _text(name), _text(email), _text(phone),
                source_id, raw.decode())


def _formats_said(first: str | None, more: tuple[str | None, ...]) -> str:
    if not more:
        return f" in the format {first!r}" if first else " (ISO 8601 expected)"
    return " in any of the formats " + ", ".join("ISO 8601" if f is None else repr(f) for f in (first, *more))


def _parse_date(text: str, fmt: str | None) -> datetime:
    """A date in a strptime format, or ISO 8601 (fmt None)."""
    if fmt is not None:
        return datetime.strptime(text, fmt)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def refused_row(line: int, raw: bytes, reason: str, detail: str) -> tuple:
    """A staging row refused before any field was read."""
    return (line, "#" + hashlib.blake2b(raw, digest_size=16).hexdigest(), reason, detail) + (None,) * 14 + (raw.decode(),)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.replace("\x00", "") or None
    return orjson.dumps(value).decode() if isinstance(value, (dict, list)) else str(value)


# ----- the readers -------------------------------------------------------------------------------
# PostgreSQL's text cannot hold a NUL character, and some old systems' exports have them: they are
# dropped as the file is read (as the text fields always were), so that a stray NUL costs nothing
# rather than the whole import.
def without_nul(lines: Iterator[str]) -> Iterator[str]:
    # str.replace returns the line itself when it has no NUL: no Python frame per line
    return map(methodcaller("replace", "\x00", ""), lines)


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    return value


Progress = Callable[[int, int], None]  # (records read, bytes of the file read)


def csv_rows(src: Source, header: list[str], parser: RecordParser, stats: dict[str, int],
             progress: Progress | None = None, delimiter: str = ",") -> Iterator[tuple]:
    """Staging rows of a CSV. `line` is the record's first physical line."""
    cols = parser.mapping.columns
    width = len(header)
    # a record's fields in FIELDS order, in one C call: an unmapped field reads the None appended
    # after the record's own columns
    fields = itemgetter(*[header.index(cols[f]) if cols.get(f) in header else width for f in FIELDS])
    reader = csv.reader(without_nul(src.text), delimiter=delimiter)
    dumps = orjson.dumps
    parse = parser.parse
    started_header = False
    previous = 0
    n = 0
    for row in reader:
        line = previous + 1
        previous = reader.line_num
        if not any(row):
            stats["blank"] += 1
            continue
        if not started_header:
            started_header = True  # the header (csv_header skipped the same blank lines)
            continue
        n += 1
        if progress and n % 20_000 == 0:
            progress(n, src.position())
        if len(row) != width:
            raw = dict(zip(header, row + [""] * (width - len(row)), strict=False))
            if len(row) > width:
                raw["_extra"] = row[width:]
            yield refused_row(line, dumps(raw), BAD_COLUMNS, f"{len(row)} columns where the header has {width}")
            continue
        raw = dumps(dict(zip(header, row, strict=True)))
        row.append(None)
        yield parse(line, fields(row), raw)


def json_rows(src: Source, fmt: str, parser: RecordParser, progress: Progress | None = None) -> Iterator[tuple]:
    """Staging rows of a GeoJSON or Open311 JSON file; `line` is the record's number (from 1)."""
    cols = parser.mapping.columns
    geo = fmt == "geojson"
    dumps = orjson.dumps
    keys = [cols.get(f) for f in FIELDS]
    point_from_geometry = geo and "lon" not in cols and "lat" not in cols
    for n, record in enumerate(JsonReader(src.text).records(), start=1):
        if progress and n % 20_000 == 0:
            progress(n, src.position())
        raw = dumps(record)
        if b"\\u0000" in raw:  # a NUL in a string (rare; a false alarm on an escaped backslash costs a copy)
            record = _strip_nul(record)
            raw = dumps(record)
        problem = None
        if not isinstance(record, dict):
            yield refused_row(n, raw, BAD_COLUMNS, f"a record must be a JSON object, not {type(record).__name__}")
            continue
        props = record
        lon = lat = None
        if geo:
            props = record.get("properties") or {}
            if not isinstance(props, dict):
                props = {}
            if point_from_geometry:
                lon, lat, problem = _point(record.get("geometry"))
        vals = [props.get(k) if k is not None else None for k in keys]
        if point_from_geometry:
            vals[1], vals[2] = lon, lat
        if fmt == "open311-json":
            vals[7] = _open311_status(record, vals[7])
        yield parser.parse(n, vals, raw, problem)


def _point(geometry: Any) -> tuple[Any, Any, str | None]:
    if not isinstance(geometry, dict):
        return None, None, NO_GEOMETRY
    if geometry.get("type") != "Point":
        return None, None, f"geometry is a {geometry.get('type')}, not a Point"
    coords = geometry.get("coordinates")
    if not isinstance(coords, list) or len(coords) < 2:
        return None, None, "the Point has no [lon, lat] coordinates"
    return coords[0], coords[1], None


def _open311_status(record: dict, status: Any) -> Any:
    """Open311 has open and closed; geo311's own status_notes tell how a request was closed."""
    if isinstance(status, str) and status.strip().lower() == "closed":
        notes = str(record.get("status_notes") or "").lower()
        if notes.startswith("closed as not actionable"):
            return "not_actionable"
        if notes.startswith("closed as a duplicate"):
            return "duplicate"
    return status

"""How an import file's records become geo311 records: which column holds each field, which
source category is which geo311 category, which source status is which geo311 status, how dates
are written. Every option is checked before anything is read (a usage error, not a refused row).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from geo311.errors import InvalidInput
from geo311.models import STATUSES

FORMATS = ("csv", "geojson", "open311-json")
#: what a record can carry, in the order of the staging table's columns
FIELDS = ("id", "lon", "lat", "category", "created_at", "updated_at", "closed_at", "status", "description",
          "address", "reporter_name", "reporter_email", "reporter_phone")
#: the default column of each field: geo311's own names (what `geo311 export` writes) and Open311's
DEFAULT_COLUMNS: dict[str, dict[str, str]] = {
    "csv": {f: f for f in FIELDS},
    "geojson": {f: f for f in FIELDS if f not in ("lon", "lat")},  # the point: the Point geometry
    "open311-json": {"id": "service_request_id", "lon": "long", "lat": "lat", "category": "service_code",
                     "created_at": "requested_datetime", "updated_at": "updated_datetime", "status": "status",
                     "description": "description", "address": "address"},
}
#: source statuses (compared case-insensitively, spaces and dashes as underscores) -> geo311's
STATUS_WORDS = {s: s for s in STATUSES} | {
    "new": "open", "pending": "open", "submitted": "open", "unassigned": "open", "received": "open",
    "acknowledged": "open", "started": "in_progress", "investigating": "in_progress", "in_process": "in_progress",
    "work_in_progress": "in_progress", "closed": "resolved", "fixed": "resolved", "completed": "resolved",
    "complete": "resolved", "done": "resolved", "resolved": "resolved", "duplicate": "duplicate",
    "no_further_action": "not_actionable", "cancelled": "not_actionable", "canceled": "not_actionable",
    "rejected": "not_actionable", "invalid": "not_actionable", "unable_to_locate": "not_actionable",
}

#: the coordinates' spatial reference unless --srid says otherwise: longitude and latitude
WGS84 = 4326
#: what a file's text is, unless --encoding says otherwise
DEFAULT_ENCODING = "utf-8"
#: the delimiters a CSV's header line is tried with when --delimiter does not name one
DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


@dataclass
class Mapping:
    """How a file's records become geo311 records, and how its text is read."""

    columns: dict[str, str]                     # geo311 field -> the file's column (property, key)
    categories: dict[str, int]                  # source type -> category id (geo311 codes included)
    category_codes: dict[int, str]              # category id -> code (for messages)
    statuses: dict[str, str] = field(default_factory=lambda: dict(STATUS_WORDS))
    fallback_category: int | None = None
    date_format: str | None = None              # strptime; None: ISO 8601
    more_date_formats: tuple[str | None, ...] = ()  # tried in turn when date_format does not parse a date
    timezone: tzinfo = UTC                      # for dates without an offset
    encoding: str = DEFAULT_ENCODING            # of the file's text
    srid: int = WGS84                           # of the coordinates (converted to longitude and latitude)
    delimiter: str = ","                        # of a CSV's columns

    def category_of(self, value: str) -> int | None:
        found = self.categories.get(value)
        if found is None:
            found = self.categories.get(value.strip().casefold())
        return found if found is not None else self.fallback_category


# ----- options: mapping files, category files ----------------------------------------------------
def read_structured(path: Path, what: str) -> Any:
    """A YAML or JSON file (JSON is YAML); a clear message when it cannot be read."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise InvalidInput(f"the {what} {path} is not valid YAML or JSON: {exc}") from exc


def parse_map_options(items: list[str] | None) -> dict[str, str]:
    """`--map FIELD=COLUMN` options as a dict."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, column = item.partition("=")
        if not sep or not key.strip() or not column.strip():
            raise InvalidInput(f"--map takes FIELD=COLUMN, got {item!r}")
        out[key.strip()] = column.strip()
    return out


def timezone_named(name: str | None) -> tzinfo:
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {name!r}; use a name like America/Los_Angeles") from exc


def encoding_named(name: str | None) -> str:
    """A Python codec's canonical name (cp1252, latin-1, utf-16, ...); a usage error otherwise."""
    if not name:
        return DEFAULT_ENCODING
    try:
        return codecs.lookup(name).name
    except LookupError as exc:
        raise InvalidInput(f"unknown encoding {name!r}; use a name like utf-8, cp1252 (Excel on Windows), "
                           "latin-1 or utf-16") from exc


def delimiter_named(value: str | None) -> str | None:
    """--delimiter: one character, or tab / comma / semicolon / pipe; None: found from the header."""
    if value is None or value == "":
        return None
    found = _DELIMITER_NAMES.get(value.strip().lower(), value)
    if len(found) != 1 or found in "\"\r\n" or found.isalnum():
        raise InvalidInput(f"--delimiter takes one character (or tab, comma, semicolon, pipe), got {value!r}")
    return found


def norm_status(value: str) -> str:
    return value.strip().casefold().replace(" ", "_").replace("-", "_")


def build_mapping(fmt: str, *, columns: dict[str, str] | None, category_map: dict[str, str] | None,
                  status_map: dict[str, str] | None, active: dict[str, int], fallback: str | None,
                  date_format: str | list[str] | None, timezone: tzinfo) -> Mapping:
    """Check the options against geo311's fields and categories: every problem is a usage error
    before anything is read. `active`: the active categories, code -> id."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}; use {', '.join(FORMATS)}")
    unknown = sorted(set(columns or {}) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(unknown)} in the mapping; map {', '.join(FIELDS)}")
    merged = {**DEFAULT_COLUMNS[fmt], **(columns or {})}
    categories: dict[str, int] = {}
    for code, cid in active.items():
        categories[code] = cid
        categories[code.casefold()] = cid
    bad = {src: code for src, code in (category_map or {}).items() if str(code) not in active}
    if bad:
        shown = ", ".join(f"{k!r} -> {v!r}" for k, v in list(bad.items())[:5])
        raise InvalidInput(f"the category mapping names codes that are not active geo311 categories ({shown}); "
                           f"categories: {', '.join(sorted(active))}")
    for src, code in (category_map or {}).items():
        categories[str(src)] = active[str(code)]
        categories[str(src).strip().casefold()] = active[str(code)]
    if fallback is not None and fallback not in active:
        raise InvalidInput(f"--fallback-category {fallback!r} is not an active category; "
                           f"categories: {', '.join(sorted(active))}")
    statuses = dict(STATUS_WORDS)
    for src, status in (status_map or {}).items():
        if status not in STATUSES:
            raise InvalidInput(f"the status mapping sends {src!r} to {status!r}; geo311's statuses are "
                               f"{', '.join(STATUSES)}")
        statuses[norm_status(str(src))] = status
    formats: list[str | None] = []
    for fmt in [date_format] if isinstance(date_format, str) else list(date_format or []):
        if not isinstance(fmt, str) or not fmt.strip():
            raise InvalidInput(f"--date-format takes a strptime format or iso, got {fmt!r}")
        if fmt.strip().lower() in ("iso", "iso8601", "iso 8601"):
            formats.append(None)
            continue
        try:
            datetime.now().strftime(fmt)
        except ValueError as exc:
            raise InvalidInput(f"--date-format {fmt!r} is not a strptime format: {exc}") from exc
        formats.append(fmt)
    return Mapping(columns=merged, categories=categories, category_codes={v: k for k, v in active.items()},
                   statuses=statuses, fallback_category=active[fallback] if fallback else None,
                   date_format=formats[0] if formats else None, more_date_formats=tuple(formats[1:]),
                   timezone=timezone)

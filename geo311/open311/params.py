"""What Open311 clients send: query parameters (dates and their 90-day window, lists, pages, the
bounding box) and the form of a POST, read into plain values or a clear InvalidInput (a 400) or
NotFound (a 404). Open311: an optional parameter sent empty is treated as absent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from geo311.errors import InvalidInput, NotFound
from geo311.intake import NewSubmission
from geo311.open311.wire import STATUS

MAX_SPAN = timedelta(days=90)
MAX_PAGE_SIZE = 1000
MAX_IDS = 1000
MAX_DESCRIPTION = 4000
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")


# ----- parameters ---------------------------------------------------------------------------
def blank(value: str | None) -> str | None:
    """Open311: an optional parameter sent empty is treated as absent."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def check_jurisdiction(given: str | None, configured: str) -> None:
    given = blank(given)
    if given is not None and given != configured:
        raise NotFound(f"jurisdiction_id {given!r} is not served here; this endpoint serves "
                       f"{configured!r} (or leave jurisdiction_id out)", code="unknown_jurisdiction")


def parse_datetime(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 date and time (a date alone is its midnight); without an offset, UTC."""
    value = blank(value)
    if value is None:
        return None
    # an unescaped + in a query string arrives as a space: 2025-05-01T00:00:00 02:00
    value = re.sub(r" (\d{2}(:?\d{2})?)$", r"+\1", value)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 date and time such as 2025-05-01T00:00:00Z, "
                           f"got {value!r}", code="bad_date") from None
    if not 1900 <= at.year <= 2999:  # a typing mistake, and date arithmetic would overflow near year 1 or 9999
        raise InvalidInput(f"{name} must be between the years 1900 and 2999, got {value!r}", code="bad_date")
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def parse_window(start_date: str | None, end_date: str | None) -> tuple[datetime | None, datetime | None]:
    """start_date and end_date, at most 90 days apart. One alone reaches 90 days from it; neither
    is (None, None): the last 90 days."""
    start = parse_datetime(start_date, "start_date")
    end = parse_datetime(end_date, "end_date")
    if start and end:
        if end < start:
            raise InvalidInput("end_date is before start_date", code="bad_date")
        if end - start > MAX_SPAN:
            raise InvalidInput(f"start_date and end_date may span at most 90 days; these span "
                               f"{(end - start).total_seconds() / 86400:g} days", code="bad_date")
    elif start:
        end = start + MAX_SPAN
    elif end:
        start = end - MAX_SPAN
    return start, end


def _positive_int(value: str | None, name: str, default: int, most: int) -> int:
    value = blank(value)
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= most:
        raise InvalidInput(f"{name} must be a whole number from 1 to {most}, got {value!r}", code="bad_page")
    return int(value)


def parse_page(page: str | None, page_size: str | None) -> tuple[int, int]:
    """The paging extension: page from 1, page_size up to 1,000 (the default)."""
    return (_positive_int(page, "page", 1, 10**6),
            _positive_int(page_size, "page_size", MAX_PAGE_SIZE, MAX_PAGE_SIZE))


def request_id(value: str) -> int:
    """A service_request_id from a path; anything that is not one of ours is a 404."""
    if not value.isdigit() or not 1 <= int(value) < 2**63:
        raise NotFound(f"service request {value!r} does not exist")
    return int(value)


def parse_ids(value: str | None) -> list[int] | None:
    items = [v.strip() for v in (blank(value) or "").split(",") if v.strip()]
    if not items:
        return None
    bad = [v for v in items if not v.isdigit() or not 1 <= int(v) < 2**63]
    if bad:
        raise InvalidInput(f"service_request_id takes request ids (numbers), comma separated; "
                           f"not {', '.join(bad)}", code="bad_id")
    if len(items) > MAX_IDS:
        raise InvalidInput(f"at most {MAX_IDS} service_request_id values at once", code="bad_id")
    return list(dict.fromkeys(int(v) for v in items))


def parse_codes(value: str | None) -> list[str] | None:
    items = [v.strip() for v in (blank(value) or "").split(",") if v.strip()]
    return list(dict.fromkeys(items)) or None


def parse_statuses(value: str | None) -> list[str] | None:
    """`open` and/or `closed`, comma separated -> geo311's statuses."""
    items = parse_codes(value)
    if items is None:
        return None
    bad = [v for v in items if v not in ("open", "closed")]
    if bad:
        raise InvalidInput(f"status takes open and/or closed, comma separated; not {', '.join(bad)}",
                           code="bad_status")
    return [s for s, o311 in STATUS.items() if o311 in items]


def parse_bbox(lat_ne: str | None, long_ne: str | None, lat_sw: str | None,
               long_sw: str | None) -> tuple[float, float, float, float] | None:
    """lat_ne, long_ne, lat_sw, long_sw (all four, or none) -> (minlon, minlat, maxlon, maxlat)."""
    given = {k: blank(v) for k, v in
             (("lat_ne", lat_ne), ("long_ne", long_ne), ("lat_sw", lat_sw), ("long_sw", long_sw))}
    if all(v is None for v in given.values()):
        return None
    missing = [k for k, v in given.items() if v is None]
    if missing:
        raise InvalidInput(f"a bounding box needs lat_ne, long_ne, lat_sw and long_sw; missing "
                           f"{', '.join(missing)}", code="bad_bbox")
    try:
        n, e, s, w = (float(given[k]) for k in ("lat_ne", "long_ne", "lat_sw", "long_sw"))
    except ValueError:
        raise InvalidInput("lat_ne, long_ne, lat_sw and long_sw must be numbers", code="bad_bbox") from None
    if not (-90 <= s < n <= 90 and -180 <= w < e <= 180):
        raise InvalidInput("the bounding box must have lat_sw < lat_ne within -90..90 and "
                           "long_sw < long_ne within -180..180", code="bad_bbox")
    return w, s, e, n


# ----- POST requests ------------------------------------------------------------------------
#: the longest value taken for each field a POST may carry
_LIMITS = {"api_key": 200, "jurisdiction_id": 200, "service_code": 64, "lat": 40, "long": 40,
           "address_string": 500, "address_id": 200, "email": 320, "device_id": 200,
           "account_id": 200, "first_name": 100, "last_name": 100, "phone": 50,
           "description": MAX_DESCRIPTION, "media_url": 2000}


@dataclass
class PostForm:
    """A POST's fields: `fields` (the last value of each), `attributes` by code (lists for
    attribute[CODE][] and repeated codes), and `raw`, everything as sent except the api_key."""

    fields: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return blank(self.fields.get(name))


def parse_form(items: list[tuple[str, Any]]) -> PostForm:
    form = PostForm()
    multi: dict[str, list[str]] = {}
    for key, value in items:
        if not isinstance(value, str):
            raise InvalidInput(f"{key}: file uploads are not taken; send a media_url instead", code="bad_form")
        match = _ATTRIBUTE.match(key)
        if match:
            code, many = match.groups()
            if many or code in form.attributes:
                previous = form.attributes.get(code, [])
                form.attributes[code] = [*(previous if isinstance(previous, list) else [previous]), value]
            else:
                form.attributes[code] = value
        else:
            form.fields[key] = value
        if key != "api_key":
            multi.setdefault(key, []).append(value)
    form.raw = {k: v[0] if len(v) == 1 else v for k, v in multi.items()}
    return form


def to_submission(form: PostForm, *, actor: str, key_id: str | None) -> NewSubmission:
    """The fields of a POST as a geo311 submission on the open311 channel, or a clear 400."""
    too_long = [f"{k} (at most {n:,} characters)" for k, n in _LIMITS.items() if len(form.fields.get(k) or "") > n]
    if too_long:
        raise InvalidInput(f"too long: {', '.join(too_long)}", code="too_long")
    code = form.get("service_code")
    if code is None:
        raise InvalidInput("service_code is required: one of the codes of services.json", code="missing_param")
    lat, lon = form.get("lat"), form.get("long")
    lat_f = lon_f = None
    if lat is None and lon is None:
        if form.get("address_id") and not form.get("address_string"):
            raise InvalidInput("address_id is not used here: send lat and long, or an address_string",
                               code="missing_param")
        if not form.get("address_string"):
            raise InvalidInput("lat and long are required (WGS84 degrees), or an address_string to look up",
                               code="missing_param")
        # intake geocodes the address_string: used when one address is clearly meant, else a 400
    elif lat is None or lon is None:
        raise InvalidInput(f"{'lat' if lat is None else 'long'} is required too: the location takes both "
                           "lat and long", code="missing_param")
    else:
        try:
            lat_f, lon_f = float(lat), float(lon)
        except ValueError:
            raise InvalidInput(f"lat and long must be numbers (WGS84 degrees), got {lat!r} and {lon!r}",
                               code="bad_coordinates") from None
    name = " ".join(p for p in (form.get("first_name"), form.get("last_name")) if p) or None
    raw = {**form.raw, "api_key_id": key_id}
    return NewSubmission(
        lon=lon_f, lat=lat_f, category=code, raw=raw, description=form.fields.get("description") or "",
        address=form.get("address_string"), reporter_name=name, reporter_email=form.get("email"),
        reporter_phone=form.get("phone"), attributes=form.attributes, channel="open311", actor=actor,
    )

"""Open311 GeoReport v2 on the wire: geo311's reports and categories as Open311 fields, errors,
and the two formats (JSON lists as top-level arrays; XML as the spec shows it, UTF-8 with the
declaration). Pure functions: no database, no web framework; params.py reads what clients send.

IDs are strings, datetimes ISO 8601 with an offset, and nothing about a reporter (name, email,
phone, device or account) is ever mapped into a reply of a GET.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import orjson

from geo311.errors import DomainError
from geo311.models import CLOSED_STATUSES, OPEN_STATUSES

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
MEDIA_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}

#: geo311's workflow -> Open311's two statuses
STATUS = {s: "open" for s in OPEN_STATUSES} | {s: "closed" for s in CLOSED_STATUSES}
#: geo311's workflow -> mySociety's upper-case update statuses (servicerequestupdates)
UPDATE_STATUS = {"open": "OPEN", "assigned": "INVESTIGATING", "in_progress": "IN_PROGRESS",
                 "resolved": "FIXED", "duplicate": "DUPLICATE", "not_actionable": "NO_FURTHER_ACTION"}
#: the detailed status, for status_notes
STATUS_NOTES = {"open": "open", "assigned": "assigned to a crew", "in_progress": "in progress",
                "resolved": "resolved", "duplicate": "closed as a duplicate of request {dup}",
                "not_actionable": "closed as not actionable"}

#: XML element names of the items of each list (the root lists are named by the caller)
_ITEMS = {"attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format"}
# characters XML 1.0 cannot carry, even escaped
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# ----- formats ------------------------------------------------------------------------------
def format_of(path: str) -> str:
    """`xml` for a path ending in .xml, else `json` (errors of unknown paths come as JSON)."""
    return "xml" if path.endswith(".xml") else "json"


def iso(value: datetime | None) -> str | None:
    """W3C/ISO 8601 in UTC with its offset, to the second: 2025-05-01T17:04:00+00:00."""
    return value.astimezone(UTC).isoformat(timespec="seconds") if value is not None else None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(_NOT_XML.sub("\ufffd", str(value)))


def _element(tag: str, value: Any) -> str:
    if isinstance(value, dict):
        inner = "".join(_element(k, v) for k, v in value.items())
    elif isinstance(value, list):
        item = _ITEMS.get(tag, "item")
        inner = "".join(_element(item, v) for v in value)
    else:
        inner = _text(value)
    return f"<{tag}>{inner}</{tag}>" if inner else f"<{tag}/>"


def to_xml(data: Any, root: str, item: str | None = None) -> bytes:
    """A dict as <root>'s children, or a list as <root><item>...</item>...</root>."""
    body = "".join(_element(item, v) for v in data) if item is not None else "".join(
        _element(k, v) for k, v in data.items())
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}>{body}</{root}>\n'.encode()


def render(fmt: str, data: Any, root: str, item: str | None = None) -> bytes:
    if fmt == "xml":
        return to_xml(data, root, item)
    return orjson.dumps(data)


# ----- errors -------------------------------------------------------------------------------
def http_status(status: int) -> int:
    """Open311 answers 400, 403 and 404: a missing or bad key is 403, unknown things 404, the
    rest of a client's mistakes 400; server failures keep their 5xx."""
    if status in (401, 403):
        return 403
    if status == 404 or status >= 500:
        return status
    return 400


def error_lines(exc: DomainError) -> list[str]:
    """One line per problem: attribute problems each get their own error, named as clients sent them."""
    if exc.code == "bad_attributes" and isinstance(exc.details, list) and exc.details:
        return [re.sub(r"^attributes\.([^:]+):", r"attribute[\1]:", str(line)) for line in exc.details]
    return [exc.message]


def errors(status: int, lines: list[str]) -> list[dict[str, Any]]:
    return [{"code": status, "description": line} for line in lines]


# ----- replies ------------------------------------------------------------------------------
def discovery(url: str, changeset: datetime | None, contact: str, key_service: str) -> dict[str, Any]:
    stamp = iso(changeset)
    return {"changeset": stamp, "contact": contact, "key_service": key_service,
            "endpoints": [{"specification": SPECIFICATION, "url": url, "changeset": stamp,
                           "type": "production", "formats": ["text/xml", "application/json"]}]}


def service(category: dict[str, Any]) -> dict[str, Any]:
    return {"service_code": category["code"], "service_name": category["name"],
            "description": category["description"] or "", "metadata": bool(category["attributes"]),
            "type": "realtime", "keywords": ", ".join(category["keywords"] or []),
            "group": category["group"]}


def service_definition(category: dict[str, Any]) -> dict[str, Any]:
    attrs = sorted(category["attributes"] or [], key=lambda a: (a.get("order") or 0, a["code"]))
    out = []
    for i, a in enumerate(attrs):
        attr = {"variable": bool(a.get("variable", True)), "code": a["code"],
                "datatype": a.get("datatype", "string"), "required": bool(a.get("required", False)),
                "datatype_description": a.get("datatype_description") or "",
                "order": a.get("order") or i + 1, "description": a["description"]}
        if attr["datatype"].endswith("valuelist"):
            attr["values"] = [{"key": v["key"], "name": v["name"]} for v in a.get("values", [])]
        out.append(attr)
    return {"service_code": category["code"], "attributes": out}


def status_notes(status: str, duplicate_of: int | None, note: str | None) -> str:
    text = STATUS_NOTES[status].format(dup=duplicate_of)
    if status == "duplicate" and duplicate_of is None:
        text = "closed as a duplicate"
    if note and status != "duplicate":
        text += f": {note}"
    return text


def service_notice(row: dict[str, Any]) -> str:
    times = row["submission_count"]
    notice = f"Service target: {row['target_days']} days"
    return notice + (f"; reported {times} times" if times > 1 else "")


def service_request(row: dict[str, Any], base_url: str = "") -> dict[str, Any]:
    """A report as an Open311 service request: public fields only. `media_url` is the report's
    first public photo (metadata removed), made absolute with `base_url`."""
    media = row.get("media_path")
    return {
        "service_request_id": str(row["id"]),
        "status": STATUS[row["status"]],
        "status_notes": status_notes(row["status"], row["duplicate_of"], row["status_note"]),
        "service_name": row["service_name"],
        "service_code": row["service_code"],
        "description": row["description"] or "",
        "agency_responsible": row["agency"],
        "service_notice": service_notice(row),
        "requested_datetime": iso(row["created_at"]),
        "updated_datetime": iso(row["updated_at"]),
        "expected_datetime": iso(row["expected_at"]),
        "address": row["address"],
        "address_id": None,
        "zipcode": row["zipcode"],
        "lat": row["lat"],
        "long": row["lon"],
        "media_url": base_url.rstrip("/") + media if media else None,
    }


def created(row: dict[str, Any], *, new: bool, account_id: str | None) -> dict[str, Any]:
    """The reply to a POST: the id at once (the spec allows it in place of a token)."""
    if new:
        notice = (f"Received. {row['agency']} aims to act on it within {row['target_days']} days "
                  f"(by {iso(row['expected_at'])}).")
    else:
        notice = (f"This joined an existing request, {row['id']}, for the same problem nearby (now "
                  f"reported {row['submission_count']} times); follow service request {row['id']}.")
    return {"service_request_id": str(row["id"]), "service_notice": notice, "account_id": account_id}


def token_reply(report_id: int, token: str) -> dict[str, Any]:
    return {"service_request_id": str(report_id), "token": token}


def status_update(row: dict[str, Any]) -> dict[str, Any]:
    """A status change as a mySociety request_update."""
    return {"update_id": str(row["id"]), "service_request_id": str(row["report_id"]),
            "status": UPDATE_STATUS[row["to_status"]], "updated_datetime": iso(row["at"]),
            "description": row["note"] or "", "media_url": "", "external_status_code": row["to_status"]}

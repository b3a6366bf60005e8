"""Helpers for the Open311 tests: the JSON Schemas, both formats of one call, XML read back."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE = "/open311/v2"
SCHEMAS = Path(__file__).resolve().parents[1] / "fixtures" / "open311"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
#: XML elements whose children are the items of a JSON list
XML_LISTS = {"services", "service_requests", "service_requests_updates", "errors", "attributes", "values",
             "endpoints", "formats"}

#: which schema each endpoint's JSON reply follows
SCHEMA = {"discovery": "geo311/discovery.json", "services": "services.json",
          "service": "service-definition.json", "post": "geo311/post-reply.json", "token": "geo311/token.json",
          "requests": "requests.json", "updates": "geo311/service-request-updates.json",
          "errors": "geo311/errors.json"}

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
CHECKER = FormatChecker(formats=())


@CHECKER.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return bool(_RFC3339.match(value)) and datetime.fromisoformat(value).tzinfo is not None


@CHECKER.checks("uri")
def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


REGISTRY = Registry().with_resources(
    (path.as_uri(), Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT202012))
    for path in SCHEMAS.rglob("*.json"))


def validate(kind: str, data: Any) -> None:
    """Raise jsonschema.ValidationError unless `data` follows the schema of `kind`."""
    uri = (SCHEMAS / SCHEMA[kind]).as_uri()
    Draft202012Validator({"$ref": uri}, registry=REGISTRY, format_checker=CHECKER).validate(data)


def xml_data(element: ET.Element) -> Any:
    """An XML reply read back into the JSON shape (text values, lists where the spec has lists)."""
    if element.tag in XML_LISTS:
        return [xml_data(child) for child in element]
    if len(element):
        data = {}
        for child in element:
            assert child.tag not in data, f"<{child.tag}> repeats in <{element.tag}>"
            data[child.tag] = xml_data(child)
        return data
    return element.text or ""


def as_xml_text(value: Any) -> Any:
    """What a JSON value looks like once it went through XML: text, empty for null."""
    if isinstance(value, dict):
        return {k: as_xml_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_xml_text(v) for v in value]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_xml(body: bytes, root: str) -> Any:
    assert body.startswith(XML_DECLARATION), body[:80]
    element = ET.fromstring(body)
    assert element.tag == root, element.tag
    return xml_data(element)


ROOTS = {"discovery": "discovery", "services": "services", "service": "service_definition",
         "post": "service_requests", "token": "service_requests", "requests": "service_requests",
         "updates": "service_requests_updates", "errors": "errors"}


def check_json(response, kind: str, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON_TYPE
    data = response.json()
    validate(kind, data)
    return data


def check_xml(response, kind: str, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == XML_TYPE
    return parse_xml(response.content, ROOTS[kind])


def get_both(client, path: str, kind: str, params: dict | None = None, status: int = 200) -> Any:
    """GET path.json and path.xml: the JSON follows its schema, the XML parses and holds the same data."""
    data = check_json(client.get(f"{BASE}/{path}.json", params=params), kind, status)
    xml = check_xml(client.get(f"{BASE}/{path}.xml", params=params), kind, status)
    assert xml == as_xml_text(data)
    return data


def error_both(client, method: str, path: str, status: int, **kwargs) -> list[str]:
    """The same failing call in both formats: Open311 errors, the same in each; their descriptions."""
    data = check_json(client.request(method, f"{BASE}/{path}.json", **kwargs), "errors", status)
    xml = check_xml(client.request(method, f"{BASE}/{path}.xml", **kwargs), "errors", status)
    assert xml == as_xml_text(data)
    assert all(e["code"] == status for e in data)
    return [e["description"] for e in data]

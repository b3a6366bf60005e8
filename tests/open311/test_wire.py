"""The wire mapping on its own: statuses, errors, XML, and the schema check itself."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from jsonschema import ValidationError

from geo311.errors import DomainError
from geo311.open311 import wire
from tests.open311.support import validate


def test_every_geo311_status_maps_to_open_or_closed_and_an_update_status():
    assert wire.STATUS == {"open": "open", "assigned": "open", "in_progress": "open",
                           "resolved": "closed", "duplicate": "closed", "not_actionable": "closed"}
    assert wire.UPDATE_STATUS == {"open": "OPEN", "assigned": "INVESTIGATING", "in_progress": "IN_PROGRESS",
                                  "resolved": "FIXED", "duplicate": "DUPLICATE",
                                  "not_actionable": "NO_FURTHER_ACTION"}
    assert wire.status_notes("resolved", None, "cleared by the crew") == "resolved: cleared by the crew"
    assert wire.status_notes("duplicate", 12, "duplicate of report 12") == "closed as a duplicate of request 12"
    assert wire.status_notes("in_progress", None, "") == "in progress"


def test_http_statuses_and_attribute_errors():
    assert [wire.http_status(s) for s in (401, 403, 404, 409, 413, 422, 503)] == [403, 403, 404, 400, 400, 400, 503]
    exc = DomainError("2 problems", code="bad_attributes",
                      details=["attributes.tents: must be a number, got 'x'", "attributes.kind: required (Kind)"])
    assert wire.error_lines(exc) == ["attribute[tents]: must be a number, got 'x'", "attribute[kind]: required (Kind)"]


def test_xml_escapes_text_and_drops_what_xml_cannot_carry():
    body = wire.to_xml([{"description": "<b>Tents & \x01 \U0001F3D5</b>", "lat": 45.5, "media_url": None,
                         "ok": True}], "service_requests", "request")
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<service_requests><request>')
    request = ET.fromstring(body)[0]
    assert request.find("description").text == "<b>Tents & \ufffd \U0001F3D5</b>"
    assert request.find("lat").text == "45.5" and request.find("media_url").text is None
    assert request.find("ok").text == "true"


def test_the_schema_check_is_not_vacuous():
    good = {"service_request_id": "1", "status": "open", "service_code": "pothole",
            "requested_datetime": "2025-05-01T12:00:00+00:00"}
    validate("requests", [good])
    for bad in ({**good, "status": "resolved"}, {**good, "service_request_id": 1},
                {**good, "requested_datetime": "2025-05-01 12:00"}, {**good, "media_url": "not a url"}):
        with pytest.raises(ValidationError):
            validate("requests", [bad])
    with pytest.raises(ValidationError):
        validate("post", [{"service_request_id": "1", "token": "t"}])

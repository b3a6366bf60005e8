"""Reading what clients send: dates and the 90-day window, lists, pages, boxes, POST forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geo311.errors import InvalidInput, NotFound
from geo311.open311 import params, wire


def test_window_defaults_and_the_90_day_limit():
    assert params.parse_window(None, "") == (None, None)
    start, end = params.parse_window("2025-01-01T00:00:00Z", None)
    assert (start, end) == (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))
    start, end = params.parse_window(None, "2025-04-01")
    assert end - start == timedelta(days=90) and end.tzinfo is not None
    assert params.parse_window("2025-01-01T00:00:00-08:00", "2025-03-31T16:00:00Z")[1].hour == 16
    # an unescaped + in a query string arrives as a space
    assert params.parse_datetime("2025-01-01T00:00:00 02:00", "start_date").utcoffset() == timedelta(hours=2)
    with pytest.raises(InvalidInput, match="at most 90 days"):
        params.parse_window("2025-01-01T00:00:00Z", "2025-04-02T00:00:00Z")
    with pytest.raises(InvalidInput, match="before start_date"):
        params.parse_window("2025-02-01", "2025-01-01")
    with pytest.raises(InvalidInput, match="start_date must be an ISO 8601"):
        params.parse_window("yesterday", None)
    # found by fuzzing: 90 days from the last date there is (or before the first) overflowed into a 500
    for start, end in (("9999-12-31", None), (None, "0001-01-01"), ("0001-01-01", "0001-02-01")):
        with pytest.raises(InvalidInput, match="between the years 1900 and 2999"):
            params.parse_window(start, end)


def test_lists_pages_and_boxes():
    assert params.parse_ids(" 3,1,3 ") == [3, 1]
    assert params.parse_ids("") is None
    with pytest.raises(InvalidInput, match="not abc"):
        params.parse_ids("1,abc")
    assert params.parse_statuses("closed") == ["resolved", "duplicate", "not_actionable"]
    assert params.parse_statuses("open,closed") == list(wire.STATUS)
    with pytest.raises(InvalidInput, match="open and/or closed"):
        params.parse_statuses("pending")
    assert params.parse_page(None, "") == (1, 1000)
    for bad in (("0", None), (None, "1001"), ("x", None)):
        with pytest.raises(InvalidInput):
            params.parse_page(*bad)
    assert params.parse_bbox("45.6", "-122.5", "45.5", "-122.7") == (-122.7, 45.5, -122.5, 45.6)
    assert params.parse_bbox(None, "", None, None) is None
    with pytest.raises(InvalidInput, match="missing lat_sw, long_sw"):
        params.parse_bbox("45.6", "-122.5", None, None)
    with pytest.raises(InvalidInput, match="lat_sw < lat_ne"):
        params.parse_bbox("45.5", "-122.5", "45.6", "-122.7")
    with pytest.raises(NotFound):
        params.request_id("12a")


def test_form_attributes_single_and_multiple_and_raw_without_the_key():
    form = params.parse_form([
        ("api_key", "secret"), ("service_code", "campsite"), ("attribute[tents]", "3"),
        ("attribute[hazards][]", "needles"), ("attribute[hazards][]", "fire"), ("attribute[one][]", "x"),
        ("first_name", "Pat"), ("last_name", "Doe"), ("lat", "45.5"), ("long", "-122.6"),
    ])
    assert form.attributes == {"tents": "3", "hazards": ["needles", "fire"], "one": ["x"]}
    assert form.get("api_key") == "secret" and "api_key" not in form.raw
    assert form.raw["attribute[hazards][]"] == ["needles", "fire"]
    sub = params.to_submission(form, actor="open311:resident:k", key_id="k")
    assert (sub.lat, sub.lon, sub.category, sub.channel) == (45.5, -122.6, "campsite", "open311")
    assert sub.reporter_name == "Pat Doe" and sub.raw["api_key_id"] == "k"


@pytest.mark.parametrize("fields, message", [
    ({"lat": "45.5", "long": "-122.6"}, "service_code is required"),
    ({"service_code": "pothole"}, "lat and long are required"),
    ({"service_code": "pothole", "address_id": "12"}, "address_id is not used here"),
    ({"service_code": "pothole", "lat": "45.5"}, "long is required too"),
    ({"service_code": "pothole", "lat": "north", "long": "-122.6"}, "must be numbers"),
    ({"service_code": "pothole", "lat": "45.5", "long": "-122.6", "description": "x" * 4001}, "description"),
])
def test_bad_posts_are_clear_400s(fields, message):
    with pytest.raises(InvalidInput, match=message) as caught:
        params.to_submission(params.parse_form(list(fields.items())), actor="a", key_id="k")
    assert wire.http_status(caught.value.status) == 400

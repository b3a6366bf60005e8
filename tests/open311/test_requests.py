"""GET requests (ids, filters, window, paging, bounding box), the status mapping, mySociety's
servicerequestupdates, and no personal data in any of them; JSON and XML."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geo311.intake import NewSubmission, submit
from geo311.status import change_status
from tests.open311.support import BASE, error_both, get_both
from tests.test_intake import CITY_HALL, HAZELWOOD, HOSFORD, ST_JOHNS, offset

PRIVATE = {"reporter_name": "Pat Private", "reporter_email": "pat.private@example.org",
           "reporter_phone": "503-555-0199"}


def report(session, point=HOSFORD, category="campsite", at: datetime | None = None, **kw) -> int:
    raw = {"device_id": "device-secret-1", "account_id": "account-secret-1", "email": PRIVATE["reporter_email"]}
    sub = NewSubmission(point[0], point[1], category, raw, at=at, channel="open311", **PRIVATE, **kw)
    return submit(session, sub).report_id


def ids(data) -> list[str]:
    return [r["service_request_id"] for r in data]


def test_default_is_the_last_90_days_newest_first(client, session):
    old = report(session, ST_JOHNS, at=datetime(2024, 1, 10, tzinfo=UTC))
    a = report(session, HOSFORD)
    b = report(session, HAZELWOOD, "pothole")
    assert ids(get_both(client, "requests", "requests")) == [str(b), str(a)]
    assert str(old) not in ids(get_both(client, "requests", "requests", params={"status": "open"}))


def test_service_request_ids_override_every_other_parameter(client, session):
    a, b = report(session, HOSFORD), report(session, HAZELWOOD, "pothole")
    old = report(session, ST_JOHNS, at=datetime(2024, 1, 10, tzinfo=UTC))
    params = {"service_request_id": f"{old},{a}, 999999", "status": "closed", "service_code": "pothole",
              "start_date": "nonsense", "page_size": "0"}
    assert sorted(ids(get_both(client, "requests", "requests", params=params))) == sorted([str(old), str(a)])
    assert b not in (old, a)
    (message,) = error_both(client, "GET", "requests", 400, params={"service_request_id": "1,x"})
    assert "not x" in message


def test_filters_by_service_code_status_and_dates(client, session):
    jan = report(session, HOSFORD, at=datetime(2025, 1, 10, tzinfo=UTC))
    feb = report(session, HAZELWOOD, "pothole", at=datetime(2025, 2, 10, tzinfo=UTC))
    mar = report(session, CITY_HALL, "graffiti", at=datetime(2025, 3, 10, tzinfo=UTC))
    change_status(session, feb, "resolved", actor="crew:test", note="filled")
    window = {"start_date": "2025-01-01T00:00:00Z", "end_date": "2025-03-31T00:00:00Z"}
    assert ids(get_both(client, "requests", "requests", params=window)) == [str(mar), str(feb), str(jan)]
    codes = {**window, "service_code": "campsite,graffiti"}
    assert ids(get_both(client, "requests", "requests", params=codes)) == [str(mar), str(jan)]
    assert ids(get_both(client, "requests", "requests", params={**window, "status": "closed"})) == [str(feb)]
    assert ids(get_both(client, "requests", "requests", params={**window, "status": "open"})) == [str(mar), str(jan)]
    feb_only = {"start_date": "2025-02-01T00:00:00-08:00", "end_date": "2025-02-28"}
    assert ids(get_both(client, "requests", "requests", params=feb_only)) == [str(feb)]
    # start_date alone reaches 90 days from it
    assert ids(get_both(client, "requests", "requests", params={"start_date": "2025-02-01"})) == [str(mar), str(feb)]
    assert ids(get_both(client, "requests", "requests", params={"end_date": "2025-01-31"})) == [str(jan)]


@pytest.mark.parametrize("params, status, message", [
    ({"start_date": "2025-01-01T00:00:00Z", "end_date": "2025-04-02T00:00:00Z"}, 400, "at most 90 days"),
    ({"start_date": "2025-03-01", "end_date": "2025-02-01"}, 400, "end_date is before start_date"),
    ({"start_date": "last week"}, 400, "start_date must be an ISO 8601 date and time"),
    ({"status": "pending"}, 400, "status takes open and/or closed"),
    ({"service_code": "pothole,bigfoot"}, 404, "service_code bigfoot not found"),
    ({"page": "0"}, 400, "page must be a whole number"),
    ({"page_size": "5000"}, 400, "page_size must be a whole number from 1 to 1000"),
    ({"lat_ne": "45.6", "long_ne": "-122.5"}, 400, "missing lat_sw, long_sw"),
    ({"jurisdiction_id": "multco.us"}, 404, "jurisdiction_id 'multco.us' is not served here"),
])
def test_bad_parameters_are_open311_errors(client, params, status, message):
    (description,) = error_both(client, "GET", "requests", status, params=params)
    assert message in description


def test_pages_and_bounding_box(client, session):
    made = [report(session, offset(HOSFORD, east_m=200 * i), "illegal_dumping") for i in range(5)]
    newest_first = [str(i) for i in reversed(made)]
    r = client.get(f"{BASE}/requests.json", params={"page_size": "2", "page": "2"})
    assert ids(r.json()) == newest_first[2:4]
    assert 'page=3' in r.headers["link"] and 'rel="next"' in r.headers["link"]
    last = client.get(f"{BASE}/requests.xml", params={"page_size": "2", "page": "3"})
    assert "link" not in last.headers
    assert ids(get_both(client, "requests", "requests", params={"page_size": "2", "page": "3"})) == newest_first[4:]
    far = report(session, HAZELWOOD, "illegal_dumping")
    box = {"lat_sw": "45.50", "long_sw": "-122.67", "lat_ne": "45.52", "long_ne": "-122.64"}
    inside = ids(get_both(client, "requests", "requests", params=box))
    assert set(inside) <= set(newest_first) and str(made[0]) in inside and str(far) not in inside


@pytest.mark.parametrize("steps, status, notes", [
    ([], "open", "open"),
    ([("assigned", "")], "open", "assigned to a crew"),
    ([("in_progress", "crew on site")], "open", "in progress: crew on site"),
    ([("resolved", "cleared")], "closed", "resolved: cleared"),
    ([("not_actionable", "nothing there")], "closed", "closed as not actionable: nothing there"),
    ([("resolved", "cleared"), ("open", "came back")], "open", "open: came back"),
])
def test_status_maps_to_open_or_closed_with_the_detail_in_status_notes(client, session, steps, status, notes):
    rid = report(session)
    for to, note in steps:
        change_status(session, rid, to, actor="manager:test", note=note)
    (request,) = get_both(client, f"requests/{rid}", "requests")
    assert (request["status"], request["status_notes"]) == (status, notes)


def test_a_duplicate_is_closed_and_names_the_original(client, session):
    original, dup = report(session, HOSFORD), report(session, offset(HOSFORD, east_m=300))
    change_status(session, dup, "duplicate", actor="manager:test", duplicate_of=original)
    (request,) = get_both(client, f"requests/{dup}", "requests")
    assert request["status"] == "closed"
    assert request["status_notes"] == f"closed as a duplicate of request {original}"
    assert request["updated_datetime"] >= request["requested_datetime"]


def test_one_request_that_does_not_exist_is_404(client):
    for path in ("requests/999999", "requests/abc", "requests/0"):
        (message,) = error_both(client, "GET", path, 404)
        assert "does not exist" in message


def test_servicerequestupdates_lists_status_changes(client, session):
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=200)

    def at(days: int, hour: int, minute: int = 0) -> datetime:
        return day + timedelta(days=days, hours=hour, minutes=minute)

    rid = report(session, at=at(0, 12))
    change_status(session, rid, "assigned", actor="manager:test", at=at(1, 9))
    change_status(session, rid, "in_progress", actor="crew:test", note="on our way", at=at(2, 9))
    change_status(session, rid, "resolved", actor="crew:test", note="site cleared", at=at(2, 15, 30))
    window = {"start_date": day.isoformat(), "end_date": at(30, 0).isoformat()}
    updates = get_both(client, "servicerequestupdates", "updates", params=window)
    assert [(u["status"], u["description"], u["updated_datetime"]) for u in updates] == [
        ("INVESTIGATING", "", at(1, 9).isoformat()),
        ("IN_PROGRESS", "on our way", at(2, 9).isoformat()),
        ("FIXED", "site cleared", at(2, 15, 30).isoformat())]
    assert updates[0]["updated_datetime"].endswith("T09:00:00+00:00")
    assert {u["service_request_id"] for u in updates} == {str(rid)}
    assert len({u["update_id"] for u in updates}) == 3 and all(u["media_url"] == "" for u in updates)
    assert updates[-1]["external_status_code"] == "resolved"
    narrow = {"start_date": at(2, 12).isoformat(), "end_date": at(3, 0).isoformat()}
    assert [u["status"] for u in get_both(client, "servicerequestupdates", "updates", params=narrow)] == ["FIXED"]
    paged = client.get(f"{BASE}/servicerequestupdates.json", params={**window, "page_size": "1", "page": "2"})
    assert [u["status"] for u in paged.json()] == ["IN_PROGRESS"] and "page=3" in paged.headers["link"]
    # the default window is the last 90 days: these are older
    assert get_both(client, "servicerequestupdates", "updates") == []
    (message,) = error_both(client, "GET", "servicerequestupdates", 400,
                            params={"start_date": day.isoformat(), "end_date": at(91, 0).isoformat()})
    assert "at most 90 days" in message


def test_no_personal_data_in_any_get(client, session):
    rid = report(session, description="tents by the bridge")
    change_status(session, rid, "resolved", actor="crew:test", note="cleared")
    secrets = [*PRIVATE.values(), "Pat", "device-secret-1", "account-secret-1", "crew:test"]
    for path, params in ((f"requests/{rid}", None), ("requests", None), ("requests", {"service_request_id": str(rid)}),
                         ("servicerequestupdates", None)):
        for fmt in ("json", "xml"):
            body = client.get(f"{BASE}/{path}.{fmt}", params=params).text
            assert str(rid) in body
            assert not [s for s in secrets if s in body], (path, fmt, body)

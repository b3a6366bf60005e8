"""A GeoReport v2 client's round trip over real HTTP against a live server: discover, submit with
a key, read the request back, and follow it to closure in requests and servicerequestupdates, in
JSON and XML."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import create_engine, pool
from sqlalchemy.orm import Session

from geo311.auth import create_key
from geo311.status import change_status
from tests.open311.support import BASE, XML_TYPE, as_xml_text, check_json, check_xml
from tests.test_intake import HOSFORD

pytestmark = pytest.mark.live


@pytest.fixture
def live_db(live) -> Iterator[Session]:
    engine = create_engine(live.database_url, poolclass=pool.NullPool)
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture
def keys(live, live_db) -> Iterator[dict[str, str]]:
    """A resident key for the app and a manager key for the staff API; removed afterwards."""
    made = {role: create_key(live_db, role, label="open311 live test") for role in ("resident", "manager")}
    yield {role: key for role, (_key_id, key) in made.items()}
    live.sql("DELETE FROM api_keys WHERE key_id = ANY(%s)", ([key_id for key_id, _key in made.values()],))


def both(http: httpx.Client, path: str, kind: str, params: dict | None = None):
    data = check_json(http.get(f"{BASE}/{path}.json", params=params), kind)
    assert check_xml(http.get(f"{BASE}/{path}.xml", params=params), kind) == as_xml_text(data)
    return data


def test_submit_and_follow_a_request_to_closure(live, live_db, keys):
    with httpx.Client(base_url=live.url, timeout=30) as http:
        assert both(http, "discovery", "discovery")["endpoints"][0]["url"] == f"{live.url}{BASE}"
        assert "campsite" in {s["service_code"] for s in both(http, "services", "services")}
        assert both(http, "services/campsite", "service")["attributes"][0]["code"] == "tents"

        start = datetime.now(UTC) - timedelta(minutes=5)
        r = http.post(f"{BASE}/requests.json", data={
            "api_key": keys["resident"], "jurisdiction_id": "portland.gov", "service_code": "campsite",
            "lat": str(HOSFORD[1]), "long": str(HOSFORD[0]), "description": "Three tents under the bridge",
            "first_name": "Robin", "last_name": "Reporter", "email": "robin@example.org",
            "attribute[tents]": "3", "attribute[hazards][]": ["needles", "garbage"]})
        (created,) = check_json(r, "post")
        rid, token = created["service_request_id"], r.headers["x-open311-token"]
        assert both(http, f"tokens/{token}", "token") == [{"service_request_id": rid, "token": token}]

        # the same problem reported in XML joins it
        r = http.post(f"{BASE}/requests.xml", data={
            "api_key": keys["resident"], "service_code": "campsite", "lat": str(HOSFORD[1] + 0.0001),
            "long": str(HOSFORD[0])})
        assert r.headers["content-type"] == XML_TYPE
        (joined,) = check_xml(r, "post")
        assert joined["service_request_id"] == rid and "joined an existing request" in joined["service_notice"]

        (request,) = both(http, f"requests/{rid}", "requests")
        assert (request["status"], request["service_code"]) == ("open", "campsite")
        assert "Robin" not in http.get(f"{BASE}/requests/{rid}.xml").text

        # a manager starts it through the staff API; the crew resolves it (domain call on the live db)
        act = http.post(f"/api/v1/reports/{rid}/events", json={"action": "start", "note": "crew dispatched"},
                        headers={"Authorization": f"Bearer {keys['manager']}"})
        assert act.status_code == 200, act.text
        change_status(live_db, int(rid), "resolved", actor="crew:live test", note="site cleared")

        (closed,) = both(http, "requests", "requests", params={"service_request_id": rid})
        assert (closed["status"], closed["status_notes"]) == ("closed", "resolved: site cleared")
        assert rid in [x["service_request_id"] for x in both(http, "requests", "requests", params={"status": "closed"})]
        assert rid not in [x["service_request_id"] for x in both(http, "requests", "requests", params={"status": "open"})]

        window = {"start_date": start.isoformat(), "end_date": (start + timedelta(hours=1)).isoformat()}
        updates = both(http, "servicerequestupdates", "updates", params=window)
        assert [(u["service_request_id"], u["status"], u["description"]) for u in updates] == [
            (rid, "IN_PROGRESS", "crew dispatched"), (rid, "FIXED", "site cleared")]
        assert closed["updated_datetime"] == updates[-1]["updated_datetime"]

        bad = http.post(f"{BASE}/requests.xml", data={"service_code": "campsite", "lat": "45.5", "long": "-122.6"})
        assert bad.status_code == 403 and bad.headers["content-type"] == XML_TYPE
        assert check_xml(bad, "errors", 403)[0]["code"] == "403"

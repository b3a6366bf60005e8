"""Discovery, services and service definitions, jurisdictions and unknown paths, in JSON and XML."""

from __future__ import annotations

from sqlalchemy import text

from geo311.categories import list_categories
from tests.open311.support import BASE, error_both, get_both


def test_discovery_names_this_endpoint_and_both_formats(client):
    data = get_both(client, "discovery", "discovery")
    (endpoint,) = data["endpoints"]
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["formats"] == ["text/xml", "application/json"] and endpoint["type"] == "production"
    assert "api_key" in data["key_service"] and data["changeset"].endswith("+00:00")


def test_services_are_the_active_categories(client, session):
    session.execute(text("UPDATE categories SET active = false WHERE code = 'graffiti'"))
    data = get_both(client, "services", "services")
    active = list_categories(session, active_only=True)
    assert [s["service_code"] for s in data] == [c["code"] for c in active]
    assert "graffiti" not in {s["service_code"] for s in data}
    by_code = {s["service_code"]: s for s in data}
    assert by_code["campsite"] == {
        "service_code": "campsite", "service_name": "Campsite",
        "description": "A tent, tarp or structure where someone is living outdoors.",
        "metadata": True, "type": "realtime", "keywords": "camp, tent, homeless, encampment, rv",
        "group": "Homelessness and camping"}
    assert by_code["pothole"]["metadata"] is False


def test_service_definition_lists_the_attributes(client):
    data = get_both(client, "services/campsite", "service")
    assert data["service_code"] == "campsite"
    tents, blocking, hazards = data["attributes"]
    assert tents == {"variable": True, "code": "tents", "datatype": "number", "required": False,
                     "datatype_description": "", "order": 1, "description": "How many tents or structures?"}
    assert blocking["datatype"] == "singlevaluelist" and blocking["order"] == 2
    assert blocking["values"] == [{"key": "yes", "name": "Yes"}, {"key": "no", "name": "No"}]
    assert hazards["datatype"] == "multivaluelist" and [v["key"] for v in hazards["values"]] == [
        "needles", "fire", "waste", "garbage"]
    assert get_both(client, "services/pothole", "service") == {"service_code": "pothole", "attributes": []}


def test_unknown_or_retired_service_code_is_404(client, session):
    assert "service_code 'bigfoot' is not offered" in error_both(client, "GET", "services/bigfoot", 404)[0]
    session.execute(text("UPDATE categories SET active = false WHERE code = 'graffiti'"))
    error_both(client, "GET", "services/graffiti", 404)


def test_jurisdiction_is_optional_and_a_wrong_one_is_404(client):
    assert get_both(client, "services", "services", params={"jurisdiction_id": "portland.gov"})
    assert get_both(client, "services", "services", params={"jurisdiction_id": ""})
    for path in ("services", "services/campsite", "requests", "discovery", "servicerequestupdates"):
        (message,) = error_both(client, "GET", path, 404, params={"jurisdiction_id": "seattle.gov"})
        assert "jurisdiction_id 'seattle.gov' is not served here" in message


def test_unknown_paths_and_formats_under_the_prefix_answer_in_open311_format(client):
    (message,) = error_both(client, "GET", "nothing", 404)
    assert "no such Open311 endpoint" in message
    r = client.get(f"{BASE}/services.csv")
    assert r.status_code == 404 and r.json()[0]["code"] == 404
    r = client.delete(f"{BASE}/services.json")
    assert r.status_code == 405 and r.json()[0]["code"] == 405
    # the rest of the API keeps its own format
    assert client.get("/api/v1/nothing").json()["error"]["code"] == "not_found"


def test_the_openapi_document_lists_both_formats(client):
    paths = BASE
    spec = client.get("/openapi.json").json()["paths"]
    for path in ("discovery", "services", "services/{service_code}", "requests", "requests/{service_request_id}",
                 "tokens/{token}", "servicerequestupdates"):
        assert f"{paths}/{path}.json" in spec and f"{paths}/{path}.xml" in spec
    assert "post" in spec[f"{paths}/requests.json"] and "get" in spec[f"{paths}/requests.xml"]

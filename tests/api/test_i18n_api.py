"""The resident API in the reader's language: categories, layers and refusals (in process, on the
test's rolled-back transaction). `?lang=` beats the cookie, the cookie beats Accept-Language."""

from __future__ import annotations

import pytest

from tests.api.test_reports import counts, feature, post
from tests.test_intake import HOSFORD, VANCOUVER_WA


def test_categories_come_in_the_requested_language(client):
    r = client.get("/api/v1/categories", params={"lang": "es"})
    assert r.status_code == 200 and r.headers["content-language"] == "es"
    body = r.json()
    assert body["lang"] == "es"
    camp = next(c for c in body["categories"] if c["code"] == "campsite")
    assert camp["name"] == "Campamento" and camp["group"] == "Personas sin hogar y campamentos"
    assert camp["description"] == "Una carpa, lona o estructura donde alguien vive al aire libre."
    blocking = next(a for a in camp["attributes"] if a["code"] == "blocking")
    assert blocking["description"] == "¿Bloquea una acera, un sendero o una entrada?"
    assert [v["name"] for v in blocking["values"]] == ["Sí", "No"]
    assert [v["key"] for v in blocking["values"]] == ["yes", "no"]          # keys stay keys

    r = client.get("/api/v1/categories", headers={"Accept-Language": "vi"})
    assert next(c for c in r.json()["categories"] if c["code"] == "campsite")["name"] == "Nơi cắm trại"
    r = client.get("/api/v1/categories")
    assert r.json()["lang"] == "en"
    assert next(c for c in r.json()["categories"] if c["code"] == "campsite")["name"] == "Campsite"


def test_layer_titles_come_in_the_requested_language(client):
    r = client.get("/api/v1/layers", headers={"Accept-Language": "ja"})
    titles = {lay["key"]: lay["title"] for lay in r.json()["layers"]}
    assert titles["neighborhood"] == "近隣地区"


@pytest.mark.parametrize(("how", "lang", "fragment"), [
    ({"headers": {"Accept-Language": "es-MX,es;q=0.9"}}, "es", "está fuera del área de servicio"),
    ({"params": {"lang": "vi"}}, "vi", "nằm ngoài khu vực phục vụ"),
    ({"params": {"lang": "ru"}, "headers": {"Accept-Language": "es"}}, "ru", "вне зоны обслуживания"),
    ({"headers": {"Accept-Language": "so"}}, "so", "wuu ka baxsan yahay aagga adeegga"),
])
def test_a_point_outside_is_refused_in_the_requested_language(client, session, how, lang, fragment):
    before = counts(session)
    headers = {"content-type": "application/json", **how.get("headers", {})}
    import json

    r = client.post("/api/v1/reports", content=json.dumps(feature(VANCOUVER_WA)), headers=headers,
                    params=how.get("params"))
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "outside_service_area" and err["lang"] == {"zh_Hans": "zh-Hans"}.get(lang, lang)
    assert fragment in err["message"], err["message"]
    assert "[-122.6615, 45.6387]" in err["message"]                          # the values, unchanged
    assert r.headers["content-language"] == lang
    assert counts(session) == before


def test_other_refusals_in_other_languages(client):
    r = post(client, feature(category="bigfoot"), **{"Accept-Language": "uk"})
    assert r.status_code == 422 and "невідома" in r.json()["error"]["message"]
    r = client.get("/api/v1/reports/999999", params={"lang": "ar"})
    assert r.status_code == 404 and r.json()["error"]["message"] == "البلاغ 999999 غير موجود"
    body = feature()
    body["properties"].pop("category")
    r = post(client, body, **{"Accept-Language": "zh-CN"})
    assert r.status_code == 422 and r.json()["error"]["message"] == "properties.category：必填"
    r = post(client, feature(HOSFORD, attributes={"tents": "many"}), **{"Accept-Language": "ja"})
    assert r.status_code == 422 and "数値である必要があります" in r.json()["error"]["message"]


def test_english_replies_are_unchanged(client):
    r = post(client, feature(VANCOUVER_WA))
    err = r.json()["error"]
    assert "lang" not in err and "is outside the service area" in err["message"]
    assert r.headers["content-language"] == "en"

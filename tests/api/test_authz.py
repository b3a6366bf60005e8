"""The authorization matrix: every endpoint x anonymous, resident, crew (own area and other area),
manager, admin and a revoked key."""

from __future__ import annotations

import json

import pytest

from tests.staff import HOSFORD, make_world

WHO = ("anonymous", "resident", "agent", "crew_own", "crew_other", "manager", "admin", "revoked")
PUBLIC = dict.fromkeys(WHO, 200) | {"revoked": 401}  # a bad key is a 401 everywhere in the API
STAFF_READ = {"anonymous": 401, "resident": 403, "agent": 403, "crew_own": 200, "crew_other": 200,
              "manager": 200, "admin": 200, "revoked": 401}
OWN_CREW = STAFF_READ | {"crew_other": 403}
MANAGERS = STAFF_READ | {"crew_own": 403, "crew_other": 403}
ALL_STAFF = STAFF_READ | {"agent": 200}  # personal data: agents, crews, managers, admins

FEATURE = {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(HOSFORD)},
           "properties": {"category": "graffiti"}}
NEW_CREW = {"name": "Lents", "areas": ["neighborhood:LENTS"], "categories": ["pothole"], "yard": [-122.56, 45.48]}

# (method, path, body, expected status per principal); {north} is a report in North Portland's area
MATRIX = [
    ("GET", "/healthz", None, dict.fromkeys(WHO, 200)),  # for load balancers: no key involved
    ("GET", "/api/v1/categories", None, PUBLIC),
    ("GET", "/api/v1/layers", None, PUBLIC),
    ("GET", "/api/v1/districts?layer=coalition", None, PUBLIC),
    ("GET", "/api/v1/service-area", None, PUBLIC),
    # an agent must say how the caller came (X-Geo311-Channel phone, email or walk_in): 422 without
    ("POST", "/api/v1/reports", FEATURE, dict.fromkeys(WHO, 201) | {"revoked": 401, "agent": 422}),
    ("POST", "/api/v1/reports/{north}/submissions",
     FEATURE | {"properties": {"category": "campsite"}}, dict.fromkeys(WHO, 200) | {"revoked": 401, "agent": 422}),
    ("GET", "/api/v1/reports", None, PUBLIC),
    ("GET", "/api/v1/reports/points", None, PUBLIC),
    ("GET", f"/api/v1/reports/nearby?lon={HOSFORD[0]}&lat={HOSFORD[1]}&category=campsite", None, PUBLIC),
    ("GET", "/api/v1/reports/{north}", None, PUBLIC),
    ("GET", "/api/v1/reports/{north}/events", None, PUBLIC),
    ("GET", "/api/v1/crews", None, STAFF_READ),
    ("POST", "/api/v1/crews", NEW_CREW, MANAGERS | {"manager": 201, "admin": 201}),
    ("GET", "/api/v1/crews/North Portland", None, OWN_CREW),
    ("PATCH", "/api/v1/crews/North Portland", {"categories": ["campsite", "illegal_dumping"]}, MANAGERS),
    ("GET", "/api/v1/crews/North Portland/worklist", None, OWN_CREW),
    ("GET", "/api/v1/crews/North Portland/worklist?format=csv", None, OWN_CREW),
    ("GET", "/api/v1/crews/North Portland/worklist?format=gpx", None, OWN_CREW),
    ("POST", "/api/v1/reports/{north}/events", {"action": "start"}, OWN_CREW),  # agents: no work status
    ("GET", "/api/v1/callers?phone=503-555-0111", None, ALL_STAFF),
    ("POST", "/api/v1/reports/{north}/notes", {"note": "called back", "internal": True},
     ALL_STAFF | {k: 201 for k in ("agent", "crew_own", "crew_other", "manager", "admin")}),
    ("GET", "/api/v1/stats/contacts", None, MANAGERS),
    ("GET", "/", None, dict.fromkeys(WHO, 200)),  # public pages ignore keys
    ("GET", "/reports/{north}", None, dict.fromkeys(WHO, 200)),
]


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("method, path, body, expected", MATRIX, ids=[f"{m} {p}" for m, p, _b, _e in MATRIX])
def test_matrix(client, session, method, path, body, expected, who):
    world = make_world(session)
    url = path.replace("{north}", str(world.north_report))
    headers = world.headers(who) | ({"content-type": "application/json"} if body is not None else {})
    r = client.request(method, url, headers=headers, content=json.dumps(body) if body is not None else None)
    assert r.status_code == expected[who], r.text
    if r.status_code == 401:
        assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("who", WHO)
def test_personal_data_reaches_staff_only(client, session, who):
    world = make_world(session)
    r = client.get(f"/api/v1/reports/{world.north_report}/events", headers=world.headers(who))
    if who == "revoked":
        assert r.status_code == 401
        return
    staff = who in ("agent", "crew_own", "crew_other", "manager", "admin")
    for secret in ("Pat Private", "pat@example.org", "503-555-0111"):
        assert (secret in r.text) == staff, (who, secret)
    for url in (f"/api/v1/reports/{world.north_report}", "/api/v1/reports", "/api/v1/reports/points",
                f"/reports/{world.north_report}"):
        assert "Pat Private" not in client.get(url, headers=world.headers(who)).text


def test_anonymous_submission_can_be_turned_off(settings, session_factory, session):
    from fastapi.testclient import TestClient

    from geo311.api import create_app
    from geo311.api.deps import get_session

    world = make_world(session)
    app = create_app(settings.model_copy(update={"allow_anonymous_submissions": False}))

    def override():
        with session_factory() as s:
            yield s
    app.dependency_overrides[get_session] = override
    with TestClient(app) as c:
        assert c.post("/api/v1/reports", json=FEATURE).status_code == 401
        assert c.post("/api/v1/reports", json=FEATURE, headers=world.headers("resident")).status_code == 201

"""Heatmap, district dashboard and trends through the API: every filter, CSV, roles."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from geo311.intake import NewSubmission, submit
from geo311.status import change_status
from tests.staff import HOSFORD, ST_JOHNS, make_world

NOW = datetime.now(UTC)
CITY = "-122.84,45.43,-122.47,45.65"


@pytest.fixture
def data(session):
    world = make_world(session)  # one campsite at St Johns, one at Hosford (today)
    ids = {}
    ids["old_graffiti"] = submit(session, NewSubmission(*HOSFORD, "graffiti", {"x": 1}, at=NOW - timedelta(days=45))).report_id
    ids["dumping"] = submit(session, NewSubmission(ST_JOHNS[0] + 0.01, ST_JOHNS[1], "illegal_dumping", {"x": 2},
                                                   at=NOW - timedelta(days=3))).report_id
    submit(session, NewSubmission(ST_JOHNS[0] + 0.01, ST_JOHNS[1], "illegal_dumping", {"x": 3}))  # merges
    change_status(session, ids["dumping"], "resolved", actor="t")
    return world, ids


def headers(world, who="manager"):
    return world.headers(who)


def total(fc) -> tuple[int, int]:
    return (sum(f["properties"]["reports"] for f in fc["features"]),
            sum(f["properties"]["submissions"] for f in fc["features"]))


def test_heatmap_counts_and_filters(client, data):
    world, _ids = data
    get = lambda q: client.get(f"/api/v1/heatmap?bbox={CITY}&{q}", headers=headers(world))  # noqa: E731
    everything = get("zoom=12").json()
    assert everything["type"] == "FeatureCollection" and everything["level"] == 1
    ring = everything["features"][0]["geometry"]["coordinates"][0]
    lon, lat = everything["features"][0]["properties"]["center"]
    assert ring[0] == ring[-1] and ring[0][0] < lon < ring[1][0] and ring[0][1] < lat < ring[2][1]
    assert total(everything) == (4, 5)
    assert total(get("zoom=12&category=illegal_dumping").json()) == (1, 2)
    assert total(get("zoom=12&status=open").json()) == (3, 3)
    assert total(get("zoom=12&status=resolved").json()) == (1, 2)
    since = (NOW - timedelta(days=10)).date().isoformat()
    assert total(get(f"zoom=12&since={since}").json()) == (3, 4)
    until = (NOW - timedelta(days=10)).date().isoformat()
    assert total(get(f"zoom=12&until={until}").json()) == (1, 1)
    assert total(get("zoom=14&district=coalition:Southeast Uplift").json()) == (2, 2)
    small = f"{HOSFORD[0] - 0.002},{HOSFORD[1] - 0.002},{HOSFORD[0] + 0.002},{HOSFORD[1] + 0.002}"
    street = client.get(f"/api/v1/heatmap?bbox={small}&zoom=16", headers=headers(world)).json()
    assert street["level"] == 3 and total(street) == (2, 2)
    assert get("zoom=8").json()["cell_size_m"] > everything["cell_size_m"]  # coarser when zoomed out


def test_dated_heatmap_sums_the_daily_cells_into_coarser_ones(client, session):
    """The daily rollups hold 256-unit cells only; a date range at zoom 12 or less sums them into
    the 1024-unit cells (merged 2x2 per zoom level below 10): the same cells and counts as the
    all-time rollups give, when the range holds every report."""
    world = make_world(session)
    rng = random.Random(15)
    for i in range(40):  # spread over both coalitions, many cells at every level, days apart
        lon, lat = rng.choice((HOSFORD, ST_JOHNS))
        submit(session, NewSubmission(lon + rng.uniform(-0.02, 0.02), lat + rng.uniform(-0.015, 0.015),
                                      rng.choice(("graffiti", "campsite")), {"i": i}, at=NOW - timedelta(days=i)))
    since = (NOW - timedelta(days=400)).date().isoformat()
    recent = (NOW - timedelta(days=9)).date().isoformat()
    counted = "SELECT count(*) FROM reports WHERE (created_at AT TIME ZONE 'UTC')::date >= CAST(:d AS date)"
    n_all, n_recent = (session.execute(text(counted), {"d": d}).scalar() for d in (since, recent))
    assert n_all > n_recent > 5

    def cells(q: str, bbox: str = CITY) -> tuple[int, float, list]:
        fc = client.get(f"/api/v1/heatmap?bbox={bbox}&{q}", headers=headers(world)).json()
        return fc["level"], fc["cell_size_m"], sorted(
            (f["geometry"]["coordinates"], f["properties"]["reports"], f["properties"]["submissions"])
            for f in fc["features"])

    for zoom in (7, 9, 10, 12, 13):
        level, size, everything = cells(f"zoom={zoom}")
        assert len(everything) > (1 if zoom < 10 else 5) and sum(c[1] for c in everything) == n_all
        assert cells(f"zoom={zoom}&since={since}") == (level, size, everything), zoom
    assert cells("zoom=12")[0] == 1 and cells("zoom=13")[0] == 2
    # a box that cuts through cells: those at its edges are shown whole, dated or not
    cut = f"{HOSFORD[0] - 0.011},{HOSFORD[1] - 0.007},{HOSFORD[0] + 0.013},{HOSFORD[1] + 0.009}"
    for zoom in (8, 11, 12):
        level, size, everything = cells(f"zoom={zoom}", cut)
        assert everything and cells(f"zoom={zoom}&since={since}", cut) == (level, size, everything), zoom
    # and a range that leaves reports out counts only those in it, in the same cells
    level, _size, some = cells(f"zoom=11&since={recent}")
    assert level == 1 and sum(c[1] for c in some) == n_recent
    assert {tuple(map(tuple, c[0][0])) for c in some} <= {tuple(map(tuple, c[0][0])) for c in cells("zoom=11")[2]}


def test_heatmap_csv_and_refusals(client, data):
    world, _ids = data
    r = client.get(f"/api/v1/heatmap?bbox={CITY}&format=csv", headers=headers(world))
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert r.headers["content-type"].startswith("text/csv") and sum(int(x["reports"]) for x in rows) == 4
    for query, fragment in (("category=bigfoot", "unknown category"), ("status=lost", "unknown status"),
                            ("bbox=1,2", "four numbers"), ("zoom=40", "zoom"), ("district=ward:x", "no district layer")):
        bad = client.get(f"/api/v1/heatmap?{query}", headers=headers(world))
        assert bad.status_code == 422 and fragment in bad.text, query


def test_district_dashboard(client, data, session):
    world, ids = data
    r = client.get("/api/v1/stats/districts?layer=coalition", headers=headers(world))
    feats = {f["properties"]["name"]: f["properties"] for f in r.json()["features"]}
    se, north = feats["Southeast Uplift"], feats["North Portland Neighborhood Services"]
    assert (se["open"], se["new"], se["resolved"], se["overdue"]) == (2, 1, 0, 1)  # graffiti: 45 days > 30
    assert se["median_age_days"] == 45  # lower middle of ages 0 and 45
    assert (north["open"], north["new"], north["resolved"]) == (1, 2, 1)
    assert r.json()["features"][0]["properties"]["name"] == "Southeast Uplift"  # most overdue first
    assert r.json()["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    only = client.get("/api/v1/stats/districts?layer=coalition&category=graffiti", headers=headers(world)).json()
    assert {f["properties"]["name"]: f["properties"]["open"] for f in only["features"] if f["properties"]["open"]} \
        == {"Southeast Uplift": 1}
    since = (NOW - timedelta(days=60)).date().isoformat()
    wide = client.get(f"/api/v1/stats/districts?layer=coalition&since={since}", headers=headers(world)).json()
    assert {f["properties"]["name"]: f["properties"]["new"] for f in wide["features"]}["Southeast Uplift"] == 2
    rows = list(csv.DictReader(io.StringIO(client.get("/api/v1/stats/districts?layer=coalition&format=csv",
                                                      headers=headers(world)).text)))
    assert {r["name"] for r in rows} >= {"Southeast Uplift"} and set(rows[0]) >= {"open", "overdue", "median_age_days"}
    assert client.get("/api/v1/stats/districts?layer=ward", headers=headers(world)).status_code == 422
    del ids


def test_median_age_of_open_reports(client, session):
    world = make_world(session)
    session.execute(text("TRUNCATE reports, submissions, report_events, report_districts CASCADE"))
    for days in (2, 10, 40):
        submit(session, NewSubmission(HOSFORD[0] + days * 1e-4, HOSFORD[1], "graffiti", {"d": days},
                                      at=NOW - timedelta(days=days)))
    r = client.get("/api/v1/stats/districts?layer=coalition", headers=headers(world)).json()
    se = next(f["properties"] for f in r["features"] if f["properties"]["name"] == "Southeast Uplift")
    assert se["open"] == 3 and se["median_age_days"] == 10 and se["overdue"] == 1


def test_timeseries(client, data):
    world, _ids = data
    r = client.get("/api/v1/stats/timeseries?interval=day&since=" + (NOW - timedelta(days=50)).date().isoformat(),
                   headers=headers(world)).json()
    series = {p["period"]: p for p in r["series"]}
    assert len(series) == 51  # every day, gaps filled
    assert sum(p["new"] for p in r["series"]) == 4 and sum(p["resolved"] for p in r["series"]) == 1
    assert series[(NOW - timedelta(days=45)).date().isoformat()]["new"] == 1
    weekly = client.get("/api/v1/stats/timeseries?interval=week&category=graffiti", headers=headers(world)).json()
    assert sum(p["new"] for p in weekly["series"]) == 1
    assert all(datetime.fromisoformat(p["period"]).weekday() == 0 for p in weekly["series"])
    by_district = client.get("/api/v1/stats/timeseries?interval=month&district=coalition:North Portland Neighborhood Services",
                             headers=headers(world)).json()
    assert sum(p["new"] for p in by_district["series"]) == 2
    rows = list(csv.reader(io.StringIO(client.get("/api/v1/stats/timeseries?interval=month&format=csv",
                                                   headers=headers(world)).text)))
    assert rows[0] == ["period", "new", "resolved"] and len(rows) > 2
    for query in ("until=0001-01-01", "since=9999-12-31", "since=0001-01-02&until=0001-02-01"):
        bad = client.get(f"/api/v1/stats/timeseries?{query}", headers=headers(world))  # found by the fuzzer: a 500
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_period", query
    assert client.get("/api/v1/stats/districts?layer=coalition&until=0001-01-01",
                      headers=headers(world)).status_code == 422


@pytest.mark.parametrize("who, status", [("anonymous", 401), ("resident", 403), ("crew_own", 403),
                                         ("manager", 200), ("admin", 200), ("revoked", 401)])
def test_roles(client, session, who, status):
    world = make_world(session)
    for url in ("/api/v1/heatmap", "/api/v1/stats/districts", "/api/v1/stats/timeseries"):
        assert client.get(url, headers=world.headers(who)).status_code == status, url


def test_a_repeated_status_counts_once(client, data):
    world, _ids = data
    once = client.get(f"/api/v1/heatmap?bbox={CITY}&status=resolved", headers=headers(world)).json()
    twice = client.get(f"/api/v1/heatmap?bbox={CITY}&status=resolved,resolved", headers=headers(world)).json()
    assert total(once) == total(twice) == (1, 2)

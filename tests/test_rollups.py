"""The rollups equal a fresh aggregation of the raw reports, whatever happens to the reports."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311.boundaries import load_layer
from geo311.demo import DEMO_DIR
from geo311.errors import DomainError
from geo311.heatmaps import rebuild_rollups, rollup_drift
from geo311.intake import NewSubmission, submit
from geo311.status import change_status

CENTRE = (-122.6587, 45.5122)
CATEGORIES = ("campsite", "illegal_dumping", "graffiti", "pothole")
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)

step = st.one_of(
    st.tuples(st.just("submit"), st.sampled_from(CATEGORIES), st.floats(-1500, 1500), st.floats(-1500, 1500),
              st.integers(0, 60)),
    st.tuples(st.just("again"), st.integers(0, 50), st.floats(-3, 3)),  # near an earlier point: merges
    st.tuples(st.just("status"), st.integers(0, 50),
              st.sampled_from(["assigned", "in_progress", "resolved", "not_actionable", "open"])),
    st.tuples(st.just("duplicate"), st.integers(0, 50), st.integers(0, 50)),
)


def _point(east: float, north: float) -> tuple[float, float]:
    return (CENTRE[0] + east / (111_320 * math.cos(math.radians(CENTRE[1]))), CENTRE[1] + north / 111_320)


def run(session, steps) -> None:
    points: list[tuple[float, float, str]] = []
    for s in steps:
        try:
            if s[0] == "submit":
                lon, lat = _point(s[2], s[3])
                submit(session, NewSubmission(lon, lat, s[1], {"p": 1}, at=NOW - timedelta(days=s[4])))
                points.append((lon, lat, s[1]))
            elif s[0] == "again" and points:
                lon, lat, cat = points[s[1] % len(points)]
                submit(session, NewSubmission(lon + s[2] * 1e-5, lat, cat, {"p": 2}))
            elif s[0] == "status":
                ids = session.execute(text("SELECT id FROM reports ORDER BY id")).scalars().all()
                if ids:
                    change_status(session, ids[s[1] % len(ids)], s[2], actor="prop",
                                  at=NOW - timedelta(days=s[1] % 5))
            elif s[0] == "duplicate":
                ids = session.execute(text("SELECT id FROM reports ORDER BY id")).scalars().all()
                if len(ids) > 1:
                    change_status(session, ids[s[1] % len(ids)], "duplicate", actor="prop",
                                  duplicate_of=ids[s[2] % len(ids)])
        except DomainError:
            pass  # illegal transitions and duplicates of closed reports are refused: fine here


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=40))
def test_rollups_match_raw_after_any_mix(connection, steps):
    example = connection.begin_nested()  # each example starts from the same state
    try:
        with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
            run(session, steps)
            assert rollup_drift(session) == dict.fromkeys(
                ("heat_cells", "heat_cells_daily", "stats_daily", "district_stats_daily"), 0)
    finally:
        example.rollback()


def test_layer_reload_and_deletes_keep_rollups_true(session):
    run(session, [("submit", c, e * 300.0, n * 200.0, d) for c in CATEGORIES for e, n, d in
                  ((0, 0, 1), (1, 1, 3), (-2, 1, 20), (2, -2, 40))])
    load_layer(session, DEMO_DIR / "portland_neighborhoods_2020.geojson", layer="neighborhood", name_field="NAME")
    session.execute(text("DELETE FROM reports WHERE id <= (SELECT id FROM reports ORDER BY id OFFSET 2 LIMIT 1)"))
    assert set(rollup_drift(session).values()) == {0}


def test_drift_is_detected_and_rebuild_repairs_it(session):
    run(session, [("submit", "graffiti", 0.0, 0.0, 1), ("submit", "pothole", 500.0, 0.0, 2)])
    session.execute(text("UPDATE heat_cells SET r_open = r_open + 5"))
    session.execute(text("DELETE FROM district_stats_daily"))
    drift = rollup_drift(session)
    assert drift["heat_cells"] > 0 and drift["district_stats_daily"] > 0
    rebuild_rollups(session)
    assert set(rollup_drift(session).values()) == {0}

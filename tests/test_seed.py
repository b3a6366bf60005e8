"""The demo seeder goes through the real intake and leaves a believable program behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from geo311.seed import WEIGHTS, seed_reports


def test_seed_makes_clustered_varied_history_through_intake(session):
    now = datetime.now(UTC)
    summary = seed_reports(session, 400, days=120, now=now)
    assert summary.submitted == 400 and summary.created + summary.merged + summary.refused == 400
    assert summary.merged > 20  # the same things get reported again
    reports, submissions, spread_days, categories = session.execute(text(
        "SELECT (SELECT count(*) FROM reports), (SELECT count(*) FROM submissions), "
        "(SELECT extract(epoch FROM max(created_at) - min(created_at)) / 86400 FROM reports), "
        "(SELECT count(DISTINCT category_id) FROM reports)")).one()
    assert reports == summary.created and submissions == summary.created + summary.merged
    assert spread_days > 90 and categories == len(WEIGHTS)
    statuses = set(summary.statuses)
    assert {"open", "assigned", "in_progress", "resolved"} <= statuses
    # every status change is an event dated inside the report's life, never in the future
    bad = session.execute(text(
        "SELECT count(*) FROM report_events e JOIN reports r ON r.jurisdiction_id = e.jurisdiction_id AND r.id = e.report_id "
        "WHERE e.at < r.created_at OR e.at > :now"), {"now": now + timedelta(seconds=1)}).scalar_one()
    assert bad == 0
    # clustered: the densest 1 km cell holds far more than an even spread would
    densest = session.execute(text(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM reports "
        "GROUP BY ST_SnapToGrid(ST_Transform(location, 3857), 1000)) g")).scalar_one()
    assert densest >= 10


def test_same_seed_same_demo(session):
    a = seed_reports(session, 60, now=datetime(2026, 6, 1, tzinfo=UTC))
    first = session.execute(text("SELECT ST_AsText(location), status FROM reports ORDER BY id")).all()
    session.execute(text("TRUNCATE reports, submissions, report_events, report_districts CASCADE"))
    b = seed_reports(session, 60, now=datetime(2026, 6, 1, tzinfo=UTC))
    second = session.execute(text("SELECT ST_AsText(location), status FROM reports ORDER BY id")).all()
    assert (a.created, a.merged) == (b.created, b.merged) and first == second

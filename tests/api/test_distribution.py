"""The Citus distribution rule (docs/scaling.md): report-side tables carry jurisdiction_id, and every
query that links two of them matches it. tests/conftest.py checks each statement of every test;
here the checker itself is tested, and a tour of the hot paths runs with statements recorded."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, text

from tests.distribution_rule import COLUMN, DISTRIBUTED, violations
from tests.staff import HOSFORD, ST_JOHNS, make_world

BROKEN = [
    "SELECT 1 FROM reports r JOIN report_districts rd ON rd.report_id = r.id",
    "SELECT 1 FROM submissions s, reports r WHERE r.id = s.report_id",
    "SELECT (SELECT count(*) FROM submissions s WHERE s.report_id = r.id) FROM reports r",
    "SELECT * FROM reports r WHERE r.id IN (SELECT report_id FROM report_districts WHERE district_id = 3)",
    "SELECT * FROM report_events e LEFT JOIN submissions s ON s.id = e.submission_id",
    "UPDATE reports r SET status = 'open' FROM report_districts rd WHERE rd.report_id = r.id",
    "SELECT 1 FROM reports r WHERE EXISTS (SELECT 1 FROM submission_photos sp JOIN submissions s "
    "ON s.id = sp.submission_id AND s.jurisdiction_id = sp.jurisdiction_id WHERE s.report_id = r.id)",
]
KEPT = [
    "SELECT 1 FROM reports r JOIN report_districts rd ON rd.jurisdiction_id = r.jurisdiction_id AND rd.report_id = r.id",
    "SELECT (SELECT count(*) FROM submissions s WHERE s.jurisdiction_id = r.jurisdiction_id AND s.report_id = r.id) "
    "FROM reports r",
    "SELECT * FROM reports r WHERE (r.jurisdiction_id, r.id) IN "
    "(SELECT jurisdiction_id, report_id FROM report_districts WHERE district_id = 3)",
    "SELECT * FROM reports r JOIN categories c ON c.id = r.category_id JOIN districts d ON d.id = 1",
    "SELECT count(*) FROM reports WHERE status = 'open'",  # one table on every shard: a distributed aggregate
    "INSERT INTO report_events (jurisdiction_id, report_id, actor, kind) SELECT jurisdiction_id, id, 'x', 'note' "
    "FROM reports WHERE id = $1",
]


@pytest.mark.parametrize("sql", BROKEN)
def test_the_checker_names_links_without_the_distribution_column(sql):
    found = violations(sql)
    assert found and all(COLUMN in problem for problem in found), found


@pytest.mark.parametrize("sql", KEPT)
def test_the_checker_accepts_co_located_links(sql):
    assert violations(sql) == ()


def test_every_report_side_table_carries_the_distribution_column(session):
    """Each table that references reports or submissions is distributed, so carries jurisdiction_id."""
    referencing = set(session.execute(text(
        "SELECT DISTINCT c.conrelid::regclass::text FROM pg_constraint c "
        "WHERE c.contype = 'f' AND c.confrelid IN ('reports'::regclass, 'submissions'::regclass)")).scalars())
    referencing -= {"import_keys"}  # the import ledger: per source, not per jurisdiction (docs/scaling.md)
    assert referencing | {"reports"} == DISTRIBUTED
    for table in DISTRIBUTED:
        nullable = session.execute(text(
            "SELECT is_nullable FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = :t AND column_name = :c"), {"t": table, "c": COLUMN}).scalar()
        assert nullable == "NO", table


def test_rows_carry_their_reports_jurisdiction(session):
    make_world(session)
    mismatched = session.execute(text(
        "/* distribution rule: exempt, this test looks for rows in the wrong jurisdiction */ "
        "SELECT (SELECT count(*) FROM submissions s JOIN reports r ON r.id = s.report_id "
        "        WHERE s.jurisdiction_id <> r.jurisdiction_id), "
        "       (SELECT count(*) FROM report_events e JOIN reports r ON r.id = e.report_id "
        "        WHERE e.jurisdiction_id <> r.jurisdiction_id), "
        "       (SELECT count(*) FROM report_districts d JOIN reports r ON r.id = d.report_id "
        "        WHERE d.jurisdiction_id <> r.jurisdiction_id), "
        "       (SELECT count(*) FROM submissions)")).one()
    assert mismatched[:3] == (0, 0, 0) and mismatched[3] >= 2


def test_the_hot_paths_keep_the_rule(client, session, engine):
    """Intake, merge, status, lists, maps, work lists, heat maps, dashboards, exports, Open311: each
    statement they run is checked (here and by conftest's check of every test)."""
    world = make_world(session)
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)
    event.listen(engine.__class__, "before_cursor_execute", record)
    try:
        h = world.headers("manager")
        away = [ST_JOHNS[0] + 0.01, ST_JOHNS[1]]  # ~800 m from the world's North Portland report
        feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": away},
                   "properties": {"category": "campsite", "description": "tents"}}
        made = client.post("/api/v1/reports", json=feature)
        assert made.status_code in (200, 201), made.text
        report_id = made.json()["properties"]["id"]
        again = client.post("/api/v1/reports", json=feature)
        assert again.status_code == 200 and again.json()["properties"]["merged"] is True
        box = "-122.84,45.43,-122.47,45.65"
        for url in [f"/api/v1/reports/{report_id}", f"/api/v1/reports/{report_id}/events",
                    "/api/v1/reports?district=coalition:North Portland Neighborhood Services",
                    f"/api/v1/reports/points?bbox={box}",
                    f"/api/v1/reports/nearby?category=campsite&lon={HOSFORD[0]}&lat={HOSFORD[1]}",
                    "/api/v1/crews/North Portland/worklist", f"/api/v1/heatmap?bbox={box}",
                    "/api/v1/stats/districts?layer=coalition", "/api/v1/stats/timeseries?interval=day",
                    "/api/v1/callers?phone=503-555-0111", "/api/v1/reports/export?format=csv",
                    "/api/v1/reports/export", "/open311/v2/requests.json",
                    f"/open311/v2/requests/{report_id}.json", "/open311/v2/servicerequestupdates.json",
                    f"/reports/{report_id}"]:
            reply = client.get(url, headers=h)
            assert reply.status_code == 200, (url, reply.text)
        act = client.post(f"/api/v1/reports/{world.north_report}/events", headers=h,
                          json={"action": "close_duplicate", "duplicate_of": report_id, "note": "same tents"})
        assert act.status_code == 200, act.text
        note = client.post(f"/api/v1/reports/{report_id}/notes", headers=h, json={"note": "seen", "internal": True})
        assert note.status_code == 201, note.text
    finally:
        event.remove(engine.__class__, "before_cursor_execute", record)
    linking = [s for s in seen if len(set(re.findall(r"\b(" + "|".join(DISTRIBUTED) + r")\b", s))) >= 2]
    assert len(linking) >= 10, "the tour should run queries that link report-side tables"
    broken = {s: violations(re.sub(r"%\((\w+)\)s|%s", "$1", s).replace("%%", "%")) for s in linking}
    assert not {s: v for s, v in broken.items() if v}

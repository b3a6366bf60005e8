"""Status transitions, every illegal one, and the role rules of field actions."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import text

from geo311.auth import authenticate
from geo311.errors import Conflict, Forbidden, InvalidInput, Unauthorized
from geo311.intake import NewSubmission, submit
from geo311.models import STATUSES
from geo311.status import ACTIONS, TRANSITIONS, allowed_actions, apply_action, change_status
from tests.staff import HOSFORD, ST_JOHNS, make_world


def report(session, point=HOSFORD, category="graffiti", **kw) -> int:
    return submit(session, NewSubmission(*point, category, {"t": 1}, **kw)).report_id


def put_in(session, report_id: int, status: str) -> None:
    """Reach `status` by legal steps."""
    path = {"open": [], "assigned": ["assigned"], "in_progress": ["in_progress"], "resolved": ["resolved"],
            "not_actionable": ["not_actionable"], "duplicate": []}[status]
    for step in path:
        change_status(session, report_id, step, actor="test", crew_id=None)
    if status == "duplicate":
        other = report(session, (HOSFORD[0] + 0.01, HOSFORD[1]))
        change_status(session, report_id, "duplicate", actor="test", duplicate_of=other)


@pytest.mark.parametrize("start, to", [(a, b) for a, b in itertools.product(STATUSES, STATUSES)
                                       if b not in TRANSITIONS[a] or (a == b == "assigned")])
def test_every_illegal_transition_is_a_conflict_naming_the_allowed_actions(session, start, to):
    rid = report(session)
    put_in(session, rid, start)
    before = session.execute(text("SELECT count(*) FROM report_events WHERE report_id = :id"), {"id": rid}).scalar()
    with pytest.raises(Conflict) as err:
        change_status(session, rid, to, actor="test")
    assert err.value.details["allowed_actions"] == allowed_actions(start)
    assert all(a in err.value.message for a in allowed_actions(start))
    after = session.execute(text("SELECT status, (SELECT count(*) FROM report_events WHERE report_id = :id) "
                                 "FROM reports WHERE id = :id"), {"id": rid}).one()
    assert after == (start, before)


@pytest.mark.parametrize("start, to", [(a, b) for a in STATUSES for b in TRANSITIONS[a] if not a == b])
def test_every_legal_transition_is_recorded(session, start, to):
    rid = report(session)
    put_in(session, rid, start)
    other = report(session, (HOSFORD[0] + 0.02, HOSFORD[1])) if to == "duplicate" else None
    change_status(session, rid, to, actor="tester", note="why", duplicate_of=other)
    status, closed_at, event = session.execute(text(
        "SELECT r.status, r.closed_at, (SELECT row(e.actor, e.from_status, e.to_status, e.note)::text "
        " FROM report_events e WHERE e.jurisdiction_id = r.jurisdiction_id AND e.report_id = r.id"
        " ORDER BY e.id DESC LIMIT 1) FROM reports r WHERE r.id = :id"),
        {"id": rid}).one()
    assert status == to and event == f"(tester,{start},{to},why)"
    assert (closed_at is not None) == (to in ("resolved", "duplicate", "not_actionable"))


def test_close_duplicate_moves_submissions_and_count(session):
    original = report(session)
    dup = report(session, (HOSFORD[0] + 0.01, HOSFORD[1]))
    submit(session, NewSubmission(HOSFORD[0] + 0.01, HOSFORD[1], "graffiti", {"t": 2}))
    change_status(session, dup, "duplicate", actor="t", duplicate_of=original)
    counts = dict(session.execute(text("SELECT id, submission_count FROM reports WHERE id IN (:a, :b)"),
                                  {"a": original, "b": dup}).all())
    assert counts[original] == 3
    moved = session.execute(text("SELECT count(*) FROM submissions WHERE report_id = :id"), {"id": original}).scalar()
    assert moved == 3


@pytest.mark.parametrize("bad, message", [(None, "needs duplicate_of"), ("self", "itself"),
                                          ("closed", "open report of the same category"),
                                          ("other_category", "same category")])
def test_close_duplicate_needs_an_open_report_of_the_same_category(session, bad, message):
    rid = report(session)
    target = {"self": rid, None: None,
              "closed": report(session, (HOSFORD[0] + 0.01, HOSFORD[1])),
              "other_category": report(session, category="illegal_dumping")}[bad]
    if bad == "closed":
        change_status(session, target, "resolved", actor="t")
    with pytest.raises(InvalidInput, match=message):
        change_status(session, rid, "duplicate", actor="t", duplicate_of=target)


def test_role_rules_of_field_actions(session):
    world = make_world(session)
    own = authenticate(session, world.keys["crew_own"])
    other = authenticate(session, world.keys["crew_other"])
    manager = authenticate(session, world.keys["manager"])
    resident = authenticate(session, world.keys["resident"])
    north = world.north_report

    with pytest.raises(Forbidden, match="outside Southeast's area"):
        apply_action(session, north, "start", other)
    with pytest.raises(Forbidden):
        apply_action(session, north, "start", resident)
    from geo311.auth import ANONYMOUS

    with pytest.raises(Unauthorized):
        apply_action(session, north, "start", ANONYMOUS)
    with pytest.raises(Forbidden, match="itself only"):
        apply_action(session, north, "assign", own, crew="Southeast")
    claimed = apply_action(session, north, "assign", own)  # a crew claims work in its area
    assert claimed["to"] == "assigned" and claimed["crew_id"] == world.north["id"]
    with pytest.raises(InvalidInput, match="needs the crew"):
        apply_action(session, north, "assign", manager)
    # dispatch may send a North Portland report to another crew; North Portland then leaves it alone
    second = report(session, (ST_JOHNS[0] + 0.003, ST_JOHNS[1]), "campsite")
    apply_action(session, second, "assign", manager, crew="Southeast")
    with pytest.raises(Forbidden, match="assigned to another crew"):
        apply_action(session, second, "start", own)
    done = apply_action(session, north, "resolve", own, note="cleared")
    assert done["to"] == "resolved"
    with pytest.raises(Conflict, match="allowed actions: reopen"):
        apply_action(session, north, "resolve", own)
    assert apply_action(session, north, "reopen", manager)["crew_id"] is None
    with pytest.raises(InvalidInput, match="unknown action"):
        apply_action(session, north, "teleport", manager)


def test_actions_map_to_statuses():
    assert set(ACTIONS.values()) <= set(STATUSES)
    assert allowed_actions("resolved") == ["reopen"]
    assert "assign" in allowed_actions("assigned")  # reassign to another crew

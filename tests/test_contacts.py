"""Callers: phone and email normalization, history, agents' submissions, notes, contact volume."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from geo311.contacts import (
    add_note,
    caller_history,
    contact_volume,
    normalize_email,
    normalize_phone,
)
from geo311.errors import InvalidInput, NotFound
from geo311.intake import NewSubmission, submit
from geo311.reports import report_events
from tests.staff import HOSFORD, ST_JOHNS, make_world


@pytest.mark.parametrize("typed", ["(503) 555-0100", "503-555-0100", "503.555.0100", "+1 503 555 0100",
                                   "1-503-555-0100", "5035550100", " 503 555 0100 "])
def test_phone_spellings_are_one_number(typed):
    assert normalize_phone(typed) == "5035550100"


@pytest.mark.parametrize("bad, message", [("555-CALL-NOW", "letters"), ("12345", "5 digits"),
                                          ("+44 20 7946 0958 1234 99", "digits")])
def test_malformed_phones_are_refused_clearly(bad, message):
    with pytest.raises(InvalidInput, match=message):
        normalize_phone(bad)


def test_emails():
    assert normalize_email(" Sam.Rivera@Example.ORG ") == "sam.rivera@example.org"
    assert normalize_phone("") is None and normalize_email(None) is None
    for bad in ("sam@", "not an email", "a@b", "@example.org"):
        with pytest.raises(InvalidInput, match="not an address"):
            normalize_email(bad)


def test_a_malformed_contact_refuses_the_submission_and_stores_nothing(session):
    before = session.execute(text("SELECT count(*) FROM submissions")).scalar()
    with pytest.raises(InvalidInput, match="phone"):
        submit(session, NewSubmission(*HOSFORD, "graffiti", {}, reporter_phone="call me"))
    assert session.execute(text("SELECT count(*) FROM submissions")).scalar() == before


def test_caller_history_finds_every_spelling_newest_first(session):
    a = submit(session, NewSubmission(*HOSFORD, "graffiti", {"n": 1}, reporter_phone="(503) 555-0100",
                                      reporter_email="Sam@Example.org")).report_id
    b = submit(session, NewSubmission(*ST_JOHNS, "campsite", {"n": 2}, reporter_phone="503.555.0100",
                                      channel="phone", submitted_by="agent:Maria", actor="agent:Maria")).report_id
    submit(session, NewSubmission(ST_JOHNS[0] + 0.05, ST_JOHNS[1], "campsite", {"n": 3}, reporter_phone="503-555-0199"))
    by_phone = caller_history(session, phone="5035550100")
    assert by_phone["reports"] == sorted([a, b], reverse=True) and len(by_phone["submissions"]) == 2
    assert by_phone["submissions"][0]["submitted_by"] == "agent:Maria" and by_phone["submissions"][0]["channel"] == "phone"
    assert caller_history(session, email="SAM@example.ORG")["reports"] == [a]
    with pytest.raises(InvalidInput, match="by phone or email"):
        caller_history(session)


def test_attaching_a_caller_keeps_their_details_and_counts(session):
    report = submit(session, NewSubmission(*HOSFORD, "campsite", {"n": 1})).report_id
    far = (HOSFORD[0] + 0.01, HOSFORD[1])  # a caller describing it from afar: the agent attaches them
    joined = submit(session, NewSubmission(*far, "campsite", {"n": 2}, reporter_name="Pat Caller",
                                           reporter_phone="503-555-0111", channel="phone", actor="agent:Maria",
                                           submitted_by="agent:Maria"), join_report_id=report)
    assert joined.report_id == report and not joined.created
    count, = session.execute(text("SELECT submission_count FROM reports WHERE id = :id"), {"id": report}).one()
    assert count == 2
    sub = session.execute(text("SELECT reporter_name, reporter_phone_norm, channel, submitted_by FROM submissions "
                               "WHERE report_id = :id ORDER BY id DESC LIMIT 1"), {"id": report}).one()
    assert tuple(sub) == ("Pat Caller", "5035550111", "phone", "agent:Maria")
    merged = [e for e in report_events(session, report, staff=True) if e["kind"] == "merged"]
    assert merged[0]["actor"] == "agent:Maria"


def test_internal_notes_stay_internal(session):
    world = make_world(session)
    add_note(session, world.north_report, "caller says there are needles", actor="agent:Maria", internal=True)
    add_note(session, world.north_report, "crew scheduled for Tuesday", actor="agent:Maria", internal=False)
    public = [e["note"] for e in report_events(session, world.north_report)]
    staff = [(e["note"], e["internal"]) for e in report_events(session, world.north_report, staff=True)]
    assert "crew scheduled for Tuesday" in public and "caller says there are needles" not in public
    assert ("caller says there are needles", True) in staff
    with pytest.raises(NotFound):
        add_note(session, 10**9, "x", actor="a", internal=True)
    with pytest.raises(InvalidInput):
        add_note(session, world.north_report, "   ", actor="a", internal=True)


def test_contact_volume_equals_the_submissions_by_channel(session):
    for channel in ("web", "web", "phone", "email", "walk_in", "open311"):
        submit(session, NewSubmission(HOSFORD[0] + 0.001 * len(channel), HOSFORD[1], "campsite", {"c": channel},
                                      channel=channel))
    volume = contact_volume(session, "day")
    totals: dict[str, int] = {}
    for row in volume["series"]:
        for ch in volume["channels"]:
            totals[ch] = totals.get(ch, 0) + row[ch]
    raw = dict(session.execute(text("SELECT channel, count(*) FROM submissions GROUP BY 1")).all())
    assert totals == raw and raw["web"] >= 2 and raw["walk_in"] >= 1

"""The status of a report and how it changes: open -> assigned -> in_progress -> resolved; closed as
duplicate or not actionable; a closed report can be reopened. Every change is an event with who,
when, from, to and a note, written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311.errors import Conflict, InvalidInput, NotFound
from geo311.models import CLOSED_STATUSES, OPEN_STATUSES, STATUSES

#: from -> the statuses it may change to
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("assigned", "in_progress", "resolved", "duplicate", "not_actionable"),
    "assigned": ("open", "in_progress", "resolved", "duplicate", "not_actionable"),
    "in_progress": ("assigned", "resolved", "duplicate", "not_actionable"),
    "resolved": ("open",),
    "duplicate": ("open",),
    "not_actionable": ("open",),
}


def change_status(session: Session, report_id: int, to: str, *, actor: str, note: str = "",
                  duplicate_of: int | None = None, at: datetime | None = None,
                  commit: bool = True) -> dict[str, Any]:
    """Move a report to `to`, recording the event. Returns {id, from, to}.

    `duplicate` needs `duplicate_of`: an open report of the same category. `at` lets the demo
    seeder and imports write history with its own dates."""
    if to not in STATUSES:
        raise InvalidInput(f"unknown status {to!r}; use one of {', '.join(STATUSES)}", code="bad_status")
    try:
        row = session.execute(text(
            "SELECT status, category_id FROM reports WHERE id = :id FOR UPDATE"), {"id": report_id}).first()
        if row is None:
            raise NotFound(f"report {report_id} does not exist")
        if to not in TRANSITIONS[row.status]:
            allowed = ", ".join(TRANSITIONS[row.status])
            raise Conflict(f"report {report_id} is {row.status}; it can move to {allowed}, not {to}",
                           code="bad_transition")
        if to == "duplicate":
            _check_original(session, report_id, row.category_id, duplicate_of)
        elif duplicate_of is not None:
            raise InvalidInput("duplicate_of only goes with status duplicate", code="bad_status")
        session.execute(text(
            "UPDATE reports SET status = :to, updated_at = greatest(updated_at, coalesce(CAST(:at AS timestamptz), now())), "
            "  closed_at = CASE WHEN :closing THEN coalesce(CAST(:at AS timestamptz), now()) END, "
            "  duplicate_of = CAST(:dup AS bigint) WHERE id = :id"),
            {"to": to, "at": at, "closing": to in CLOSED_STATUSES, "dup": duplicate_of, "id": report_id})
        if to == "duplicate":  # the original gains the duplicate's submissions in its count
            session.execute(text(
                "UPDATE reports SET submission_count = submission_count + "
                "  (SELECT submission_count FROM reports WHERE id = :dup_id) WHERE id = :orig"),
                {"dup_id": report_id, "orig": duplicate_of})
        session.execute(text(
            "INSERT INTO report_events (report_id, at, actor, kind, from_status, to_status, note) "
            "VALUES (:id, coalesce(CAST(:at AS timestamptz), now()), :actor, 'status', :from_, :to, :note)"),
            {"id": report_id, "at": at, "actor": actor, "from_": row.status, "to": to,
             "note": note or (f"duplicate of report {duplicate_of}" if duplicate_of else "")})
        if commit:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    return {"id": report_id, "from": row.status, "to": to}


def _check_original(session: Session, report_id: int, category_id: int, original: int | None) -> None:
    if original is None:
        raise InvalidInput("closing as duplicate needs duplicate_of: the report it repeats", code="bad_status")
    if original == report_id:
        raise InvalidInput("a report cannot be a duplicate of itself", code="bad_status")
    found = session.execute(text("SELECT status, category_id FROM reports WHERE id = :id"), {"id": original}).first()
    if found is None:
        raise NotFound(f"report {original} (duplicate_of) does not exist")
    if found.category_id != category_id or found.status not in OPEN_STATUSES:
        raise InvalidInput(f"report {original} must be an open report of the same category", code="bad_status")

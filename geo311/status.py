"""The status of a report and how it changes: open -> assigned -> in_progress -> resolved; closed as
duplicate or not actionable; a closed report can be reopened. Every change is an event with who,
when, from, to and a note, written in the same transaction as the change.

Field actions name the changes: assign (to a crew; a crew assigning itself claims the report),
start, resolve, close_duplicate (into an open report of the same category, which takes over the
closed one's submissions and count), close_not_actionable, reopen.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311.crews import crew_covers, crew_id_of
from geo311.errors import Conflict, Forbidden, InvalidInput, NotFound
from geo311.models import CLOSED_STATUSES, OPEN_STATUSES, STATUSES

if TYPE_CHECKING:
    from geo311.auth import Principal

#: from -> the statuses it may change to
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("assigned", "in_progress", "resolved", "duplicate", "not_actionable"),
    "assigned": ("open", "assigned", "in_progress", "resolved", "duplicate", "not_actionable"),
    "in_progress": ("assigned", "resolved", "duplicate", "not_actionable"),
    "resolved": ("open",),
    "duplicate": ("open",),
    "not_actionable": ("open",),
}
ACTIONS = {"assign": "assigned", "start": "in_progress", "resolve": "resolved",
           "close_duplicate": "duplicate", "close_not_actionable": "not_actionable", "reopen": "open"}


def allowed_actions(status: str) -> list[str]:
    return [a for a, to in ACTIONS.items() if to in TRANSITIONS[status]]


def change_status(session: Session, report_id: int, to: str, *, actor: str, note: str = "",
                  duplicate_of: int | None = None, crew_id: int | None = None, at: datetime | None = None,
                  commit: bool = True) -> dict[str, Any]:
    """Move a report to `to`, recording the event. Returns {id, from, to}.

    `duplicate` needs `duplicate_of`; `assigned` takes the crew. `at` lets the demo seeder and
    imports write history with its own dates."""
    if to not in STATUSES:
        raise InvalidInput(f"unknown status {to!r}; use one of {', '.join(STATUSES)}", code="bad_status")
    try:
        row = session.execute(text(
            "SELECT status, category_id, crew_id, jurisdiction_id FROM reports WHERE id = :id FOR UPDATE"),
            {"id": report_id}).first()
        if row is None:
            raise NotFound(f"report {report_id} does not exist")
        if to not in TRANSITIONS[row.status] or (to == row.status and crew_id in (None, row.crew_id)):
            raise Conflict(f"report {report_id} is {row.status}; allowed actions: "
                           f"{', '.join(allowed_actions(row.status))}", code="bad_transition",
                           details={"status": row.status, "allowed_actions": allowed_actions(row.status)})
        if to == "duplicate":
            _check_original(session, report_id, row.category_id, row.jurisdiction_id, duplicate_of)
        elif duplicate_of is not None:
            raise InvalidInput("duplicate_of only goes with close_duplicate", code="bad_status")
        new_crew = None if to == "open" else (crew_id or row.crew_id)
        session.execute(text(
            "UPDATE reports SET status = :to, crew_id = :crew, "
            "  updated_at = greatest(updated_at, coalesce(CAST(:at AS timestamptz), now())), "
            "  closed_at = CASE WHEN :closing THEN coalesce(CAST(:at AS timestamptz), now()) END, "
            "  duplicate_of = CAST(:dup AS bigint) WHERE id = :id"),
            {"to": to, "crew": new_crew, "at": at, "closing": to in CLOSED_STATUSES, "dup": duplicate_of,
             "id": report_id})
        if to == "duplicate":  # the original takes over the duplicate's submissions and count
            session.execute(text(
                "UPDATE reports SET submission_count = submission_count + "
                "  (SELECT submission_count FROM reports WHERE jurisdiction_id = :j AND id = :dup_id), "
                "  updated_at = now() WHERE jurisdiction_id = :j AND id = :orig"),
                {"dup_id": report_id, "orig": duplicate_of, "j": row.jurisdiction_id})
            session.execute(text("UPDATE submissions SET report_id = :orig WHERE jurisdiction_id = :j AND report_id = :dup_id"),
                            {"dup_id": report_id, "orig": duplicate_of, "j": row.jurisdiction_id})
        session.execute(text(
            "INSERT INTO report_events (jurisdiction_id, report_id, at, actor, kind, from_status, to_status, note, "
            "  crew_id) VALUES (:j, :id, coalesce(CAST(:at AS timestamptz), now()), :actor, 'status', :from_, :to, :note, :crew)"),
            {"j": row.jurisdiction_id, "id": report_id, "at": at, "actor": actor, "from_": row.status, "to": to, "crew": new_crew,
             "note": note or (f"duplicate of report {duplicate_of}" if duplicate_of else "")})
        if commit:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    return {"id": report_id, "from": row.status, "to": to, "crew_id": new_crew}


def _check_original(session: Session, report_id: int, category_id: int, jurisdiction_id: int,
                    original: int | None) -> None:
    if original is None:
        raise InvalidInput("close_duplicate needs duplicate_of: the open report this one repeats", code="bad_status")
    if original == report_id:
        raise InvalidInput("a report cannot be a duplicate of itself", code="bad_status")
    found = session.execute(text("SELECT status, category_id, jurisdiction_id FROM reports WHERE id = :id"),
                            {"id": original}).first()
    if found is None:
        raise NotFound(f"report {original} (duplicate_of) does not exist")
    if found.category_id != category_id or found.status not in OPEN_STATUSES:
        raise InvalidInput(f"report {original} must be an open report of the same category", code="bad_status")
    if found.jurisdiction_id != jurisdiction_id:  # another agency's report: a duplicate stays with its own
        raise InvalidInput(f"report {original} belongs to another jurisdiction; a report can only be closed as a "
                           "duplicate of one in its own jurisdiction", code="bad_status")


def apply_action(session: Session, report_id: int, action: str, principal: Principal, *, note: str = "",
                 crew: str | int | None = None, duplicate_of: int | None = None) -> dict[str, Any]:
    """A field or dispatch action by `principal`, with the role rules: crews act only on reports in
    their area and categories, not on another crew's; managers and admins act on any and assign to
    any crew."""
    if action not in ACTIONS:
        raise InvalidInput(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}", code="bad_action")
    principal.require("crew", "manager", "admin")
    current = session.execute(text("SELECT crew_id FROM reports WHERE id = :id"), {"id": report_id}).first()
    if current is None:
        raise NotFound(f"report {report_id} does not exist")
    crew_id = crew_id_of(session, crew) if crew is not None else None
    if principal.role == "crew":
        if crew_id not in (None, principal.crew_id):
            raise Forbidden("a crew can assign reports to itself only (claim); dispatchers assign to other crews")
        if not crew_covers(session, principal.crew_id, report_id):
            raise Forbidden(f"report {report_id} is outside {principal.crew_name}'s area or categories")
        if current.crew_id not in (None, principal.crew_id):
            raise Forbidden(f"report {report_id} is assigned to another crew")
        if action in ("assign", "start"):
            crew_id = principal.crew_id
    elif action == "assign" and crew_id is None:
        raise InvalidInput("assign needs the crew to assign the report to", code="bad_action")
    return change_status(session, report_id, ACTIONS[action], actor=principal.label, note=note,
                         duplicate_of=duplicate_of, crew_id=crew_id)

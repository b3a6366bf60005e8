"""Shared set-up for the staff tests: two crews, a key of every kind, a report in each crew's area."""

from __future__ import annotations

from dataclasses import dataclass

from geo311.auth import create_key, revoke_key
from geo311.crews import create_crew
from geo311.intake import NewSubmission, submit

ST_JOHNS = (-122.7545, 45.5900)   # North Portland Neighborhood Services
HOSFORD = (-122.6587, 45.5122)    # Southeast Uplift
NORTH_YARD = (-122.7100, 45.5800)
SE_YARD = (-122.6500, 45.5000)


@dataclass
class World:
    keys: dict[str, str]          # principal name -> the whole key
    north: dict
    southeast: dict
    north_report: int
    se_report: int

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"} if who in self.keys else {}


def make_world(session) -> World:
    north = create_crew(session, "North Portland", areas=["coalition:North Portland Neighborhood Services"],
                        categories=["campsite", "illegal_dumping", "abandoned_vehicle"], yard=NORTH_YARD)
    southeast = create_crew(session, "Southeast", areas=["coalition:Southeast Uplift"],
                            categories=["campsite", "graffiti"], yard=SE_YARD)
    keys = {
        "resident": create_key(session, "resident")[1],
        "agent": create_key(session, "agent", label="Maria at the counter")[1],
        "crew_own": create_key(session, "crew", crew="North Portland")[1],
        "crew_other": create_key(session, "crew", crew="Southeast")[1],
        "manager": create_key(session, "manager")[1],
        "admin": create_key(session, "admin")[1],
    }
    revoked_id, keys["revoked"] = create_key(session, "manager", label="old")
    revoke_key(session, revoked_id)
    raw = {"test": True}
    north_report = submit(session, NewSubmission(*ST_JOHNS, "campsite", raw, reporter_name="Pat Private",
                                                 reporter_email="pat@example.org", reporter_phone="503-555-0111")).report_id
    se_report = submit(session, NewSubmission(*HOSFORD, "campsite", raw)).report_id
    return World(keys, north, southeast, north_report, se_report)

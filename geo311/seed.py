"""Demo reports for Portland, made through the same intake as real ones (so merges, routing and
refusals happen for real): clustered where such reports cluster, all categories, spread over
months, in the statuses a working program would show."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo311.errors import DomainError
from geo311.intake import NewSubmission, submit
from geo311.status import change_status

# (lon, lat, spread in metres, weight): places where each kind of report gathers in Portland
HOTSPOTS: dict[str, list[tuple[float, float, float, float]]] = {
    "campsite": [(-122.5655, 45.5040, 900, 3), (-122.6670, 45.5300, 500, 3), (-122.6735, 45.5250, 400, 3),
                 (-122.5950, 45.4760, 1200, 2), (-122.7210, 45.5850, 800, 1), (-122.6630, 45.5120, 500, 2),
                 (-122.4300, 45.5000, 1500, 1)],
    "campsite_cleanup": [(-122.5655, 45.5040, 900, 2), (-122.6670, 45.5300, 500, 2), (-122.5950, 45.4760, 1200, 2)],
    "abandoned_vehicle": [(-122.5300, 45.5100, 1500, 3), (-122.5900, 45.5600, 1200, 2), (-122.6300, 45.5800, 1200, 2),
                          (-122.7500, 45.5900, 900, 1), (-122.4500, 45.5200, 2000, 1)],
    "illegally_parked_vehicle": [(-122.6793, 45.5180, 600, 3), (-122.6500, 45.5230, 900, 2), (-122.6870, 45.5290, 500, 2)],
    "illegal_dumping": [(-122.5000, 45.4900, 1500, 3), (-122.5780, 45.5400, 1000, 2), (-122.6500, 45.4700, 1200, 1),
                        (-122.4200, 45.5400, 1500, 1)],
    "graffiti": [(-122.6580, 45.5200, 600, 3), (-122.6780, 45.5180, 500, 3), (-122.6400, 45.5050, 800, 1)],
    "pothole": [(-122.6200, 45.5200, 4000, 3), (-122.5600, 45.4900, 3000, 2), (-122.4400, 45.5100, 2500, 1)],
    "streetlight_out": [(-122.6200, 45.5300, 4000, 2), (-122.5400, 45.5000, 2500, 1)],
}
WEIGHTS = {"campsite": 30, "abandoned_vehicle": 20, "illegal_dumping": 15, "graffiti": 10,
           "campsite_cleanup": 8, "illegally_parked_vehicle": 7, "pothole": 6, "streetlight_out": 4}
DESCRIPTIONS = {
    "campsite": ["Tent and tarps on the sidewalk", "Two tents by the freeway path", "RV with people living in it",
                 "Structures built under the overpass", "Tents blocking the bike lane"],
    "campsite_cleanup": ["Trash left where the camp was", "Bags of garbage and a mattress after a sweep"],
    "abandoned_vehicle": ["Car has not moved in weeks, flat tyres", "RV parked for a month", "Boat trailer left on the street"],
    "illegally_parked_vehicle": ["Blocking my driveway", "Parked in the bike lane", "Parked at the hydrant"],
    "illegal_dumping": ["Couch and mattress dumped on the corner", "Pile of construction debris", "Bags of trash in the ditch"],
    "graffiti": ["Tags on the wall facing the street", "Graffiti on the utility box", "Spray paint on the bridge pillar"],
    "pothole": ["Deep pothole in the right lane", "Broken pavement near the crosswalk"],
    "streetlight_out": ["Streetlight dark for a week", "Light flickering all night"],
}
NAMES = ["Sam Rivera", "Alex Chen", "Jordan Nguyen", "Taylor Brooks", "Morgan Ali", "Casey Kim", None, None, None]


@dataclass
class SeedSummary:
    submitted: int = 0
    created: int = 0
    merged: int = 0
    refused: int = 0
    statuses: Counter | None = None

    def line(self) -> str:
        states = ", ".join(f"{k} {v}" for k, v in sorted((self.statuses or {}).items()))
        return (f"seeded {self.submitted} submissions: {self.created} new reports, {self.merged} merged, "
                f"{self.refused} refused (outside where the category is served); statuses: {states}")


def _jitter(rng: random.Random, lon: float, lat: float, spread_m: float) -> tuple[float, float]:
    east, north = rng.gauss(0, spread_m), rng.gauss(0, spread_m)
    return (lon + east / (111_320 * math.cos(math.radians(lat))), lat + north / 111_320)


def seed_reports(session: Session, count: int, *, days: int = 180, rng_seed: int = 311,
                 now: datetime | None = None, say: Callable[[str], None] = lambda _m: None) -> SeedSummary:
    """Submit `count` demo submissions through intake, oldest first, then move the reports through
    their statuses with dates in the past."""
    rng = random.Random(rng_seed)
    now = now or datetime.now(UTC)
    times = sorted(now - timedelta(seconds=rng.uniform(0, days * 86400)) for _ in range(count))
    codes = list(WEIGHTS)
    recent: dict[str, list[tuple[float, float]]] = {c: [] for c in codes}
    radii = dict(session.execute(text("SELECT code, dedup_radius_m FROM categories")).all())
    summary = SeedSummary()
    for i, at in enumerate(times):
        code = rng.choices(codes, weights=[WEIGHTS[c] for c in codes])[0]
        if recent[code] and rng.random() < 0.25:  # the same thing reported again
            lon, lat = _jitter(rng, *rng.choice(recent[code][-40:]), radii.get(code, 10) * 0.25)
        else:
            hx, hy, spread, _w = rng.choices(HOTSPOTS[code], weights=[h[3] for h in HOTSPOTS[code]])[0]
            lon, lat = _jitter(rng, hx, hy, spread)
        name = rng.choice(NAMES)
        sub = NewSubmission(
            lon=round(lon, 6), lat=round(lat, 6), category=code, at=at, channel=rng.choice(["web", "web", "api"]),
            description=rng.choice(DESCRIPTIONS[code]), reporter_name=name,
            reporter_email=f"{name.split()[0].lower()}@example.org" if name else None,
            raw={"seed": rng_seed, "n": i}, actor="demo seed")
        summary.submitted += 1
        try:
            result = submit(session, sub)
        except DomainError:
            summary.refused += 1
            continue
        recent[code].append((sub.lon, sub.lat))
        summary.created += result.created
        summary.merged += not result.created
        if (i + 1) % 500 == 0:
            say(f"  {i + 1}/{count} submitted")
    summary.statuses = _age_statuses(session, rng, now)
    return summary


def _age_statuses(session: Session, rng: random.Random, now: datetime) -> Counter:
    """Older reports are further along: most past their target are resolved, some closed, some
    still in the field; recent ones are mostly open or assigned."""
    rows = session.execute(text(
        "SELECT r.id, r.created_at, c.target_days FROM reports r JOIN categories c ON c.id = r.category_id "
        "WHERE r.status = 'open' ORDER BY r.id")).all()
    for rid, created, target in rows:
        age = (now - created).total_seconds() / 86400
        roll = rng.random()
        if age > target * 1.5:
            path = ["assigned", "in_progress", "resolved"] if roll < 0.75 else \
                   ["not_actionable"] if roll < 0.85 else ["assigned", "in_progress"] if roll < 0.93 else []
        elif age > target * 0.3:
            path = ["assigned", "in_progress", "resolved"] if roll < 0.3 else \
                   ["assigned", "in_progress"] if roll < 0.55 else ["assigned"] if roll < 0.8 else []
        else:
            path = ["assigned"] if roll < 0.3 else []
        step = timedelta(days=min(age, target) / (len(path) + 1)) if path else timedelta(0)
        for n, status in enumerate(path, start=1):
            change_status(session, rid, status, actor="demo seed", at=created + step * n, commit=False)
    session.commit()
    return Counter(session.execute(text("SELECT status FROM reports")).scalars())


def has_reports(session: Session) -> bool:
    return session.execute(text("SELECT EXISTS (SELECT 1 FROM reports)")).scalar_one()

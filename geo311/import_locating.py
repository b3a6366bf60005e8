"""Staged records without a point (no coordinates, no geometry, or [0, 0]) but with an address: the
point of their address, by the rule of an address-only submission (intake.locate,
geocoding.clear_best). Each distinct address is looked up once, after the file is staged and
before the points' index is built (import_staging.rewriting); those that do not stand out are
refused as ADDRESS_NOT_FOUND, with why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from geo311 import geocoding
from geo311 import import_files as files

#: records to locate from which a second connection looks up every other address (on the other core)
LOCATE_BESIDE = 2_000
#: distinct addresses read, looked up and written at a time: memory stays flat
CHUNK = 1000

_UNPLACED = "FROM import_stage WHERE reason IS NULL AND lon IS NULL"
_TO_LOCATE = f"SELECT DISTINCT address {_UNPLACED} ORDER BY address"
# the records placed (or refused), and how many of them were placed, in one pass
_LOCATED = f"""WITH placed AS (
    UPDATE import_stage st
    SET lon = g.lon, lat = g.lat, matched_address = g.matched,
        reason = CASE WHEN g.lon IS NULL THEN '{files.ADDRESS_NOT_FOUND}' END, detail = g.detail
    FROM import_located g WHERE st.reason IS NULL AND st.lon IS NULL AND st.address = g.address
    RETURNING g.lon)
SELECT count(lon) FROM placed"""

#: an address -> (lon, lat, the address point's own label) when one address point stands out, or
#: (None, None, why not)
Locate = Callable[[str], tuple[float | None, float | None, str | None]]


def locate_addresses(s: Session, engine: Engine | None, records: int,
                     progress: Callable[[int, int], None] | None = None) -> int:
    """Place the staged `records` without a point by their address; returns the records placed.
    With an engine (the import may open connections) and at least LOCATE_BESIDE records, every
    other address is looked up on a second connection at the same time."""
    with _second_session(engine, records) as other:
        return _locate(s, locator(s), progress, locator(other) if other is not None else None)


def _locate(s: Session, locate: Locate, progress: Callable[[int, int], None] | None, beside: Locate | None) -> int:
    raw = s.connection().connection.driver_connection
    total = s.execute(text(f"SELECT count(DISTINCT address) {_UNPLACED}")).scalar()
    s.execute(text("CREATE TEMP TABLE import_located (address text PRIMARY KEY, lon float8, lat float8, "
                   "matched text, detail text)"))
    done = 0
    with raw.cursor(name="import_to_locate") as names:
        names.execute(_TO_LOCATE)
        while chunk := names.fetchmany(CHUNK):
            addresses = [address for (address,) in chunk]
            if beside is None:
                found = _looked_up(locate, addresses)
            else:
                with ThreadPoolExecutor(1) as pool:
                    other = pool.submit(_looked_up, beside, addresses[1::2])
                    found = _looked_up(locate, addresses[0::2]) + other.result()
            with raw.cursor() as cur, cur.copy("COPY import_located FROM STDIN") as copy:
                for row in found:
                    copy.write_row(row)
            done += len(chunk)
            if progress:
                progress(done, total)
    located = s.execute(text(_LOCATED)).scalar()
    s.execute(text("DROP TABLE import_located"))
    return located


def _looked_up(locate: Locate, addresses: list[str]) -> list[tuple]:
    """import_located's rows: (address, lon, lat, matched address, why not)."""
    found = []
    for address in addresses:
        lon, lat, label = locate(address)
        found.append((address, lon, lat, *((label, None) if lon is not None else (None, label))))
    return found


@contextmanager
def _second_session(engine: Engine | None, records: int) -> Iterator[Session | None]:
    """A session of its own for the lookups beside the importing connection's, when the import may
    open connections and has enough to look up; else None."""
    if engine is None or records < LOCATE_BESIDE:
        yield None
        return
    with engine.connect() as conn, Session(bind=conn) as other:
        try:
            yield other
        finally:
            other.rollback()


def locator(s: Session) -> Locate:
    """An address -> its point by intake's rule for address-only submissions, or why not."""
    loaded = s.execute(text("SELECT EXISTS (SELECT 1 FROM addresses)")).scalar()

    def locate(address: str) -> tuple[float | None, float | None, str | None]:
        if not loaded:
            return None, None, "no coordinates, and no address points are loaded to look the address up"
        if len(address) > 200:
            return None, None, "no coordinates, and the address is too long to look up (200 characters at most)"
        found = geocoding.geocode(s, address, limit=5)
        best = geocoding.clear_best(found)
        if best is not None:
            return best["lon"], best["lat"], best["address"]
        top = found["candidates"]
        if top:
            return None, None, (f"no coordinates, and {address!r} could be several places: "
                                + "; ".join(c["address"] for c in top))
        why = found.get("message") or f"no address like {address!r} is known here"
        return None, None, f"no coordinates, and {why}"

    return locate

"""Real HTTP against a live uvicorn server: concurrent submissions, locking, limits."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from geo311.dedup import cell_lock_keys
from tests.support import libpq_url
from tests.test_intake import HAZELWOOD, HOSFORD, offset

pytestmark = pytest.mark.live


def feature(point=HOSFORD, category="campsite", **props):
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(point)},
            "properties": {"category": category, **props}}


def post(base, body, key=None):
    headers = {"Idempotency-Key": key or str(uuid.uuid4())}
    return httpx.post(f"{base}/api/v1/reports", json=body, headers=headers, timeout=30)


def test_create_and_merge_over_http(live):
    r = post(live.url, feature(description="tents"))
    assert r.status_code == 201 and r.headers["location"] == f"/api/v1/reports/{r.json()['id']}"
    r2 = post(live.url, feature(offset(HOSFORD, north_m=10)))
    assert r2.status_code == 200 and r2.json()["properties"]["merged"] is True
    got = httpx.get(f"{live.url}{r.headers['location']}")
    assert got.json()["properties"]["submission_count"] == 2


def test_concurrent_submissions_of_the_same_thing_end_as_one_report(live):
    n = 24
    barrier = threading.Barrier(n)

    def one(i: int) -> httpx.Response:
        barrier.wait()
        return post(live.url, feature(offset(HOSFORD, east_m=i % 5), description=f"sighting {i}"))

    with ThreadPoolExecutor(max_workers=n) as pool:
        replies = list(pool.map(one, range(n)))
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [200] * (n - 1) + [201], [r.text for r in replies if r.status_code >= 300]
    assert len({r.json()["id"] for r in replies}) == 1
    (reports, submissions, count), = live.sql(
        "SELECT (SELECT count(*) FROM reports), (SELECT count(*) FROM submissions), "
        "(SELECT submission_count FROM reports LIMIT 1)")
    assert (reports, submissions, count) == (1, n, n)


def test_concurrent_retries_with_one_key_store_one_submission(live):
    key = str(uuid.uuid4())
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda _: post(live.url, feature(), key=key), range(8)))
    assert {r.status_code for r in replies} == {201}
    assert live.sql("SELECT count(*) FROM submissions") == [(1,)]


def _hold_cell_locks(database_url: str, point, category="campsite"):
    """Take the dedup cell locks a submission at `point` would need, in an open transaction."""
    conn = psycopg.connect(libpq_url(database_url))
    cat_id, radius = conn.execute("SELECT id, dedup_radius_m FROM categories WHERE code = %s", (category,)).fetchone()
    for key in cell_lock_keys(cat_id, point[0], point[1], radius):
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
    return conn


def test_far_apart_or_other_category_submissions_do_not_wait(live):
    holder = _hold_cell_locks(live.database_url, HOSFORD)
    try:
        done: list[httpx.Response] = []
        near = threading.Thread(target=lambda: done.append(post(live.url, feature(offset(HOSFORD, east_m=10)))))
        near.start()
        # while the near one waits on the held cell, others go through
        far = post(live.url, feature(HAZELWOOD))
        other = post(live.url, feature(HOSFORD, "graffiti"))
        assert far.status_code == 201 and other.status_code == 201
        time.sleep(0.3)
        assert not done, "a submission within the radius must wait for the cell's lock"
    finally:
        holder.rollback()
        holder.close()
    near.join(timeout=10)
    assert done and done[0].status_code == 201


def test_chunked_body_over_the_limit_is_413(live):
    def chunks():
        for _ in range(80):
            yield b"x" * 1024

    r = httpx.post(f"{live.url}/api/v1/reports", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert live.sql("SELECT count(*) FROM submissions") == [(0,)]

"""Benchmark of the resident map page (issue 4, "Performance"): with 10,000 open reports in the
visible area, the page is interactive within 2 s in headless Chromium, and the map data request
answers in under 200 ms.

On the embedded PostGIS, in a database of its own (geo311_bench_map) holding the Portland demo, it:
  1. opens `/` once in headless Chromium on the empty database to learn the page's initial view (the
     service area's bounding box fitted to a 1280x800 window) and the exact map data request it makes
     (`/api/v1/reports/points?bbox=...&status=open`, the visible area padded by 20 %);
  2. inserts --reports open reports, set-based in SQL, at random places of the City of Portland inside
     that visible area (weighted categories, open/assigned/in_progress, the last 60 days), with one
     submission each and their districts;
  3. measures, with geo311 under uvicorn (one worker, as `geo311 serve`):
     (a) that request over HTTP on 127.0.0.1 (keep-alive; median and p95 of --requests), and the
         raw-PostGIS floor: the very SQL geo311 sends (captured from SQLAlchemy), run with psycopg;
     (b) the page in headless Chromium (Debian's /usr/bin/chromium, every host but 127.0.0.1
         blocked, a fresh browser context per run, one unmeasured warm-up run): from navigation start
         until the page is interactive, defined as: all reports of the points reply are markers in
         the cluster layer (markercluster's chunked loading finished), and then a map click, sent as
         soon as that was seen, has placed the pin. Median of --runs.

    .venv/bin/python bench/map_page.py [--reports 10000] [--requests 20] [--runs 5] [--reuse]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from _common import BenchDb, bench_db, describe_machine, figure, loadavg, percentile, running_server
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import create_engine, event, pool
from sqlalchemy.orm import Session

from geo311.reports import ReportFilter, parse_bbox, parse_statuses, report_points
from geo311.seed import WEIGHTS

DB_NAME = "geo311_bench_map"
SEED = 0.311
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
POINTS_PATH = "/api/v1/reports/points"
WARMUP_REQUESTS = 3
PAGE_TIMEOUT_MS = 60_000
TARGET_PAGE_MS = 2000
TARGET_POINTS_MS = 200

# ----- the reports: set-based, inside the visible area and the city ------------------------------
INSERT_REPORTS = """
WITH city AS (SELECT id FROM jurisdictions WHERE kind = 'city' ORDER BY rank DESC LIMIT 1),
weights(code, w) AS (SELECT * FROM unnest(%(codes)s::text[], %(weights)s::float8[])),
cats AS (
    SELECT c.id, c.default_priority, cr.agency, w.w,
           sum(w.w) OVER (ORDER BY c.code) - w.w AS lo, sum(w.w) OVER (ORDER BY c.code) AS hi,
           sum(w.w) OVER () AS total
    FROM weights w JOIN categories c ON c.code = w.code AND c.active
    JOIN category_routes cr ON cr.category_id = c.id AND cr.jurisdiction_id = (SELECT id FROM city)),
candidates AS (
    SELECT n, ST_SetSRID(ST_MakePoint(%(west)s + random() * (%(east)s - %(west)s),
                                      %(south)s + random() * (%(north)s - %(south)s)), 4326) AS g,
           random() AS r_cat, random() AS r_status, random() AS r_age
    FROM generate_series(1, %(tries)s) n),
inside AS (
    SELECT c.* FROM candidates c
    WHERE EXISTS (SELECT 1 FROM jurisdiction_parts p WHERE p.jurisdiction_id = (SELECT id FROM city)
                  AND ST_Covers(p.geom, c.g))
    ORDER BY n LIMIT %(count)s),
made AS (
    SELECT i.g, k.id AS category_id, k.default_priority, k.agency,
           CASE WHEN i.r_status < 0.80 THEN 'open' WHEN i.r_status < 0.92 THEN 'assigned'
                ELSE 'in_progress' END AS status,
           now() - i.r_age * interval '60 days' AS at
    FROM inside i JOIN cats k ON i.r_cat * k.total >= k.lo AND i.r_cat * k.total < k.hi)
INSERT INTO reports (category_id, location, status, priority, jurisdiction_id, agency, description,
                     submission_count, created_at, updated_at)
SELECT category_id, g, status, default_priority, (SELECT id FROM city), agency, 'bench report', 1, at, at
FROM made
"""

INSERT_SUBMISSIONS = """
INSERT INTO submissions (jurisdiction_id, report_id, received_at, channel, reply_status, location, distance_m,
                         description, raw)
SELECT r.jurisdiction_id, r.id, r.created_at, 'api', 201, r.location, 0, r.description,
       jsonb_build_object('type', 'Feature', 'geometry', ST_AsGeoJSON(r.location)::jsonb,
                          'properties', jsonb_build_object('description', r.description))
FROM reports r
"""

INSERT_DISTRICTS = """
INSERT INTO report_districts (jurisdiction_id, report_id, district_id)
SELECT DISTINCT r.jurisdiction_id, r.id, p.district_id FROM reports r JOIN district_parts p ON ST_Covers(p.geom, r.location)
"""


def open_reports(db: BenchDb) -> int:
    with db.connect() as conn:
        return conn.execute("SELECT count(*) FROM reports WHERE status IN ('open', 'assigned', 'in_progress')"
                            ).fetchone()[0]


def fill(db: BenchDb, view: dict[str, float], count: int) -> None:
    """`count` open reports at random places of the city inside `view` (set-based, seeded)."""
    codes = sorted(WEIGHTS)
    with db.connect() as conn:
        conn.execute("TRUNCATE reports, submissions, report_events, report_districts RESTART IDENTITY CASCADE")
        conn.execute("SELECT setseed(%s)", (SEED,))
        # the city covers roughly a quarter of the view: draw enough candidates to keep `count`
        inserted = conn.execute(INSERT_REPORTS, {**view, "codes": codes, "weights": [WEIGHTS[c] for c in codes],
                                                 "tries": count * 12, "count": count}).rowcount
        if inserted != count:
            raise RuntimeError(f"only {inserted} of {count} candidate points fell in the city; widen the view")
        conn.execute(INSERT_SUBMISSIONS)
        conn.execute(INSERT_DISTRICTS)
        conn.execute("ANALYZE reports")
        conn.execute("ANALYZE submissions")
        conn.execute("ANALYZE report_districts")


# ----- the browser ----------------------------------------------------------------------------
def launch(pw) -> Browser:
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def new_page(browser: Browser, base: str):
    """A fresh context (cold cache) whose requests to any host but 127.0.0.1 are aborted."""
    context = browser.new_context(base_url=base, viewport=VIEWPORT, service_workers="block")
    context.route(lambda url: urlsplit(url).hostname != "127.0.0.1", lambda route: route.abort())
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    return context, page


def discover_view(browser: Browser, base: str) -> tuple[dict[str, float], str]:
    """The page's visible area at first load, and the map data request it makes (path?query)."""
    context, page = new_page(browser, base)
    try:
        with page.expect_request(lambda r: urlsplit(r.url).path == POINTS_PATH) as req:
            page.goto("/")
        page.wait_for_function("() => !!window.geo311Resident")
        page.wait_for_timeout(1000)      # let the first fitBounds settle before reading the view
        w, s, e, n = page.evaluate("() => window.geo311Resident.map.getBounds().toBBoxString().split(',').map(Number)")
        parts = urlsplit(req.value.url)
        return {"west": w, "south": s, "east": e, "north": n}, f"{parts.path}?{parts.query}"
    finally:
        context.close()


LOADED = """(n) => {
  const g = window.geo311Resident;
  return !!g && g.markers.size === n && g.reports.getLayers().length === n && performance.now();
}"""

# A spot of the map with no marker, cluster or control on it; a click listener added after the
# page's own records when the click was handled (the page's handler, which places the pin, runs first).
ARM_CLICK = """() => {
  const g = window.geo311Resident, box = g.map.getContainer().getBoundingClientRect();
  for (let fy = 0.1; fy < 0.95; fy += 0.05) {
    for (let fx = 0.9; fx > 0.1; fx -= 0.05) {
      const x = box.left + box.width * fx, y = box.top + box.height * fy;
      const hit = document.elementFromPoint(x, y);
      if (hit && g.map.getContainer().contains(hit) &&
          !hit.closest(".leaflet-marker-icon, .leaflet-control, .leaflet-popup, .leaflet-interactive")) {
        window.__benchPinAt = null;
        g.map.once("click", () => { window.__benchPinAt = performance.now(); });
        return [x, y];
      }
    }
  }
  return null;
}"""

PINNED = """() => window.__benchPinAt !== null && document.getElementById("g311-lat").value !== "" &&
  window.__benchPinAt"""

TIMINGS = """(path) => {
  const nav = performance.getEntriesByType("navigation")[0];
  const pts = performance.getEntriesByType("resource").filter((e) => new URL(e.name).pathname === path);
  return {dom_content_loaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
          points_requests: pts.length, points_response_end: pts.length ? pts[0].responseEnd : null,
          points_bytes: pts.length ? pts[0].encodedBodySize : null};
}"""


def page_run(browser: Browser, base: str, expected: int) -> dict[str, float]:
    context, page = new_page(browser, base)
    try:
        page.goto("/", wait_until="commit")
        loaded = page.wait_for_function(LOADED, arg=expected, polling="raf").json_value()
        spot = page.evaluate(ARM_CLICK)
        if spot is None:
            raise RuntimeError("no free spot on the map to click")
        page.mouse.click(*spot)
        pinned = page.wait_for_function(PINNED, polling="raf").json_value()
        page.wait_for_timeout(500)       # a second points request, if the page makes one, shows up
        t = page.evaluate(TIMINGS, POINTS_PATH)
        return {"markers_ms": loaded, "interactive_ms": pinned, **t}
    finally:
        context.close()


# ----- the map data request -------------------------------------------------------------------
def captured_sql(db: BenchDb, bbox: str) -> tuple[str, dict[str, Any]]:
    """The statement and parameters geo311 sends to PostgreSQL for the points request."""
    engine = create_engine(db.url, poolclass=pool.NullPool)
    seen: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _capture(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    flt = ReportFilter(bbox=parse_bbox(bbox), statuses=parse_statuses("open"))
    with Session(engine) as session:
        report_points(session, flt)
    engine.dispose()
    statement, params = next((s, p) for s, p in seen if "FeatureCollection" in s)
    return statement, dict(params)


def time_http(base: str, path: str, n: int) -> tuple[list[float], int, int]:
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(WARMUP_REQUESTS):
            client.get(path).raise_for_status()
        times, size, features = [], 0, 0
        for _ in range(n):
            t0 = time.perf_counter()
            r = client.get(path)
            body = r.content
            times.append(time.perf_counter() - t0)
            r.raise_for_status()
            size = len(body)
        features = len(r.json()["features"])
    return times, size, features


def time_floor(db: BenchDb, statement: str, params: dict[str, Any], n: int) -> tuple[list[float], int]:
    with db.connect() as conn:
        for _ in range(WARMUP_REQUESTS):
            conn.execute(statement, params).fetchone()
        times, size = [], 0
        for _ in range(n):
            t0 = time.perf_counter()
            text = conn.execute(statement, params).fetchone()[0]
            times.append(time.perf_counter() - t0)
            size = len(text.encode())
    return times, size


def ms(values: list[float], p: float) -> float:
    return percentile(values, p) * 1000


def verdict(value: float, target: float) -> str:
    return f"(target < {target:g}: {'met' if value < target else 'MISSED'})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reports", type=int, default=10_000, help="open reports in the visible area")
    ap.add_argument("--requests", type=int, default=20, help="measured map data requests (HTTP and floor)")
    ap.add_argument("--runs", type=int, default=5, help="measured page loads")
    ap.add_argument("--reuse", action="store_true", help=f"keep {DB_NAME} when it holds --reports open reports")
    args = ap.parse_args()

    db = bench_db(DB_NAME)
    if not (args.reuse and db.exists() and open_reports(db) == args.reports):
        db.drop()
        db.create()
    with db.connect() as conn:
        describe_machine(conn)

    with sync_playwright() as pw:
        browser = launch(pw)
        figure("machine.chromium", browser.version)
        with running_server(db.url) as server:
            view, request = discover_view(browser, server.url)
        if open_reports(db) != args.reports:
            t0 = time.perf_counter()
            fill(db, view, args.reports)
            figure("map.setup.insert_s", time.perf_counter() - t0)
        bbox = parse_qs(urlsplit(request).query)["bbox"][0]
        figure("map.view", ",".join(f"{view[k]:.5f}" for k in ("west", "south", "east", "north")))
        figure("map.points.request", request)
        statement, params = captured_sql(db, bbox)

        figure("machine.loadavg_before", loadavg())
        with running_server(db.url) as server:
            http, size, features = time_http(server.url, request, args.requests)
            floor, floor_size = time_floor(db, statement, params, args.requests)
            page_run(browser, server.url, features)                 # warm-up: not counted
            runs = [page_run(browser, server.url, features) for _ in range(args.runs)]
        figure("machine.loadavg_after", loadavg())
        browser.close()

    figure("map.reports.open_in_view", features)
    figure("map.points.bytes", size, f"(floor returns {floor_size})")
    figure("map.points.server_ms.p50", ms(http, 50))
    figure("map.points.server_ms.p95", ms(http, 95), verdict(ms(http, 95), TARGET_POINTS_MS))
    figure("map.points.floor_ms.p50", ms(floor, 50))
    figure("map.points.floor_ms.p95", ms(floor, 95))
    figure("map.points.server_over_floor", f"{ms(http, 50) / ms(floor, 50):.2f}")

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    figure("map.page.dom_content_loaded_ms.p50", med("dom_content_loaded"))
    figure("map.page.points_response_end_ms.p50", med("points_response_end"))
    figure("map.page.markers_loaded_ms.p50", med("markers_ms"))
    figure("map.page.interactive_ms.p50", med("interactive_ms"), verdict(med("interactive_ms"), TARGET_PAGE_MS))
    figure("map.page.interactive_ms.max", max(r["interactive_ms"] for r in runs))
    figure("map.page.points_requests_per_load", "/".join(str(r["points_requests"]) for r in runs))


if __name__ == "__main__":
    main()

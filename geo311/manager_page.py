"""The manager page `/manager`: where and when reports pile up, which districts fall behind.

A pure builder like pages.py and crew_page.py (no database, no HTTP). The server builds the frame:
who is signed in, the filter form (categories, statuses, dates, district layers; pre-filled from
the page's query string), the view switch, the download links for the current filters, the empty
overdue table and trend, and the map with an empty leaflet.heat layer. maps/manager.js then loads
the data from the managers' API and keeps it current:

- the heat layer from GET /api/v1/heatmap for the visible box and zoom (aggregated cells from the
  rollups, each weighted by its report count; reloaded when the map moves or a filter changes);
- the district choropleth, the overdue table and the legend's classes from GET
  /api/v1/stats/districts (one call per filter change);
- the trend from GET /api/v1/stats/timeseries.

The page's `from` and `to` dates are both inclusive (what a person means by "from 1 March to
31 March"); the API's `until` is exclusive, so `to` is sent as `until` = `to` + 1 day.

All text from data is escaped by Jinja's autoescape here, and put in the DOM with textContent by
manager.js; the config travels as JSON through map_assets.script_json().
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from branca.element import Element
from folium.plugins import HeatMap

from geo311.map_assets import (
    STATIC_PREFIX,
    add_body,
    escape_text,
    finish,
    local_figure,
    script_json,
)
from geo311.models import CLOSED_STATUSES, STATUSES
from geo311.pages import DEFAULT_TILE_ATTRIBUTION, DEFAULT_TILE_URL, bbox_bounds, lat_lon
from geo311.staff_pages import message_page, template

#: what the choropleth can colour the districts by: (key, label, what it counts, palette light -> dark)
MEASURES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("overdue", "Overdue", "open reports older than their category's target, now",
     ("#fee2e2", "#fca5a5", "#f87171", "#dc2626", "#7f1d1d")),
    ("open", "Open", "open, assigned or in-progress reports, now",
     ("#ffedd5", "#fdba74", "#fb923c", "#ea580c", "#7c2d12")),
    ("new", "New in the period", "reports created in the period",
     ("#dbeafe", "#93c5fd", "#60a5fa", "#2563eb", "#1e3a8a")),
    ("resolved", "Resolved in the period", "reports resolved in the period",
     ("#dcfce7", "#86efac", "#4ade80", "#16a34a", "#14532d")),
)
MEASURE_KEYS = tuple(m[0] for m in MEASURES)
VIEWS = ("heat", "districts")
INTERVALS = ("day", "week", "month")
#: leaflet.heat's gradient (intensity 0..1 -> colour); the legend draws the same stops
HEAT_GRADIENT = {"0.25": "#2563eb", "0.45": "#06b6d4", "0.65": "#84cc16", "0.82": "#facc15", "1": "#dc2626"}
HEAT_MIN_OPACITY = 0.2
OVERDUE_ROWS = 10


def _words(code: Any) -> str:
    return str(code or "").replace("_", " ")




MANAGER_PANEL = """\
<a class="g311-skip" href="#g311-overdue-title">Skip to the overdue table</a>
<aside class="g311-panel g311-manager-panel" id="g311-panel" aria-labelledby="g311-title">
  <div class="g311-crew-bar">
    <p class="g311-hint" id="g311-who">Signed in as {{ signed_in_as }}</p>
    <form method="post" action="/logout" id="g311-logout">
      <button type="submit" id="g311-signout">Sign out</button>
    </form>
  </div>
  <h1 id="g311-title">Reports: where, when, and what is overdue</h1>
  <noscript><p class="g311-error">This page needs JavaScript to show the map, the table and the trend.
    The CSV downloads work without it.</p></noscript>
  <form method="get" action="/manager" id="g311-filters" aria-label="Filters">
    <div class="g311-row">
      <div>
        <label for="g311-category">Category</label>
        <select id="g311-category" name="category">
          <option value="">All categories</option>
          {% for c in categories %}
          <option value="{{ c.code }}"{% if c.code == f.category %} selected{% endif %}>{{ c.name }}{% if c.active is false %} (inactive){% endif %}</option>
          {% endfor %}
        </select>
      </div>
      <div>
        <label for="g311-status-filter">Status <span class="g311-opt">(heat map)</span></label>
        <select id="g311-status-filter" name="status">
          {% for value, label, _param in statuses %}
          <option value="{{ value }}"{% if value == f.status %} selected{% endif %}>{{ label }}</option>
          {% endfor %}
        </select>
      </div>
    </div>
    <div class="g311-row">
      <div>
        <label for="g311-from">From <span class="g311-opt">(first day)</span></label>
        <input id="g311-from" name="from" type="date" value="{{ f.from }}">
      </div>
      <div>
        <label for="g311-to">To <span class="g311-opt">(last day)</span></label>
        <input id="g311-to" name="to" type="date" value="{{ f.to }}">
      </div>
    </div>
    <p class="g311-hint" id="g311-dates-help">Days in UTC. Without dates the heat map counts every
      report and the districts' new and resolved counts cover the last 30 days.</p>
    <div class="g311-row">
      <div>
        <label for="g311-layer">Districts</label>
        <select id="g311-layer" name="layer">
          {% for l in layers %}
          <option value="{{ l.key }}"{% if l.key == f.layer %} selected{% endif %}>{{ l.title }}</option>
          {% endfor %}
        </select>
      </div>
      <div>
        <label for="g311-interval">Trend by</label>
        <select id="g311-interval" name="interval">
          {% for i in intervals %}
          <option value="{{ i }}"{% if i == f.interval %} selected{% endif %}>{{ i }}</option>
          {% endfor %}
        </select>
      </div>
    </div>
    <fieldset id="g311-view" class="g311-view">
      <legend>Map</legend>
      <label class="g311-check"><input type="radio" name="view" value="heat" id="g311-view-heat"{% if f.view == "heat" %} checked{% endif %}>Heat map of reports</label>
      <label class="g311-check"><input type="radio" name="view" value="districts" id="g311-view-districts"{% if f.view == "districts" %} checked{% endif %}>Districts, coloured by</label>
      <select id="g311-measure" name="measure" aria-label="Colour the districts by">
        {% for key, label, help, _palette in measures %}
        <option value="{{ key }}"{% if key == f.measure %} selected{% endif %}>{{ label }}</option>
        {% endfor %}
      </select>
    </fieldset>
    <div class="g311-filter-actions">
      <button type="submit" id="g311-apply">Apply</button>
      <button type="button" id="g311-clear">Clear filters</button>
    </div>
  </form>
  <p id="g311-summary" aria-live="polite">Loading…</p>
  <p id="g311-status" role="status" aria-live="polite"></p>
  <p class="g311-downloads" id="g311-downloads">Download as CSV (current filters):
    <a id="g311-csv-heat" href="{{ csv.heat }}" download>heat map cells</a> ·
    <a id="g311-csv-districts" href="{{ csv.districts }}" download>districts</a> ·
    <a id="g311-csv-trend" href="{{ csv.trend }}" download>trend</a></p>
  <section id="g311-overdue" aria-labelledby="g311-overdue-title">
    <h2 id="g311-overdue-title" tabindex="-1">Most overdue work: <span id="g311-overdue-layer">{{ layer_title }}</span></h2>
    <p class="g311-hint" id="g311-overdue-note">Open and overdue are as of now; new and resolved are in the period.</p>
    <div class="g311-table-wrap">
      <table id="g311-overdue-table" class="g311-table">
        <thead><tr>
          <th scope="col">District</th><th scope="col" class="g311-num">Open</th>
          <th scope="col" class="g311-num">Overdue</th><th scope="col" class="g311-num">Median age</th>
          <th scope="col" class="g311-num">New</th><th scope="col" class="g311-num">Resolved</th>
        </tr></thead>
        <tbody id="g311-overdue-rows"></tbody>
      </table>
    </div>
  </section>
  <section id="g311-trend" aria-labelledby="g311-trend-title">
    <h2 id="g311-trend-title">Trend: new and resolved per <span id="g311-trend-interval">{{ f.interval }}</span><span id="g311-trend-where"></span></h2>
    <p id="g311-trend-summary" class="g311-hint"></p>
    <div id="g311-trend-chart" class="g311-trend-chart"></div>
    <details id="g311-trend-numbers">
      <summary>The numbers</summary>
      <table id="g311-trend-table" class="g311-table">
        <thead><tr><th scope="col">Period from</th><th scope="col" class="g311-num">New</th>
          <th scope="col" class="g311-num">Resolved</th></tr></thead>
        <tbody id="g311-trend-rows"></tbody>
      </table>
    </details>
  </section>
</aside>
<script type="application/json" id="geo311-config">{{ config_json|safe }}</script>
"""


#: the status filter: (page value, label, the API's `status`); the API's `open` alone means the
#: open group (open, assigned, in progress)
STATUS_CHOICES: tuple[tuple[str, str, str], ...] = (
    ("", "Any status", ""),
    ("open", "Open, assigned or in progress", "open"),
    ("closed", "Closed: resolved, duplicate or not actionable", ",".join(CLOSED_STATUSES)),
    *((s, _words(s).capitalize(), s) for s in STATUSES if s != "open"),
)
_STATUS_PARAM = {value: param for value, _label, param in STATUS_CHOICES}


def _iso_day(value: Any) -> str:
    try:
        return date.fromisoformat(str(value or "").strip()).isoformat()
    except ValueError:
        return ""


def clean_filters(raw: Mapping[str, Any] | None, categories: Sequence[Mapping[str, Any]],
                  layers: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The page's filters from its query string, each one a known value or its default (anything
    else is dropped, never echoed): category, status, from, to, layer, view, measure, interval."""
    raw = raw or {}

    def pick(name: str, allowed: Sequence[str], default: str) -> str:
        value = str(raw.get(name) or "").strip()
        return value if value in allowed else default

    layer_keys = [str(layer["key"]) for layer in layers]
    default_layer = "neighborhood" if "neighborhood" in layer_keys else (layer_keys[0] if layer_keys else "")
    out = {
        "category": pick("category", [str(c["code"]) for c in categories], ""),
        "status": pick("status", list(_STATUS_PARAM), ""),
        "from": _iso_day(raw.get("from")),
        "to": _iso_day(raw.get("to")),
        "layer": pick("layer", layer_keys, default_layer),
        "view": pick("view", VIEWS, "heat"),
        "measure": pick("measure", MEASURE_KEYS, "overdue"),
        "interval": pick("interval", INTERVALS, "week"),
    }
    if out["from"] and out["to"] and out["from"] > out["to"]:
        out["from"], out["to"] = out["to"], out["from"]
    return out


def api_params(f: Mapping[str, str], kind: str) -> dict[str, str]:
    """The API query for one endpoint (heat, districts, trend) from the page's filters; the same
    rules as manager.js's apiParams()."""
    params: dict[str, str] = {}
    if f.get("category"):
        params["category"] = f["category"]
    if kind == "heat" and f.get("status"):
        params["status"] = _STATUS_PARAM[f["status"]]
    if f.get("from"):
        params["since"] = f["from"]
    if f.get("to"):
        params["until"] = (date.fromisoformat(f["to"]) + timedelta(days=1)).isoformat()
    if kind == "districts":
        params["layer"] = f["layer"]
    if kind == "trend":
        params["interval"] = f["interval"]
    return params


def export_urls(f: Mapping[str, str], api_base: str = "/api/v1", *, bbox: Sequence[float] | None = None,
                zoom: int = 11) -> dict[str, str]:
    """The CSV downloads for the current filters (manager.js keeps them current as the map moves)."""
    base = api_base.rstrip("/")
    heat = api_params(f, "heat")
    if bbox:
        heat = {"bbox": ",".join(f"{float(v):.5f}" for v in bbox), "zoom": str(int(zoom)), **heat}
    return {
        "heat": f"{base}/heatmap?" + urlencode({**heat, "format": "csv"}),
        "districts": f"{base}/stats/districts?" + urlencode({**api_params(f, "districts"), "format": "csv"}),
        "trend": f"{base}/stats/timeseries?" + urlencode({**api_params(f, "trend"), "format": "csv"}),
    }


def _layer_choices(layers: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [{"key": str(layer["key"]), "title": str(layer.get("title") or _words(layer["key"]).capitalize())}
            for layer in layers]


def manager_page(
    *,
    csrf_token: str,
    signed_in_as: str,
    categories: Sequence[Mapping[str, Any]],
    layers: Sequence[Mapping[str, Any]],
    bbox: Sequence[float] | None = None,
    filters: Mapping[str, Any] | None = None,
    tile_url: str = DEFAULT_TILE_URL,
    tile_attribution: str = DEFAULT_TILE_ATTRIBUTION,
    static_prefix: str = STATIC_PREFIX,
    api_base: str = "/api/v1",
    zoom: int = 11,
) -> str:
    """The manager page: the panel, the map (fitted to `bbox`, [minlon, minlat, maxlon, maxlat],
    the service area), an empty heat layer, and the config for manager.js.

    `categories` are categories.list_categories() rows ({code, name, active}); `layers` are the
    district layers ({key, title}); `filters` the page's query string (see clean_filters);
    `signed_in_as` plain text."""
    layer_list = _layer_choices(layers)
    cats = [{"code": str(c["code"]), "name": str(c.get("name") or _words(c["code"])), "active": c.get("active")}
            for c in categories]
    f = clean_filters(filters, cats, layer_list)
    center = [(bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2] if bbox else None
    m = local_figure(title="Managers · geo311", location=lat_lon(center) if center else [0.0, 0.0],
                     zoom=zoom if center else 2, tile_url=tile_url, tile_attribution=tile_attribution,
                     control_scale=True)
    m.get_root().header.add_child(
        Element(f'<meta name="csrf-token" content="{escape_text(csrf_token)}">'), name="geo311_csrf")
    heat = HeatMap([], name="Reports", control=False, min_opacity=HEAT_MIN_OPACITY, radius=12, blur=10,
                   max_zoom=0, gradient=HEAT_GRADIENT).add_to(m)
    if bbox:
        m.fit_bounds(bbox_bounds(bbox))
    base = api_base.rstrip("/")
    config = {
        "map": m.get_name(), "heat": heat.get_name(), "api": base,
        "endpoints": {"heat": f"{base}/heatmap", "districts": f"{base}/stats/districts",
                      "trend": f"{base}/stats/timeseries"},
        "page": "/manager", "login_url": "/login?next=/manager",
        "categories": {c["code"]: c["name"] for c in cats},
        "layers": {layer["key"]: layer["title"] for layer in layer_list},
        "measures": [{"key": k, "label": label, "help": help_, "palette": list(palette)}
                     for k, label, help_, palette in MEASURES],
        "statuses": _STATUS_PARAM,
        "heat_gradient": HEAT_GRADIENT, "heat_min_opacity": HEAT_MIN_OPACITY,
        "defaults": clean_filters({}, cats, layer_list), "filters": f,
        "overdue_rows": OVERDUE_ROWS, "bbox": list(bbox) if bbox else None,
    }
    add_body(m, "geo311_manager", template(MANAGER_PANEL).render(
        signed_in_as=signed_in_as, categories=cats, statuses=STATUS_CHOICES, layers=layer_list,
        intervals=INTERVALS, measures=MEASURES, f=f,
        layer_title=next((layer["title"] for layer in layer_list if layer["key"] == f["layer"]), ""),
        csv=export_urls(f, base, bbox=bbox, zoom=zoom), config_json=script_json(config)))
    return finish(m, static_prefix, css=["geo311.css", "manager.css"], js=["manager.js"],
                  body_class="g311-manager")


def forbidden_page(*, signed_in_as: str, home: str | None = None, static_prefix: str = STATIC_PREFIX) -> str:
    """A plain page (no map, no script) for a signed-in user whose role may not see /manager."""
    return message_page(title="Managers only", signed_in_as=signed_in_as, home=home, static_prefix=static_prefix,
                        message="The manager page is for keys of the manager or admin role; you are signed in "
                                f"as {signed_in_as}. Sign out and sign in with a manager's key to see it.")

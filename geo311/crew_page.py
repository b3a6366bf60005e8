"""The crew page `/crew`: a crew's work list as a route on a map, with the list beside it.

A pure builder like pages.py (no database, no HTTP). The server-built part is the frame: who is
signed in, the crew (name, yard, areas, categories), the download links, the sign-out form, and
for managers a crew picker. The stops themselves are loaded by maps/crew.js from the work-list
API (GET /api/v1/crews/{id}/worklist) when the page opens and after every status change, so the
page never shows a list older than its last action. Each stop shows its photos' thumbnails (from
/photos/, within the page's img-src 'self'), linked to the public copies and to the originals
(staff only, with their EXIF data).

All text from data is escaped by Jinja's autoescape here, and by textContent in crew.js; the
CSRF token is in <meta name="csrf-token"> for crew.js to send as X-CSRF-Token on its POSTs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from branca.element import Element

from geo311.map_assets import (
    STATIC_PREFIX,
    add_body,
    escape_text,
    finish,
    local_figure,
    script_json,
)
from geo311.pages import DEFAULT_TILE_ATTRIBUTION, DEFAULT_TILE_URL, lat_lon
from geo311.staff_pages import message_page, template
from geo311.worklists import BANDS as WORKLIST_BANDS

#: the work list's bands, most urgent first (the page's legend; crew.js colours markers by them)
BANDS = tuple(name for name, _low, _high in WORKLIST_BANDS)


CREW_PANEL = """\
<a class="g311-skip" href="#g311-stops-title">Skip to the stops</a>
<aside class="g311-panel g311-crew-panel" id="g311-panel" aria-labelledby="g311-title">
  <div class="g311-crew-bar">
    <p class="g311-hint" id="g311-who">Signed in as {{ signed_in_as }}</p>
    <form method="post" action="/logout" id="g311-logout">
      <button type="submit" id="g311-signout">Sign out</button>
    </form>
  </div>
  <h1 id="g311-title">Work list: <span id="g311-crew-name">{{ crew.name }}</span></h1>
  {% if choices %}
  <form method="get" action="/crew" id="g311-crew-pick">
    <label for="g311-crew">Crew</label>
    <div class="g311-row">
      <select id="g311-crew" name="crew">
        {% for c in choices %}
        <option value="{{ c.name }}"{% if c.id == crew.id %} selected{% endif %}>{{ c.name }}{% if c.active is false %} (inactive){% endif %}</option>
        {% endfor %}
      </select>
      <button type="submit" id="g311-crew-go">Show this crew</button>
    </div>
  </form>
  {% endif %}
  {% if crew.active is false %}<p class="g311-error">This crew is marked inactive.</p>{% endif %}
  <p class="g311-lede">Most urgent first, then in a short driving order from the yard.
    Distances are straight lines.</p>
  <details class="g311-crew-area">
    <summary>Area and categories</summary>
    <h2>Districts</h2>
    <ul>
      {% for layer, name in areas %}<li>{{ name }} <span class="g311-opt">({{ layer }})</span></li>{% endfor %}
    </ul>
    <h2>Categories</h2>
    <ul>
      {% for c in categories %}<li>{{ c }}</li>{% endfor %}
    </ul>
  </details>
  <p class="g311-crew-downloads">Download the list:
    <a id="g311-csv" href="{{ csv_url }}" download>CSV (spreadsheet)</a> ·
    <a id="g311-gpx" href="{{ gpx_url }}" download>GPX (GPS apps)</a></p>
  <ul class="g311-legend" aria-label="Map legend">
    <li><span class="g311-key g311-key-start" aria-hidden="true"></span>Start (yard)</li>
    {% for band in bands %}<li><span class="g311-key g311-band-{{ band }}" aria-hidden="true"></span>{{ band }}</li>{% endfor %}
    <li><span class="g311-key g311-key-active" aria-hidden="true"></span>in progress</li>
  </ul>
  <noscript><p class="g311-error">This page needs JavaScript to show the stops and change their status.
    The CSV and GPX downloads work without it.</p></noscript>
  <div class="g311-stops-head">
    <h2 id="g311-stops-title" tabindex="-1">Stops</h2>
    <button type="button" id="g311-reload">Reload the list</button>
  </div>
  <p id="g311-summary" aria-live="polite">Loading the work list…</p>
  <p id="g311-status" role="status" aria-live="polite"></p>
  <ol id="g311-stops" class="g311-stops" aria-labelledby="g311-stops-title"></ol>
</aside>
<script type="application/json" id="geo311-config">{{ config_json|safe }}</script>
"""


def _words(code: Any) -> str:
    return str(code or "").replace("_", " ")


def _areas(values: Sequence[str]) -> list[tuple[str, str]]:
    """["coalition:Southeast Uplift", ...] -> [("coalition", "Southeast Uplift"), ...]."""
    out = []
    for v in values or ():
        layer, _sep, name = str(v).partition(":")
        out.append((_words(layer), name) if name else ("", layer))
    return out


def worklist_url(crew_id: int, api_base: str = "/api/v1", fmt: str | None = None) -> str:
    """The crew's work list in the API (by id: no name to quote); `fmt` csv or gpx for a download."""
    url = f"{api_base.rstrip('/')}/crews/{int(crew_id)}/worklist"
    return f"{url}?format={fmt}" if fmt else url


def crew_page(
    *,
    crew: Mapping[str, Any],
    csrf_token: str,
    signed_in_as: str,
    choices: Sequence[Mapping[str, Any]] = (),
    tile_url: str = DEFAULT_TILE_URL,
    tile_attribution: str = DEFAULT_TILE_ATTRIBUTION,
    static_prefix: str = STATIC_PREFIX,
    api_base: str = "/api/v1",
    zoom: int = 13,
    limit: int = 200,
) -> str:
    """The crew page for one crew: the map (centred on the yard), the panel and the config.

    `crew` is crews.get_crew(): {id, name, yard: [lon, lat], areas, categories, active};
    `choices` (managers and admins) is crews.list_crews(), for the crew picker; a crew gets none.
    `signed_in_as` is plain text (e.g. "crew North Portland")."""
    yard = [float(crew["yard"][0]), float(crew["yard"][1])]
    m = local_figure(title=f"Work list: {crew['name']} · geo311", location=lat_lon(yard), zoom=zoom,
                     tile_url=tile_url, tile_attribution=tile_attribution, control_scale=True)
    m.get_root().header.add_child(
        Element(f'<meta name="csrf-token" content="{escape_text(csrf_token)}">'), name="geo311_csrf")
    config = {
        "map": m.get_name(), "api": api_base.rstrip("/"), "report_url": "/reports/",
        "crew": {"id": int(crew["id"]), "name": crew["name"]}, "yard": yard,
        "worklist": worklist_url(crew["id"], api_base), "limit": int(limit), "bands": list(BANDS),
        "login_url": "/login?next=/crew",
    }
    add_body(m, "geo311_crew", template(CREW_PANEL).render(
        crew=crew, choices=list(choices), signed_in_as=signed_in_as, bands=BANDS,
        areas=_areas(crew.get("areas") or ()), categories=[_words(c) for c in crew.get("categories") or ()],
        csv_url=worklist_url(crew["id"], api_base, "csv"), gpx_url=worklist_url(crew["id"], api_base, "gpx"),
        config_json=script_json(config)))
    return finish(m, static_prefix, css=["geo311.css", "crew.css"], js=["crew.js"], body_class="g311-crew")


def no_crew_page(
    *,
    title: str,
    message: str,
    signed_in_as: str,
    choices: Sequence[Mapping[str, Any]] = (),
    static_prefix: str = STATIC_PREFIX,
) -> str:
    """A plain staff page (no map, no script): no crews yet, or no crew of that name. For managers,
    `choices` lists the crews there are, each a link to its work list."""
    links = [{"name": c["name"], "href": "/crew?" + urlencode({"crew": c["name"]})} for c in choices]
    return message_page(title=title, message=message, signed_in_as=signed_in_as, choices=links,
                        static_prefix=static_prefix)

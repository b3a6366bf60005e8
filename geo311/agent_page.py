"""The agent page `/agent`: a 311 agent takes a call, an email or a walk-in from start to finish.

A pure builder like pages.py and crew_page.py (no database, no HTTP). The server builds the frame:
who is signed in, the search box (a report number, a phone number or an email), the call form
(the caller's channel and details, the address, the category, the nearby open reports, the
description), the empty report view with its note form, the empty caller history, and the map
(centred on the service area). maps/agent.js does the rest with the API, as the signed-in agent
(the session cookie; changes carry the CSRF token from <meta name="csrf-token">):

- the search: GET /api/v1/callers?phone=|email= (the caller's history), or GET /api/v1/reports/{id}
  and /events (the report, with internal notes and the submitters' contact data);
- the address: GET /api/v1/geocode (the pin goes to a clear best match; otherwise the candidates
  are listed and choosing one places it), GET /api/v1/reverse after the pin is moved on the map;
- the categories from GET /api/v1/categories; the open reports of the chosen category near the pin
  from GET /api/v1/reports/nearby, each with "Attach caller to this one"
  (POST /api/v1/reports/{id}/submissions);
- a new report: POST /api/v1/reports with X-Geo311-Channel phone|email|walk_in;
- notes: POST /api/v1/reports/{id}/notes, internal (staff only) or public.

All text from data is escaped by Jinja's autoescape here, and put in the DOM with textContent by
agent.js; the config travels as JSON through map_assets.script_json().
"""

from __future__ import annotations

from collections.abc import Sequence

from branca.element import Element

from geo311 import geocoding
from geo311.contacts import AGENT_CHANNELS
from geo311.map_assets import (
    STATIC_PREFIX,
    add_body,
    escape_text,
    finish,
    local_figure,
    script_json,
)
from geo311.pages import DEFAULT_TILE_ATTRIBUTION, DEFAULT_TILE_URL, bbox_bounds, lat_lon
from geo311.staff_pages import message_page, template

#: how a caller reached 311 (X-Geo311-Channel), as the page names them
CHANNEL_LABELS = {"phone": "Phone", "email": "Email", "walk_in": "Walk-in"}
CHANNELS = tuple((code, CHANNEL_LABELS[code]) for code in AGENT_CHANNELS)
#: open reports of the category this close to the pin are offered to attach the caller to
#: (at least: a category whose dedup radius is larger uses that)
NEARBY_RADIUS_M = 250
#: a report number is at most this many digits; longer digit strings are phone numbers
REPORT_ID_DIGITS = 9


AGENT_PANEL = """\
<a class="g311-skip" href="#g311-search-q">Skip to the search</a>
<a class="g311-skip" href="#g311-call-title">Skip to the call form</a>
<aside class="g311-panel g311-agent-panel" id="g311-panel" aria-labelledby="g311-title">
  <div class="g311-agent-bar">
    <p class="g311-hint" id="g311-who">Signed in as {{ signed_in_as }}</p>
    <button type="button" id="g311-new-call" class="g311-new-call">New call</button>
    <form method="post" action="/logout" id="g311-logout">
      <button type="submit" id="g311-signout">Sign out</button>
    </form>
  </div>
  <h1 id="g311-title">Take a call</h1>
  <noscript><p class="g311-error">This page needs JavaScript to look callers up and enter reports.</p></noscript>
  <form id="g311-search" role="search" method="get" action="#" novalidate>
    <label for="g311-search-q">Find a caller or a report</label>
    <div class="g311-row">
      <input id="g311-search-q" name="q" type="search" autocomplete="off" spellcheck="false"
             maxlength="320" aria-describedby="g311-search-help g311-search-error">
      <button type="submit" id="g311-search-go">Search</button>
    </div>
    <p id="g311-search-help" class="g311-hint">A report number (up to {{ id_digits }} digits), a phone number or an email
      address. Press Enter to search.</p>
    <p id="g311-search-error" class="g311-error g311-field-error" role="alert"></p>
  </form>

  <form id="g311-call" method="post" action="#" novalidate autocomplete="off" aria-labelledby="g311-call-title">
    <h2 id="g311-call-title" tabindex="-1">New report for the caller</h2>
    <fieldset id="g311-caller">
      <legend>Caller</legend>
      <fieldset class="g311-channels" id="g311-channels">
        <legend>Channel</legend>
        {% for code, label in channels %}
        <label class="g311-check" for="g311-channel-{{ code }}"><input type="radio" name="channel"
          id="g311-channel-{{ code }}" value="{{ code }}"{% if code == channel %} checked{% endif %}>{{ label }}</label>
        {% endfor %}
      </fieldset>
      <label for="g311-name">Name <span class="g311-opt">(optional)</span></label>
      <input id="g311-name" name="name" type="text" maxlength="200" autocomplete="off">
      <div class="g311-row">
        <div>
          <label for="g311-phone">Phone</label>
          <input id="g311-phone" name="phone" type="tel" maxlength="50" autocomplete="off"
                 aria-describedby="g311-phone-error">
          <p id="g311-phone-error" class="g311-error g311-field-error" role="alert"></p>
        </div>
        <div>
          <label for="g311-email">Email</label>
          <input id="g311-email" name="email" type="email" maxlength="320" autocomplete="off" spellcheck="false"
                 aria-describedby="g311-email-error">
          <p id="g311-email-error" class="g311-error g311-field-error" role="alert"></p>
        </div>
      </div>
    </fieldset>

    <fieldset id="g311-where">
      <legend>Where</legend>
      <label for="g311-address">Address</label>
      <div class="g311-row">
        <input id="g311-address" name="address" type="text" maxlength="200" autocomplete="off" spellcheck="false"
               aria-describedby="g311-address-status">
        <button type="button" id="g311-find">Find</button>
      </div>
      <p id="g311-address-status" class="g311-hint" aria-live="polite">Type the address and press Enter to place the
        pin. Click the map, or drag the pin, to adjust it.</p>
      <ul id="g311-candidates" class="g311-candidates" aria-label="Addresses found" hidden></ul>
      <p id="g311-pin-status" class="g311-pin-status" aria-live="polite">No pin yet.</p>
    </fieldset>

    <fieldset id="g311-what">
      <legend>What</legend>
      <label for="g311-category">Category</label>
      <select id="g311-category" name="category" required aria-describedby="g311-category-help">
        <option value="">Loading the categories…</option>
      </select>
      <p id="g311-category-help" class="g311-hint"></p>
      <section id="g311-nearby" aria-labelledby="g311-nearby-title">
        <h3 id="g311-nearby-title">Open reports nearby</h3>
        <p id="g311-nearby-status" class="g311-hint" aria-live="polite">Place the pin and choose a category to see the
          open reports of that category nearby.</p>
        <ol id="g311-nearby-list" class="g311-nearby-list"></ol>
      </section>
      <div id="g311-attributes" class="g311-attributes"></div>
      <label for="g311-description">Description</label>
      <textarea id="g311-description" name="description" rows="3" maxlength="4000"></textarea>
    </fieldset>
    <button type="submit" id="g311-submit" disabled>Create report</button>
    <p id="g311-status" role="status" aria-live="polite"></p>
    <div id="g311-outcome" class="g311-outcome" tabindex="-1"></div>
  </form>
</aside>

<aside class="g311-panel g311-side" id="g311-side" aria-label="The report and the caller's history">
  <section id="g311-report-view" class="g311-report-view" aria-labelledby="g311-report-title" hidden>
    <h2 id="g311-report-title" tabindex="-1">Report</h2>
    <div id="g311-report-body"></div>
    <h3 id="g311-events-title">History</h3>
    <ol id="g311-events" class="g311-events" aria-labelledby="g311-events-title"></ol>
    <form id="g311-note-form" method="post" action="#" novalidate>
      <label for="g311-note">Add a note</label>
      <textarea id="g311-note" name="note" rows="2" maxlength="2000" required></textarea>
      <fieldset class="g311-note-kind">
        <legend>Who sees it</legend>
        <label class="g311-check" for="g311-note-internal"><input type="radio" name="note-kind" id="g311-note-internal"
          value="internal" checked>Internal: staff only</label>
        <label class="g311-check" for="g311-note-public"><input type="radio" name="note-kind" id="g311-note-public"
          value="public">Public: shown on the report page</label>
      </fieldset>
      <button type="submit" id="g311-note-add">Add note</button>
      <p id="g311-note-status" role="status" aria-live="polite"></p>
    </form>
  </section>
  <section id="g311-history" aria-labelledby="g311-history-title">
    <h2 id="g311-history-title" tabindex="-1">Caller history</h2>
    <p id="g311-history-summary" aria-live="polite">Search a phone number or an email to see what the caller has
      reported before.</p>
    <ol id="g311-history-list" class="g311-history-list" aria-labelledby="g311-history-title"></ol>
  </section>
</aside>
<script type="application/json" id="geo311-config">{{ config_json|safe }}</script>
"""


def agent_page(
    *,
    csrf_token: str,
    signed_in_as: str,
    bbox: Sequence[float] | None = None,
    tile_url: str = DEFAULT_TILE_URL,
    tile_attribution: str = DEFAULT_TILE_ATTRIBUTION,
    static_prefix: str = STATIC_PREFIX,
    api_base: str = "/api/v1",
    zoom: int = 12,
    channel: str = "phone",
    nearby_radius_m: float = NEARBY_RADIUS_M,
) -> str:
    """The agent page: the panel (search, call form), the map, the report view and the history.

    `bbox` is the service area's [minlon, minlat, maxlon, maxlat] (the map opens on it);
    `channel` the one checked at first; `signed_in_as` plain text (e.g. "agent (key 1a2b)")."""
    if channel not in CHANNEL_LABELS:
        raise ValueError(f"channel must be one of {', '.join(CHANNEL_LABELS)}, not {channel!r}")
    center = [(bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2] if bbox else None
    m = local_figure(title="Take a call · geo311", location=lat_lon(center) if center else [0.0, 0.0],
                     zoom=zoom if center else 2, tile_url=tile_url, tile_attribution=tile_attribution,
                     control_scale=True)
    m.get_root().header.add_child(
        Element(f'<meta name="csrf-token" content="{escape_text(csrf_token)}">'), name="geo311_csrf")
    if bbox:
        m.fit_bounds(bbox_bounds(bbox))
    base = api_base.rstrip("/")
    config = {
        "map": m.get_name(), "api": base, "report_url": "/reports/", "login_url": "/login?next=/agent",
        "channels": dict(CHANNELS), "default_channel": channel,
        "nearby_radius_m": float(nearby_radius_m), "report_id_digits": REPORT_ID_DIGITS,
        # the same rule as intake's address lookup (geocoding.clear_best): place the pin without asking
        "geocode": {"clear_score": geocoding.CLEAR_SCORE, "clear_margin": geocoding.CLEAR_MARGIN,
                    "lone_score": geocoding.LONE_SCORE, "lone_margin": geocoding.LONE_MARGIN, "limit": 5},
    }
    add_body(m, "geo311_agent", template(AGENT_PANEL).render(
        signed_in_as=signed_in_as, channels=CHANNELS, channel=channel, id_digits=REPORT_ID_DIGITS,
        config_json=script_json(config)))
    return finish(m, static_prefix, css=["geo311.css", "agent.css"], js=["agent.js"], body_class="g311-agent")


def forbidden_page(*, signed_in_as: str, home: str | None = None, static_prefix: str = STATIC_PREFIX) -> str:
    """A plain page (no map, no script) for a signed-in user whose role may not use /agent."""
    return message_page(title="Agents only", signed_in_as=signed_in_as, home=home, static_prefix=static_prefix,
                        message="The agent page is for 311 agents, managers and administrators. "
                                f"You are signed in as {signed_in_as}.")

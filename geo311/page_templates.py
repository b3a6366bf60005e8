"""Jinja templates (autoescaped) for the server-built parts of the map pages; see pages.py.

The element ids here are the contract with maps/resident.js.
"""

RESIDENT_PANEL = """\
<a class="g311-skip" href="#g311-form">Skip to the report form</a>
<aside class="g311-panel" id="g311-panel" aria-labelledby="g311-title">
  <h1 id="g311-title">Report a problem</h1>
  <p class="g311-lede">Click the map to drop a pin, find an address, or give the place below. Drag the pin to adjust it.</p>
  <p id="g311-map-note" class="g311-hint" hidden></p>
  <noscript><p class="g311-error">This page needs JavaScript to send a report.</p></noscript>
  <form id="g311-form" method="post" action="#" autocomplete="on">
    <fieldset id="g311-where">
      <legend>Where</legend>
      <label for="g311-search">Find an address</label>
      <div class="g311-search-row">
        <input id="g311-search" type="search" autocomplete="off" enterkeyhint="search" maxlength="200"
               placeholder="House number and street" aria-describedby="g311-search-status">
        <button type="button" id="g311-search-go">Find</button>
      </div>
      <p id="g311-search-status" class="g311-hint" role="status" aria-live="polite"></p>
      <ul id="g311-candidates" class="g311-candidates" aria-label="Addresses that match" hidden></ul>
      <p id="g311-where-status" class="g311-hint">No pin yet: click the map, find an address, enter coordinates, or pick a district.</p>
      <p id="g311-nearest" class="g311-hint" aria-live="polite" hidden></p>
      <div class="g311-row">
        <div><label for="g311-lat">Latitude</label>
          <input id="g311-lat" name="lat" type="number" step="any" min="-90" max="90" inputmode="decimal"></div>
        <div><label for="g311-lon">Longitude</label>
          <input id="g311-lon" name="lon" type="number" step="any" min="-180" max="180" inputmode="decimal"></div>
      </div>
      <button type="button" id="g311-place">Place pin at these coordinates</button>
      <details id="g311-districts">
        <summary>Or pick a district and place the pin at its centre</summary>
        <label for="g311-layer">Kind of district</label>
        <select id="g311-layer"><option value="">Choose…</option></select>
        <label for="g311-district">District</label>
        <select id="g311-district" disabled><option value="">Choose a kind of district first</option></select>
        <button type="button" id="g311-district-go" disabled>Place pin at the district's centre</button>
      </details>
    </fieldset>
    <fieldset id="g311-what">
      <legend>What</legend>
      <label for="g311-category">Category</label>
      <select id="g311-category" name="category" required aria-describedby="g311-category-help">
        <option value="">Choose a category…</option>
        {% for group, cats in groups %}
        {% if group %}<optgroup label="{{ group }}">{% endif %}
        {% for c in cats %}
          <option value="{{ c.code }}">{{ c.name }}</option>
        {% endfor %}
        {% if group %}</optgroup>{% endif %}
        {% endfor %}
      </select>
      <p id="g311-category-help" class="g311-hint"></p>
      <div id="g311-attributes"></div>
      <label for="g311-description">Description</label>
      <textarea id="g311-description" name="description" rows="3"></textarea>
      <label for="g311-address">Address or landmark <span class="g311-opt">(optional)</span></label>
      <input id="g311-address" name="address" type="text" autocomplete="street-address">
    </fieldset>
    <fieldset id="g311-photo-box">
      <legend>Photos <span class="g311-opt">(optional)</span></legend>
      <label for="g311-photos">Add photos</label>
      <input type="file" id="g311-photos" multiple accept="image/jpeg,image/png,image/webp,image/heic,image/heif,.heic,.heif" name="photos" aria-describedby="g311-photos-help">
      <p id="g311-photos-help" class="g311-hint">JPEG, PNG, WebP or HEIC; up to {{ photos.max_count }} photos,
        {{ photos.max_mb }} each and {{ photos.max_request_mb }} together. A photo taken on the spot can place the pin.
        Published photos carry no location or camera data.</p>
      <p id="g311-photos-status" role="status" aria-live="polite"></p>
      <ul id="g311-photo-list" class="g311-photo-list" aria-label="Photos to send"></ul>
    </fieldset>
    <section id="g311-nearby" aria-labelledby="g311-nearby-title" hidden>
      <h2 id="g311-nearby-title">Is it one of these?</h2>
      <p class="g311-hint">Open reports of this category near your pin. If yours is one of them, add your report to it.</p>
      <ol id="g311-nearby-list"></ol>
    </section>
    <fieldset id="g311-who">
      <legend>About you <span class="g311-opt">(optional; only staff see it)</span></legend>
      <label for="g311-name">Name</label>
      <input id="g311-name" name="name" type="text" autocomplete="name">
      <label for="g311-email">Email</label>
      <input id="g311-email" name="email" type="email" autocomplete="email">
      <label for="g311-phone">Phone</label>
      <input id="g311-phone" name="phone" type="tel" autocomplete="tel">
    </fieldset>
    <button type="submit" id="g311-submit" disabled>Send report</button>
    <p id="g311-status" role="status" aria-live="polite"></p>
    <div id="g311-outcome" aria-live="polite"></div>
  </form>
</aside>
<script type="application/json" id="geo311-config">{{ config_json|safe }}</script>
"""

REPORT_BODY = """\
<header class="g311-topbar"><a href="/">Report a problem</a></header>
<main class="g311-report" id="g311-report">
  <h1>Report {{ p.id }}: {{ category }}</h1>
  <dl class="g311-facts">
    <dt>Status</dt><dd class="g311-status-value">{{ status }}</dd>
    <dt>Category</dt><dd>{{ category }}</dd>
    {% if p.agency %}<dt>Agency</dt><dd>{{ p.agency }}</dd>{% endif %}
    {% if p.jurisdiction %}<dt>Jurisdiction</dt><dd>{{ p.jurisdiction }}</dd>{% endif %}
    {% for title, names in districts %}
    <dt>{{ title }}</dt><dd>{{ names|join(", ") }}</dd>
    {% endfor %}
    {% if p.submission_count %}<dt>Submissions</dt><dd>{{ p.submission_count }}</dd>{% endif %}
    {% if created[1] %}<dt>Reported</dt><dd><time datetime="{{ created[0] }}">{{ created[1] }}</time></dd>{% endif %}
    {% if updated[1] %}<dt>Last update</dt><dd><time datetime="{{ updated[0] }}">{{ updated[1] }}</time></dd>{% endif %}
    {% if p.address %}<dt>Address</dt><dd>{{ p.address }}</dd>{% endif %}
    {% if location %}<dt>Location</dt><dd>{{ "%.6f"|format(location[0]) }}, {{ "%.6f"|format(location[1]) }}</dd>{% endif %}
  </dl>
  {% if p.near_boundary %}<p class="g311-hint">This place is close to a jurisdiction boundary; staff check that it went to the right agency.</p>{% endif %}
  {% if p.description %}
  <h2>Description</h2>
  <p class="g311-description">{{ p.description }}</p>
  {% endif %}
  {% if photos %}
  <h2>Photos</h2>
  <ul class="g311-photos" id="g311-photos" style="list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .5rem; align-items: flex-start">
    {% for ph in photos %}
    <li><a href="{{ ph.url }}"><img src="{{ ph.thumbnail_url }}" alt="Photo {{ loop.index }} of report {{ p.id }}"{% if ph.width and ph.height %} width="{{ ph.width }}" height="{{ ph.height }}"{% endif %} loading="lazy" style="max-width: 160px; height: auto"></a></li>
    {% endfor %}
  </ul>
  {% endif %}
  <h2>History</h2>
  {% if history %}
  <table class="g311-history">
    <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Note</th></tr></thead>
    <tbody>
    {% for e in history %}
      <tr>
        <td>{% if e.when[1] %}<time datetime="{{ e.when[0] }}">{{ e.when[1] }}</time>{% endif %}</td>
        <td>{% if e.from and e.to %}{{ e.from }} → {{ e.to }}{% elif e.to %}{{ e.to }}{% else %}{{ e.kind }}{% endif %}</td>
        <td>{{ e.note }}</td>
      </tr>
    {% endfor %}
    </tbody>
  </table>
  {% else %}
  <p>No changes yet.</p>
  {% endif %}
  <h2 class="g311-map-title">Map</h2>
</main>
"""

PLAIN_PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · geo311</title>
<link rel="stylesheet" href="{{ css }}">
</head>
<body class="g311-plain">
<header class="g311-topbar"><a href="/">Report a problem</a></header>
<main class="g311-report">
  <h1>{{ title }}</h1>
  <p>{{ message }}</p>
</main>
</body>
</html>
"""

"""Jinja templates (autoescaped) for the server-built parts of the map pages; see pages.py.

The element ids here are the contract with maps/resident.js. Every text a reader sees goes through
`_()` (the page's Translator; `{name}` placeholders as keyword arguments), so the extract command
finds it and the catalogs translate it.
"""

LANGUAGE_PICKER = """\
<form class="g311-lang" id="g311-lang-form" method="get" action="{{ action }}">
  <label for="g311-lang">{{ _("Language") }}{% if code != "en" %} <span lang="en">(Language)</span>{% endif %}</label>
  <select id="g311-lang" name="lang">
    {% for lang in languages %}
    <option value="{{ lang.code }}" lang="{{ lang.tag }}"{% if lang.rtl %} dir="rtl"{% endif %}{% if lang.code == code %} selected{% endif %}>{{ lang.name }}</option>
    {% endfor %}
  </select>
  <button type="submit">{{ _("Change language") }}</button>
</form>
"""

RESIDENT_PANEL = """\
<a class="g311-skip" href="#g311-form">{{ _("Skip to the report form") }}</a>
<aside class="g311-panel" id="g311-panel" aria-labelledby="g311-title">
  {{ picker }}
  <h1 id="g311-title">{{ _("Report a problem") }}</h1>
  <p class="g311-lede">{{ _("Click the map to drop a pin, find an address, or give the place below. Drag the pin to adjust it.") }}</p>
  <p class="g311-hint">{{ _("With a keyboard: type coordinates, find an address or pick a district; then move the pin with the arrow keys or the buttons below.") }}</p>
  <p id="g311-map-note" class="g311-hint" hidden></p>
  <noscript><p class="g311-error">{{ _("This page needs JavaScript to send a report.") }}</p></noscript>
  <form id="g311-form" method="post" action="#" autocomplete="on">
    <fieldset id="g311-where">
      <legend>{{ _("Where") }}</legend>
      <label for="g311-search">{{ _("Find an address") }}</label>
      <div class="g311-search-row">
        <input id="g311-search" type="search" autocomplete="off" enterkeyhint="search" maxlength="200"
               placeholder="{{ _("House number and street") }}" aria-describedby="g311-search-status">
        <button type="button" id="g311-search-go">{{ _("Find") }}</button>
      </div>
      <p id="g311-search-status" class="g311-hint" role="status" aria-live="polite"></p>
      <ul id="g311-candidates" class="g311-candidates" aria-label="{{ _("Addresses that match") }}" hidden></ul>
      <p id="g311-where-status" class="g311-hint" role="status" aria-live="polite">{{ _("No pin yet: click the map, find an address, enter coordinates, or pick a district.") }}</p>
      <p id="g311-nearest" class="g311-hint" aria-live="polite" hidden></p>
      <div class="g311-row">
        <div><label for="g311-lat">{{ _("Latitude") }}</label>
          <input id="g311-lat" name="lat" type="number" step="any" min="-90" max="90" inputmode="decimal" dir="ltr"></div>
        <div><label for="g311-lon">{{ _("Longitude") }}</label>
          <input id="g311-lon" name="lon" type="number" step="any" min="-180" max="180" inputmode="decimal" dir="ltr"></div>
      </div>
      <button type="button" id="g311-place">{{ _("Place pin at these coordinates") }}</button>
      <div id="g311-move" class="g311-move" role="group" aria-labelledby="g311-move-title" aria-describedby="g311-move-help">
        <p id="g311-move-title" class="g311-move-title">{{ _("Move the pin") }}</p>
        <p id="g311-move-help" class="g311-hint">{{ _("Each press moves it about 5 m; the arrow keys do the same here and on the pin (with Shift, 50 m).") }}</p>
        <div class="g311-move-buttons" dir="ltr">
          <button type="button" data-move="north" disabled>{{ _("North") }}</button>
          <button type="button" data-move="west" disabled>{{ _("West") }}</button>
          <button type="button" data-move="east" disabled>{{ _("East") }}</button>
          <button type="button" data-move="south" disabled>{{ _("South") }}</button>
        </div>
      </div>
      <details id="g311-districts">
        <summary>{{ _("Or pick a district and place the pin at its centre") }}</summary>
        <label for="g311-layer">{{ _("Kind of district") }}</label>
        <select id="g311-layer"><option value="">{{ _("Choose…") }}</option></select>
        <label for="g311-district">{{ _("District") }}</label>
        <select id="g311-district" disabled><option value="">{{ _("Choose a kind of district first") }}</option></select>
        <button type="button" id="g311-district-go" disabled>{{ _("Place pin at the district's centre") }}</button>
      </details>
    </fieldset>
    <fieldset id="g311-what">
      <legend>{{ _("What") }}</legend>
      <label for="g311-category">{{ _("Category") }}</label>
      <select id="g311-category" name="category" required aria-describedby="g311-category-help">
        <option value="">{{ _("Choose a category…") }}</option>
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
      <label for="g311-description">{{ _("Description") }}</label>
      <textarea id="g311-description" name="description" rows="3" maxlength="4000"></textarea>
      <label for="g311-address">{{ _("Address or landmark") }} <span class="g311-opt">{{ _("(optional)") }}</span></label>
      <input id="g311-address" name="address" type="text" autocomplete="street-address" maxlength="500">
    </fieldset>
    <fieldset id="g311-photo-box">
      <legend>{{ _("Photos") }} <span class="g311-opt">{{ _("(optional)") }}</span></legend>
      <label for="g311-photos">{{ _("Add photos") }}</label>
      <input type="file" id="g311-photos" multiple accept="image/jpeg,image/png,image/webp,image/heic,image/heif,.heic,.heif" name="photos" aria-describedby="g311-photos-help">
      <p id="g311-photos-help" class="g311-hint">{{ _("JPEG, PNG, WebP or HEIC; up to {count} photos, {size} each and {total} together.", count=photos.max_count, size=photos.max_mb, total=photos.max_request_mb) }}
        {{ _("A photo taken on the spot can place the pin.") }}
        {{ _("Published photos carry no location or camera data.") }}</p>
      <p id="g311-photos-status" role="status" aria-live="polite"></p>
      <ul id="g311-photo-list" class="g311-photo-list" aria-label="{{ _("Photos to send") }}"></ul>
    </fieldset>
    <section id="g311-nearby" aria-labelledby="g311-nearby-title" hidden>
      <h2 id="g311-nearby-title">{{ _("Is it one of these?") }}</h2>
      <p class="g311-hint">{{ _("Open reports of this category near your pin. If yours is one of them, add your report to it.") }}</p>
      <ol id="g311-nearby-list"></ol>
    </section>
    <fieldset id="g311-who">
      <legend>{{ _("About you") }} <span class="g311-opt">{{ _("(optional; only staff see it)") }}</span></legend>
      <label for="g311-name">{{ _("Name") }}</label>
      <input id="g311-name" name="name" type="text" autocomplete="name" maxlength="200">
      <label for="g311-email">{{ _("Email") }}</label>
      <input id="g311-email" name="email" type="email" autocomplete="email" dir="ltr" maxlength="320">
      <label for="g311-phone">{{ _("Phone") }}</label>
      <input id="g311-phone" name="phone" type="tel" autocomplete="tel" dir="ltr" maxlength="50">
    </fieldset>
    <button type="submit" id="g311-submit" disabled>{{ _("Send report") }}</button>
    <p id="g311-status" role="status" aria-live="polite"></p>
    <div id="g311-outcome" aria-live="polite"></div>
  </form>
</aside>
<script type="application/json" id="geo311-config">{{ config_json|safe }}</script>
"""

REPORT_BODY = """\
<header class="g311-topbar"><a href="/">{{ _("Report a problem") }}</a>{{ picker }}</header>
<main class="g311-report" id="g311-report">
  <h1>{{ _("Report {id}: {category}", id=p.id, category=category) }}</h1>
  <dl class="g311-facts">
    <dt>{{ _("Status") }}</dt><dd class="g311-status-value">{{ status }}</dd>
    <dt>{{ _("Category") }}</dt><dd>{{ category }}</dd>
    {% if p.agency %}<dt>{{ _("Agency") }}</dt><dd>{{ p.agency }}</dd>{% endif %}
    {% if p.jurisdiction %}<dt>{{ _("Jurisdiction") }}</dt><dd>{{ p.jurisdiction }}</dd>{% endif %}
    {% for title, names in districts %}
    <dt>{{ title }}</dt><dd>{{ names|join(", ") }}</dd>
    {% endfor %}
    {% if p.submission_count %}<dt>{{ _("Submissions") }}</dt><dd>{{ submissions }}</dd>{% endif %}
    {% if created[1] %}<dt>{{ _("Reported") }}</dt><dd><time datetime="{{ created[0] }}">{{ created[1] }}</time></dd>{% endif %}
    {% if updated[1] %}<dt>{{ _("Last update") }}</dt><dd><time datetime="{{ updated[0] }}">{{ updated[1] }}</time></dd>{% endif %}
    {% if p.address %}<dt>{{ _("Address") }}</dt><dd>{{ p.address }}</dd>{% endif %}
    {% if location %}<dt>{{ _("Location") }}</dt><dd dir="ltr">{{ "%.6f"|format(location[0]) }}, {{ "%.6f"|format(location[1]) }}</dd>{% endif %}
  </dl>
  {% if p.near_boundary %}<p class="g311-hint">{{ _("This place is close to a jurisdiction boundary; staff check that it went to the right agency.") }}</p>{% endif %}
  {% if p.description %}
  <h2>{{ _("Description") }}</h2>
  <p class="g311-description">{{ p.description }}</p>
  {% endif %}
  {% if photos %}
  <h2>{{ _("Photos") }}</h2>
  <ul class="g311-photos" id="g311-photos" style="list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .5rem; align-items: flex-start">
    {% for ph in photos %}
    <li><a href="{{ ph.url }}"><img src="{{ ph.thumbnail_url }}" alt="{{ _("Photo {n} of report {id}", n=loop.index, id=p.id) }}"{% if ph.width and ph.height %} width="{{ ph.width }}" height="{{ ph.height }}"{% endif %} loading="lazy" style="max-width: 160px; height: auto"></a></li>
    {% endfor %}
  </ul>
  {% endif %}
  <h2>{{ _("History") }}</h2>
  {% if history %}
  <table class="g311-history">
    <thead><tr><th scope="col">{{ _("When") }}</th><th scope="col">{{ _("What") }}</th><th scope="col">{{ _("Note") }}</th></tr></thead>
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
  <p>{{ _("No changes yet.") }}</p>
  {% endif %}
  <h2 class="g311-map-title">{{ _("Map") }}</h2>
  <p class="g311-hint">{{ _("The map shows the same location as above; everything on this page can be read without it.") }}</p>
</main>
"""

PLAIN_PAGE = """\
<!DOCTYPE html>
<html lang="{{ tag }}" dir="{{ dir }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · geo311</title>
<link rel="stylesheet" href="{{ css }}">
</head>
<body class="g311-plain">
<header class="g311-topbar"><a href="/">{{ _("Report a problem") }}</a>{{ picker }}</header>
<main class="g311-report">
  <h1>{{ title }}</h1>
  <p>{{ message }}</p>
</main>
</body>
</html>
"""

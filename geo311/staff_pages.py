"""Page builders for staff: the login form, the plain message page every staff page answers with when
it cannot show itself (another role, no such crew), and the Jinja environment the crew, manager and
agent pages render with.

Pure functions from data to HTML, like pages.py; every text from data is escaped by Jinja."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import jinja2

from geo311.map_assets import STATIC_PREFIX

_env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)

LOGIN_PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Staff sign-in · geo311</title>
<link rel="stylesheet" href="{{ css }}">
</head>
<body class="g311-plain">
<header class="g311-topbar"><a href="/">Report a problem</a></header>
<main class="g311-report">
  <h1>Staff sign-in</h1>
  <p>Agents, crews, managers and administrators sign in with their geo311 API key.</p>
  {% if error %}<p class="g311-error" role="alert" id="g311-login-error">{{ error }}</p>{% endif %}
  <form method="post" action="/login" id="g311-login">
    <input type="hidden" name="next" value="{{ next }}">
    <label for="g311-key">API key</label>
    <input id="g311-key" name="key" type="password" autocomplete="current-password" required
           spellcheck="false" size="60">
    <button type="submit">Sign in</button>
  </form>
</main>
</body>
</html>
"""


MESSAGE_PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · geo311</title>
<link rel="stylesheet" href="{{ css }}">
</head>
<body class="g311-plain">
<header class="g311-topbar g311-crew-bar">
  <span class="g311-hint">Signed in as {{ signed_in_as }}</span>
  <form method="post" action="/logout" id="g311-logout"><button type="submit" id="g311-signout">Sign out</button></form>
</header>
<main class="g311-report">
  <h1>{{ title }}</h1>
  <p id="g311-message">{{ message }}</p>
  {% if home %}<p><a href="{{ home }}">Go to your own page</a></p>{% endif %}
  {% if choices %}
  <h2>Crews</h2>
  <ul id="g311-crews">
    {% for c in choices %}<li><a href="{{ c.href }}">{{ c.name }}</a></li>{% endfor %}
  </ul>
  {% endif %}
</main>
</body>
</html>
"""


@lru_cache
def template(source: str) -> jinja2.Template:
    """A page template from its source (compiled once), autoescaping everything it renders."""
    return _env.from_string(source)


def message_page(*, title: str, message: str, signed_in_as: str, home: str | None = None,
                 choices: Sequence[Mapping[str, str]] = (), static_prefix: str = STATIC_PREFIX) -> str:
    """A plain staff page (no map, no script) that says why the page asked for cannot be shown, with
    sign-out, a link to the user's own page (`home`) and, for managers, links (`choices`: name, href)."""
    return template(MESSAGE_PAGE).render(title=title, message=message, signed_in_as=signed_in_as, home=home,
                                         choices=choices, css=f"{static_prefix.rstrip('/')}/geo311.css")


def login_page(*, next_path: str = "/crew", error: str | None = None, static_prefix: str = STATIC_PREFIX) -> str:
    return template(LOGIN_PAGE).render(next=next_path, error=error,
                                        css=f"{static_prefix.rstrip('/')}/geo311.css")

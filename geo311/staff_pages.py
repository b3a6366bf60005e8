"""Page builders for staff: the login form (and, beside it, the crew and manager pages).

Pure functions from data to HTML, like pages.py; every text from data is escaped by Jinja."""

from __future__ import annotations

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


@lru_cache
def _template(source: str) -> jinja2.Template:
    return _env.from_string(source)


def login_page(*, next_path: str = "/crew", error: str | None = None, static_prefix: str = STATIC_PREFIX) -> str:
    return _template(LOGIN_PAGE).render(next=next_path, error=error,
                                        css=f"{static_prefix.rstrip('/')}/geo311.css")

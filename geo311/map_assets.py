"""The map pages' front-end assets: where they live, how folium is pointed at them, and the page's
security headers.

Every page geo311 renders goes through `local_figure()` (a folium Map whose JS/CSS come from our
own `maps/` folder, served under `static_prefix`) and `finish()` (renders it, checks that no
script or stylesheet is loaded from another host, and fixes folium's head for accessibility).

folium's Map asks for jQuery, Bootstrap, Font Awesome and Leaflet.awesome-markers from CDNs. Our
pages do not need them: they are only used by folium.Popup (which builds popups with jQuery from
raw HTML), folium.Icon (awesome-markers) and `objects_to_stay_in_front`. Do not use those on a
geo311 page: popups are built by our JS with textContent. Any element whose default_js/default_css
name is not in ASSETS makes `localize()` raise, so a CDN link can never slip into a page.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import folium
from branca.element import Element, Figure, MacroElement
from folium.elements import JSCSSMixin
from jinja2 import Template

MAPS_DIR = Path(__file__).resolve().parent.parent / "maps"
STATIC_PREFIX = "/maps/static/"

LEAFLET = "vendor/leaflet-1.9.4/"
MARKERCLUSTER = "vendor/leaflet.markercluster-1.5.3/"
HEAT = "vendor/leaflet.heat-0.2.0/"

# folium's resource names -> our files, relative to maps/. None: folium asks for it, we drop it.
ASSETS: dict[str, str | None] = {
    "leaflet": LEAFLET + "leaflet.js",
    "leaflet_css": LEAFLET + "leaflet.css",
    "markerclusterjs": MARKERCLUSTER + "leaflet.markercluster.js",
    "markerclustercss": MARKERCLUSTER + "MarkerCluster.css",
    "markerclusterdefaultcss": MARKERCLUSTER + "MarkerCluster.Default.css",
    "leaflet-heat.js": HEAT + "leaflet-heat.js",
    "jquery": None,
    "bootstrap": None,
    "awesome_markers": None,
    "bootstrap_css": None,
    "glyphicons_css": None,
    "awesome_markers_font_css": None,
    "awesome_markers_css": None,
    "awesome_rotate_css": None,
}

VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1" />'
_FOLIUM_VIEWPORT = re.compile(r'<meta name="viewport"[^>]*>', re.S)
_INLINE_SCRIPT = re.compile(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.S | re.I)
_LOADED_URL = re.compile(
    r"""<(?:script|img|iframe|source|audio|video)\b[^>]*\bsrc\s*=\s*["']?(?P<src>[^"' >]+)"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']?(?P<href>[^"' >]+)""", re.I)


def static_url(static_prefix: str, relpath: str) -> str:
    return static_prefix.rstrip("/") + "/" + relpath


def localize(element: JSCSSMixin, static_prefix: str) -> JSCSSMixin:
    """Point one folium element's JS/CSS at our files (per instance; folium's lists stay as they are)."""
    for attr in ("default_js", "default_css"):
        links = []
        for name, _url in getattr(element, attr):
            if name not in ASSETS:
                raise ValueError(f"{type(element).__name__} wants {name!r}, which geo311 does not vendor; "
                                 "add it to maps/vendor and ASSETS or do not use it")
            if ASSETS[name] is not None:
                links.append((name, static_url(static_prefix, ASSETS[name])))
        setattr(element, attr, links)
    return element


def localize_all(root: Any, static_prefix: str) -> None:
    """localize() every element in the tree that loads JS/CSS (Map, MarkerCluster, HeatMap, ...)."""
    if isinstance(root, JSCSSMixin):
        localize(root, static_prefix)
    for child in getattr(root, "_children", {}).values():
        localize_all(child, static_prefix)


def local_figure(*, title: str, location: list[float], zoom: int, tile_url: str,
                 tile_attribution: str, **map_options: Any) -> folium.Map:
    """A folium Map in its own Figure, with our tile layer and no CDN links (call finish() to render).

    `location` is folium's [lat, lon]; `title` is plain text (escaped here)."""
    if not tile_attribution:    # folium refuses custom tiles without one; name the tile host at least
        tile_attribution = escape_text("Map tiles: " + (urlsplit(tile_url).hostname or tile_url))
    figure = Figure(title=escape_text(title))
    m = folium.Map(location=location, zoom_start=zoom, tiles=None, **map_options)
    figure.add_child(m)
    folium.TileLayer(tiles=tile_url, attr=tile_attribution, name="Base map", max_zoom=19,
                     control=False).add_to(m)
    return m


class _ZoomControl(MacroElement):
    _template = Template("""
        {% macro script(this, kwargs) %}
        L.control.zoom({zoomInTitle: {{ this.zoom_in|tojson }}, zoomOutTitle: {{ this.zoom_out|tojson }}})
            .addTo({{ this._parent.get_name() }});
        {% if this.label %}
        {{ this._parent.get_name() }}.getContainer().setAttribute("role", "region");
        {{ this._parent.get_name() }}.getContainer().setAttribute("aria-label", {{ this.label|tojson }});
        {% endif %}
        {% endmacro %}
    """)

    def __init__(self, zoom_in: str, zoom_out: str, label: str | None) -> None:
        super().__init__()
        self._name = "ZoomControl"
        self.zoom_in, self.zoom_out, self.label = zoom_in, zoom_out, label


def zoom_control(m: folium.Map, zoom_in: str, zoom_out: str, label: str | None = None) -> None:
    """Leaflet's zoom buttons with their names (title and aria-label) in the page's language, and
    the map's own name for screen readers (a labelled region); make the map with zoom_control=False."""
    m.add_child(_ZoomControl(zoom_in, zoom_out, label))


def add_body(m: folium.Map, name: str, html: str) -> None:
    """Add server-built HTML to <body>, before the map's own div."""
    m.get_root().html.add_child(Element(html), name=name)


def finish(m: folium.Map, static_prefix: str, *, css: Sequence[str] = (), js: Sequence[str] = (),
           body_class: str = "", also_from: Sequence[str] = (), lang: str = "en",
           direction: str | None = None) -> str:
    """Render the page: our CSS/JS after Leaflet's, local assets only (and this server's paths in
    `also_from`, such as /photos/), an accessible <head>, <html lang dir> of the page's language."""
    figure = m.get_root()
    localize_all(figure, static_prefix)
    html = figure.render()
    head_extra = "".join(f'<link rel="stylesheet" href="{escape_text(static_url(static_prefix, c))}"/>'
                         for c in css)
    head_extra += "".join(f'<script defer src="{escape_text(static_url(static_prefix, j))}"></script>'
                          for j in js)
    html = html.replace("</head>", head_extra + "\n</head>", 1)
    dir_attr = f' dir="{escape_text(direction)}"' if direction else ""
    html = html.replace("<html>", f'<html lang="{escape_text(lang)}"{dir_attr}>', 1)
    if body_class:
        html = html.replace("<body>", f'<body class="{escape_text(body_class)}">', 1)
    html = _FOLIUM_VIEWPORT.sub(VIEWPORT, html, count=1)
    foreign = [u for u in loaded_urls(html) if not u.startswith((static_prefix, *also_from))]
    if foreign:
        raise ValueError(f"page loads resources from outside {static_prefix}: {foreign}")
    return html


def loaded_urls(html: str) -> list[str]:
    """URLs the browser fetches while parsing: <script src>, <link href>, <img src>, ..."""
    return [m.group("src") or m.group("href") for m in _LOADED_URL.finditer(html)]


def escape_text(value: Any) -> str:
    """HTML-escape text for element content and quoted attributes."""
    s = "" if value is None else str(value)
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#x27;"))


def script_json(data: Any) -> str:
    """JSON safe inside <script>: no `</script>`, `<!--`, or `&` can end or confuse the block."""
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def tile_source(tile_url: str) -> str:
    """The CSP source for a Leaflet tile URL template: https://{s}.tile.example.org/... -> https://*.tile.example.org."""
    parts = urlsplit(tile_url.replace("{s}", "subdomain-placeholder"))
    host = parts.netloc.replace("subdomain-placeholder", "*")
    if not parts.scheme or not host or "{" in host or "}" in host:
        return "https:" if tile_url.startswith("https:") else "https: http:"
    return f"{parts.scheme}://{host}"


def content_security_policy(html: str, tile_url: str) -> str:
    """A CSP that lets the page run its own inline scripts (by hash) and our files, load tiles from
    the tile host, and nothing else: an injected <script> or onerror= never runs."""
    hashes = []
    for m in _INLINE_SCRIPT.finditer(html):
        attrs = m.group("attrs")
        if "src=" in attrs or "application/json" in attrs:
            continue
        digest = base64.b64encode(hashlib.sha256(m.group("body").encode()).digest()).decode()
        hashes.append(f"'sha256-{digest}'")
    scripts = " ".join(["'self'", *dict.fromkeys(hashes)])
    return ("default-src 'self'; "
            f"script-src {scripts}; "
            "style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data: {tile_source(tile_url)} blob:; "  # blob: previews of photos to send
            "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'self'; form-action 'self'")


def page_headers(html: str, tile_url: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(html, tile_url),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }

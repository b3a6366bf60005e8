"""Browser tests: Debian's headless Chromium, driven by Playwright, against the live server.

Every request to a host other than 127.0.0.1 is aborted and recorded (so base-map tiles fail, as
they do without internet access, and the page must still work); each test can then assert that
nothing but tiles was asked for from outside, that no dialog opened and that no script failed.
Playwright's own browser download is not used: CI installs Debian's `chromium` package.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Playwright, Request, Route, sync_playwright

from geo311.settings import Settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--no-first-run",
]
LOCAL_HOSTS = {"127.0.0.1"}
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 15_000


def tile_pattern(template: str) -> re.Pattern[str]:
    """A Leaflet tile URL template -> a regex matching the tile URLs it makes."""
    parts = re.split(r"(\{[a-z]+\})", template)
    placeholders = {"{s}": r"[a-z0-9-]+", "{z}": r"\d+", "{x}": r"\d+", "{y}": r"-?\d+", "{r}": r"(?:@2x)?"}
    return re.compile("".join(placeholders.get(p, re.escape(p)) for p in parts) + r"(?:\?.*)?")


def is_local(url: str) -> bool:
    scheme = urlsplit(url).scheme
    if scheme in ("data", "blob", "about"):
        return True
    return urlsplit(url).hostname in LOCAL_HOSTS


@dataclass
class Tab:
    """A page of its own browser context, with what it asked the outside for and what went wrong."""

    page: Page
    tiles: re.Pattern[str]
    outside: list[str] = field(default_factory=list)      # every request to another host (all aborted)
    dialogs: list[str] = field(default_factory=list)      # alert/confirm/prompt messages (dismissed)
    errors: list[str] = field(default_factory=list)       # uncaught exceptions in the page
    csp: list[str] = field(default_factory=list)          # Content-Security-Policy violations (console)

    def _outside(self, url: str) -> None:
        if not is_local(url) and url not in self.outside:
            self.outside.append(url)

    @property
    def non_tile_outside(self) -> list[str]:
        return [u for u in self.outside if not self.tiles.fullmatch(u)]

    @property
    def tile_requests(self) -> list[str]:
        return [u for u in self.outside if self.tiles.fullmatch(u)]

    def assert_clean(self) -> None:
        """Nothing but tiles asked for outside, no dialog, no script error, no CSP violation."""
        assert self.non_tile_outside == [], f"requests outside the server: {self.non_tile_outside}"
        assert self.dialogs == [], f"dialogs opened: {self.dialogs}"
        assert self.errors == [], f"page errors: {self.errors}"
        assert self.csp == [], f"Content-Security-Policy violations: {self.csp}"


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get install chromium)")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def tile_regex() -> re.Pattern[str]:
    """The live server's tile URLs (it reads the same environment and .env as this process)."""
    return tile_pattern(Settings().tile_url)


@pytest.fixture
def tab(browser: Browser, live, tile_regex: re.Pattern[str]) -> Iterator[Tab]:
    """A fresh browser context on the live server (empty of reports), outside hosts blocked."""
    context = browser.new_context(base_url=live.url, viewport=VIEWPORT, service_workers="block",
                                  locale="en-US", timezone_id="America/Los_Angeles")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    tab = Tab(page, tile_regex)

    def block(route: Route, request: Request) -> None:
        tab._outside(request.url)
        route.abort("internetdisconnected")

    context.route(lambda url: not is_local(url), block)
    page.on("request", lambda request: tab._outside(request.url))
    page.on("websocket", lambda ws: tab._outside(ws.url))
    page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    page.on("console", lambda msg: tab.csp.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text else None)

    def dialog(d) -> None:
        tab.dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    page.on("dialog", dialog)
    yield tab
    context.close()

"""Guards at the door: the real client address behind trusted proxies, rate limits on
submissions (429 + Retry-After), security headers, URL length, and one quiet retry of a read that
met a database restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import math
import re
import time
from collections import defaultdict
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo311.api.errors import error_body

RETRY_HEADER = b"x-geo311-retry"  # set by the 503 handler on database failures; never sent out


def parse_rate(text: str) -> tuple[int, int]:
    """'20/minute' -> (20, 60). Units: second, minute, hour."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(second|minute|hour)\s*", text or "")
    if not m:
        raise ValueError(f"a rate is N/second, N/minute or N/hour, not {text!r}")
    return int(m.group(1)), {"second": 1, "minute": 60, "hour": 3600}[m.group(2)]


def client_address(scope: Scope, trusted: list[ipaddress._BaseNetwork]) -> str:
    """The peer's address, or the client X-Forwarded-For names when the peer is a trusted proxy
    (the right-most address that is not itself a trusted proxy)."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not trusted or not _in(peer, trusted):
        return peer
    header = dict(scope.get("headers") or []).get(b"x-forwarded-for", b"").decode("latin-1")
    for hop in reversed([h.strip() for h in header.split(",") if h.strip()]):
        if not _in(hop, trusted):
            return hop
    return peer


def _in(address: str, networks: list[ipaddress._BaseNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


@dataclass
class RateRule:
    method: str
    path: re.Pattern[str]


SUBMISSION_ROUTES = [
    RateRule("POST", re.compile(r"/api/v1/reports")),
    RateRule("POST", re.compile(r"/api/v1/reports/\d+/submissions")),
    RateRule("POST", re.compile(r"/api/v1/photos/locate")),
    RateRule("POST", re.compile(r"/open311/v2/requests\.(json|xml)")),
]


class RateLimit:
    """Fixed windows per client: per key (Authorization bearer) or per client address when
    anonymous. In-process: with several workers each keeps its own windows."""

    def __init__(self, app: ASGIApp, *, anonymous: str, keyed: str, trusted_proxies: list[str],
                 session_secret: bytes | None = None, rules: list[RateRule] = SUBMISSION_ROUTES) -> None:
        self.app = app
        self.session_secret = session_secret
        self.anonymous, self.keyed = parse_rate(anonymous), parse_rate(keyed)
        self.trusted = [ipaddress.ip_network(p.strip(), strict=False) for p in trusted_proxies if p.strip()]
        self.rules = rules
        self.counts: dict[tuple[str, int], int] = defaultdict(int)
        self.swept = 0

    def _limited(self, scope: Scope) -> bool:
        return any(scope["method"] == r.method and r.path.fullmatch(scope["path"]) for r in self.rules)

    def _session_key(self, cookie_header: bytes) -> str | None:
        """The key id of a validly signed session cookie (signature and expiry only: a forged or
        stale cookie falls back to the client's address)."""
        if not self.session_secret or b"geo311_session=" not in cookie_header:
            return None
        from http.cookies import SimpleCookie

        from geo311.auth import read_session_token

        jar = SimpleCookie()
        try:
            jar.load(cookie_header.decode("latin-1"))
        except Exception:  # a malformed Cookie header is somebody else's problem
            return None
        morsel = jar.get("geo311_session")
        return read_session_token(self.session_secret, morsel.value) if morsel else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._limited(scope):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        auth = headers.get(b"authorization", b"")
        staff_key = self._session_key(headers.get(b"cookie", b""))
        if auth.lower().startswith(b"bearer "):
            who, (limit, window) = "key:" + hashlib.sha256(auth[7:].strip()).hexdigest()[:16], self.keyed
        elif staff_key:  # a signed-in staff page (an agent taking calls): the key's own bucket
            who, (limit, window) = "key:" + staff_key, self.keyed
        else:
            who, (limit, window) = "ip:" + client_address(scope, self.trusted), self.anonymous
        now = time.time()
        slot = int(now // window)
        self.counts[(who, slot)] += 1
        if now - self.swept > 60:  # forget old windows
            self.swept = now
            for key in [k for k in self.counts if k[1] < slot - 1]:
                del self.counts[key]
        if self.counts[(who, slot)] > limit:
            retry = max(1, math.ceil((slot + 1) * window - now))
            body = orjson.dumps(error_body("rate_limited", f"too many submissions: at most {limit} per "
                                           f"{window} s from one client; try again in {retry} s"))
            await send({"type": "http.response.start", "status": 429, "headers": [
                (b"content-type", b"application/json"), (b"retry-after", str(retry).encode()),
                (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """nosniff and a referrer policy everywhere; API replies may not be framed. Pages set their own
    Content-Security-Policy (see map_assets.page_headers), which is left as it is."""

    def __init__(self, app: ASGIApp, max_url: int = 8192) -> None:
        self.app = app
        self.max_url = max_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") > self.max_url:
            body = orjson.dumps(error_body("uri_too_long", f"the URL is longer than {self.max_url} characters"))
            await send({"type": "http.response.start", "status": 414,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {k.lower() for k, _v in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if b"referrer-policy" not in names:
                    headers.append((b"referrer-policy", b"strict-origin-when-cross-origin"))
                if b"content-security-policy" not in names and not scope["path"].startswith(("/docs", "/redoc")):
                    headers.append((b"x-frame-options", b"DENY"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class RetryReads:
    """A GET or HEAD that met a database failure (the 503 handler marks it) runs once more after a
    short pause: a restart or a dropped pooled connection should not reach the reader. Writes are
    never retried here (intake has Idempotency-Key for that)."""

    def __init__(self, app: ASGIApp, pause: float = 0.3) -> None:
        self.app = app
        self.pause = pause

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            async def no_mark(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [(k, v) for k, v in message.get("headers", []) if k != RETRY_HEADER]
                await send(message)
            await self.app(scope, receive, no_mark)
            return
        retry = False

        async def first_try(message: Message) -> None:
            nonlocal retry
            if message["type"] == "http.response.start" and message["status"] == 503 and \
                    any(k == RETRY_HEADER for k, _v in message.get("headers", [])):
                retry = True
            if not retry:  # anything else streams straight through
                await send(message)

        await self.app(scope, receive, first_try)
        if not retry:
            return
        await asyncio.sleep(self.pause)

        async def second_try(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [(k, v) for k, v in message.get("headers", []) if k != RETRY_HEADER]
            await send(message)

        await self.app(scope, receive, second_try)

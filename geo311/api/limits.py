"""Request body size limit (413), enforced before any route reads or parses the body.

Every POST/PUT/PATCH gets `max_bytes` (GEO311_MAX_BODY_BYTES, 64 KiB: JSON bodies), except the
requests an `UploadLimit` names: a path pattern and a content type (multipart/form-data for photo
uploads) with a larger limit of their own. A JSON body to the same path keeps the small limit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo311.api.errors import error_body


@dataclass(frozen=True)
class UploadLimit:
    """A larger limit for requests to paths matching `path` (a full match) whose Content-Type is
    `content_type`; `message` says what the limit is for."""

    path: re.Pattern[str]
    max_bytes: int
    message: str
    content_type: str = "multipart/form-data"


class BodySizeLimit:
    """Refuse bodies over the request's limit with 413, by Content-Length or by counting a chunked body.

    A chunked body is read up to the limit before the app sees it, then replayed."""

    def __init__(self, app: ASGIApp, max_bytes: int, uploads: Sequence[UploadLimit] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = tuple(uploads)

    def _limit(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[int, str]:
        content_type = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        for rule in self.uploads:
            if content_type == rule.content_type and rule.path.fullmatch(scope.get("path", "")):
                return rule.max_bytes, rule.message
        return self.max_bytes, "descriptions are limited to 4,000 characters"

    async def _too_large(self, send: Send, limit: int, why: str) -> None:
        body = orjson.dumps(error_body(
            "too_large", f"the request body is larger than {limit} bytes; send less ({why})"))
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        limit, why = self._limit(scope, headers)
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > limit
            except ValueError:
                too_big = True
            if too_big:
                await self._too_large(send, limit, why)
                return
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                await self._too_large(send, limit, why)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

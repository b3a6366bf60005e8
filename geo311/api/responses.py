"""Response classes: orjson for speed, GeoJSON's own media type, and bodies already built in SQL."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JSONBody(JSONResponse):
    """JSON through orjson; a str or bytes body is taken as already-serialised JSON (built in SQL)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode()
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class GeoJSONResponse(JSONBody):
    media_type = "application/geo+json"

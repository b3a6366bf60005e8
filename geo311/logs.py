"""Structured logs: one JSON object per line, with the request id of the request being served.

Nothing secret or personal goes in: access lines carry the route template and the query with the
values of sensitive parameters (keys, emails, phones) replaced by "[redacted]"; Authorization
headers and bodies are never logged.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import orjson

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
SENSITIVE_PARAMS = {"api_key", "key", "token", "email", "phone", "password", "secret"}
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid and "request_id" not in vars(record):
            entry["request_id"] = rid
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)  # logs only; never sent to clients
        return orjson.dumps(entry, default=str).decode()


def redact_query(query: str) -> str:
    """The query string with the values of sensitive parameters replaced."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, "[redacted]" if k.lower() in SENSITIVE_PARAMS else v) for k, v in pairs])


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr for geo311's loggers and uvicorn's error log (its access log is replaced
    by geo311.access, which knows the route and the request id)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("geo311", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True

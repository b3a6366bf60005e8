"""Domain errors: free of HTTP, each carries the status and code that one handler turns into a reply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Msg(str):
    """English text that remembers how it was made, so that a reply can be translated.

    `msg("report {report_id} does not exist", report_id=7)` is the str "report 7 does not exist"
    everywhere (logs, tests, Open311), and `translate(lookup)` writes it in another language.
    Joining with `+` (or join()) keeps every piece translatable; values that are Msg are translated
    too. The template is the catalog's msgid: the extract command finds the `msg("...")` calls.
    `Msg.category(text)` is a text of the category file (translated, never formatted)."""

    parts: tuple[tuple[str, dict[str, Any] | None, str | None], ...]

    def __new__(cls, template: str, /, **params: Any) -> Msg:
        self = super().__new__(cls, template.format(**params) if params else template)
        self.parts = ((template, params, None),)
        return self

    @classmethod
    def category(cls, text: str) -> Msg:
        self = super().__new__(cls, text)
        self.parts = ((text, {}, "category"),)
        return self

    @classmethod
    def _joined(cls, parts) -> Msg:
        self = super().__new__(cls, "".join(t if p is None or not p else t.format(**p) for t, p, _c in parts))
        self.parts = tuple(parts)
        return self

    def __add__(self, other: object) -> Msg:
        if not isinstance(other, str):
            return NotImplemented
        return Msg._joined(self.parts + _parts(other))

    def __radd__(self, other: object) -> Msg:
        if not isinstance(other, str):
            return NotImplemented
        return Msg._joined(_parts(other) + self.parts)

    def translate(self, lookup: Callable[[str, str | None], str]) -> str:
        """The message in the language of `lookup` ((msgid, context) -> translation, or the msgid)."""
        out = []
        for template, params, context in self.parts:
            if params is None:               # plain text joined to a message: as it is
                out.append(template)
                continue
            if not params:
                out.append(lookup(template, context))
                continue
            values = {k: v.translate(lookup) if isinstance(v, Msg) else v for k, v in params.items()}
            try:
                out.append(lookup(template, context).format(**values))
            except (KeyError, IndexError, ValueError):   # a translation with a broken placeholder
                out.append(template.format(**values))
        return "".join(out)


def _parts(text: str) -> tuple[tuple[str, dict[str, Any] | None, str | None], ...]:
    return text.parts if isinstance(text, Msg) else ((str(text), None, None),)


msg = Msg


def join(separator: str, items: list[str]) -> str:
    """separator.join(items), keeping the messages among them translatable."""
    out: str = ""
    for i, item in enumerate(items):
        out = out + (separator if i else "") + item
    return out


def translated(text: str, lookup: Callable[[str, str | None], str]) -> str:
    """`text` in lookup's language when it is a Msg; other text as it is."""
    return text.translate(lookup) if isinstance(text, Msg) else text


class DomainError(Exception):
    """Base of every error a caller can act on. `message` is written for a person."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class InvalidInput(DomainError):
    status = 422
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class PayloadTooLarge(DomainError):
    status = 413
    code = "too_large"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unavailable(DomainError):
    status = 503
    code = "unavailable"

"""Values of a JSON text, read incrementally, so that memory stays flat whatever the file's size:
a FeatureCollection's features (or any top-level object's `features` / `service_requests` array),
a top-level array's items, or a sequence of values (GeoJSON text sequences, newline-delimited JSON).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

from geo311.errors import InvalidInput


class JsonReader:
    """The records of a JSON text (see the module's docstring), one at a time."""

    STREAMED = ("features", "service_requests", "requests")

    def __init__(self, fh: io.TextIOBase, chunk: int = 1 << 20) -> None:
        self.fh, self.chunk = fh, chunk
        self.buf, self.pos, self.eof = "", 0, False
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        data = self.fh.read(self.chunk)
        if not data:
            self.eof = True
            return False
        self.buf = self.buf[self.pos:] + data
        self.pos = 0
        return True

    def peek(self) -> str:
        while True:
            buf, pos = self.buf, self.pos
            while pos < len(buf) and buf[pos] in " \t\r\n\x1e":
                pos += 1
            self.pos = pos
            if pos < len(buf) or not self._fill():
                return buf[pos] if pos < len(buf) else ""

    def take(self, ch: str) -> None:
        if self.peek() != ch:
            raise InvalidInput(f"the JSON is not what an import reads: expected {ch!r} at character "
                               f"{self.pos}, found {self.peek()[:1]!r}")
        self.pos += 1

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                v, end = self.decoder.raw_decode(self.buf, self.pos)
                if end < len(self.buf) or self.eof:
                    self.pos = end
                    return v
            except json.JSONDecodeError as exc:
                if self.eof:
                    raise InvalidInput(f"the file is not valid JSON: {exc}") from exc
            if not self._fill() and self.eof:
                continue  # one last try with everything read

    def records(self) -> Iterator[Any]:
        first = self.peek()
        if first == "[":
            yield from self._array()
        elif first == "{":
            yield from self._object_or_sequence()
        elif first:
            raise InvalidInput(f"the file is not a JSON object or array (it starts with {first!r})")

    def _array(self) -> Iterator[Any]:
        self.take("[")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            yield self.value()
            nxt = self.peek()
            self.pos += 1
            if nxt == "]":
                return
            if nxt != ",":
                raise InvalidInput(f"the JSON array is broken near character {self.pos}: expected ',' or ']'")

    def _object_or_sequence(self) -> Iterator[Any]:
        """Read the first top-level object member by member: its big array is streamed; an object
        that turns out to be a whole record (a Feature) starts a sequence of records."""
        self.take("{")
        members: dict[str, Any] = {}
        streamed = False
        if self.peek() != "}":
            while True:
                key = self.value()
                self.take(":")
                if key in self.STREAMED and self.peek() == "[":
                    streamed = True
                    yield from self._array()
                else:
                    members[key] = self.value()
                nxt = self.peek()
                self.pos += 1
                if nxt == "}":
                    break
                if nxt != ",":
                    raise InvalidInput(f"the JSON object is broken near character {self.pos}")
        else:
            self.pos += 1
        if streamed:
            return
        if members.get("type") == "FeatureCollection":
            return  # no features
        yield members
        while self.peek():
            yield self.value()

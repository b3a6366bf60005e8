"""A minimal HTTP/1.1 client for the benchmarks (asyncio for the load, blocking for the sequential
ones): keep-alive connections, requests written as bytes, replies read by Content-Length or chunked
encoding.

httpx spends about a millisecond of CPU per request; on a 2-core machine that shares its cores with
the server and PostgreSQL, the load generator's own cost must stay small, or it measures itself.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import socket
from urllib.parse import urlencode, urlsplit


class Connection:
    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
            self.reader = self.writer = None

    async def request(self, method: str, path: str, *, params: dict | None = None, json: object = None,
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """(status, body). Reconnects once when the server closed the kept-alive connection."""
        target = path + ("?" + urlencode(params) if params else "")
        body = jsonlib.dumps(json).encode() if json is not None else b""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}", "Connection: keep-alive",
                 f"Content-Length: {len(body)}"]
        if json is not None:
            lines.append("Content-Type: application/json")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        for attempt in (1, 2):
            if self.writer is None:
                await self._open()
            try:
                self.writer.write(raw)
                return await self._reply()
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _reply(self) -> tuple[int, bytes]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        fields = {}
        for line in header_lines:
            if ":" in line:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            body = await self.reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            body = b"".join(chunks)
        else:
            body = b""
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, body


class SyncConnection:
    """The same, blocking, for the sequential benchmarks (bench/intake.py): one keep-alive socket."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.sock: socket.socket | None = None
        self.file = None

    def close(self) -> None:
        if self.sock is not None:
            self.file.close()
            self.sock.close()
            self.sock = self.file = None

    def __enter__(self) -> SyncConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None
                ) -> tuple[int, bytes]:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Connection: keep-alive",
                 f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        for attempt in (1, 2):
            if self.sock is None:
                self.sock = socket.create_connection((self.host, self.port))
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.file = self.sock.makefile("rb")
            try:
                self.sock.sendall(raw)
                return self._reply()
            except (ConnectionError, ValueError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _reply(self) -> tuple[int, bytes]:
        status_line = self.file.readline().decode("latin-1")
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(" ", 2)[1])
        fields = {}
        while (line := self.file.readline().decode("latin-1")) not in ("\r\n", ""):
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            body = self.file.read(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while (size := int(self.file.readline().split(b";")[0], 16)) > 0:
                chunks.append(self.file.read(size))
                self.file.readline()
            self.file.readline()
            body = b"".join(chunks)
        else:
            body = b""
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, body

"""Read-your-writes across replicas.

A request that changes something (POST, PUT, PATCH, DELETE) and commits a write on the primary
answers with the primary's WAL position after that commit: in the `X-Geo311-Min-LSN` header (API
clients send it back on their next reads), in the `geo311_lsn` cookie (browsers send it back by
themselves), and in a per-key memory of the process (a key's next reads, in any client). A read
goes to a replica only when the replica has replayed at least the highest of those positions;
otherwise it goes to the primary. All three expire after `read_your_writes_seconds`.

Each reply also says where its reads went: `X-Geo311-Read-From: primary | replica1 | ...`.
"""

from __future__ import annotations

import logging
import threading
import time
from http.cookies import SimpleCookie

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo311.auth import read_session_token
from geo311.replicas import format_lsn, parse_lsn

log = logging.getLogger("geo311.api")

LSN_COOKIE = "geo311_lsn"
LSN_HEADER = "X-Geo311-Min-LSN"
READ_FROM_HEADER = "X-Geo311-Read-From"
WRITTEN = "geo311_written"    # scope["state"] key: {"lsn": int | None} for a request that may write
READ_FROM = "geo311_read_from"  # scope["state"] key: where the request's reads went
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


class WriteMemory:
    """key identity -> (WAL position of its last write, expiry), thread-safe, pruned as it grows."""

    def __init__(self, seconds: float, limit: int = 50_000) -> None:
        self.seconds = seconds
        self.limit = limit
        self._items: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def remember(self, who: str, lsn: int) -> None:
        now = time.monotonic()
        with self._lock:
            old = self._items.get(who)
            self._items[who] = (max(lsn, old[0]) if old and old[1] > now else lsn, now + self.seconds)
            if len(self._items) > self.limit:
                self._items = {k: v for k, v in self._items.items() if v[1] > now}

    def get(self, who: str) -> int | None:
        with self._lock:
            item = self._items.get(who)
        return item[0] if item and item[1] > time.monotonic() else None


def identity(headers: dict[bytes, bytes], session_secret: bytes | None) -> str | None:
    """Who is calling, without the database: the key id of a Bearer key or of a signed session
    cookie (not verified here: the memory only decides where that caller reads)."""
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if auth[:7].lower() == "bearer ":
        parts = auth[7:].strip().split("_")
        return f"key:{parts[1]}" if len(parts) >= 3 else None
    cookie = _cookie(headers, "geo311_session")
    key_id = read_session_token(session_secret, cookie) if cookie and session_secret else None
    return f"key:{key_id}" if key_id else None


def _cookie(headers: dict[bytes, bytes], name: str) -> str | None:
    raw = headers.get(b"cookie")
    if not raw or name.encode() not in raw:
        return None
    jar = SimpleCookie()
    try:
        jar.load(raw.decode("latin-1"))
    except Exception:  # noqa: BLE001 - a malformed Cookie header just carries nothing for us
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def wanted_lsn(scope: Scope, memory: WriteMemory, session_secret: bytes | None) -> int | None:
    """The WAL position a replica must have replayed to serve this caller, or None."""
    headers = dict(scope.get("headers") or [])
    given = [parse_lsn(headers.get(LSN_HEADER.lower().encode(), b"").decode("latin-1")),
             parse_lsn(_cookie(headers, LSN_COOKIE))]
    who = identity(headers, session_secret)
    if who:
        given.append(memory.get(who))
    found = [lsn for lsn in given if lsn is not None]
    return max(found) if found else None


# ----- noticing a committed write on the primary session ------------------------------------
_CONNECTION = "geo311_write_connection"

def track_writes(factory: sessionmaker[Session]) -> None:
    """After a commit that wrote, put the primary's WAL position in the session's holder (set by
    `watch()` for requests that may write)."""

    @event.listens_for(factory, "before_commit")
    def _before(session: Session) -> None:
        if WRITTEN not in session.info or session.info.get("wrote"):
            return
        if session.new or session.dirty or session.deleted:
            session.info["wrote"] = True
        elif session.in_transaction():
            session.info["wrote"] = session.execute(
                text("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")).scalar_one()
        if session.info.get("wrote"):
            session.info[_CONNECTION] = session.connection()

    @event.listens_for(factory, "after_commit")
    def _after(session: Session) -> None:
        conn = session.info.pop(_CONNECTION, None)
        if not session.info.pop("wrote", False) or WRITTEN not in session.info or conn is None:
            return
        # the same connection, still checked out: a second checkout here could wait on a pool that
        # every concurrent writer holds (200 concurrent submissions did). After the commit, the
        # position covers it; the statement opens a transaction of its own, ended at once.
        # The write is committed whatever happens here: a failure (the database went away just after
        # the commit) must not turn its success into an error, so the position is then not recorded.
        began = not conn.in_transaction()
        try:
            lsn = parse_lsn(conn.exec_driver_sql("SELECT pg_current_wal_lsn()::text").scalar_one())
            if began:
                conn.rollback()
        except DBAPIError:
            log.warning("could not read the WAL position after a commit; read-your-writes not recorded")
            return
        holder = session.info[WRITTEN]
        if lsn is not None and (holder["lsn"] is None or lsn > holder["lsn"]):
            holder["lsn"] = lsn


def watch(session: Session, scope: Scope) -> None:
    """Let the session report its writes to this request (unsafe methods only)."""
    holder = scope.get("state", {}).get(WRITTEN)
    if holder is not None:
        session.info[WRITTEN] = holder


class Consistency:
    """ASGI middleware: a holder for the request's writes; on the reply, the LSN header, cookie
    and memory after a write, and the header that says where the reads went."""

    def __init__(self, app: ASGIApp, memory: WriteMemory, session_secret: bytes | None,
                 secure_cookies: bool = False) -> None:
        self.app = app
        self.memory = memory
        self.secret = session_secret
        self.secure = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        holder: dict[str, int | None] = {"lsn": None}
        if scope["method"] in UNSAFE:
            state[WRITTEN] = holder

        async def reply(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                if state.get(READ_FROM):
                    headers.append((READ_FROM_HEADER.lower().encode(), state[READ_FROM].encode()))
                if holder["lsn"] is not None:
                    lsn = format_lsn(holder["lsn"])
                    headers.append((LSN_HEADER.lower().encode(), lsn.encode()))
                    cookie = (f"{LSN_COOKIE}={lsn}; Max-Age={int(self.memory.seconds)}; Path=/; HttpOnly; "
                              f"SameSite=Lax{'; Secure' if self.secure else ''}")
                    headers.append((b"set-cookie", cookie.encode()))
                    who = identity(dict(scope.get("headers") or []), self.secret)
                    if who:
                        self.memory.remember(who, holder["lsn"])
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, reply)

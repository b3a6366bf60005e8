"""Read replicas: an engine per GEO311_REPLICA_URLS entry, probed for health and lag; `read_session()`
opens a session on a replica a read may use, or answers None: read the primary.

A background thread (started on first use, one per process) probes every
`replica_probe_seconds`: the primary's flushed WAL position, then each replica's
`pg_is_in_recovery()`, replayed position and last replay time. A replica is usable when it
answers, is in recovery, and is at most `replica_max_lag_seconds` behind. Lag is judged by WAL
positions, not by the replay timestamp alone (on an idle primary that timestamp grows although the
replica is current): a replica that has replayed everything the primary had is 0 s behind;
otherwise it is as stale as the older of its last replayed commit and the last probe at which the
primary had nothing newer than the replica, an upper bound on the true staleness.

A read that needs the caller's own write (`min_lsn`) uses a replica only once the replica's
replayed position reaches it; probes are at most one interval old and replay only moves forward,
so that check never lets a caller miss their write.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("geo311.replicas")
PRIMARY = "primary"
PROBE_PRIMARY = "SELECT pg_current_wal_flush_lsn()::text"
PROBE_REPLICA = ("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, pg_last_wal_receive_lsn()::text, "
                 "extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8")


def parse_lsn(value: str | None) -> int | None:
    """'16/B374D848' -> an integer (None for anything else)."""
    if not value or "/" not in value:
        return None
    hi, _, lo = value.strip().partition("/")
    try:
        return (int(hi, 16) << 32) | int(lo, 16)
    except ValueError:
        return None


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def where(url: str) -> str:
    """host:port/database of a URL, without user or password (what health and metrics show)."""
    u = make_url(url)
    return f"{u.host or 'localhost'}:{u.port or 5432}/{u.database or ''}"


@dataclass(frozen=True)
class ReplicaState:
    name: str
    where: str
    state: str = "unknown"  # ok | lagging | down | not_replica | unknown
    replay_lsn: int | None = None
    lag_seconds: float | None = None
    lag_bytes: int | None = None
    error: str | None = None
    probed_at: float = 0.0  # time.time()

    @property
    def usable(self) -> bool:
        return self.state == "ok"

    def as_dict(self) -> dict:
        d = asdict(self)
        d["replay_lsn"] = format_lsn(self.replay_lsn) if self.replay_lsn is not None else None
        d["lag_seconds"] = round(self.lag_seconds, 3) if self.lag_seconds is not None else None
        return d


@dataclass
class Replica:
    name: str
    url: str
    engine: Engine
    sessionmaker: sessionmaker[Session] = field(repr=False)


class ReplicaPool:
    """The replicas of one process, their last probed states, and where reads went."""

    def __init__(self, primary: Engine, replicas: list[Replica], *, max_lag_seconds: float = 5.0,
                 probe_seconds: float = 1.0) -> None:
        self.primary = primary
        self.replicas = replicas
        self.max_lag = max_lag_seconds
        self.interval = probe_seconds
        self._states = {r.name: ReplicaState(r.name, where(r.url)) for r in replicas}
        self._history: deque[tuple[float, int]] = deque()  # (monotonic time, primary flush LSN)
        self._lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._turn = itertools.count()
        self.reads: dict[str, int] = {PRIMARY: 0, **{r.name: 0 for r in replicas}}
        self.fallbacks: dict[str, int] = {"none_usable": 0, "behind_caller": 0}

    def __bool__(self) -> bool:
        return bool(self.replicas)

    # ----- probing ----------------------------------------------------------------------------
    def _probe_primary(self) -> int | None:
        try:
            with self.primary.connect() as conn:
                return parse_lsn(conn.execute(text(PROBE_PRIMARY)).scalar_one())
        except Exception as exc:  # noqa: BLE001 - a probe never raises; the primary's own errors show elsewhere
            log.warning("replica probe: the primary does not answer: %s", _first_line(exc))
            return None

    def _lag(self, replay: int, replay_age: float | None, primary_lsn: int | None, now: float) -> float | None:
        if primary_lsn is not None and replay >= primary_lsn:
            return 0.0
        bounds = [replay_age] if replay_age is not None else []
        caught_up_at = [t for t, lsn in self._history if lsn <= replay]
        if caught_up_at:
            bounds.append(now - caught_up_at[-1])
        return min(bounds) if bounds else None

    def _probe_replica(self, replica: Replica, primary_lsn: int | None, now: float) -> ReplicaState:
        base = ReplicaState(replica.name, where(replica.url), probed_at=time.time())
        try:
            with replica.engine.connect() as conn:
                in_recovery, replay, receive, replay_age = conn.execute(text(PROBE_REPLICA)).one()
        except Exception as exc:  # noqa: BLE001 - any failure means: do not read there
            return replace(base, state="down", error=_first_line(exc))
        if not in_recovery:
            return replace(base, state="not_replica", error="not in recovery: promoted, or not a replica")
        replay_lsn = parse_lsn(replay) or parse_lsn(receive)
        if replay_lsn is None:
            return replace(base, state="lagging", error="has replayed nothing yet")
        lag = self._lag(replay_lsn, replay_age, primary_lsn, now)
        lag_bytes = max(0, primary_lsn - replay_lsn) if primary_lsn is not None else None
        state = "ok" if lag is not None and lag <= self.max_lag else "lagging"
        return replace(base, state=state, replay_lsn=replay_lsn, lag_seconds=lag, lag_bytes=lag_bytes)

    def refresh(self) -> list[ReplicaState]:
        """Probe the primary and every replica now."""
        with self._probe_lock:
            now = time.monotonic()
            primary_lsn = self._probe_primary()
            if primary_lsn is not None:
                self._history.append((now, primary_lsn))
                keep = max(60.0, 4 * self.max_lag)
                while self._history and self._history[0][0] < now - keep:
                    self._history.popleft()
            states = {r.name: self._probe_replica(r, primary_lsn, now) for r in self.replicas}
            with self._lock:
                for name, st in states.items():
                    if self._states[name].state != st.state:
                        log.info("replica %s is %s%s", name, st.state, f" ({st.error})" if st.error else "")
                self._states = states
        return list(states.values())

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - the prober must outlive any surprise
                log.exception("replica probe failed")

    def _ensure_started(self) -> None:
        if self._thread is not None or not self.replicas:
            return
        with self._lock:
            if self._thread is not None:
                return
            thread = self._thread = threading.Thread(target=self._run, args=(self._stop,),
                                                     name="geo311-replica-probe", daemon=True)
        self.refresh()  # the first reads already know where to go
        thread.start()

    # ----- choosing -----------------------------------------------------------------------------
    def states(self) -> list[ReplicaState]:
        self._ensure_started()
        with self._lock:
            return [self._states[r.name] for r in self.replicas]

    def read_session(self, min_lsn: int | None = None) -> tuple[Replica, Session] | None:
        """A connected session on a usable replica that has replayed `min_lsn` (round robin), or
        None: read the primary. When the last probe is older than the caller's write, the
        replica's replay position is asked again on the session itself (one short query)."""
        if not self.replicas:
            return None
        states = dict(zip((r.name for r in self.replicas), self.states(), strict=True))
        usable = [r for r in self.replicas if states[r.name].usable]
        start = next(self._turn)
        for replica in usable[start % len(usable):] + usable[:start % len(usable)] if usable else []:
            session = replica.sessionmaker()
            try:
                known = states[replica.name].replay_lsn or 0
                if min_lsn is not None and known < min_lsn:
                    replay = parse_lsn(session.execute(text("SELECT pg_last_wal_replay_lsn()::text")).scalar_one())
                    self._saw_replay(replica.name, replay)
                    if replay is None or replay < min_lsn:
                        session.close()
                        continue
                else:
                    session.connection()  # gone since the last probe? then not this one
            except DBAPIError as exc:
                session.close()
                self.mark_down(replica.name, exc)
                continue
            self._count(replica.name)
            return replica, session
        self._count(PRIMARY, "behind_caller" if usable and min_lsn is not None else "none_usable")
        return None

    def _saw_replay(self, name: str, lsn: int | None) -> None:
        with self._lock:
            st = self._states[name]
            if lsn is not None and (st.replay_lsn is None or lsn > st.replay_lsn):
                self._states[name] = replace(st, replay_lsn=lsn)

    def _count(self, target: str, fallback: str | None = None) -> None:
        with self._lock:
            self.reads[target] += 1
            if fallback:
                self.fallbacks[fallback] += 1

    def mark_down(self, name: str, error: BaseException | str) -> None:
        """A read on this replica failed: skip it until the next probe finds it well."""
        with self._lock:
            if name in self._states:
                self._states[name] = replace(self._states[name], state="down", error=_first_line(error),
                                             probed_at=time.time())
        log.warning("replica %s failed a read and is skipped: %s", name, _first_line(error))

    def close(self) -> None:
        """Stop probing and close the replicas' connections (a later use starts again)."""
        with self._lock:
            thread, self._thread = self._thread, None
            stop, self._stop = self._stop, threading.Event()
        stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        for r in self.replicas:
            r.engine.dispose()


def _first_line(exc: BaseException | str) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]

"""Request ids, access logs and Prometheus metrics.

Every response carries X-Request-ID (taken from the request when it is a plausible id, otherwise
new); every request writes one JSON access line (geo311.access) with the route template, status,
duration and the id. /metrics serves Prometheus text: request latency by route, intake outcomes
(created, merged, refused by reason), database pool use, and each read replica's state and lag
with the count of reads each database served. It answers loopback clients, or anyone
with `Authorization: Bearer <GEO311_METRICS_TOKEN>` when that is set. With several uvicorn
workers each process keeps its own counts (set PROMETHEUS_MULTIPROC_DIR to merge them).
"""

from __future__ import annotations

import hmac
import logging
import re
import time
import uuid

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo311.logs import redact_query, request_id

access = logging.getLogger("geo311.access")
_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
INTAKE_ROUTES = ("/api/v1/reports", "/api/v1/reports/{report_id}/submissions")


class Metrics:
    """The app's own registry (tests build many apps; each keeps its own)."""

    def __init__(self, engine, replicas=None) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram("geo311_request_seconds", "Request latency by route", ["method", "route", "status"],
                                 registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.intake = Counter("geo311_intake_total", "Submissions by outcome (created, merged, refused:<reason>)",
                              ["outcome"], registry=self.registry)
        self.engine = engine
        self.replicas = replicas
        self.registry.register(self)

    def collect(self):
        pool = self.engine.pool
        size = GaugeMetricFamily("geo311_db_pool_connections", "Database pool connections", labels=["state"])
        for state, fn in (("checked_out", "checkedout"), ("idle", "checkedin"), ("size", "size"), ("overflow", "overflow")):
            if hasattr(pool, fn):
                size.add_metric([state], float(getattr(pool, fn)()))
        yield size
        if self.replicas:
            yield from replica_metrics(self.replicas)

    def describe(self):
        return []


def replica_metrics(pool):
    """Each replica's state and lag (as last probed) and where reads went."""
    up = GaugeMetricFamily("geo311_replica_up", "1 when the replica takes reads (answers, in recovery, "
                           "within the lag bound)", labels=["replica", "state"])
    lag = GaugeMetricFamily("geo311_replica_lag_seconds", "How far the replica's replay is behind the primary",
                            labels=["replica"])
    lag_bytes = GaugeMetricFamily("geo311_replica_lag_bytes", "Primary WAL not yet replayed on the replica",
                                  labels=["replica"])
    for st in pool.states():
        up.add_metric([st.name, st.state], 1.0 if st.usable else 0.0)
        if st.lag_seconds is not None:
            lag.add_metric([st.name], st.lag_seconds)
        if st.lag_bytes is not None:
            lag_bytes.add_metric([st.name], float(st.lag_bytes))
    reads = CounterMetricFamily("geo311_reads", "Read-only requests by the database that served them",
                                labels=["target"])
    for target, count in dict(pool.reads).items():
        reads.add_metric([target], float(count))
    fallbacks = CounterMetricFamily("geo311_reads_on_primary", "Reads sent to the primary although replicas "
                                    "are configured, by reason", labels=["reason"])
    for reason, count in dict(pool.fallbacks).items():
        fallbacks.add_metric([reason], float(count))
    yield from (up, lag, lag_bytes, reads, fallbacks)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", None) or "unmatched"


class Observe:
    """ASGI middleware: request id, access log line, latency histogram."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route(scope)
            self.metrics.latency.labels(scope["method"], route, f"{status // 100}xx").observe(elapsed)
            if scope["method"] == "POST" and (route in INTAKE_ROUTES or route.startswith("/open311/v2/requests")):
                code = scope.get("state", {}).get("error_code")
                outcome = f"refused:{code}" if status >= 400 and code else {201: "created", 200: "merged"}.get(status)
                if outcome:
                    self.metrics.intake.labels(outcome).inc()
            client = scope.get("client")
            access.info("request", extra={
                "request_id": rid, "method": scope["method"], "route": route, "path": scope["path"],
                "query": redact_query(scope.get("query_string", b"").decode("latin-1")),
                "status": status, "ms": round(elapsed * 1000, 2), "client": client[0] if client else None})
            request_id.reset(token)


def metrics_endpoint(request: Request) -> Response:
    settings = request.app.state.settings
    token = settings.metrics_token
    client = request.client.host if request.client else ""
    if token:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        allowed = hmac.compare_digest(given.encode(), token.encode())
    else:
        allowed = client in ("127.0.0.1", "::1", "localhost", "testclient")
    if not allowed:
        return Response("metrics are for the operator (loopback or GEO311_METRICS_TOKEN)\n", status_code=403,
                        media_type="text/plain")
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

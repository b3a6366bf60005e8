"""create_app(): builds the FastAPI application from Settings; nothing happens at import time."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine

from geo311 import __version__
from geo311.api import (
    agent_pages,
    agents,
    catalog,
    crew_pages,
    exports,
    field,
    geocode,
    login,
    manager_pages,
    managers,
    meta,
    pages,
    photos,
    reports,
)
from geo311.api.consistency import (
    LSN_HEADER,
    READ_FROM_HEADER,
    Consistency,
    WriteMemory,
    track_writes,
)
from geo311.api.errors import document_errors, install_error_handlers
from geo311.api.guards import RateLimit, RetryReads, SecurityHeaders
from geo311.api.limits import BodySizeLimit
from geo311.api.observability import Metrics, Observe, metrics_endpoint
from geo311.api.responses import JSONBody
from geo311.db import make_engine, make_replica_pool, make_sessionmaker
from geo311.map_assets import MAPS_DIR, STATIC_PREFIX
from geo311.open311 import router as open311_router
from geo311.settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = engine or make_engine(settings)

    replicas = make_replica_pool(settings, engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        replicas.close()
        engine.dispose()

    app = FastAPI(
        title="geo311",
        version=__version__,
        summary="Open geospatial 311: map-pin reports, routing, dedup, work lists and heatmaps on PostGIS.",
        default_response_class=JSONBody,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    if replicas:  # read-your-writes bookkeeping (two round trips per write) only when replicas serve reads
        track_writes(app.state.sessionmaker)
    app.state.replicas = replicas
    app.state.write_memory = WriteMemory(settings.read_your_writes_seconds)
    app.state.session_secret = settings.session_secret()
    install_error_handlers(app)
    document_errors(app)
    app.add_middleware(Consistency, memory=app.state.write_memory, session_secret=app.state.session_secret,
                       secure_cookies=settings.secure_cookies)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, uploads=photos.upload_limits(settings))
    app.add_middleware(RetryReads)
    app.add_middleware(RateLimit, anonymous=settings.rate_limit_anonymous, keyed=settings.rate_limit_key,
                       trusted_proxies=settings.trusted_proxy_list, session_secret=app.state.session_secret)
    if settings.cors_origin_list:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Geo311-Channel",
                                          LSN_HEADER],
                           expose_headers=["Location", "X-Request-ID", "Retry-After", LSN_HEADER, READ_FROM_HEADER])
    app.add_middleware(SecurityHeaders)
    app.state.metrics = Metrics(engine, replicas)
    app.add_middleware(Observe, metrics=app.state.metrics)
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
    app.include_router(meta.router)
    app.include_router(catalog.router)
    app.include_router(photos.uploads)  # before reports: its multipart routes share the JSON routes' paths
    app.include_router(exports.router)  # before reports: /reports/export is not a report id
    app.include_router(reports.router)
    app.include_router(photos.router)
    app.include_router(field.router)
    app.include_router(agents.router)
    app.include_router(geocode.router)
    app.include_router(managers.router)
    app.include_router(pages.router)
    app.include_router(login.router)
    app.include_router(crew_pages.router)
    app.include_router(agent_pages.router)
    app.include_router(manager_pages.router)
    open311_router.install(app)  # the /open311/v2/ routes and their error format
    app.mount(STATIC_PREFIX.rstrip("/"), StaticFiles(directory=MAPS_DIR), name="maps")
    return app


def app_from_env() -> FastAPI:
    """The uvicorn factory used by `geo311 serve`: JSON logs, then the app."""
    from geo311.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)

"""Assemble the FastAPI application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import kioskpulse
from kiosk_api.bodylimit import BodyLimitMiddleware
from kiosk_api.errors import install_error_handlers
from kiosk_api.metrics import RequestMetricsMiddleware
from kiosk_api.routes import (
    followups,
    frames,
    health,
    heartbeats,
    kiosk_page,
    observations,
    ratings,
)
from kiosk_api.state import ApiState
from kioskpulse.bus import Bus, make_bus
from kioskpulse.devices import RegistryFile
from kioskpulse.settings import Settings, get_settings
from kioskpulse.topics import topic_specs

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    bus: Bus | None = None,
    registry: RegistryFile | None = None,
    manage_bus: bool = True,
) -> FastAPI:
    """The kiosk API. ``manage_bus=False`` when the caller starts and stops the bus itself."""
    settings = settings or get_settings()
    state = ApiState.build(settings, bus or make_bus(settings), registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_bus:
            await state.bus.ensure_topics(topic_specs(settings))
            await state.bus.start()
        if not state.registry.registry.kiosks and not state.registry.registry.cameras:
            log.warning(
                "no devices registered in %s: add some with 'kioskpulse devices add-kiosk'",
                settings.devices_file,
            )
        yield
        if manage_bus:
            await state.bus.stop()

    app = FastAPI(
        title="kioskpulse kiosk API",
        version=kioskpulse.__version__,
        description="Ratings, heartbeats, frames and observations from in-store devices.",
        lifespan=lifespan,
    )
    app.state.kioskpulse = state
    for module in (ratings, followups, heartbeats, frames, observations, health, kiosk_page):
        app.include_router(module.router)
    install_error_handlers(app)

    def body_limit(path: str) -> int:
        if path.endswith("/frames"):
            return settings.max_frame_bytes
        return settings.max_json_body_bytes

    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit)
    # Added last, so it is outermost and also sees the 413s of the body limit.
    app.add_middleware(RequestMetricsMiddleware)
    return app

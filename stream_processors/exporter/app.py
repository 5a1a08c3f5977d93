"""Assemble the exporter's FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

import kioskpulse
from kioskpulse.devices import RegistryFile
from kioskpulse.validation import json_safe_errors
from stream_processors.exporter.deps import ExporterContext
from stream_processors.exporter.routes import displays, operations, stores
from stream_processors.exporter.state import ExporterState

__all__ = ["Feed", "create_exporter_app"]

log = logging.getLogger(__name__)

#: Reads the topic into the state until cancelled (``source.feed_from_*``).
Feed = Callable[[], Coroutine[Any, Any, None]]


def create_exporter_app(
    state: ExporterState, registry: RegistryFile, feed: Feed | None = None
) -> FastAPI:
    """The exporter's app: /metrics, /healthz, /readyz and the operator JSON API.

    ``feed`` runs as a background task for the app's lifetime; leave it out when the
    caller runs the feed itself (the embedded runtime, tests).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not registry.registry.operators:
            log.warning(
                "no operators registered in %s: the JSON API answers 401 until one is "
                "added with 'kioskpulse devices add-operator NAME'",
                registry.path,
            )
        tasks = [asyncio.create_task(state.refresh_forever(), name="exporter-render")]
        if feed:
            tasks.append(asyncio.create_task(feed(), name="exporter-feed"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="kioskpulse exporter",
        version=kioskpulse.__version__,
        description="Per-store figures for Prometheus and a read-only JSON API for operators.",
        lifespan=lifespan,
    )
    app.state.exporter = ExporterContext(state, registry)
    app.include_router(operations.router)
    app.include_router(stores.router)
    app.include_router(displays.router)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    return app


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    # The kiosk API's shape: loc, msg and type only (pydantic's ctx may not serialise).
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": json_safe_errors(exc.errors())}, status_code=422)

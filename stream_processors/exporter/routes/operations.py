"""Liveness, readiness and the Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from stream_processors.exporter.deps import ExporterDep
from stream_processors.exporter.display_figures import display_camera_info

router = APIRouter(tags=["operations"])

#: What a 503 from /readyz suggests as a wait.
RETRY_AFTER_SECONDS = 5


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (it may still be reading the topic)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "the initial read is not done yet"}})
async def readyz(context: ExporterDep) -> JSONResponse:
    """Ready once the topic was read up to the end offsets seen at start."""
    if context.exporter.ready:
        return JSONResponse({"status": "ready"})
    return JSONResponse(
        {"status": "unavailable", "detail": "still reading store.aggregates.v1 from the start"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


@router.get("/metrics", response_class=Response)
async def metrics(context: ExporterDep) -> Response:
    """Prometheus exposition of every store's figures and the exporter's own metrics."""
    # The store figures come rendered (on the event loop, where the consumer runs
    # too, so they are one consistent state) by ExporterState.refresh_forever.
    # A plain route: mounting make_asgi_app() would answer /metrics with a redirect.
    body = context.exporter.exposition() + display_camera_info(context.registry.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)

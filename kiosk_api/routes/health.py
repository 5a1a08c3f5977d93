"""Liveness, readiness and the API's own metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from kiosk_api.deps import StateDep
from kiosk_api.publishing import RETRY_AFTER_SECONDS

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (it may still be waiting for the broker)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "no broker answered in time"}})
async def readyz(state: StateDep) -> JSONResponse:
    """Ready to accept writes: a broker answered within the readiness timeout."""
    if await state.bus.ready():
        return JSONResponse({"status": "ready"})
    timeout = state.settings.readiness_timeout_seconds
    return JSONResponse(
        {"status": "unavailable", "detail": f"no broker answered within {timeout:g} s"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus exposition of the API's metrics."""
    # A plain route: mounting make_asgi_app() would answer /metrics with a redirect.
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

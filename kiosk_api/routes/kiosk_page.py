"""The kiosk page (``GET /kiosk``), its configuration, and pairing a tablet with a kiosk.

The page is static (``kiosk_api/kiosk_page/``: HTML, CSS, ES modules, a service
worker), served with a strict Content-Security-Policy: it loads nothing but its own
files and talks only to this API, so it works on a shop network that reaches the API
alone and a script injected anywhere cannot run. docs/kiosk-page.md describes it.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from kiosk_api.deps import KioskDep, StateDep
from kiosk_api.errors import ApiError
from kiosk_api.responses import ErrorBody
from kioskpulse.devices import PairingCodeSpent, UnknownPairingCode, edit_registry

__all__ = ["PAGE_DIRECTORY", "SECURITY_HEADERS", "router"]

log = logging.getLogger(__name__)

PAGE_DIRECTORY = Path(__file__).resolve().parent.parent / "kiosk_page"

#: On every file of the page. 'self' only: no inline script or style, no other origin.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    # Always revalidated: the service worker keeps the offline copy, not the HTTP cache.
    "Cache-Control": "no-cache",
}

_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

router = APIRouter(tags=["kiosk page"])


def _page_file(name: str) -> FileResponse:
    path = PAGE_DIRECTORY / name
    # Only the folder's own plain files, by exact name: no path reaches outside it.
    if "/" in name or name.startswith(".") or not path.is_file():
        raise HTTPException(404, f"no file {name!r} in the kiosk page")
    headers = dict(SECURITY_HEADERS)
    if name == "sw.js":
        # The worker lives at /kiosk/sw.js but controls /kiosk itself too.
        headers["Service-Worker-Allowed"] = "/kiosk"
    media_type = _MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media_type, headers=headers)


@router.get("/kiosk", include_in_schema=False)
async def kiosk_page() -> FileResponse:
    """The page a tablet opens: ``/kiosk#id=K&token=T`` once, or ``/kiosk#pair=CODE``."""
    return _page_file("index.html")


@router.get("/kiosk/{name}", include_in_schema=False)
async def kiosk_page_file(name: str) -> FileResponse:
    return _page_file(name)


# --------------------------------------------------------------------------- configuration


class FollowupConfig(BaseModel):
    max_rating: int = Field(
        description="ask after a rating at or below this; below the lowest rating (0, or -1 "
        "on an NPS kiosk): never"
    )
    reasons: list[str] = Field(description="the choices, ids the page translates")
    timeout_seconds: float = Field(description="unanswered, the page goes back to the question")


class KioskPageConfig(BaseModel):
    """What a kiosk page shows and how it behaves, from the registry and the settings."""

    kiosk_id: str
    store_id: str
    scale: int
    question: str | None = Field(description="None: the page's default question, translated")
    language: str | None = Field(description="None: the browser's language")
    followup: FollowupConfig
    press_interval_seconds: float = Field(
        description="presses closer than this count once (the misuse filter): the page "
        "disables its buttons that long after a press"
    )
    thanks_seconds: float
    heartbeat_seconds: float


@router.get(
    "/v1/kiosks/{kiosk_id}/config",
    response_model=KioskPageConfig,
    tags=["kiosks"],
    responses={401: {"model": ErrorBody, "description": "unknown or revoked token"}},
)
async def kiosk_config(caller: KioskDep) -> KioskPageConfig:
    """The kiosk page's configuration (question, language, scale, follow-up, timings)."""
    kiosk, settings = caller.device, caller.state.settings
    return KioskPageConfig(
        kiosk_id=kiosk.id,
        store_id=kiosk.store_id,
        scale=kiosk.scale,
        question=kiosk.question,
        language=kiosk.language,
        followup=FollowupConfig(
            max_rating=kiosk.followup_max_rating,
            reasons=list(kiosk.followup_reasons),
            timeout_seconds=settings.kiosk_followup_timeout_seconds,
        ),
        press_interval_seconds=settings.misuse_interval_seconds,
        thanks_seconds=settings.kiosk_thanks_seconds,
        heartbeat_seconds=settings.kiosk_heartbeat_seconds,
    )


# --------------------------------------------------------------------------- pairing


class PairingRequest(BaseModel):
    code: str = Field(min_length=1, max_length=32, description="as printed by devices pair")


class PairingGranted(BaseModel):
    kiosk_id: str
    token: str = Field(description="the kiosk's new token; the one it had before ends")


@router.post(
    "/v1/pairing",
    response_model=PairingGranted,
    tags=["kiosks"],
    responses={
        404: {"model": ErrorBody, "description": "unknown pairing code"},
        410: {"model": ErrorBody, "description": "the code was used or has expired"},
        429: {"model": ErrorBody, "description": "too many attempts from this address"},
        503: {"model": ErrorBody, "description": "the devices file cannot be written"},
    },
)
async def pair_kiosk(
    request: Request, state: StateDep, body: Annotated[PairingRequest, Body()]
) -> JSONResponse:
    """Exchange a one-time pairing code (``kioskpulse devices pair K``) for the kiosk's token."""
    client = request.client.host if request.client else "unknown"
    wait = state.pairing_limiter.acquire(client)
    if wait > 0:
        raise ApiError(
            429,
            "rate_limited",
            "too many pairing attempts from this address: wait a moment",
            {"Retry-After": state.pairing_limiter.retry_after_header(wait)},
        )
    path, now = state.registry.path, state.clock()

    def redeem() -> tuple[str, str]:
        with edit_registry(path) as registry:
            return registry.redeem_pairing(body.code, now)

    try:
        # The file lock may block while an operator edits: not on the event loop.
        kiosk_id, token = await asyncio.to_thread(redeem)
    except UnknownPairingCode as exc:
        raise ApiError(404, "pairing_refused", str(exc)) from None
    except PairingCodeSpent as exc:
        raise ApiError(410, "pairing_refused", str(exc)) from None
    except OSError as exc:
        log.error("pairing: cannot write the devices file %s: %s", path, exc)
        raise ApiError(
            503, "pairing_refused", "pairing is not possible now: the devices file is read-only"
        ) from None
    state.registry.reload()
    log.info("kiosk %s paired with a page from %s", kiosk_id, client)
    granted = PairingGranted(kiosk_id=kiosk_id, token=token)
    # Never cached by anything between: the body holds a credential.
    return JSONResponse(granted.model_dump(), headers={"Cache-Control": "no-store"})

"""Frames: JPEG or PNG images from in-store cameras, for the vision stage."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime

from kiosk_api.deps import CameraDep
from kiosk_api.errors import ApiError
from kiosk_api.images import IMAGE_MAGIC, UnsupportedImage, image_type
from kiosk_api.publishing import publish_or_503
from kiosk_api.responses import DEVICE_WRITE_ERRORS, Accepted, ErrorBody, accepted
from kiosk_api.stamping import require_plausible_time
from kioskpulse.bus import Record
from kioskpulse.events import FrameHeaders
from kioskpulse.topics import FRAMES

router = APIRouter(prefix="/v1/cameras", tags=["cameras"])

_IMAGE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            media_type: {"schema": {"type": "string", "format": "binary"}}
            for media_type in IMAGE_MAGIC
        },
    }
}


@router.post(
    "/{camera_id}/frames",
    status_code=202,
    response_model=Accepted,
    responses={
        **DEVICE_WRITE_ERRORS,
        415: {"model": ErrorBody, "description": "not a JPEG or PNG image"},
    },
    openapi_extra=_IMAGE_BODY,
)
async def post_frame(
    caller: CameraDep,
    request: Request,
    captured_at: Annotated[
        AwareDatetime | None, Query(description="when the frame was taken; default: now")
    ] = None,
) -> Response:
    """Accept one frame; it reaches Kafka with the camera's store, role and kiosk, and its
    smallest face and kiosk zone if it has them, as headers."""
    body = await request.body()
    try:
        content_type = image_type(request.headers.get("content-type"), body)
    except UnsupportedImage as exc:
        raise ApiError(415, "unsupported_media_type", str(exc)) from None
    camera, state = caller.device, caller.state
    now = state.clock()
    if captured_at is not None:
        require_plausible_time(("query",), "captured_at", captured_at, now, state.event_time)
    assert camera.role is not None, "a registered camera always has a role"
    headers = FrameHeaders(
        camera_id=camera.id,
        store_id=camera.store_id,
        role=camera.role,
        kiosk_id=camera.kiosk_id,
        captured_at=captured_at or now,
        content_type=content_type,
        min_face_px=camera.min_face_px,
        kiosk_zone=camera.kiosk_zone,
        display=camera.display,
    )
    record = Record(FRAMES, camera.id, body, tuple(headers.to_headers()))
    await publish_or_503(state.bus, FRAMES, [record], [headers.captured_at])
    return accepted(1)

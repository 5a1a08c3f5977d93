"""Heartbeats: a kiosk's sign of life and the size of its offline buffer."""

from __future__ import annotations

from fastapi import APIRouter, Response

from kiosk_api.deps import KioskDep
from kiosk_api.publishing import publish_or_503
from kiosk_api.responses import DEVICE_WRITE_ERRORS, Accepted, accepted
from kiosk_api.stamping import heartbeat_event
from kioskpulse.bus import Record
from kioskpulse.events import HeartbeatSubmission
from kioskpulse.topics import HEARTBEATS

router = APIRouter(prefix="/v1/kiosks", tags=["kiosks"])


@router.post(
    "/{kiosk_id}/heartbeat", status_code=202, response_model=Accepted, responses=DEVICE_WRITE_ERRORS
)
async def post_heartbeat(caller: KioskDep, body: HeartbeatSubmission) -> Response:
    """Record that the kiosk is alive and how many events it still holds."""
    state = caller.state
    event = heartbeat_event(caller.device, body, state.clock(), state.event_time)
    record = Record(HEARTBEATS, event.store_id, event.to_bytes())
    await publish_or_503(state.bus, HEARTBEATS, [record], [event.sent_at])
    return accepted(1)

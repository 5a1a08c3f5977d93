"""Observations: expression readings from edge agents (images stay in the store)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from kiosk_api.deps import CameraDep
from kiosk_api.publishing import publish_or_503
from kiosk_api.responses import DEVICE_WRITE_ERRORS, Accepted, accepted
from kiosk_api.stamping import observation_events
from kioskpulse.event_records import store_records
from kioskpulse.events import ObservationBatch
from kioskpulse.topics import FACES

router = APIRouter(prefix="/v1/cameras", tags=["cameras"])


@router.post(
    "/{camera_id}/observations",
    status_code=202,
    response_model=Accepted,
    responses=DEVICE_WRITE_ERRORS,
)
async def post_observations(caller: CameraDep, body: ObservationBatch) -> Response:
    """Accept up to 500 face observations, stamped with the camera's store and role (and
    the kiosk of its kiosk zone on the faces in it)."""
    state = caller.state
    events = observation_events(caller.device, body.observations, state.clock(), state.event_time)
    records = store_records(FACES, events, batch=state.settings.batch_records)
    event_times = (event.captured_at for event in events)
    await publish_or_503(state.bus, FACES, records, event_times, events=len(events))
    return accepted(len(events))

"""Follow-up answers: why an unhappy press was unhappy ("What went wrong?")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response

from kiosk_api.deps import KioskDep
from kiosk_api.publishing import accept_store_events, batch_items
from kiosk_api.responses import DEVICE_WRITE_ERRORS, Accepted
from kiosk_api.stamping import followup_events
from kioskpulse.events import FollowupBatch, FollowupsBody
from kioskpulse.topics import FOLLOWUPS

router = APIRouter(prefix="/v1/kiosks", tags=["kiosks"])


@router.post(
    "/{kiosk_id}/followups", status_code=202, response_model=Accepted, responses=DEVICE_WRITE_ERRORS
)
async def post_followups(caller: KioskDep, body: Annotated[FollowupsBody, Body()]) -> Response:
    """Accept one answer, or up to 500 as ``{"followups": [...]}``, once Kafka acked them all.

    A reason must be one of the kiosk's follow-up reasons (422 ``unknown_reason``)."""
    submissions, item_loc = batch_items(body, FollowupBatch, "followups")
    state = caller.state
    events = followup_events(caller.device, submissions, state.clock(), state.event_time, item_loc)
    return await accept_store_events(
        state, FOLLOWUPS, events, (event.answered_at for event in events)
    )

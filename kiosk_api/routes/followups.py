"""Follow-up answers: why an unhappy press was unhappy ("What went wrong?")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response

from kiosk_api.deps import KioskDep
from kiosk_api.publishing import publish_or_503
from kiosk_api.responses import DEVICE_WRITE_ERRORS, Accepted, accepted
from kiosk_api.stamping import followup_events
from kioskpulse.bus import Record
from kioskpulse.events import FollowupBatch, FollowupsBody
from kioskpulse.topics import FOLLOWUPS

router = APIRouter(prefix="/v1/kiosks", tags=["kiosks"])


@router.post(
    "/{kiosk_id}/followups", status_code=202, response_model=Accepted, responses=DEVICE_WRITE_ERRORS
)
async def post_followups(caller: KioskDep, body: Annotated[FollowupsBody, Body()]) -> Response:
    """Accept one answer, or up to 500 as ``{"followups": [...]}``, once Kafka acked them all.

    A reason must be one of the kiosk's follow-up reasons (422 ``unknown_reason``)."""
    item_loc: tuple[str, ...]
    if isinstance(body, FollowupBatch):
        submissions, item_loc = body.followups, ("body", "batch", "followups")
    else:
        submissions, item_loc = [body], ("body", "single")
    state = caller.state
    events = followup_events(caller.device, submissions, state.clock(), state.event_time, item_loc)
    records = [Record(FOLLOWUPS, event.store_id, event.to_bytes()) for event in events]
    await publish_or_503(state.bus, FOLLOWUPS, records, (event.answered_at for event in events))
    return accepted(len(records))

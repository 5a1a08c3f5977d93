"""Ratings: button presses of a kiosk."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response

from kiosk_api.deps import KioskDep
from kiosk_api.publishing import accept_store_events, batch_items
from kiosk_api.responses import DEVICE_WRITE_ERRORS, Accepted
from kiosk_api.stamping import rating_events
from kioskpulse.events import RatingBatch, RatingsBody
from kioskpulse.topics import RATINGS

router = APIRouter(prefix="/v1/kiosks", tags=["kiosks"])


@router.post(
    "/{kiosk_id}/ratings", status_code=202, response_model=Accepted, responses=DEVICE_WRITE_ERRORS
)
async def post_ratings(caller: KioskDep, body: Annotated[RatingsBody, Body()]) -> Response:
    """Accept one rating, or up to 500 as ``{"ratings": [...]}``, once Kafka acked them all."""
    submissions, item_loc = batch_items(body, RatingBatch, "ratings")
    state = caller.state
    events = rating_events(caller.device, submissions, state.clock(), state.event_time, item_loc)
    return await accept_store_events(state, RATINGS, events, (event.pressed_at for event in events))

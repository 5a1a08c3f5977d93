"""From what a device sent to the events we publish: server-side rules and identity.

Plain functions, no FastAPI: the rules a request body cannot express (the kiosk's
own button scale, plausible event times) and the identity stamped from the
registry, never from the body.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kiosk_api.errors import EventRejected
from kioskpulse.devices import Device
from kioskpulse.events import (
    FaceObservation,
    Heartbeat,
    HeartbeatSubmission,
    ObservationSubmission,
    RatingEvent,
    RatingSubmission,
)
from kioskpulse.eventtime import EventTimeWindow

__all__ = ["heartbeat_event", "observation_events", "rating_events", "require_plausible_time"]

Loc = tuple[str | int, ...]


def _time_error(
    loc: Loc, field: str, when: datetime, now: datetime, window: EventTimeWindow
) -> dict[str, Any] | None:
    problem = window.problem(when, now)
    if problem is None:
        return None
    return {"loc": (*loc, field), "msg": f"{field} is {problem}", "type": "event_time"}


def require_plausible_time(
    loc: Loc, field: str, when: datetime, now: datetime, window: EventTimeWindow
) -> None:
    """Refuse one timestamp outside the accepted window."""
    if error := _time_error(loc, field, when, now, window):
        raise EventRejected("event_time", [error])


def rating_events(
    kiosk: Device,
    submissions: Sequence[RatingSubmission],
    now: datetime,
    window: EventTimeWindow,
    item_loc: Loc,
) -> list[RatingEvent]:
    """Stamp ratings with the kiosk's identity; all or none (one bad rating refuses the batch).

    ``item_loc`` is where the items sit in the body, for error locations, spelt as
    pydantic spells them for the tagged union of the body: ``("body", "single")``
    or ``("body", "batch", "ratings")``.
    """
    single = item_loc[-1] == "single"
    scale_errors, time_errors = [], []
    for index, submission in enumerate(submissions):
        loc: Loc = item_loc if single else (*item_loc, index)
        if submission.rating > kiosk.scale:
            scale_errors.append(
                {
                    "loc": (*loc, "rating"),
                    "msg": f"rating {submission.rating} is outside 1..{kiosk.scale}, "
                    f"the scale of kiosk {kiosk.id}",
                    "type": "rating_out_of_scale",
                }
            )
        if error := _time_error(loc, "pressed_at", submission.pressed_at, now, window):
            time_errors.append(error)
    if scale_errors or time_errors:
        raise EventRejected(
            "validation" if scale_errors else "event_time", scale_errors + time_errors
        )
    return [
        RatingEvent(
            **submission.model_dump(),
            kiosk_id=kiosk.id,
            store_id=kiosk.store_id,
            scale=kiosk.scale,
            received_at=now,
        )
        for submission in submissions
    ]


def heartbeat_event(
    kiosk: Device, submission: HeartbeatSubmission, now: datetime, window: EventTimeWindow
) -> Heartbeat:
    require_plausible_time(("body",), "sent_at", submission.sent_at, now, window)
    return Heartbeat(
        **submission.model_dump(), kiosk_id=kiosk.id, store_id=kiosk.store_id, received_at=now
    )


def observation_events(
    camera: Device,
    submissions: Sequence[ObservationSubmission],
    now: datetime,
    window: EventTimeWindow,
) -> list[FaceObservation]:
    """Stamp edge observations with the camera's store, role and kiosk."""
    assert camera.role is not None, "a registered camera always has a role"
    errors = [
        error
        for index, submission in enumerate(submissions)
        if (
            error := _time_error(
                ("body", "observations", index), "captured_at", submission.captured_at, now, window
            )
        )
    ]
    if errors:
        raise EventRejected("event_time", errors)
    return [
        FaceObservation(
            **submission.model_dump(),
            camera_id=camera.id,
            store_id=camera.store_id,
            role=camera.role,
            kiosk_id=camera.kiosk_id,
            source="edge",
        )
        for submission in submissions
    ]

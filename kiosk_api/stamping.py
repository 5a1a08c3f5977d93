"""From what a device sent to the events we publish: server-side rules and identity.

Plain functions, no FastAPI: the rules a request body cannot express (the kiosk's
own button scale and follow-up reasons, plausible event times) and the identity
stamped from the registry, never from the body.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from kiosk_api.errors import EventRejected
from kioskpulse.devices import Device
from kioskpulse.events import (
    Contract,
    FaceObservation,
    FollowupEvent,
    FollowupSubmission,
    Heartbeat,
    HeartbeatSubmission,
    ObservationSubmission,
    RatingEvent,
    RatingSubmission,
    describe_ratings,
    ratings_of,
)
from kioskpulse.eventtime import EventTimeWindow

__all__ = [
    "followup_events",
    "heartbeat_event",
    "observation_events",
    "rating_events",
    "require_plausible_time",
]

Loc = tuple[str | int, ...]
T = TypeVar("T")
E = TypeVar("E", bound=Contract)


def _field_error(loc: Loc, field: str, kind: str, message: str) -> dict[str, Any]:
    """One offending field, as pydantic reports one (``type`` is ``kind``)."""
    return {"loc": (*loc, field), "msg": message, "type": kind}


def _time_error(
    loc: Loc, field: str, when: datetime, now: datetime, window: EventTimeWindow
) -> dict[str, Any] | None:
    problem = window.problem(when, now)
    if problem is None:
        return None
    return _field_error(loc, field, "event_time", f"{field} is {problem}")


def require_plausible_time(
    loc: Loc, field: str, when: datetime, now: datetime, window: EventTimeWindow
) -> None:
    """Refuse one timestamp outside the accepted window."""
    if error := _time_error(loc, field, when, now, window):
        raise EventRejected("event_time", [error])


#: A server-side rule on one item of a body: its error at ``loc``, or None.
ItemRule = Callable[[T, Loc], dict[str, Any] | None]


def _refuse_invalid(
    submissions: Sequence[T],
    item_loc: Loc,
    rule: ItemRule[T],
    time_field: str,
    now: datetime,
    window: EventTimeWindow,
) -> None:
    """Raise EventRejected listing every item that breaks ``rule`` or has an implausible
    ``time_field``: all or none, so a kiosk can resend a fixed batch as it is.

    ``item_loc`` is where the items sit in the body, for error locations, spelt as
    pydantic spells them for the tagged union of the body: ``("body", "single")``
    or ``("body", "batch", "ratings")``; a batch's items add their index.
    """
    single = item_loc[-1] == "single"
    rule_errors, time_errors = [], []
    for index, submission in enumerate(submissions):
        loc: Loc = item_loc if single else (*item_loc, index)
        if error := rule(submission, loc):
            rule_errors.append(error)
        if error := _time_error(loc, time_field, getattr(submission, time_field), now, window):
            time_errors.append(error)
    if rule_errors or time_errors:
        raise EventRejected(
            "validation" if rule_errors else "event_time", rule_errors + time_errors
        )


def _stamped(event: type[E], submissions: Sequence[Contract], **identity: Any) -> list[E]:
    """The events of ``submissions`` with the server's ``identity`` fields added."""
    return [event(**submission.model_dump(), **identity) for submission in submissions]


def rating_events(
    kiosk: Device,
    submissions: Sequence[RatingSubmission],
    now: datetime,
    window: EventTimeWindow,
    item_loc: Loc,
) -> list[RatingEvent]:
    """Stamp ratings with the kiosk's identity; all or none (one bad rating refuses the batch)."""

    def within_scale(submission: RatingSubmission, loc: Loc) -> dict[str, Any] | None:
        if submission.rating in ratings_of(kiosk.scale):
            return None
        scale = f"{describe_ratings(kiosk.scale)}, the scale of kiosk {kiosk.id}"
        message = f"rating {submission.rating} is outside {scale}"
        return _field_error(loc, "rating", "rating_out_of_scale", message)

    _refuse_invalid(submissions, item_loc, within_scale, "pressed_at", now, window)
    return _stamped(
        RatingEvent,
        submissions,
        kiosk_id=kiosk.id,
        store_id=kiosk.store_id,
        scale=kiosk.scale,
        received_at=now,
    )


def followup_events(
    kiosk: Device,
    submissions: Sequence[FollowupSubmission],
    now: datetime,
    window: EventTimeWindow,
    item_loc: Loc,
) -> list[FollowupEvent]:
    """Stamp follow-up answers with the kiosk's identity; all or none, like ratings.

    The reason must be one of the kiosk's own choices: the registry's, not any
    well-formed id, so that a page with stale choices is told which ones are current.
    """

    def known_reason(submission: FollowupSubmission, loc: Loc) -> dict[str, Any] | None:
        if submission.reason in kiosk.followup_reasons:
            return None
        choices = ", ".join(kiosk.followup_reasons) or "none"
        message = (
            f"reason {submission.reason!r} is not a follow-up reason of kiosk {kiosk.id} "
            f"(its choices: {choices})"
        )
        return _field_error(loc, "reason", "unknown_reason", message)

    _refuse_invalid(submissions, item_loc, known_reason, "answered_at", now, window)
    return _stamped(
        FollowupEvent, submissions, kiosk_id=kiosk.id, store_id=kiosk.store_id, received_at=now
    )


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
    """Stamp edge observations with the camera's store, role and kiosk (a display camera's
    label too), and each face in a floor camera's kiosk zone with the zone's kiosk
    (``zone_kiosk_id``)."""
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
    zone = camera.kiosk_zone
    display = camera.role == "display"
    return [
        FaceObservation(
            **submission.model_dump(exclude={"frontal"}),
            # Attention is a display camera's figure: another's faces stay as they were.
            frontal=submission.frontal if display else None,
            camera_id=camera.id,
            store_id=camera.store_id,
            role=camera.role,
            kiosk_id=camera.kiosk_id,
            source="edge",
            zone_kiosk_id=zone.kiosk_at(submission.bbox) if zone is not None else None,
            display=camera.display,
        )
        for submission in submissions
    ]

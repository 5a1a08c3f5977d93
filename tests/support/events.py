"""Builders of the aggregator's input events, for the stream tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from kioskpulse.events import BBox, FaceObservation, FollowupEvent, Heartbeat, RatingEvent

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
HAPPY = [0.02, 0.01, 0.02, 0.85, 0.03, 0.03, 0.04]
SAD = [0.05, 0.02, 0.05, 0.03, 0.70, 0.02, 0.13]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def press(
    seconds: float,
    rating: int = 4,
    *,
    kiosk: str = "k1",
    store: str = "s1",
    scale: int = 4,
    event_id: uuid.UUID | None = None,
) -> RatingEvent:
    return RatingEvent(
        event_id=event_id or uuid.uuid4(),
        rating=rating,
        pressed_at=at(seconds),
        kiosk_id=kiosk,
        store_id=store,
        scale=scale,
        received_at=at(seconds + 1),
    )


def face(
    seconds: float,
    probs: list[float],
    *,
    track: str = "t1",
    role: str = "kiosk",
    camera: str | None = None,
    kiosk: str | None = "k1",
    store: str = "s1",
    size: int = 100,
) -> FaceObservation:
    return FaceObservation(
        track_id=track,
        captured_at=at(seconds),
        probs=probs,
        bbox=BBox(x=0, y=0, w=size, h=size),
        camera_id=camera or ("cam-k1" if role == "kiosk" else "cam-floor"),
        store_id=store,
        role=role,  # type: ignore[arg-type]
        kiosk_id=kiosk if role == "kiosk" else None,
        source="edge",
    )


def heartbeat(seconds: float, buffered: int = 0, *, kiosk: str = "k1") -> Heartbeat:
    return Heartbeat(
        sent_at=at(seconds),
        buffered=buffered,
        kiosk_id=kiosk,
        store_id="s1",
        received_at=at(seconds),
    )


def followup(
    seconds: float,
    reason: str = "queue",
    *,
    answers: RatingEvent | uuid.UUID | None = None,
    kiosk: str = "k1",
    store: str = "s1",
    event_id: uuid.UUID | None = None,
) -> FollowupEvent:
    """An answer ``seconds`` after T0 to the press ``answers`` (a fresh press id if None)."""
    press_id = answers.event_id if isinstance(answers, RatingEvent) else answers
    return FollowupEvent(
        event_id=event_id or uuid.uuid4(),
        rating_event_id=press_id or uuid.uuid4(),
        reason=reason,
        answered_at=at(seconds),
        kiosk_id=kiosk,
        store_id=store,
        received_at=at(seconds + 1),
    )


def zone_face(
    seconds: float,
    probs: list[float],
    *,
    zone: str | None = "k1",
    track: str = "t1",
    camera: str = "cam-floor",
    store: str = "s1",
    size: int = 100,
) -> FaceObservation:
    """A floor camera's face inside the kiosk zone of ``zone`` (issue 14)."""
    floor = face(seconds, probs, track=track, role="floor", camera=camera, store=store, size=size)
    return floor.model_copy(update={"zone_kiosk_id": zone})

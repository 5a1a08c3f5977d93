"""The aggregator's state entries: their keys and their compact encodings.

Nine kinds, each marked by a one-letter code after the store id: a press, a kiosk
camera's face, a floor camera's visit (one tracked visitor), a kiosk's heartbeat, a
camera's sighting, a follow-up answer, a kiosk camera's closed track, a floor
camera's face in a kiosk's zone and a display camera's track (its encoding is in
``displays``). ``store.py`` says what each kind means to a store's state.

Keys start with the store id, so one store's state can be found and every entry
lands on the store's partition of the changelog. Values are short JSON arrays:
the changelog carries a few dozen bytes per event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kioskpulse.events import EXPRESSIONS
from stream_processors.aggregation import fixedpoint
from stream_processors.aggregation.fixedpoint import Vector
from stream_processors.aggregation.linkage import KioskFace

__all__ = [
    "CAMERA",
    "DISPLAY_TRACK",
    "FACE",
    "FOLLOWUP",
    "HEARTBEAT",
    "KIOSK_TRACK",
    "PRESS",
    "VISIT",
    "ZONE_FACE",
    "Followup",
    "Press",
    "Visit",
    "camera_key",
    "display_track_key",
    "face_key",
    "followup_key",
    "heartbeat_key",
    "kind_of",
    "kiosk_track_key",
    "press_key",
    "store_of",
    "visit_key",
    "zone_face_key",
]

# In stored keys: never change.
PRESS, FACE, VISIT, HEARTBEAT, CAMERA, FOLLOWUP = "p", "f", "t", "h", "c", "a"
# Issue 14: kinds a worker of an earlier version leaves alone (``StoreState.restore``).
KIOSK_TRACK, ZONE_FACE = "k", "z"
# Issue 16: a display camera's track (stream_processors.aggregation.displays).
DISPLAY_TRACK = "d"
_SEP = "|"  # never in a device id; track ids (free text) always come last


def _dump(value: list[Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def store_of(key: str) -> str:
    return key.split(_SEP, 1)[0]


def kind_of(key: str) -> str:
    return key.split(_SEP, 2)[1]


def press_key(store_id: str, event_id: str) -> str:
    return f"{store_id}|{PRESS}|{event_id}"


def face_key(store_id: str, face: KioskFace) -> str:
    return f"{store_id}|{FACE}|{face.at!r}|{face.camera_id}|{face.track_id}"


def visit_key(store_id: str, camera_id: str, track_id: str) -> str:
    return f"{store_id}|{VISIT}|{camera_id}|{track_id}"


def kiosk_track_key(store_id: str, camera_id: str, track_id: str) -> str:
    return f"{store_id}|{KIOSK_TRACK}|{camera_id}|{track_id}"


def display_track_key(store_id: str, camera_id: str, label: str, track_id: str) -> str:
    # The label is part of the identity: a relabel mid-track splits the track there.
    return f"{store_id}|{DISPLAY_TRACK}|{camera_id}|{label}|{track_id}"


def zone_face_key(store_id: str, face: KioskFace) -> str:
    return f"{store_id}|{ZONE_FACE}|{face.at!r}|{face.camera_id}|{face.track_id}"


def heartbeat_key(store_id: str, bucket: int, kiosk_id: str) -> str:
    return f"{store_id}|{HEARTBEAT}|{bucket}|{kiosk_id}"


def camera_key(store_id: str, bucket: int, camera_id: str) -> str:
    return f"{store_id}|{CAMERA}|{bucket}|{camera_id}"


def followup_key(store_id: str, rating_event_id: str) -> str:
    # Keyed by the press it answers, not by its own id: one counted answer per press.
    return f"{store_id}|{FOLLOWUP}|{rating_event_id}"


@dataclass(slots=True)
class Press:
    event_id: str
    kiosk_id: str
    at: float
    rating: int
    scale: int
    counted: bool = False
    link: Vector | None = None
    #: The link to a floor camera's face in the kiosk's zone (issue 14).
    zone_link: Vector | None = None
    #: Whether its contribution is in its bucket's statistics right now.
    contributes: bool = False

    def encode(self) -> bytes:
        # Status and links are derived (they depend on other events), so not stored.
        return _dump([self.event_id, self.kiosk_id, self.at, self.rating, self.scale])

    @classmethod
    def decode(cls, value: bytes) -> Press:
        event_id, kiosk_id, at, rating, scale = json.loads(value)
        return cls(event_id, kiosk_id, at, rating, scale)


@dataclass(frozen=True, slots=True)
class Followup:
    """The counted answer to one press's follow-up question."""

    event_id: str
    at: float
    reason: str
    #: The latest time of the later answers it replaced, if any: the store's clock saw
    #: it, and a store restored from its entries must too, or it would close tracks by
    #: event time later than before the restart.
    replaced_at: float | None = None

    @property
    def rank(self) -> tuple[float, str]:
        """Of two answers to one press the lower counts: the earlier, ties by event id, so
        that which one counts does not depend on the order they arrive in."""
        return self.at, self.event_id

    def encode(self) -> bytes:
        # The replaced time only where there is one: an answer that replaced none is
        # stored as before, and a worker of the previous version can still restore it.
        fields: list[Any] = [self.event_id, self.at, self.reason]
        if self.replaced_at is not None:
            fields.append(self.replaced_at)
        return _dump(fields)

    @classmethod
    def decode(cls, value: bytes) -> Followup:
        event_id, at, reason, *more = json.loads(value)
        (replaced_at,) = more or (None,)
        return cls(event_id, at, reason, replaced_at)


@dataclass(slots=True)
class Visit:
    """One visitor tracked by a floor camera (a vision track): the running sum of the
    probability vectors of its sightings, and whether the visit is over. Also a kiosk
    camera's track (``take``), stored only once closed: open, it is rebuilt from its faces.

    A sighting of a face too small to read (``AggregationConfig.reads_expression``) makes
    or extends the visit but adds no probabilities: ``expressed`` counts the sightings
    that did, the ones ``sums`` holds.
    """

    first_at: float
    last_at: float
    last_wall: float
    sightings: int
    sums: list[int] = field(default_factory=lambda: fixedpoint.zeros(len(EXPRESSIONS)))
    closed: bool = False
    expressed: int = 0

    @classmethod
    def start(cls, at: float, probs: Vector | None, wall: float) -> Visit:
        """A visit from its first sighting (``probs`` None: a face too small to read)."""
        visit = cls(at, at, wall, 0)
        visit.see(at, probs, wall)
        return visit

    def see(self, at: float, probs: Vector | None, wall: float) -> None:
        self.last_at, self.last_wall = at, wall
        self.sightings += 1
        if probs is not None:
            self.expressed += 1
            fixedpoint.add(self.sums, probs)

    def take(self, at: float, probs: Vector | None, wall: float) -> None:
        """A sighting in any order: a kiosk camera's track, whose faces are each kept (a
        replay is refused by its face's entry), so the visit is the set of its faces
        whatever order they came in, as it is when rebuilt from them after a restart."""
        self.first_at, self.last_at = min(self.first_at, at), max(self.last_at, at)
        self.last_wall = max(self.last_wall, wall)
        self.sightings += 1
        if probs is not None:
            self.expressed += 1
            fixedpoint.add(self.sums, probs)

    def mean(self) -> Vector | None:
        """The mean of the sightings that were read; None if none was (a visitor all the
        same, but not part of the floor's expression mix)."""
        return fixedpoint.mean(self.sums, self.expressed) if self.expressed else None

    def encode(self) -> bytes:
        fields: list[Any] = [
            self.first_at,
            self.last_at,
            self.last_wall,
            self.sightings,
            self.sums,
            self.closed,
        ]
        # The count of read sightings only where some were not: a visit whose every face
        # was read is stored exactly as before small faces were told apart, so the
        # changelog carries no more, and a worker of the previous version (a rollback)
        # can still restore it.
        if self.expressed != self.sightings:
            fields.append(self.expressed)
        return _dump(fields)

    @classmethod
    def decode(cls, value: bytes) -> Visit:
        first_at, last_at, last_wall, sightings, sums, closed, *more = json.loads(value)
        # Six fields: every sighting was read (or stored before they could not be).
        (expressed,) = more or (sightings,)
        return cls(first_at, last_at, last_wall, sightings, sums, closed, expressed)


def encode_face(kiosk_id: str, face: KioskFace) -> bytes:
    # Also a zone face's value (its kiosk: the zone's). probs null: a face too small to
    # read, kept only so that a replay of it is known.
    return _dump([kiosk_id, face.at, face.camera_id, face.track_id, face.area, face.probs])


def decode_face(value: bytes) -> tuple[str, KioskFace]:
    kiosk_id, at, camera_id, track_id, area, probs = json.loads(value)
    vector = None if probs is None else tuple(probs)
    return kiosk_id, KioskFace(at, camera_id, track_id, area, vector)


def encode_heartbeat(kiosk_id: str, at: float, buffered: int) -> bytes:
    return _dump([kiosk_id, at, buffered])


def decode_heartbeat(value: bytes) -> tuple[str, float, int]:
    kiosk_id, at, buffered = json.loads(value)
    return kiosk_id, at, buffered


def encode_camera(camera_id: str, at: float) -> bytes:
    return _dump([camera_id, at])


def decode_camera(value: bytes) -> tuple[str, float]:
    camera_id, at = json.loads(value)
    return camera_id, at
